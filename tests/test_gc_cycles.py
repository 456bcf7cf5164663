"""Reference cycles through suspended greenlets (docs/gc.md, "Cycles").

From CPython 3.11 the collector sees what a suspended greenlet's frames refer to, so a cycle
through them is garbage like any other: the greenlet is ended first (its ``finally`` blocks
and context managers run with every local intact), then the cycle is cleared. On 3.10 each
frame is also referenced from the C stack, which the collector cannot see, and such a cycle
stays in memory until the greenlet is finished or killed.
"""
import contextvars
import gc
import sys
import threading
import weakref

import pytest

from greenlet import GreenletExit
from greenlet import getcurrent
from greenlet import greenlet as Greenlet

FRAMES_VISIBLE = sys.version_info >= (3, 11)
CYCLES = 100


# every test here leaves no uncollectable garbage (conftest.py)
pytestmark = pytest.mark.usefixtures('no_uncollectable_garbage')


# --------------------------------------------------------------------------
# The four shapes of cycle. Each maker suspends a greenlet in a cycle that
# only its frames close, drops every outside reference and returns a weak
# reference to it; each finally block logs what it can read.

def through_locals(log, i):
    main = getcurrent()

    def body():
        me = getcurrent()  # the frame refers to its own greenlet
        payload = ['payload', i]
        try:
            main.switch()
        finally:
            log.append((i, payload[1], me.dead))

    g = Greenlet(body)
    g.switch()
    return weakref.ref(g)


class Worker:
    def __init__(self, log, i):
        self.log = log
        self.i = i
        self.greenlet = Greenlet(self.run)

    def run(self):
        # `self` (a local of this frame) holds the greenlet running it
        try:
            getcurrent().parent.switch()
        finally:
            self.log.append((self.i, self.i, self.greenlet.dead))


def through_self(log, i):
    worker = Worker(log, i)
    worker.greenlet.switch()
    return weakref.ref(worker.greenlet)


def through_closure(log, i):
    main = getcurrent()

    def body():
        try:
            main.switch()
        finally:
            log.append((i, i, g.dead))  # `g`: a cell of the enclosing function

    g = Greenlet(body)
    g.switch()
    return weakref.ref(g)


_holder = contextvars.ContextVar('holder')


def through_context(log, i):
    main = getcurrent()

    def body():
        _holder.set(getcurrent())  # the greenlet's own context refers to it
        try:
            main.switch()
        finally:
            log.append((i, i, _holder.get().dead))

    g = Greenlet(body)
    g.gr_context = contextvars.Context()
    g.switch()
    return weakref.ref(g)


# (through_context is collected on 3.10 too: the collector always saw a greenlet's context)
MAKERS = [through_locals, through_self, through_closure, through_context]
MAKER_IDS = ['locals', 'self', 'closure', 'gr_context']


def live_greenlets():
    return sum(1 for o in gc.get_objects() if isinstance(o, Greenlet))


@pytest.mark.parametrize('make', MAKERS, ids=MAKER_IDS)
def test_cycles_through_suspended_greenlets(make):
    log = []
    getcurrent()
    gc.collect()
    before = live_greenlets()
    gc.disable()  # (an automatic collection would take some of them early)
    try:
        refs = [make(log, i) for i in range(CYCLES)]
        assert live_greenlets() == before + CYCLES
    finally:
        gc.enable()
    gc.collect()
    alive = sum(1 for r in refs if r() is not None)
    if not FRAMES_VISIBLE and make is not through_context:
        # 3.10: kept, as documented; finishing them breaks the cycles.
        assert (alive, log) == (CYCLES, [])
        for r in refs:
            r().throw()
        assert len(log) == CYCLES
        return
    if make is through_context:
        # A dead greenlet keeps its context (gr_context stays readable), so this cycle
        # outlives the greenlet's end and goes with the next collection.
        assert len(log) == CYCLES
        gc.collect()
        alive = sum(1 for r in refs if r() is not None)
    assert alive == 0
    assert live_greenlets() == before  # freed, not only unreachable
    # every finally block ran once, during the collection, with its locals, cells and
    # context intact, and the greenlet was not dead yet
    assert sorted(log) == [(i, i, False) for i in range(CYCLES)]


def test_finally_and_with_blocks_run_with_their_locals():
    main = getcurrent()
    log = []

    class Resource:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            log.append(('exit', self.name, exc_info[0].__name__))
            return False

    def body():
        me = getcurrent()
        settings = {'retries': 3}
        with Resource('connection') as resource:
            try:
                main.switch()
            finally:
                log.append(('finally', settings['retries'], resource.name, me is getcurrent()))

    g = Greenlet(body)
    g.switch()
    ref = weakref.ref(g)
    del g
    gc.collect()
    if not FRAMES_VISIBLE:
        assert ref() is not None and log == []
        ref().throw()
    else:
        assert ref() is None
    assert log == [('finally', 3, 'connection', True), ('exit', 'connection', 'GreenletExit')]


def test_greenlet_referenced_from_outside_survives_and_switches_again():
    main = getcurrent()
    log = []

    def body():
        me = getcurrent()
        try:
            while True:
                log.append(main.switch())
        finally:
            log.append(('finally', me is getcurrent()))

    g = Greenlet(body)
    g.switch()
    gc.collect()
    assert not g.dead and log == []
    g.switch('again')
    assert log == ['again']
    ref = weakref.ref(g)
    del g
    gc.collect()
    if FRAMES_VISIBLE:
        assert ref() is None
    else:
        ref().throw()
    assert log == ['again', ('finally', True)]


def test_finalizer_that_keeps_objects_alive_leaves_them_intact():
    # PEP 442: what a finally block makes reachable again is neither freed nor cleared.
    kept = []
    log = []

    class Session:
        def run(self):
            self.data = ['rows']
            try:
                getcurrent().parent.switch()
            finally:
                kept.append(self)
                log.append('finally')

    session = Session()
    session.greenlet = Greenlet(session.run)
    session.greenlet.switch()
    ref = weakref.ref(session.greenlet)
    del session
    gc.collect()
    if not FRAMES_VISIBLE:
        assert ref() is not None and kept == []
        ref().throw()
    assert log == ['finally']
    survivor = kept.pop()
    assert survivor.data == ['rows']
    assert survivor.greenlet.dead
    del survivor
    gc.collect()
    assert ref() is None


def test_greenlet_that_keeps_itself_alive_is_not_cleared():
    main = getcurrent()
    kept = []

    def body():
        state = ['intact']
        try:
            main.switch()
        finally:
            kept.append(getcurrent())  # resurrects the greenlet as it ends
            kept.append(state)

    g = Greenlet(body)
    g.switch()
    g.cycle = g
    del g
    gc.collect()
    g, state = kept
    kept.clear()
    assert g.dead and state == ['intact'] and g.cycle is g
    del g.cycle


def test_greenlet_that_refuses_to_end_stays_alive_and_usable(capsys):
    main = getcurrent()
    refusals = []
    stop = []

    def body():
        me = getcurrent()
        while not stop:
            try:
                main.switch()
            except GreenletExit:
                refusals.append(me)  # refuses, and makes itself reachable again
        return 'stopped'

    g = Greenlet(body)
    g.switch()
    ref = weakref.ref(g)
    del g
    gc.collect()
    gc.collect()
    if FRAMES_VISIBLE:
        # asked once, by the first collection; the second leaves it alone
        g, = refusals
    else:
        assert refusals == []
        g = ref()
    assert not g.dead
    stop.append(True)
    assert g.switch() == 'stopped'
    assert capsys.readouterr().err == ''
    refusals.clear()


def test_greenlet_suspended_under_c_frames_is_collected():
    import functools
    main = getcurrent()
    log = []

    def deep(n, fn):
        if n == 0:
            return fn()
        return functools.reduce(lambda acc, _: deep(n - 1, fn), (0,), None)

    def body():
        me = getcurrent()
        try:
            deep(10, main.switch)
        finally:
            log.append(me.dead)

    refs = []
    for _ in range(10):
        g = Greenlet(body)
        g.switch()
        refs.append(weakref.ref(g))
        del g
    gc.collect()
    if FRAMES_VISIBLE:
        assert [r() for r in refs] == [None] * 10
        assert log == [False] * 10
    else:
        for r in refs:
            r().throw()
        assert log == [False] * 10


def test_referents_of_suspended_greenlet_include_its_locals():
    main = getcurrent()

    def body():
        local = ['made by the frame']
        main.switch()
        return local

    g = Greenlet(body)
    g.switch()
    found = [r for r in gc.get_referents(g) if r == ['made by the frame']]
    assert len(found) == (1 if FRAMES_VISIBLE else 0)
    local = g.switch()
    assert found == [] or found[0] is local


def test_running_greenlet_in_a_cycle_is_not_finalized():
    log = []

    def body():
        me = getcurrent()
        me.cycle = me
        try:
            gc.collect()
            log.append(me.cycle is me)
        except GreenletExit:
            log.append('GreenletExit')
        return 'finished'

    g = Greenlet(body)
    assert g.switch() == 'finished'
    assert log == [True]
    del g.cycle


def test_main_greenlet_in_a_cycle_is_not_finalized():
    outcome = []

    def thread_body():
        main = getcurrent()
        main.cycle = main
        ref = weakref.ref(main)
        del main
        gc.collect()
        main = ref()
        outcome.append((main is getcurrent(), main.cycle is main, main.dead))
        del main.cycle

    t = threading.Thread(target=thread_body)
    t.start()
    t.join()
    assert outcome == [(True, True, False)]


def test_greenlet_of_another_thread_is_left_to_its_thread():
    log = []
    parked = threading.Event()
    collected = threading.Event()
    refs = []

    def thread_body():
        main = getcurrent()

        def body():
            me = getcurrent()
            token = ['token']
            try:
                main.switch()
            finally:
                log.append((threading.current_thread() is worker, token[0], me.dead))

        g = Greenlet(body)
        g.switch()
        refs.append(weakref.ref(g))
        del g
        parked.set()
        collected.wait(10)
        # back in its own thread, a collection ends it
        gc.collect()

    worker = threading.Thread(target=thread_body)
    worker.start()
    assert parked.wait(10)
    gc.collect()  # from this thread: the greenlet is neither ended nor cleared
    still = refs[0]()
    assert still is not None and not still.dead and log == []
    del still
    collected.set()
    worker.join(10)
    assert not worker.is_alive()
    if FRAMES_VISIBLE:
        assert log == [(True, 'token', False)]
        assert refs[0]() is None


def test_removed_gc_callback_entry_comes_back():
    # The greenlets a collection finds are ended by this package's gc.callbacks entry; code
    # that empties gc.callbacks does not leave them queued for good.
    saved = list(gc.callbacks)
    log = []
    try:
        gc.callbacks.clear()
        ref = through_locals(log, 0)
        gc.collect()
        if FRAMES_VISIBLE:
            assert ref() is None and log == [(0, 0, False)]
            assert len(gc.callbacks) == 1  # put back when the collection found the greenlet
        else:
            assert ref() is not None and log == []
            ref().throw()
    finally:
        gc.callbacks[:] = saved
