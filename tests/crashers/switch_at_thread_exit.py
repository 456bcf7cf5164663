"""Switching while threads end and while the interpreter exits: destructors
of thread-local values, run as their thread finishes, that start greenlets
and resume a greenlet the thread left suspended; then the main thread exits
while daemon threads are switching between greenlets in a tight loop.

Must exit with status 0 after printing its markers."""
import sys
import threading

from greenlet import getcurrent
from greenlet import greenlet as Greenlet


class SwitchesWhenDropped:
    def __init__(self, tag, parked=None):
        self.tag = tag
        self.parked = parked
        self.ident = threading.get_ident()

    def __del__(self):
        ran = Greenlet(lambda: 'ran').switch()
        # (threading.current_thread() would make a dummy thread object here)
        line = [self.tag, ran, 'in its thread', threading.get_ident() == self.ident]
        if self.parked is not None:
            line.append(self.parked.switch('resumed'))
            line.append(self.parked.dead)
        print(*line, flush=True)


local = threading.local()


def thread_body(mode):
    if mode == 'untouched':
        # greenlet never used in this thread before the destructor
        local.value = SwitchesWhenDropped(mode)
    elif mode == 'touched':
        getcurrent()
        local.value = SwitchesWhenDropped(mode)
    else:
        main = getcurrent()
        parked = Greenlet(lambda: 'finished after ' + main.switch('parked'))
        assert parked.switch() == 'parked'
        local.value = SwitchesWhenDropped(mode, parked)


for mode in ('untouched', 'touched', 'parked'):
    t = threading.Thread(target=thread_body, args=(mode,), name='thread-' + mode)
    t.start()
    t.join()

counts = [0] * 3
started = threading.Barrier(4, timeout=60)


def spinner(index):
    main = getcurrent()

    def pong():
        while True:
            main.switch()

    g = Greenlet(pong)
    g.switch()
    started.wait()
    while True:
        g.switch()
        counts[index] += 1


for i in range(3):
    threading.Thread(target=spinner, args=(i,), daemon=True).start()
started.wait()
while min(counts) < 1000:
    pass
print('spinning', flush=True)
print('MAIN EXIT', flush=True)
sys.exit(0)
