"""Switching greenlets inside __del__: when a reference is dropped in the
main greenlet and in a child; when the object dies while its greenlet is
killed (GreenletExit unwinding its frame); when a cycle is collected from
inside a greenlet; and a __del__ that switches into a greenlet which
finishes, leaving control with the __del__ caller.

Must exit with status 0 after printing its markers."""
import gc
import sys

from greenlet import getcurrent
from greenlet import greenlet as Greenlet

sys.path.insert(0, __import__('os').path.dirname(__file__))
from _echo import Echo  # noqa: E402

echo = Echo()
events = []


class Noisy:
    def __init__(self, name):
        self.name = name

    def __del__(self):
        reply = echo(self.name)
        events.append((self.name, reply == ('echo', self.name)))


main = getcurrent()

# 1. dropped in main
obj = Noisy('main-del')
del obj
print('1', events[-1], flush=True)

# 2. dropped inside a child greenlet, which then returns a value
def child():
    o = Noisy('child-del')
    del o
    return 'child done'

print('2', Greenlet(child).switch(), events[-1], flush=True)

# 3. held by a suspended greenlet's frame, which is killed
def holder():
    o = Noisy('killed-frame')  # noqa: F841 - released as the frame unwinds
    main.switch('holding')

g = Greenlet(holder)
print('3a', g.switch(), flush=True)
del g
print('3b', events[-1], flush=True)

# 4. in a cycle, collected by gc.collect() from inside a greenlet
def collector():
    a = Noisy('cycle')
    a.self = a
    del a
    gc.collect()
    return 'collected'

print('4', Greenlet(collector).switch(), events[-1], flush=True)

# 5. __del__ that starts a greenlet which finishes: control returns to the
#    greenlet that dropped the reference
class Starter:
    def __del__(self):
        result = Greenlet(lambda: 'finished inside del').switch()
        events.append(('starter', result))

def dropper():
    s = Starter()
    del s
    return 'dropper done'

print('5', Greenlet(dropper).switch(), events[-1], flush=True)

# 6. many objects released at once by clearing a list inside a greenlet
def bulk():
    items = [Noisy('bulk%d' % i) for i in range(50)]
    del items[:]
    return 'bulk done'

before = len(events)
print('6', Greenlet(bulk).switch(), len(events) - before,
      all(ok for _, ok in events[before:]), flush=True)
print('echo calls', len(echo.calls), flush=True)
print('current is main', getcurrent() is main, flush=True)
print('OK', flush=True)
