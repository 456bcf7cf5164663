"""Running out of memory for stack copies, very deep stacks (close to the
recursion limit, and with large C frames), and recursion limits.

``_fail_stack_allocations_after(n)`` lets ``n`` more stack-copy allocations
succeed and then fails every one; the switch that needed the memory raises
``MemoryError`` in the switcher and nothing moves.  ``-1`` restores normal
allocation.  Heap copies of up to 64 KiB are kept for reuse, so the tests
either use greenlets whose copy was never allocated (a fresh thread's main
greenlet, a fresh greenlet) or stacks deeper than that (which are allocated
anew on every switch).
"""
import contextlib
import functools
import gc
import json
import struct
import sys
import threading
import tracemalloc

import pytest

import greenlet
from greenlet import getcurrent
from greenlet import greenlet as Greenlet

from conftest import c_recursion_limit
from conftest import run_in_thread
from conftest import run_in_threads

hook = greenlet._greenlet._fail_stack_allocations_after

# Levels of C recursion that put well over 64 KiB of C stack under a greenlet
# on every supported version (about 580 bytes per level on 3.12, more on
# older versions); each level is two Python frames.
DEEP = 200


@contextlib.contextmanager
def failing_allocations(after=0):
    previous = hook(after)
    try:
        yield previous
    finally:
        hook(-1)


@pytest.fixture(autouse=True)
def _allocations_restored():
    assert hook(-1) == -1, 'a previous test left stack allocations failing'
    yield
    assert hook(-1) == -1, 'this test left stack allocations failing'


def c_deep(n, fn):
    """``fn()`` called under ``n`` levels of recursion, each level passing
    through a C function (``functools.reduce``)."""
    if n == 0:
        return fn()
    return functools.reduce(lambda acc, _: c_deep(n - 1, fn), (0,), None)


def c_deep_levels(nbytes):
    """Levels of ``c_deep`` that put at least ``nbytes`` of C stack under a
    greenlet here.  A level takes about 370 bytes on 32-bit arm and 650 on
    aarch64, depending on the machine and the CPython build."""
    main = getcurrent()
    saved = []
    for n in (0, 20):
        g = Greenlet(lambda n=n: c_deep(n, main.switch))
        g.switch()
        saved.append(g._stack_saved)
        g.switch()
    return int(nbytes * 20 / (saved[1] - saved[0])) + 1


def py_deep(n, fn):
    if n == 0:
        return fn()
    return py_deep(n - 1, fn)


def frame_depth():
    depth = 0
    frame = sys._getframe(1)
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


def state(g):
    """(bool, dead, has a frame) of a greenlet."""
    return (bool(g), g.dead, g.gr_frame is not None)


PENDING = (False, False, False)
SUSPENDED = (True, False, True)
DEAD = (False, True, False)


# --------------------------------------------------------------------------
# Failing switches.

def test_hook_returns_previous_value_and_validates():
    assert hook(5) == -1
    assert hook(0) == 5
    assert hook(-1) == 0
    with pytest.raises(ValueError):
        hook(-2)
    with pytest.raises(TypeError):
        hook('1')
    assert hook(-1) == -1


def test_memory_error_starting_a_greenlet_in_a_fresh_thread():
    def in_thread():
        main = getcurrent()
        calls = []

        def run(*args):
            calls.append(args)
            return main.switch(('started', args)) + '!'

        g = Greenlet(run)
        with failing_allocations():
            with pytest.raises(MemoryError):
                g.switch('a')
        # Nothing moved: the greenlet is still pending, with its run.
        assert calls == []
        assert getcurrent() is main
        assert state(g) == PENDING
        assert g.run is run
        assert g.parent is main
        assert g._stack_saved == 0
        # And it starts normally once memory is there.
        assert g.switch('b') == ('started', ('b',))
        assert state(g) == SUSPENDED
        assert g.switch('end') == 'end!'
        assert state(g) == DEAD
        return calls

    assert run_in_thread(in_thread) == [('b',)]


def test_memory_error_starting_a_greenlet_from_a_fresh_greenlet():
    main = getcurrent()

    def outer():
        inner = Greenlet(lambda x: main.switch(('inner', x)))
        with failing_allocations():
            try:
                inner.switch(1)
            except MemoryError:
                failed = True
            else:  # pragma: no cover - reported by the assertion below
                failed = False
        observed = (failed, state(inner), getcurrent() is outer_g)
        return observed, inner

    outer_g = Greenlet(outer)
    observed, inner = outer_g.switch()
    assert observed == (True, PENDING, True)
    assert state(outer_g) == DEAD
    # The pending inner greenlet's parent was the outer greenlet, now dead:
    # when it finishes, its result goes on to main.
    assert inner.switch(2) == ('inner', 2)
    assert inner.switch('fin') == 'fin'
    assert state(inner) == DEAD


def test_memory_error_resuming_a_greenlet_from_a_deep_stack():
    main = getcurrent()

    def run():
        value = main.switch('parked')
        while value != 'stop':
            value = main.switch(('echo', value))
        return 'finished'

    g = Greenlet(run)
    assert g.switch() == 'parked'
    saved_before = g._stack_saved

    def at_the_bottom():
        outcome = []
        with failing_allocations():
            try:
                g.switch('lost')
            except MemoryError:
                outcome.append('MemoryError')
        outcome.append(state(g))
        outcome.append(g._stack_saved == saved_before)
        outcome.append(getcurrent() is main)
        # Deep and with memory again: a normal switch.
        outcome.append(g.switch('deep'))
        return outcome

    assert c_deep(DEEP, at_the_bottom) == [
        'MemoryError', SUSPENDED, True, True, ('echo', 'deep')]
    # The value of the failed switch was never delivered.
    assert g.switch('shallow') == ('echo', 'shallow')
    assert g.switch('stop') == 'finished'
    assert state(g) == DEAD


def test_memory_error_switching_out_of_a_deep_greenlet():
    main = getcurrent()
    seen = []

    def at_the_bottom():
        with failing_allocations():
            try:
                main.switch('never')
            except MemoryError:
                seen.append('MemoryError')
        seen.append(getcurrent() is g)
        # Still running at the bottom of its deep stack; now it can switch.
        got = main.switch('from the bottom')
        return ('bottom got', got)

    g = Greenlet(lambda: c_deep(DEEP, at_the_bottom))
    assert g.switch() == 'from the bottom'
    assert seen == ['MemoryError', True]
    assert state(g) == SUSPENDED
    assert g._stack_saved > 64 * 1024
    assert g.switch('x') == ('bottom got', 'x')
    assert state(g) == DEAD
    assert g._stack_saved == 0


def test_memory_error_while_dying_goes_to_the_next_ancestor():
    # ``dying`` has ``middle`` as parent and ``middle``'s parent is
    # ``starter``, which started ``dying`` from deep down its stack.  When
    # ``dying`` returns, reaching ``middle`` needs ``starter``'s deep stack
    # saved, which fails; the MemoryError goes on to the next ancestor,
    # ``starter``, which needs no memory to resume.
    main = getcurrent()
    middle = Greenlet(lambda: ('middle resumed', main.switch('middle parked')))
    assert middle.switch() == 'middle parked'

    def dying_run():
        hook(0)
        return 'lost value'

    def starter_run():
        dying = Greenlet(dying_run, parent=middle)

        def at_the_bottom():
            try:
                dying.switch()
            except MemoryError:
                outcome = 'MemoryError'
            else:  # pragma: no cover
                outcome = 'no error'
            finally:
                hook(-1)
            return outcome, state(dying), state(middle)

        return c_deep(DEEP, at_the_bottom)

    starter = Greenlet(starter_run)
    middle.parent = starter
    assert starter.switch() == ('MemoryError', DEAD, SUSPENDED)
    assert state(starter) == DEAD
    # ``middle`` is untouched and resumes normally; its parent ``starter``
    # is dead, so its result comes here.
    assert middle.switch('resume') == ('middle resumed', 'resume')
    assert state(middle) == DEAD


def test_memory_error_in_a_switch_inside_a_c_callback():
    # json's C encoder calls ``default`` from deep inside its recursion; a
    # switch there that cannot get memory raises out of json.dumps.
    main = getcurrent()

    class Leaf:
        def __init__(self, i):
            self.i = i

    def nested(depth):
        value = [Leaf(depth)]
        for i in range(depth - 1, -1, -1):
            value = [Leaf(i), value]
        return value

    def default(leaf):
        return main.switch(leaf.i)

    def run(fail):
        if fail:
            hook(0)
        try:
            return json.dumps(nested(DEEP), default=default)
        finally:
            hook(-1)

    g = Greenlet(lambda: c_deep(20, lambda: run(True)))
    with pytest.raises(MemoryError):
        g.switch()
    assert state(g) == DEAD

    g = Greenlet(lambda: run(False))
    received = [g.switch()]
    while not g.dead:
        result = g.switch(received[-1] * 10 if isinstance(received[-1], int) else None)
        received.append(result)
    text = received.pop()
    assert received == list(range(DEEP + 1))
    expected = [DEEP * 10]
    for i in range(DEEP - 1, -1, -1):
        expected = [i * 10, expected]
    assert json.loads(text) == expected


KILL_WITHOUT_MEMORY = r'''
import functools
import greenlet
from greenlet import getcurrent, greenlet as Greenlet

hook = greenlet._greenlet._fail_stack_allocations_after
main = getcurrent()
log = []

def c_deep(n, fn):
    if n == 0:
        return fn()
    return functools.reduce(lambda acc, _: c_deep(n - 1, fn), (0,), None)

def body():
    try:
        main.switch('parked')
    finally:
        log.append('finally ran')

g = Greenlet(body)
print(g.switch(), flush=True)

def bottom():
    global g
    hook(0)
    try:
        del g  # the kill needs main's deep stack saved: it cannot switch
    finally:
        hook(-1)
    return 'released'

print(c_deep(200, bottom), log, flush=True)
print(Greenlet(lambda: 'still works').switch(), flush=True)
'''


def test_killing_a_greenlet_without_memory_reports_and_leaks_it(script):
    # Releasing a suspended greenlet throws GreenletExit into it; when that
    # switch cannot get memory, the MemoryError is reported as unraisable,
    # the greenlet is reported as not killed and is deliberately leaked (its
    # finally block never runs), and everything else goes on.
    rc, out, err = script(KILL_WITHOUT_MEMORY)
    assert rc == 0, err
    assert out.splitlines() == ['parked', 'released []', 'still works']
    assert 'Exception ignored in: <greenlet.greenlet object at ' in err
    assert 'MemoryError' in err
    assert 'GreenletExit did not kill <greenlet.greenlet object at ' in err
    assert 'Fatal Python error' not in err


def _sweep_scenario(budget, failures):
    """Three greenlets at different depths exchange values with main; every
    switch that fails for lack of memory is retried once memory is back,
    and the budget is then renewed so that later switches fail again."""
    main = getcurrent()

    def switch(target, value):
        before = (state(target), getcurrent())
        try:
            return target.switch(value)
        except MemoryError:
            failures.append(before[1] is main)
            # Nothing moved.
            assert (state(target), getcurrent()) == before
            hook(-1)
            try:
                return target.switch(value)
            finally:
                hook(budget)

    def worker(index, first):
        def at_the_bottom():
            value = first
            for _ in range(4):
                value = switch(main, (index, value))
            return ('done', index, value)
        return c_deep((0, DEEP // 2, DEEP)[index], at_the_bottom)

    gs = [Greenlet(functools.partial(worker, i)) for i in range(3)]
    results = []
    hook(budget)
    try:
        for round_ in range(5):
            for i, g in enumerate(gs):
                if round_ % 2:
                    # From deep down main's stack: main's part must be saved.
                    results.append(c_deep(DEEP, lambda: switch(g, round_ * 10 + i)))
                else:
                    # Always switched to from this one line, so every
                    # greenlet starts at the same stack position.
                    results.append(switch(g, round_ * 10 + i))
    finally:
        hook(-1)
    assert [state(g) for g in gs] == [DEAD] * 3
    return results


def test_allocation_failure_at_every_point_of_a_scenario():
    reference = _sweep_scenario(-1, [])
    assert reference[-3:] == [('done', 0, 40), ('done', 1, 41), ('done', 2, 42)]
    # Budget n fails the (n+1)th allocation, so every budget below the
    # number of allocations the scenario makes must see a failure.
    failing_sides = set()
    budget = 0
    while True:
        failures = []
        assert _sweep_scenario(budget, failures) == reference, budget
        if not failures:
            break
        failing_sides.update(failures)
        budget += 1
        assert budget < 200
    assert budget >= 8
    # Switches out of main and out of the deep greenlets both failed.
    assert failing_sides == {True, False}
    failures = []
    assert _sweep_scenario(budget + 5, failures) == reference
    assert failures == []


def _count_greenlets():
    return sum(1 for o in gc.get_objects() if isinstance(o, Greenlet))


def test_repeated_failure_and_recovery_does_not_leak():
    main = getcurrent()
    # Deep enough that resuming the child saves more of the caller's stack
    # than the 64 KiB a stack keeps between switches: that needs a new
    # allocation, which fails.
    resume_levels = max(DEEP // 2 + 30, c_deep_levels(80 * 1024))

    def one_round(i):
        # A fresh greenlet has no stack copy yet: starting a child from it
        # needs an allocation.
        def outer():
            child = Greenlet(lambda x: main.switch(x) + 1)
            with failing_allocations():
                with pytest.raises(MemoryError):
                    child.switch(i)
            assert state(child) == PENDING
            return child

        child = Greenlet(outer).switch()
        assert child.switch(i) == i
        # Resuming from deep down fails, then works.

        def deep_part():
            with failing_allocations():
                with pytest.raises(MemoryError):
                    child.switch(0)
            return child.switch(i)

        assert c_deep(resume_levels, deep_part) == i + 1
        assert state(child) == DEAD

    for i in range(30):
        one_round(i)
    gc.collect()
    greenlets_before = _count_greenlets()
    tracemalloc.start()
    try:
        for i in range(10):
            one_round(i)
        gc.collect()
        before, _ = tracemalloc.get_traced_memory()
        for i in range(150):
            one_round(i)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 64 * 1024, after - before
    assert _count_greenlets() <= greenlets_before


def test_memory_error_in_many_threads_at_once():
    barrier = threading.Barrier(4, timeout=30)

    def in_thread(n):
        main = getcurrent()
        g = Greenlet(lambda v: main.switch(v * 2) + n)
        barrier.wait()
        if n == 0:
            hook(0)
        barrier.wait()
        try:
            g.switch(n)
        except MemoryError:
            outcome = 'MemoryError'
        else:  # pragma: no cover
            outcome = 'switched'
        barrier.wait()
        if n == 0:
            hook(-1)
        barrier.wait()
        assert state(g) == PENDING
        first = g.switch(n)
        return outcome, first, g.switch(100), state(g)

    results = run_in_threads(in_thread, 4)
    assert results == [('MemoryError', 2 * n, 100 + n, DEAD) for n in range(4)]


# --------------------------------------------------------------------------
# Deep stacks.

def _ping_pong_at_bottom(rounds):
    """Run in a greenlet: exchanges ``rounds`` values with its parent."""
    total = 0
    for _ in range(rounds):
        total += getcurrent().parent.switch(total)
    return total


def test_switching_close_to_the_recursion_limit():
    limit = sys.getrecursionlimit()
    # Leave a few frames for the switch machinery itself and the callers.
    depth = limit - frame_depth() - 25

    g = Greenlet(lambda: py_deep(depth, lambda: _ping_pong_at_bottom(50)))
    value = g.switch()
    for i in range(1, 51):
        assert value == sum(range(1, i))
        assert g.gr_frame is not None
        value = g.switch(i)
    assert value == sum(range(1, 51))
    assert state(g) == DEAD


@pytest.mark.parametrize('via', ['reduce', 'map', 'sorted-key', 'min-key'])
def test_switching_at_the_bottom_of_deep_c_recursion(via):
    # sorted() keeps its merge state (over 4 KiB; 2 KiB with 32-bit pointers)
    # in its C frame, so that variant puts a large C frame on every level.
    main = getcurrent()
    # Each level is two Python frames and a C call, which older versions
    # also count against the recursion limit.
    levels = min((sys.getrecursionlimit() - frame_depth() - 40) // 4, 300)
    if c_recursion_limit():
        # and about four units of CPython's C recursion budget
        levels = min(levels, c_recursion_limit() // 5)

    def descend(n):
        if n == 0:
            return main.switch('bottom') * 2
        if via == 'reduce':
            return functools.reduce(lambda acc, _: descend(n - 1) + 1, (0,), None)
        if via == 'map':
            return list(map(lambda _: descend(n - 1) + 1, (0,)))[0]
        if via == 'sorted-key':
            box = []
            sorted((0,), key=lambda _: box.append(descend(n - 1) + 1) or 0)
            return box[0]
        box = []
        min((0,), key=lambda _: box.append(descend(n - 1) + 1) or 0)
        return box[0]

    g = Greenlet(descend)
    assert g.switch(levels) == 'bottom'
    # sorted()'s merge state is mostly pointers (256 of them in its temporary array alone):
    # 4 KiB a level with 64-bit pointers, half that with 32-bit ones.
    pointer = struct.calcsize('P')
    assert g._stack_saved > levels * (512 * pointer if via == 'sorted-key' else 100)
    # Touch main's stack in between: deep again from here.
    assert c_deep(50, lambda: g.gr_frame is not None)
    assert g.switch(21) == 42 + levels
    assert state(g) == DEAD


def test_two_deep_greenlets_ping_pong():
    main = getcurrent()
    received = []

    def player(name, other_box):
        def at_the_bottom():
            value = main.switch(name + ' ready')
            for _ in range(20):
                received.append((name, value))
                value = other_box[0].switch(value + 1)
            return (name, value)
        return at_the_bottom

    box_a, box_b = [None], [None]
    a = Greenlet(lambda: c_deep(DEEP, player('a', box_b)))
    b = Greenlet(lambda: py_deep(DEEP // 2, lambda: c_deep(DEEP // 2, player('b', box_a))))
    box_a[0], box_b[0] = a, b
    assert a.switch() == 'a ready'
    assert b.switch() == 'b ready'
    # a and b alternate, each adding one; a finishes first and its result
    # goes to its parent, main.
    assert a.switch(0) == ('a', 40)
    assert received == [('a' if i % 2 == 0 else 'b', i) for i in range(40)]
    assert state(a) == DEAD and state(b) == SUSPENDED
    assert b._stack_saved > 0
    assert b.switch('end') == ('b', 'end')
    assert state(b) == DEAD


def test_json_default_hook_switching_at_every_level():
    main = getcurrent()

    class Node:
        def __init__(self, level, child):
            self.level, self.child = level, child

    depth = 150
    tree = None
    for level in range(depth, 0, -1):
        tree = Node(level, tree)

    def default(node):
        reply = main.switch(node.level)
        return [reply, node.child] if node.child is not None else [reply]

    g = Greenlet(lambda: json.dumps(tree, default=default))
    levels = []
    value = g.switch()
    while not g.dead:
        levels.append(value)
        value = g.switch('L%d' % value)
    assert levels == list(range(1, depth + 1))
    expected = ['L%d' % depth]
    for level in range(depth - 1, 0, -1):
        expected = ['L%d' % level, expected]
    assert json.loads(value) == expected


def test_json_object_hook_switching_from_the_deepest_level():
    main = getcurrent()
    depth = 200
    text = '{"a": ' * depth + '0' + '}' * depth

    def hook_(obj):
        return main.switch(obj['a']) + 1

    g = Greenlet(lambda: json.loads(text, object_hook=hook_))
    seen = [g.switch()]
    while not g.dead:
        seen.append(g.switch(seen[-1] * 2 if isinstance(seen[-1], int) else 0))
    result = seen.pop()
    # innermost first: each hook got the previous reply plus one
    assert seen[0] == 0
    for previous, current in zip(seen, seen[1:]):
        assert current == previous * 2 + 1
    assert result == seen[-1] * 2 + 1
    assert len(seen) == depth


# --------------------------------------------------------------------------
# Recursion limits.

def test_recursion_error_in_greenlet_propagates_and_greenlet_is_dead():
    def forever(n):
        return forever(n + 1) + 1

    g = Greenlet(forever)
    with pytest.raises(RecursionError):
        g.switch(0)
    assert state(g) == DEAD
    assert g._stack_saved == 0
    # The recursion depth of this greenlet is intact: it can go as deep as
    # before.
    depth = sys.getrecursionlimit() - frame_depth() - 20
    assert py_deep(depth, lambda: 'deep') == 'deep'
    assert Greenlet(lambda: py_deep(depth, lambda: 'deep too')).switch() == 'deep too'


def test_c_level_recursion_error_in_greenlet_propagates():
    nested = []
    for _ in range(100000):
        nested = [nested]

    def run():
        return json.dumps(nested)

    g = Greenlet(run)
    with pytest.raises(RecursionError):
        g.switch()
    assert state(g) == DEAD
    assert Greenlet(lambda: json.dumps([[[]]])).switch() == '[[[]]]'


def test_recursion_error_caught_inside_greenlet_after_switching_deep():
    main = getcurrent()

    def run():
        def forever(n):
            if n % 100 == 0:
                main.switch(n)
            return forever(n + 1)
        try:
            forever(1)
        except RecursionError:
            return 'caught'

    g = Greenlet(run)
    seen = [g.switch()]
    while not g.dead:
        seen.append(g.switch())
    assert seen[-1] == 'caught'
    assert seen[:-1] == list(range(100, 100 * len(seen[:-1]) + 1, 100))
    assert len(seen) >= 5


def test_greenlet_started_deep_has_less_recursion_left():
    def reachable():
        best = [0]

        def rec(n):
            best[0] = n
            rec(n + 1)
        try:
            rec(1)
        except RecursionError:
            pass
        return best[0]

    shallow = Greenlet(reachable).switch()
    deep = py_deep(300, lambda: Greenlet(reachable).switch())
    in_main_deep = py_deep(300, reachable)
    assert abs(deep - in_main_deep) <= 5, (deep, in_main_deep)
    assert 290 <= shallow - deep <= 310, (shallow, deep)
