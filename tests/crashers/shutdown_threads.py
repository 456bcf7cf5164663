"""Interpreter exit with suspended greenlets in several threads at once:
daemon threads blocked while running inside a child greenlet, daemon threads
blocked in their main greenlet, finished threads whose greenlets are kept
alive globally, deep and nested suspended greenlets holding exceptions and
tracebacks, and an atexit handler that switches in the main thread.

Must exit with status 0 after printing its markers."""
import atexit
import functools
import sys
import threading

from greenlet import getcurrent
from greenlet import greenlet as Greenlet

kept = []
kept_lock = threading.Lock()
ready = threading.Barrier(5, timeout=60)


def deep(n, fn):
    if n == 0:
        return fn()
    return functools.reduce(lambda acc, _: deep(n - 1, fn), (0,), None)


def park_nested(tag, count, depth):
    """Suspends ``count`` greenlets, each ``depth`` levels deep, each with a
    suspended child of its own and an exception being handled."""
    here = getcurrent()
    made = []

    def child_body():
        here_child = getcurrent()
        try:
            raise KeyError(tag)
        except KeyError:
            here_child.parent.switch('child parked')
        return 'child never'

    def body(i):
        child = Greenlet(child_body)
        assert child.switch() == 'child parked'
        made.append(child)
        try:
            raise ValueError(tag, i)
        except ValueError:
            return deep(depth, lambda: here.switch((tag, i)))

    for i in range(count):
        g = Greenlet(body)
        assert g.switch(i) == (tag, i)
        made.append(g)
    return made


def daemon_inside_child(n):
    # The thread blocks forever while a child greenlet is its current one.
    def blocked():
        park_nested('dc%d' % n, 3, 20)
        ready.wait()
        threading.Event().wait()
    g = Greenlet(blocked)
    g.switch()


def daemon_in_main(n):
    made = park_nested('dm%d' % n, 3, 40)
    ready.wait()
    threading.Event().wait()
    return made


def finished_thread(n):
    made = park_nested('ft%d' % n, 4, 30)
    with kept_lock:
        kept.extend(made)


for n in range(2):
    threading.Thread(target=daemon_inside_child, args=(n,), daemon=True).start()
    threading.Thread(target=daemon_in_main, args=(n,), daemon=True).start()
finishers = [threading.Thread(target=finished_thread, args=(n,)) for n in range(3)]
for t in finishers:
    t.start()
for t in finishers:
    t.join()

main_thread_greenlets = park_nested('main', 5, 60)
parked_for_atexit = main_thread_greenlets[-1]


def at_exit():
    # All APIs work during atexit callbacks, including switching.
    main = getcurrent()
    g = Greenlet(lambda: main.switch('atexit switch'))
    print(g.switch(), flush=True)
    print('atexit current is main', getcurrent() is main, flush=True)


atexit.register(at_exit)
ready.wait()
print('kept from finished threads', len(kept), flush=True)
print('main thread greenlets', len(main_thread_greenlets), flush=True)
print('MAIN EXIT', flush=True)
sys.exit(0)
