"""Switching greenlets inside a gc.callbacks callback, for collections
started explicitly in the main greenlet and in a child, and for automatic
collections triggered by allocation while greenlets switch.

Must exit with status 0 after printing its markers."""
import gc
import os
import sys

from greenlet import getcurrent
from greenlet import greenlet as Greenlet

sys.path.insert(0, os.path.dirname(__file__))
from _echo import Echo  # noqa: E402

echo = Echo()
phases = []
busy = []


def callback(phase, info):
    if busy:
        return
    busy.append(1)
    try:
        reply = echo(phase)
        phases.append((phase, reply == ('echo', phase)))
    finally:
        busy.pop()


main = getcurrent()
gc.callbacks.append(callback)
try:
    gc.collect()
    print('main collect', phases[-2:], flush=True)

    def child():
        garbage = [[] for _ in range(10)]
        for item in garbage:
            item.append(item)
        del garbage, item
        gc.collect()
        return 'child collected'

    print(Greenlet(child).switch(), phases[-1], flush=True)

    # Automatic collections while switching and allocating cycles.
    gc.set_threshold(50, 5, 5)

    def allocator():
        for i in range(2000):
            for _ in range(20):
                cycle = [i]
                cycle.append(cycle)
            main.switch(i)
        return 'allocator done'

    g = Greenlet(allocator)
    count = 0
    while not g.dead:
        result = g.switch()
        count += 1
    print('switches', count, result, flush=True)
finally:
    gc.callbacks.remove(callback)
    gc.set_threshold(700, 10, 10)

# Two explicit collections gave four entries; the rest came on their own.
print('automatic collections seen', len(phases) > 6, flush=True)
print('all echoed', all(ok for _, ok in phases), flush=True)
print('current is main', getcurrent() is main, flush=True)
print('OK', flush=True)
