"""Switching greenlets from weakref callbacks, for objects that die in the
main greenlet, in a child greenlet, in a greenlet being killed, in a cyclic
collection, and for a weak reference to a greenlet itself.

Must exit with status 0 after printing its markers."""
import gc
import os
import sys
import weakref

from greenlet import getcurrent
from greenlet import greenlet as Greenlet

sys.path.insert(0, os.path.dirname(__file__))
from _echo import Echo  # noqa: E402

echo = Echo()
fired = []


class Thing:
    pass


def watch(obj, name):
    def callback(ref):
        reply = echo(name)
        fired.append((name, reply == ('echo', name), ref() is None))
    return weakref.ref(obj, callback)


main = getcurrent()
refs = []

t = Thing()
refs.append(watch(t, 'main'))
del t
print('1', fired[-1], flush=True)


def child():
    t = Thing()
    refs.append(watch(t, 'child'))
    del t
    return 'child done'


print('2', Greenlet(child).switch(), fired[-1], flush=True)


def holder():
    t = Thing()
    refs.append(watch(t, 'killed'))
    main.switch('holding')


g = Greenlet(holder)
print('3a', g.switch(), flush=True)
del g
print('3b', fired[-1], flush=True)

t = Thing()
t.self = t
refs.append(watch(t, 'cycle'))
del t
gc.collect()
print('4', fired[-1], flush=True)

dead_one = Greenlet(lambda: 'ran')
dead_one.switch()
refs.append(watch(dead_one, 'greenlet'))
del dead_one
print('5', fired[-1], flush=True)

suspended = Greenlet(lambda: main.switch('parked'))
suspended.switch()
refs.append(watch(suspended, 'suspended greenlet'))
del suspended
print('6', fired[-1], flush=True)
print('current is main', getcurrent() is main, flush=True)
print('OK', flush=True)
