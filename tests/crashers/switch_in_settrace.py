"""Switching greenlets inside a greenlet.settrace() callback: on every
switch event the callback switches to an echo greenlet and back (its own
switches are not traced again, thanks to a guard), while a normal workload
runs: starts, ping-pong, throw, death into the parent.

Must exit with status 0 after printing its markers."""
import os
import sys

import greenlet
from greenlet import getcurrent
from greenlet import greenlet as Greenlet

sys.path.insert(0, os.path.dirname(__file__))
from _echo import Echo  # noqa: E402

echo = Echo()
busy = []
seen = []


def tracer(event, args):
    if busy:
        return
    busy.append(1)
    try:
        origin, target = args
        reply = echo(event)
        seen.append((event, reply == ('echo', event), getcurrent() is target))
    finally:
        busy.pop()


main = getcurrent()


def worker(n):
    total = 0
    for i in range(n):
        total += main.switch(i)
    try:
        main.switch('before throw')
    except KeyError:
        pass
    return total


greenlet.settrace(tracer)
try:
    g = Greenlet(worker)
    values = [g.switch(5)]
    while values[-1] != 'before throw':
        values.append(g.switch(10))
    result = g.throw(KeyError)
finally:
    previous = greenlet.settrace(None)

print('values', values, flush=True)
print('result', result, g.dead, flush=True)
print('tracer was installed', previous is tracer, flush=True)
print('events', sorted(set(e for e, _, _ in seen)), flush=True)
print('all echoed', all(ok for _, ok, _ in seen), flush=True)
print('callback ran in the target', all(t for _, _, t in seen), flush=True)
print('current is main', getcurrent() is main, flush=True)
print('OK', flush=True)
