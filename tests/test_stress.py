"""Heavier workloads: deep stacks, many greenlets, irregular switching."""
import random
import sys

import pytest

import greenlet
from greenlet import getcurrent
from greenlet import greenlet as Greenlet

from conftest import c_recursion_limit


@pytest.fixture
def recursion_limit():
    """Temporarily raise the recursion limit to at least ``n``."""
    old = sys.getrecursionlimit()

    def set_at_least(n):
        sys.setrecursionlimit(max(old, n))

    yield set_at_least
    sys.setrecursionlimit(old)


def _descend(depth, main, tag):
    """Recurse ``depth`` frames, switch out at the bottom, then return the
    sum of the frame-local values to check they survived."""
    local_value = depth * 7 + tag
    if depth == 0:
        resumed_with = main.switch(('bottom', tag))
        return resumed_with + local_value
    return _descend(depth - 1, main, tag) + local_value


def _expected_sum(depth, tag, resumed_with):
    return resumed_with + sum(d * 7 + tag for d in range(depth + 1))


def test_deep_recursion_inside_greenlet(recursion_limit):
    recursion_limit(5000)
    main = getcurrent()
    depth = 800
    g = Greenlet(_descend)
    assert g.switch(depth, main, 1) == ('bottom', 1)
    frames = 0
    frame = g.gr_frame
    while frame is not None:
        frames += 1
        frame = frame.f_back
    assert frames == depth + 1
    # Clobber the stack region g occupied before resuming it.
    other = Greenlet(_descend)
    assert other.switch(depth // 2, main, 2) == ('bottom', 2)
    assert g.switch(1000) == _expected_sum(depth, 1, 1000)
    assert other.switch(5) == _expected_sum(depth // 2, 2, 5)


def test_many_deep_greenlets_suspended_at_once(recursion_limit):
    recursion_limit(5000)
    main = getcurrent()
    gs = []
    for tag in range(20):
        g = Greenlet(_descend)
        assert g.switch(300 + tag, main, tag) == ('bottom', tag)
        gs.append(g)
    for tag, g in reversed(list(enumerate(gs))):
        assert g.switch(tag) == _expected_sum(300 + tag, tag, tag)
        assert g.dead


def test_ten_thousand_greenlets_alive_at_once():
    main = getcurrent()
    count = 10000

    def body(i):
        factor = main.switch(i)
        return i * factor

    gs = [Greenlet(body) for _ in range(count)]
    for i, g in enumerate(gs):
        assert g.switch(i) == i
    assert all(g and not g.dead for g in gs)
    results = [g.switch(3) for g in gs]
    assert results == [i * 3 for i in range(count)]
    assert all(g.dead for g in gs)


def test_ten_thousand_greenlets_resumed_in_reverse_and_released():
    main = getcurrent()
    count = 10000
    finished = []

    def body(i):
        try:
            main.switch()
        finally:
            finished.append(i)

    gs = []
    for i in range(count):
        g = Greenlet(body)
        g.switch(i)
        gs.append(g)
    for g in reversed(gs[count // 2:]):
        g.switch()
    del gs  # the other half is killed on release
    assert sorted(finished) == list(range(count))


DEPTHS = (0, 50, 300)


@pytest.mark.parametrize('seed', [12345, 2024])
def test_random_switching_between_different_depths(seed, recursion_limit):
    recursion_limit(5000)
    rng = random.Random(seed)
    main = getcurrent()
    rounds = 30

    def worker(ident, depth):
        def dive(level):
            marker = (ident, level)
            if level == 0:
                total = 0
                for r in range(rounds):
                    got = main.switch((ident, r))
                    assert got == (ident, r), (seed, ident, got)
                    total += r
                return total
            result = dive(level - 1)
            assert marker == (ident, level), (seed, marker)
            return result
        return dive(depth)

    workers = {}
    for idx in range(9):
        depth = DEPTHS[idx % len(DEPTHS)]
        g = Greenlet(worker)
        assert g.switch(idx, depth) == (idx, 0), 'seed=%d' % seed
        workers[idx] = [g, 0]

    expected_total = sum(range(rounds))
    while workers:
        idx = rng.choice(sorted(workers))
        g, r = workers[idx]
        result = g.switch((idx, r))
        r += 1
        if r == rounds:
            assert result == expected_total, 'seed=%d idx=%d' % (seed, idx)
            assert g.dead, 'seed=%d idx=%d' % (seed, idx)
            del workers[idx]
        else:
            assert result == (idx, r), 'seed=%d idx=%d got=%r' % (seed, idx, result)
            workers[idx][1] = r


def test_long_ping_pong():
    n = 20000

    def ping():
        for i in range(n):
            got = pong_g.switch(i)
            assert got == i + 1
        return 'ping finished'

    def pong(i):
        while True:
            i = ping_g.switch(i + 1)

    ping_g = Greenlet(ping)
    pong_g = Greenlet(pong)
    assert ping_g.switch() == 'ping finished'
    pong_g.throw()


def test_deeply_nested_greenlet_starts(recursion_limit):
    recursion_limit(5000)
    # Each level is a Python call, the C call of switch() and the start of run, about three
    # units of CPython's C recursion budget where it has one.
    levels = 300
    if c_recursion_limit():
        levels = min(levels, c_recursion_limit() // 4)

    def nest(level):
        if level == levels:
            return level
        child = Greenlet(nest)
        return child.switch(level + 1)

    assert Greenlet(nest).switch(0) == levels


def test_recursion_error_inside_greenlet_propagates():
    def bottomless(n):
        return bottomless(n + 1) + 1

    g = Greenlet(bottomless)
    with pytest.raises(RecursionError):
        g.switch(0)
    assert g.dead
    # The failure leaves the interpreter fully usable, also for greenlets.
    again = Greenlet(bottomless)
    with pytest.raises(RecursionError):
        again.switch(0)
    assert Greenlet(lambda: 'still fine').switch() == 'still fine'


def test_recursion_error_can_be_caught_inside_greenlet():
    def bottomless(n):
        return bottomless(n + 1)

    def body():
        try:
            bottomless(0)
        except RecursionError:
            return 'caught inside'

    assert Greenlet(body).switch() == 'caught inside'


def _nest(n, at_bottom):
    if n == 0:
        return at_bottom()
    return _nest(n - 1, at_bottom)


def test_recursion_depth_is_tracked_per_greenlet():
    limit = sys.getrecursionlimit()
    main = getcurrent()
    # Each of the two stacks goes more than half way to the limit; if the
    # depth were shared between greenlets, the second would overflow.
    depth = int(limit * 0.6)

    g = Greenlet(lambda: _nest(depth, lambda: main.switch('deep')))
    assert g.switch() == 'deep'
    assert _nest(depth, lambda: 'main also deep') == 'main also deep'
    g.switch()
    assert g.dead


def test_keyboard_interrupt_crosses_into_parent():
    def body():
        raise KeyboardInterrupt('stop')

    g = Greenlet(body)
    with pytest.raises(KeyboardInterrupt):
        g.switch()
    assert g.dead


def test_keyboard_interrupt_thrown_into_greenlet():
    main = getcurrent()
    log = []

    def body():
        try:
            main.switch()
        finally:
            log.append('cleanup')

    g = Greenlet(body)
    g.switch()
    with pytest.raises(KeyboardInterrupt):
        g.throw(KeyboardInterrupt)
    assert log == ['cleanup']
    assert g.dead


def test_keyboard_interrupt_through_chain_of_greenlets():
    def innermost():
        raise KeyboardInterrupt

    def middle():
        Greenlet(innermost).switch()
        return 'middle not interrupted'

    def outer():
        try:
            Greenlet(middle).switch()
        except KeyboardInterrupt:
            return 'outer saw interrupt'

    assert Greenlet(outer).switch() == 'outer saw interrupt'


SIGINT_SCRIPT = r'''
import os, signal, sys
import greenlet

signal.signal(signal.SIGINT, signal.default_int_handler)
main = greenlet.getcurrent()

def body():
    try:
        main.switch("parked")
        signal.raise_signal(signal.SIGINT)  # (os.kill would end a Windows process)
        for _ in range(10000000):
            pass
        print("NOT INTERRUPTED", flush=True)
    finally:
        print("GREENLET FINALLY", flush=True)

g = greenlet.greenlet(body)
print(g.switch(), flush=True)
try:
    g.switch()
except KeyboardInterrupt:
    print("MAIN CAUGHT", g.dead, flush=True)
'''


def test_signal_keyboard_interrupt_in_greenlet_reaches_main(script):
    rc, out, err = script(SIGINT_SCRIPT)
    assert rc == 0, err
    assert out.splitlines() == ['parked', 'GREENLET FINALLY', 'MAIN CAUGHT True']


def test_greenlet_exit_in_many_greenlets_at_once():
    main = getcurrent()
    gs = []
    for _ in range(2000):
        g = Greenlet(lambda: main.switch())
        g.switch()
        gs.append(g)
    results = [g.throw() for g in gs]
    assert all(type(r) is greenlet.GreenletExit for r in results)
    assert all(g.dead for g in gs)


def _greenlet_permutations(items):
    """Yield permutations using nested greenlets as generators."""
    def produce(prefix, rest):
        if not rest:
            getcurrent().parent.switch(prefix)
            return
        for i, item in enumerate(rest):
            sub = Greenlet(produce)
            # Re-parent each value produced by the nested producer to the
            # consumer of this one.
            value = sub.switch(prefix + (item,), rest[:i] + rest[i + 1:])
            while not sub.dead:
                getcurrent().parent.switch(value)
                value = sub.switch()

    top = Greenlet(produce)
    value = top.switch((), tuple(items))
    while not top.dead:
        yield value
        value = top.switch()


def test_nested_greenlet_generators_enumerate_permutations():
    import itertools
    items = 'abcde'
    got = list(_greenlet_permutations(items))
    assert got == list(itertools.permutations(items))
