"""Greenlets in many threads at once, under load: eight threads with 10,000
greenlets each switching concurrently, while every thread also aims
switch() and throw() at the other threads' greenlets; greenlets released
from another thread while their owner lives, left suspended when their
thread ends, and kept past the end of their thread.

Whatever happens, the code of a greenlet (its ``finally`` blocks included)
runs only in the thread that owns it.

Each thread goes through its 10,000 greenlets in waves: 1,000 alive at a
time in the default run (about 7 KiB of stack copy each, on 8 threads), all
10,000 at once and more rounds of switching in the long run
(``GREENLET_TEST_LONG=1``).
"""
import os
import sys
import threading

import greenlet
from greenlet import getcurrent
from greenlet import greenlet as Greenlet

from conftest import settle
from conftest import wait_until

LONG = os.environ.get('GREENLET_TEST_LONG') == '1'
N_THREADS = 8
PER_THREAD = 10000
WAVE = PER_THREAD if LONG else 1000
ROUNDS = 10 if LONG else 3
CROSS_EVERY = 97
# In the last wave, by greenlet number modulo 10:
#   0     handed to the test's main thread while the owner lives, released there;
#   1     handed over and kept until after the owner thread ended;
#   2..5  finished by the owner;
#   6..9  still suspended, referenced only by the owner, when its thread ends.
# In the other waves, 0..5 are finished by the owner and 6..9 released by it
# while suspended.
RELEASED_ELSEWHERE, KEPT_PAST_THREAD = 0, 1
JOIN_TIMEOUT = 300


class Worker:
    """One thread and its greenlets."""

    def __init__(self, index, shared):
        self.index = index
        self.shared = shared
        self.errors = []
        self.cross_errors = 0
        self.finally_threads = {}   # greenlet number -> thread ident of its finally
        self.finished = {}          # greenlet number -> result when finished
        self.wave = []
        self.thread = threading.Thread(target=self.main, name='load-%d' % index)

    def body(self, n, first):
        total = first
        try:
            while True:
                got = getcurrent().parent.switch(total)
                if got == 'stop':
                    return ('done', n, total)
                total += got
        finally:
            self.finally_threads[n] = threading.get_ident()

    def cross_thread_attempts(self, round_, i):
        """switch() and throw() into a greenlet of another thread, which may
        be suspended or running there right now: always greenlet.error."""
        other = self.shared.workers[(self.index + 1 + i % (N_THREADS - 1)) % N_THREADS]
        target = other.wave[(i * 7 + round_) % WAVE]
        for attempt in (lambda: target.switch(1), lambda: target.throw(ValueError)):
            try:
                attempt()
            except greenlet.error as e:
                if not str(e).startswith('Cannot switch to a different thread'):
                    raise
                self.cross_errors += 1
            else:
                raise AssertionError('a cross-thread switch went through')

    def run_wave(self, first_n):
        sh = self.shared
        gs = [Greenlet(self.body) for _ in range(WAVE)]
        totals = [first_n + i for i in range(WAVE)]
        for i, g in enumerate(gs):
            if g.switch(first_n + i, totals[i]) != totals[i]:
                raise AssertionError(first_n + i)
        self.wave = gs
        sh.wave_ready.wait()
        # All threads switch round-robin through their greenlets, each
        # greenlet adding what it receives; every switch is checked.
        for round_ in range(ROUNDS):
            for i, g in enumerate(gs):
                add = round_ + 1
                totals[i] += add
                if g.switch(add) != totals[i]:
                    raise AssertionError((self.index, round_, first_n + i))
                if i % CROSS_EVERY == 0:
                    self.cross_thread_attempts(round_, i)
        sh.wave_done.wait()
        self.wave = []
        return gs

    def main(self):
        sh = self.shared
        try:
            self.ident = threading.get_ident()
            for first_n in range(0, PER_THREAD - WAVE, WAVE):
                gs = self.run_wave(first_n)
                for i, g in enumerate(gs):
                    if i % 10 < 6:
                        self.finished[first_n + i] = g.switch('stop')
                # the others are killed here, suspended
                del g, gs
            first_n = PER_THREAD - WAVE
            gs = self.run_wave(first_n)
            # Greenlets released by another thread while this one lives.
            sh.handed[self.index] = [gs[i] for i in range(WAVE) if i % 10 == RELEASED_ELSEWHERE]
            sh.kept[self.index] = [gs[i] for i in range(WAVE) if i % 10 == KEPT_PAST_THREAD]
            for i in range(WAVE):
                if i % 10 in (RELEASED_ELSEWHERE, KEPT_PAST_THREAD):
                    gs[i] = None
            sh.handed_over.wait()
            sh.released.wait()
            # This thread's next greenlet calls run the deferred kills, here.
            expected = {first_n + i for i in range(WAVE) if i % 10 == RELEASED_ELSEWHERE}
            if not wait_until(lambda: getcurrent() and expected <= set(self.finally_threads)):
                raise AssertionError('deferred releases did not happen')
            for i, g in enumerate(gs):
                if i % 10 in (2, 3, 4, 5):
                    self.finished[first_n + i] = g.switch('stop')
            self.suspended_at_end = [first_n + i for i, g in enumerate(gs) if g]
            # returning drops the last references to those
        except BaseException as e:  # reported by the test
            self.errors.append(e)
            for barrier in (sh.wave_ready, sh.wave_done, sh.handed_over, sh.released):
                barrier.abort()


class Shared:
    def __init__(self):
        self.workers = []
        self.handed = {}
        self.kept = {}
        self.wave_ready = threading.Barrier(N_THREADS)
        self.wave_done = threading.Barrier(N_THREADS)
        self.handed_over = threading.Barrier(N_THREADS + 1)
        self.released = threading.Barrier(N_THREADS + 1)


def test_eight_threads_with_ten_thousand_greenlets_each(thread_baseline):
    thread_baseline.main_greenlets_may_outlive_thread = True
    shared = Shared()
    shared.workers = [Worker(i, shared) for i in range(N_THREADS)]
    old_interval = sys.getswitchinterval()
    # Hand the interpreter to another thread often, in the middle of switches.
    sys.setswitchinterval(1e-5)
    try:
        for w in shared.workers:
            w.thread.start()
        try:
            shared.handed_over.wait(JOIN_TIMEOUT)
            # The last references go away in this thread: the kills are
            # deferred to the owner threads; nothing of them runs here.
            shared.handed.clear()
            me = threading.get_ident()
            assert me not in {ident for w in shared.workers
                              for ident in list(w.finally_threads.values())}
            shared.released.wait(JOIN_TIMEOUT)
        except threading.BrokenBarrierError:
            pass
        for w in shared.workers:
            w.thread.join(JOIN_TIMEOUT)
            assert not w.thread.is_alive()
    finally:
        sys.setswitchinterval(old_interval)
    for w in shared.workers:
        assert w.errors == [], (w.index, w.errors)

    last = PER_THREAD - WAVE
    increments = sum(range(1, ROUNDS + 1))
    kept_numbers = {n for n in range(last, PER_THREAD) if n % 10 == KEPT_PAST_THREAD}
    for w in shared.workers:
        # Every cross-thread attempt raised greenlet.error.
        waves = PER_THREAD // WAVE
        assert w.cross_errors == 2 * waves * ROUNDS * len(range(0, WAVE, CROSS_EVERY))
        # The ones the owner finished returned their totals.
        assert w.finished == {
            n: ('done', n, n + increments) for n in range(PER_THREAD)
            if (n < last and n % 10 < 6) or (n >= last and n % 10 in (2, 3, 4, 5))}
        # When the thread was about to end, only the greenlets it held itself
        # were still suspended.
        assert w.suspended_at_end == [n for n in range(last, PER_THREAD) if n % 10 >= 6]
        # Every finally block ran in the owner thread; the kept greenlets'
        # never ran at all.
        assert set(w.finally_threads.values()) == {w.ident}
        assert set(w.finally_threads) == set(range(PER_THREAD)) - kept_numbers

    # The greenlets kept past their thread's end are dead, unrun, and can
    # be released from here.
    kept = [g for gs in shared.kept.values() for g in gs]
    assert len(kept) == N_THREADS * len(kept_numbers)
    assert wait_until(lambda: all(g.dead for g in kept))
    assert not any(kept)
    shared.kept.clear()
    del kept[:]
    pending, _ = settle()
    assert pending == 0
    for w in shared.workers:
        assert set(w.finally_threads) == set(range(PER_THREAD)) - kept_numbers
