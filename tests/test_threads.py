"""Greenlets and OS threads: one main greenlet per thread, no switching
across threads, and clean release of greenlets whose thread is gone."""
import gc
import sysconfig
import threading
import weakref

import pytest

import greenlet
from greenlet import getcurrent
from greenlet import greenlet as Greenlet
from greenlet._greenlet import get_total_main_greenlets

from conftest import run_in_thread
from conftest import run_in_threads
from conftest import settle
from conftest import wait_until

JOIN_TIMEOUT = 60


def test_new_thread_gets_its_own_main_greenlet(thread_baseline):
    main_here = getcurrent()

    def in_thread():
        first = getcurrent()
        return {
            'same_on_second_call': getcurrent() is first,
            'type_is_exact': type(first) is Greenlet,
            'parent': first.parent,
            'differs': first is not main_here,
            'alive': bool(first) and not first.dead,
            'repr': repr(first),
            'gr_frame': first.gr_frame,
        }

    info = run_in_thread(in_thread)
    assert info['same_on_second_call']
    assert info['type_is_exact']
    assert info['parent'] is None
    assert info['differs']
    assert info['alive']
    assert info['repr'].endswith(' current active started main>')
    assert info['gr_frame'] is None


def test_main_greenlet_created_lazily_per_thread(thread_baseline):
    before = get_total_main_greenlets()
    step = threading.Event()
    proceed = threading.Event()
    counts = {}

    def in_thread():
        counts['before_touch'] = get_total_main_greenlets()
        getcurrent()
        counts['after_touch'] = get_total_main_greenlets()
        step.set()
        proceed.wait(JOIN_TIMEOUT)

    t = threading.Thread(target=in_thread)
    t.start()
    assert step.wait(JOIN_TIMEOUT)
    proceed.set()
    t.join(JOIN_TIMEOUT)
    assert counts['before_touch'] == before
    assert counts['after_touch'] == before + 1


def test_constructing_greenlet_in_thread_creates_main(thread_baseline):
    def in_thread():
        g = Greenlet(lambda: getcurrent().parent)
        parent = g.parent
        return parent is getcurrent(), g.switch() is parent

    assert run_in_thread(in_thread) == (True, True)


def test_greenlets_run_normally_in_threads(thread_baseline):
    def in_thread(n):
        def counter(start):
            value = start
            while value < start + 5:
                value += getcurrent().parent.switch(value)
            return ('done', value)

        g = Greenlet(counter)
        seen = [g.switch(n)]
        while not g.dead:
            seen.append(g.switch(1))
        return seen

    results = run_in_threads(in_thread, 4, timeout=JOIN_TIMEOUT)
    for n in range(4):
        assert results[n] == [n, n + 1, n + 2, n + 3, n + 4, ('done', n + 5)]


def test_main_greenlet_of_exited_thread_is_dead(thread_baseline):
    holder = run_in_thread(lambda: [getcurrent()])
    assert wait_until(lambda: holder[0].dead)
    other_main = holder.pop()
    assert not other_main
    assert repr(other_main).endswith(' (thread exited) dead>')


class _ParkedInThread:
    """A thread that owns a suspended greenlet, a pending greenlet and its
    main greenlet, and waits until told to finish them."""

    def __init__(self):
        self.ready = threading.Event()
        self.go = threading.Event()
        self.results = {}
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        assert self.ready.wait(JOIN_TIMEOUT)

    def _run(self):
        def body(x):
            y = getcurrent().parent.switch(x + 1)
            return y * 2

        self.thread_main = getcurrent()
        self.suspended = Greenlet(body)
        self.results['first'] = self.suspended.switch(1)
        self.pending = Greenlet(lambda: 'pending ran')
        self.ready.set()
        self.go.wait(JOIN_TIMEOUT)
        self.results['suspended'] = self.suspended.switch(21)
        self.results['pending'] = self.pending.switch()
        self.results['dead'] = (self.suspended.dead, self.pending.dead)

    def finish(self):
        self.go.set()
        self.thread.join(JOIN_TIMEOUT)
        assert not self.thread.is_alive()


CROSS_THREAD_OPERATIONS = [
    pytest.param(lambda p: p.suspended.switch(), id='switch-suspended'),
    pytest.param(lambda p: p.suspended.switch(1, k=2), id='switch-suspended-args'),
    pytest.param(lambda p: p.suspended.throw(ValueError), id='throw-suspended'),
    pytest.param(lambda p: p.suspended.throw(), id='throw-default'),
    pytest.param(lambda p: p.pending.switch(), id='switch-pending'),
    pytest.param(lambda p: p.pending.throw(KeyError), id='throw-pending'),
    pytest.param(lambda p: p.thread_main.switch(), id='switch-thread-main'),
    pytest.param(lambda p: p.thread_main.throw(), id='throw-thread-main'),
]


@pytest.mark.parametrize('operation', CROSS_THREAD_OPERATIONS)
def test_cross_thread_switch_raises_error(operation, thread_baseline):
    parked = _ParkedInThread()
    try:
        with pytest.raises(greenlet.error) as info:
            operation(parked)
        assert str(info.value).startswith('Cannot switch to a different thread')
    finally:
        parked.finish()
    # The targets were left untouched and still work in their own thread.
    assert parked.results == {
        'first': 2,
        'suspended': 42,
        'pending': 'pending ran',
        'dead': (True, True),
    }


def test_cross_thread_switch_from_child_greenlet(thread_baseline):
    parked = _ParkedInThread()
    try:
        def attempt():
            try:
                parked.suspended.switch()
            except greenlet.error as e:
                return 'error: ' + str(e).split('\n')[0]
        assert Greenlet(attempt).switch() == (
            'error: Cannot switch to a different thread')
    finally:
        parked.finish()
    assert parked.results['suspended'] == 42


def test_pending_greenlet_from_exited_thread_cannot_be_started(thread_baseline):
    ran = []
    holder = run_in_thread(lambda: [Greenlet(lambda: ran.append(1))])
    g = holder.pop()
    # The thread's clean-up may lag a little behind join().
    assert wait_until(lambda: g.parent.dead)
    with pytest.raises(greenlet.error) as info:
        g.switch()
    assert str(info.value) == (
        'cannot switch to a different thread (which happens to have exited)')
    assert ran == []


def test_main_of_exited_thread_cannot_be_switched_to(thread_baseline):
    holder = run_in_thread(lambda: [getcurrent()])
    other_main = holder.pop()
    assert wait_until(lambda: other_main.dead)
    with pytest.raises(greenlet.error) as info:
        other_main.switch()
    assert str(info.value) == (
        'cannot switch to a different thread (which happens to have exited)')


def test_parent_cannot_move_to_another_thread_once_started(thread_baseline):
    parked = _ParkedInThread()
    try:
        main = getcurrent()
        g = Greenlet(lambda: main.switch())
        g.switch()
        with pytest.raises(ValueError) as info:
            g.parent = parked.pending
        assert str(info.value) == 'parent cannot be on a different thread'
        assert g.parent is main
        g.switch()
    finally:
        parked.finish()


def test_pending_greenlet_may_get_foreign_parent_but_not_start(thread_baseline):
    parked = _ParkedInThread()
    try:
        ran = []
        g = Greenlet(lambda: ran.append(1))
        g.parent = parked.pending
        assert g.parent is parked.pending
        with pytest.raises(greenlet.error):
            g.switch()
        assert ran == []
        assert not g.dead
    finally:
        parked.finish()


def test_greenlet_released_in_own_thread_at_thread_exit(thread_baseline):
    log = []

    def in_thread():
        def body(n):
            try:
                getcurrent().parent.switch()
            finally:
                log.append(n)

        gs = [Greenlet(body) for _ in range(5)]
        for n, g in enumerate(gs):
            g.switch(n)
        # returning drops the only references, inside this thread

    run_in_thread(in_thread)
    assert sorted(log) == [0, 1, 2, 3, 4]


def test_greenlets_outliving_their_thread_are_released(thread_baseline):
    finally_log = []

    def in_thread():
        def body():
            try:
                getcurrent().parent.switch()
            finally:
                finally_log.append('ran')

        kept = []
        for _ in range(5):
            g = Greenlet(body)
            g.switch()
            kept.append(g)
        return kept

    thread_baseline.main_greenlets_may_outlive_thread = True
    survivors = run_in_thread(in_thread)
    assert finally_log == []
    assert wait_until(lambda: all(g.dead for g in survivors))
    assert not any(survivors)
    for g in survivors:
        assert repr(g).endswith(' (thread exited) dead>')
        assert g.gr_frame is None
    del g
    del survivors[:]
    pending, _ = settle()
    assert pending == 0
    # Nothing runs inside a greenlet whose thread no longer exists.
    assert finally_log == []


def test_locals_of_greenlets_outliving_their_thread_are_freed(thread_baseline):
    # The frames of a greenlet that can never resume release what they refer to, through
    # nested calls too (before 3.11 the C calls evaluating them held each frame).
    class Marker:
        pass

    markers = []

    def in_thread():
        def inner(depth):
            marker = Marker()
            markers.append(weakref.ref(marker))
            if depth:
                return inner(depth - 1)
            return getcurrent().parent.switch()

        kept = []
        for _ in range(5):
            g = Greenlet(inner)
            g.switch(3)
            kept.append(g)
        return kept

    thread_baseline.main_greenlets_may_outlive_thread = True
    survivors = run_in_thread(in_thread)
    assert wait_until(lambda: all(g.dead for g in survivors))
    assert len(markers) == 20
    del survivors[:]
    settle()
    gc.collect()
    assert [ref() for ref in markers] == [None] * 20


def test_many_threads_with_many_greenlets_ending_together(thread_baseline):
    n_threads = 8
    per_thread = 100
    thread_baseline.main_greenlets_may_outlive_thread = True
    barrier = threading.Barrier(n_threads + 1)
    exported = []
    local_finally = []
    lock = threading.Lock()
    errors = []

    def in_thread(idx):
        try:
            def body(n):
                try:
                    getcurrent().parent.switch(n)
                finally:
                    if n % 2 == 0:
                        with lock:
                            local_finally.append((idx, n))

            local = []
            for n in range(per_thread):
                g = Greenlet(body)
                assert g.switch(n) == n
                if n % 2:
                    with lock:
                        exported.append(g)
                else:
                    local.append(g)
            # Nested greenlets: one suspended inside another.
            outer = Greenlet(lambda: Greenlet(
                lambda: getcurrent().parent.parent.switch('nested')).switch())
            assert outer.switch() == 'nested'
            local.append(outer)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        barrier.wait(JOIN_TIMEOUT)

    threads = [threading.Thread(target=in_thread, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    barrier.wait(JOIN_TIMEOUT)
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert errors == []
    assert len(exported) == n_threads * per_thread // 2
    assert sorted(local_finally) == sorted(
        (i, n) for i in range(n_threads) for n in range(0, per_thread, 2))
    assert wait_until(lambda: all(g.dead for g in exported))
    del exported[:]
    pending, _ = settle()
    assert pending == 0


def test_release_from_another_thread_runs_in_owner_thread(thread_baseline):
    seen = []
    handoff = []
    released_in_main = threading.Event()
    owner_done = threading.Event()
    bg_ready = threading.Event()
    owner_ident = []

    def owner():
        owner_ident.append(threading.get_ident())

        def body():
            try:
                getcurrent().parent.switch()
            except greenlet.GreenletExit:
                seen.append(('exit', threading.get_ident()))
                raise

        g = Greenlet(body)
        g.switch()
        handoff.append(g)
        del g
        bg_ready.set()
        released_in_main.wait(JOIN_TIMEOUT)
        seen.append('before maintenance')
        getcurrent()  # lets this thread process its deferred deletions
        Greenlet()    # and so does creating a greenlet
        seen.append('after maintenance')
        owner_done.set()

    t = threading.Thread(target=owner)
    t.start()
    assert bg_ready.wait(JOIN_TIMEOUT)
    assert seen == []
    del handoff[:]  # the last reference goes away in this thread
    assert seen == []  # nothing ran here
    released_in_main.set()
    assert owner_done.wait(JOIN_TIMEOUT)
    t.join(JOIN_TIMEOUT)
    if sysconfig.get_config_var('Py_GIL_DISABLED'):
        # Free-threaded CPython deallocates an object in the thread that owns it, at that
        # thread's next check for pending work, which can come before the greenlet call.
        assert ('exit', owner_ident[0]) in seen
        assert seen.index(('exit', owner_ident[0])) < seen.index('after maintenance')
        assert len(seen) == 3
    else:
        assert seen == ['before maintenance', ('exit', owner_ident[0]),
                        'after maintenance']


def test_release_after_owner_thread_exited_runs_nothing(thread_baseline):
    log = []

    def in_thread():
        def body():
            try:
                getcurrent().parent.switch()
            finally:
                log.append('finally')

        g = Greenlet(body)
        g.switch()
        return [g]

    thread_baseline.main_greenlets_may_outlive_thread = True
    holder = run_in_thread(in_thread)
    assert wait_until(lambda: holder[0].parent.dead)
    del holder[:]
    pending, _ = settle()
    assert pending == 0
    assert log == []


def test_thread_main_greenlets_return_to_baseline(thread_baseline):
    def touch():
        main = getcurrent()
        g = Greenlet(lambda: main.switch())
        g.switch()
        return None

    for _ in range(10):
        run_in_thread(touch)
    pending, total = settle(thread_baseline.main_greenlets)
    assert pending == 0
    assert total == thread_baseline.main_greenlets


def test_attributes_replaced_while_other_threads_read_them():
    # Several threads replace a shared greenlet's parent, run, __dict__ and gr_context while
    # others read them. Every read must give one of the objects written, alive and intact; on
    # a free-threaded build this is what the greenlet's lock guarantees (an unguarded read
    # could take a reference to an object another thread is freeing).
    main = getcurrent()
    parents = [Greenlet(lambda: None) for _ in range(4)]
    runs = [(lambda i=i: i) for i in range(4)]
    target = Greenlet(runs[0], parents[0])
    rounds = 2000
    errors = []
    start = threading.Barrier(6)

    def writer(k):
        try:
            start.wait()
            for i in range(rounds):
                # each writer makes fresh objects, so the replaced ones are released
                target.parent = parents[(i + k) % 4]
                target.run = runs[(i * k) % 4]
                target.__dict__ = {'i': i}
                target.gr_context = None
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def reader():
        try:
            start.wait()
            for _ in range(rounds):
                assert target.parent in parents
                assert target.run() in range(4)
                assert set(target.__dict__) <= {'i'}
                assert target.gr_context is None
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in (1, 2, 3)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert getcurrent() is main
    assert target.parent in parents
    # the greenlet still runs normally in the thread its parents belong to
    target.parent = main
    assert target.switch() in range(4)
