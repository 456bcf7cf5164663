"""Garbage-collector integration."""
import gc
import sys
import weakref

import pytest

from greenlet import getcurrent
from greenlet import greenlet as Greenlet


# every test here leaves no uncollectable garbage (conftest.py)
pytestmark = pytest.mark.usefixtures('no_uncollectable_garbage')


def test_pending_greenlet_in_self_cycle_is_collected():
    g = Greenlet(lambda: None)
    g.myself = g
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is None


def test_pending_subclass_in_self_cycle_is_collected():
    class Holder(Greenlet):
        def __init__(self):
            Greenlet.__init__(self)
            self.cycle = [self]

    h = Holder()
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is None


def test_pending_greenlet_referencing_itself_through_run_is_collected():
    def make():
        g = Greenlet(lambda: g)  # the closure cell refers back to g
        return g

    g = make()
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is None


def test_dead_greenlet_in_cycle_is_collected():
    g = Greenlet(lambda: getcurrent())
    result = g.switch()
    assert result is g and g.dead
    g.cycle = g
    ref = weakref.ref(g)
    del g, result
    gc.collect()
    assert ref() is None


def test_dead_greenlet_returned_from_switch_is_collected():
    def body():
        return getcurrent()

    dead = Greenlet(body).switch()
    assert dead.dead
    ref = weakref.ref(dead)
    del dead
    gc.collect()
    assert ref() is None


def test_cycle_between_two_pending_greenlets_is_collected():
    a = Greenlet(lambda: None)
    b = Greenlet(lambda: None, parent=a)
    a.partner = b
    refs = [weakref.ref(a), weakref.ref(b)]
    del a, b
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_referents_of_pending_greenlet():
    def run():
        return 'r'

    g = Greenlet(run)
    referents = gc.get_referents(g)
    assert any(r is run for r in referents)
    assert any(r is getcurrent() for r in referents)
    g.payload = marker = object()
    referents = gc.get_referents(g)
    dicts = [r for r in referents if isinstance(r, dict)]
    assert any(d.get('payload') is marker for d in dicts)


def test_referents_of_other_greenlets_do_not_crash():
    main = getcurrent()
    suspended = Greenlet(lambda: main.switch())
    suspended.switch()
    dead = Greenlet(lambda: None)
    dead.switch()
    for g in (main, suspended, dead, Greenlet()):
        assert isinstance(gc.get_referents(g), list)
        assert isinstance(gc.get_referrers(g), list)
    suspended.switch()


def test_gc_is_tracking_greenlets():
    g = Greenlet()
    assert gc.is_tracked(g)
    assert any(o is g for o in gc.get_objects())


def _recurse_then_park(depth, main):
    if depth:
        return _recurse_then_park(depth - 1, main)
    junk = [[i] for i in range(50)]  # garbage-collectable objects in a frame
    junk.append(junk)
    main.switch('parked')
    return len(junk)


def test_collect_while_greenlets_suspended_does_not_crash():
    main = getcurrent()
    parked = []
    for depth in (0, 5, 50):
        g = Greenlet(_recurse_then_park)
        assert g.switch(depth, main) == 'parked'
        parked.append(g)
    for _ in range(3):
        gc.collect()
    results = [g.switch() for g in parked]
    assert results == [51, 51, 51]
    assert all(g.dead for g in parked)


def test_collect_from_inside_greenlet_while_others_suspended():
    main = getcurrent()
    parked = []
    for _ in range(5):
        g = Greenlet(lambda: main.switch('parked'))
        g.switch()
        parked.append(g)

    class Node:
        pass

    def collector():
        # Unreachable cycles made inside this greenlet.
        refs = []
        for _ in range(10):
            n = Node()
            n.me = n
            refs.append(weakref.ref(n))
        del n
        gc.collect()
        return [r() for r in refs]

    assert Greenlet(collector).switch() == [None] * 10
    for g in parked:
        assert not g.dead
        g.switch()
        assert g.dead


def test_suspended_greenlet_reachable_only_from_own_frame():
    main = getcurrent()
    ended = []

    def body():
        me = getcurrent()  # the frame keeps the greenlet alive: a cycle
        try:
            main.switch('parked')
        finally:
            ended.append(me is getcurrent())
        return me is getcurrent()

    g = Greenlet(body)
    g.switch()
    ref = weakref.ref(g)
    del g
    gc.collect()
    if sys.version_info >= (3, 11):
        # the collector sees the frame's reference: ended (its finally ran), then freed
        assert ref() is None
        assert ended == [True]
        return
    # 3.10: the C stack also refers to the frame; the greenlet is kept, and finishing it
    # breaks the cycle.
    survivor = ref()
    assert survivor is not None
    assert not survivor.dead and ended == []
    assert survivor.switch() is True
    assert survivor.dead
    del survivor
    gc.collect()
    assert ref() is None


def test_finalizer_in_cycle_with_greenlet_can_use_greenlet_api():
    observed = []

    class Finalized:
        def __del__(self):
            # Runs while the collector tears the cycle apart.
            g = self.g
            observed.append((g.dead, bool(g), type(repr(g)) is str,
                             getcurrent() is not None))

    for _ in range(5):
        f = Finalized()
        g = Greenlet(lambda: None)
        f.g = g
        g.finalized = f
        del f, g
    gc.collect()
    assert len(observed) == 5
    assert all(entry[3] for entry in observed)


def test_finalizer_that_switches_during_collection():
    log = []

    class SwitchingFinalizer:
        def __del__(self):
            log.append(Greenlet(lambda: 'switched in __del__').switch())

    for _ in range(3):
        obj = SwitchingFinalizer()
        obj.me = obj
        del obj
    gc.collect()
    assert log == ['switched in __del__'] * 3


def test_killing_greenlets_during_collection():
    main = getcurrent()
    log = []

    class Owner:
        pass

    for i in range(5):
        def body(i=i):
            try:
                main.switch()
            finally:
                log.append(i)

        o = Owner()
        o.g = Greenlet(body)
        o.g.switch()
        o.me = o  # cycle that holds the only reference to the greenlet
        del o
    gc.collect()
    assert sorted(log) == [0, 1, 2, 3, 4]


def test_greenlet_exit_is_not_collectable_garbage():
    # A killed greenlet must not leave anything in gc.garbage.
    main = getcurrent()
    for _ in range(10):
        g = Greenlet(lambda: main.switch())
        g.switch()
        del g
    gc.collect()
    assert not [o for o in gc.garbage if isinstance(o, Greenlet)]
