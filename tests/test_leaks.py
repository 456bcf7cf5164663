"""Many create/switch/finish cycles and many kill-while-suspended cycles leave
memory flat.

After a warm-up, a run of cycles must not grow:

- the resident set size (``/proc/self/statm``; under qemu-user the guest's
  writable mappings, see ``rss_bytes``), by 1 MiB or more;
- the memory traced by ``tracemalloc``, which sees every Python object and
  every stack copy (the extension allocates those with ``PyMem_RawRealloc``),
  by 1 MiB or more, and by no more than a few bytes a cycle;
- the number of live greenlet objects (counted in ``gc.get_objects()``);
- on debug builds of CPython, the total reference count
  (``sys.gettotalrefcount()``), by more than a small constant.

The default run makes 50,000 create/switch/finish cycles, 20,000 kills and
20,000 reference cycles through suspended greenlets left to the collector;
the long run (``GREENLET_TEST_LONG=1``, ``bash tests/run --long``) makes
1,000,000, 100,000 and 100,000.  Each cycle checks its own result, so a cycle that
goes wrong fails the test instead of only leaking.
"""
import contextvars
import functools
import gc
import os
import sys
import tracemalloc

import pytest

from greenlet import GreenletExit
from greenlet import getcurrent
from greenlet import greenlet as Greenlet

LONG = os.environ.get('GREENLET_TEST_LONG') == '1'
CREATE_CYCLES = 1000000 if LONG else 50000
KILL_CYCLES = 100000 if LONG else 20000

MIB = 1024 * 1024
# Under valgrind's memcheck (tests/valgrind sets this) the resident set also holds memcheck's
# shadow memory and the freed blocks it holds back to catch uses after free (20 MB by
# default), so only the other measures are checked there.
UNDER_VALGRIND = os.environ.get('GREENLET_TEST_VALGRIND') == '1'
# Under qemu-user (tests/cross sets this) memory is measured as the guest sees it (rss_bytes).
EMULATED = os.environ.get('GREENLET_TEST_EMULATED') == '1'
WARM_UP = 5000
CHUNK = 10000
# Traced growth allowed per cycle: one byte, far below the size of any
# object a cycle could leak (a dead greenlet kept alive every hundred cycles
# already makes several bytes a cycle).
TRACED_BYTES_PER_CYCLE = 1
# Total reference count drift allowed on debug builds (caches, interned
# strings and free lists settling); a leak of one reference every 100
# cycles is already far above it.
REFCOUNT_SLACK = 100
# The same for cycles left to the collector: on debug builds each collection moves the total
# count by itself, whatever the number of cycles (measured on 3.14d: +68, +29 and +17 over
# 10,000, 20,000 and 60,000 cycles, +95 to +165 within the test suite over 20,000). A leak of
# one reference every 20 cycles is still far above it.
COLLECTED_REFCOUNT_SLACK = 400

var = contextvars.ContextVar('leak_var')


def rss_bytes():
    """The process's memory: its resident set (its working set on Windows) or, under
    qemu-user, the guest's writable private mappings (malloc's heap and arenas, mapped
    data-stack chunks, thread stacks). There /proc/self/statm reports the emulator's own
    resident set, which grows with qemu's bookkeeping of the guest's munmap calls: on arm,
    80 bytes for each suspended greenlet whose data-stack chunk is unmapped, while the
    guest's malloc arena and mappings stay flat."""
    if EMULATED:
        total = 0
        with open('/proc/self/maps') as f:  # qemu-user shows the guest's mappings
            for line in f:
                fields = line.split()
                if 'w' in fields[1] and 'p' in fields[1]:
                    start, end = (int(x, 16) for x in fields[0].split('-'))
                    total += end - start
        return total
    if not sys.platform.startswith('linux'):
        import psutil
        return psutil.Process().memory_info().rss
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def live_greenlets():
    return sum(1 for o in gc.get_objects() if isinstance(o, Greenlet))


def total_refcount():
    getter = getattr(sys, 'gettotalrefcount', None)
    return getter() if getter is not None else None


def c_deep(n, fn):
    """``fn()`` under ``n`` levels of recursion through a C function."""
    if n == 0:
        return fn()
    return functools.reduce(lambda acc, _: c_deep(n - 1, fn), (0,), None)


# --------------------------------------------------------------------------
# The cycles.

def _return_arg(i):
    return i


def _switch_then_return(main, i, k=None):
    var.set(i)
    got = main.switch(i, k=k)
    return (got, var.get())


def _raise_key_error(i):
    raise KeyError(i)


def create_switch_finish(n, start=0):
    """``n`` greenlets created, switched to and finished, in four ways."""
    main = getcurrent()
    for i in range(start, start + n):
        kind = i % 4
        if kind == 0:
            # started, returns at once
            if Greenlet(_return_arg).switch(i) != i:
                raise AssertionError(i)
        elif kind == 1:
            # suspends once (with a context variable set), resumed, returns
            g = Greenlet(_switch_then_return)
            if g.switch(main, i, k='x') != ((i,), {'k': 'x'}):
                raise AssertionError(i)
            if g.switch('back') != ('back', i) or not g.dead:
                raise AssertionError(i)
        elif kind == 2:
            # dies by an exception that reaches the parent
            try:
                Greenlet(_raise_key_error).switch(i)
            except KeyError as e:
                if e.args != (i,):
                    raise AssertionError(i)
            else:
                raise AssertionError(i)
        else:
            # its parent is a pending greenlet, started by the child's death
            parent = Greenlet(lambda v: ('parent got', v))
            child = Greenlet(_return_arg, parent)
            if child.switch(i) != ('parent got', i):
                raise AssertionError(i)


_finally_ran = [0]


def _park(main):
    main.switch('parked')


def _park_with_finally(main):
    try:
        main.switch('parked')
    finally:
        _finally_ran[0] += 1


def _park_catching(main):
    try:
        main.switch('parked')
    except GreenletExit:
        return 'caught'


def _park_deep(main):
    return c_deep(10, lambda: main.switch('parked'))


_PARKERS = (_park, _park_with_finally, _park_catching, _park_deep)


def kill_suspended(n, start=0):
    """``n`` greenlets suspended, then killed by dropping the last
    reference, in four ways (plain, with a finally block, catching
    GreenletExit, and suspended under C frames)."""
    main = getcurrent()
    before = _finally_ran[0]
    for i in range(start, start + n):
        g = Greenlet(_PARKERS[i % 4])
        if g.switch(main) != 'parked':
            raise AssertionError(i)
        del g
    expected = sum(1 for i in range(start, start + n) if i % 4 == 1)
    if _finally_ran[0] - before != expected:
        raise AssertionError((_finally_ran[0] - before, expected))


_cycles_ended = [0]
_cycle_var = contextvars.ContextVar('cycle_var')
COLLECT_EVERY = 1000


class _Cyclic:
    """Holds the greenlet that runs its method: a cycle through the frame's ``self``."""

    def __init__(self, kind):
        self.kind = kind
        self.greenlet = Greenlet(self.run)
        if kind == 3:
            self.greenlet.gr_context = contextvars.Context()

    def run(self):
        me = getcurrent()
        state = [self.kind]
        if self.kind == 1:
            del self  # then only the local `me` closes the cycle
        elif self.kind == 2:
            def closure():
                return me
            me.closure = closure  # and a cell of this frame
            del self
        elif self.kind == 3:
            _cycle_var.set(me)  # and the greenlet's own context
            del self
        try:
            me.parent.switch('parked')
        finally:
            if me is getcurrent() and state[0] in (0, 1, 2, 3):
                _cycles_ended[0] += 1


def _context_cycle():
    # no local refers to the greenlet: on 3.10 the collector cannot see a frame's locals
    _cycle_var.set(getcurrent())
    try:
        getcurrent().parent.switch('parked')
    finally:
        if _cycle_var.get() is getcurrent():
            _cycles_ended[0] += 1


def collect_cycles(n, start=0):
    """``n`` suspended greenlets in reference cycles (through a method's ``self``, a local,
    a cell and the greenlet's context), left to the collector, which must end each of them
    (running its finally block) and free it. On 3.10 only the context cycles, the kind the
    collector can see there (docs/gc.md)."""
    kinds = 4 if sys.version_info >= (3, 11) else 1
    before = _cycles_ended[0]
    for i in range(start, start + n):
        if kinds == 1:
            cyclic = Greenlet(_context_cycle)
            cyclic.gr_context = contextvars.Context()
        else:
            cyclic = _Cyclic(i % 4).greenlet
        if cyclic.switch() != 'parked':
            raise AssertionError(i)
        del cyclic
        if (i + 1) % COLLECT_EVERY == 0:
            gc.collect()
    gc.collect()
    if _cycles_ended[0] - before != n:
        raise AssertionError((_cycles_ended[0] - before, n))


# --------------------------------------------------------------------------

def _run(loop, cycles):
    done = 0
    while done < cycles:
        step = min(CHUNK, cycles - done)
        loop(step, done)
        done += step


def measure(loop, cycles):
    """Runs ``loop`` for ``cycles`` cycles twice after a warm-up, once
    plain and once under tracemalloc, and returns the growth of each
    measure."""
    loop(WARM_UP)
    gc.collect()
    greenlets_before = live_greenlets()
    refs_before = total_refcount()
    rss_before = rss_bytes()
    _run(loop, cycles)
    gc.collect()
    growth = {
        'rss': rss_bytes() - rss_before,
        'greenlets': live_greenlets() - greenlets_before,
    }
    if refs_before is not None:
        growth['refs'] = total_refcount() - refs_before

    tracemalloc.start()
    try:
        loop(WARM_UP)
        gc.collect()
        traced_before = tracemalloc.get_traced_memory()[0]
        _run(loop, cycles)
        gc.collect()
        growth['traced'] = tracemalloc.get_traced_memory()[0] - traced_before
    finally:
        tracemalloc.stop()
    return growth


def check_flat(growth, cycles, refcount_slack=REFCOUNT_SLACK):
    # Printed, so that ``pytest -s`` shows the numbers.
    print('\n%d cycles: %r' % (cycles, growth))
    if not UNDER_VALGRIND:
        assert growth['rss'] < MIB, growth
    assert growth['traced'] < min(MIB, TRACED_BYTES_PER_CYCLE * cycles), growth
    assert growth['greenlets'] <= 0, growth
    if 'refs' in growth:
        assert abs(growth['refs']) < refcount_slack, growth


def test_create_switch_finish_memory_is_flat():
    check_flat(measure(create_switch_finish, CREATE_CYCLES), CREATE_CYCLES)


def test_kill_while_suspended_memory_is_flat():
    check_flat(measure(kill_suspended, KILL_CYCLES), KILL_CYCLES)


def test_collected_cycles_memory_is_flat():
    check_flat(measure(collect_cycles, KILL_CYCLES), KILL_CYCLES, COLLECTED_REFCOUNT_SLACK)


# --------------------------------------------------------------------------
# The measures themselves notice a leak of the size they are meant to catch.

_hoard = []


def _leaky_create_switch_finish(n, start=0):
    """The create/switch/finish cycle, keeping one finished greenlet in
    every hundred alive."""
    create_switch_finish(n, start)
    for i in range(start, start + n, 100):
        g = Greenlet(_return_arg)
        g.switch(i)
        _hoard.append(g)


def _leaky_kill(n, start=0):
    """The kill cycle, keeping one suspended greenlet (and its stack copy)
    in every hundred alive."""
    kill_suspended(n, start)
    main = getcurrent()
    for i in range(start, start + n, 100):
        g = Greenlet(_park_deep)
        g.switch(main)
        _hoard.append(g)


@pytest.mark.parametrize('loop', [_leaky_create_switch_finish, _leaky_kill],
                         ids=['finished', 'suspended'])
def test_measures_detect_one_leaked_greenlet_in_a_hundred_cycles(loop):
    cycles = 20000
    try:
        growth = measure(loop, cycles)
        assert growth['greenlets'] == cycles // 100
        # tracemalloc sees the leaked greenlets (and their stack copies)
        assert growth['traced'] >= TRACED_BYTES_PER_CYCLE * cycles, growth
        if 'refs' in growth:
            assert growth['refs'] >= REFCOUNT_SLACK, growth
        with pytest.raises(AssertionError):
            check_flat(growth, cycles)
    finally:
        for g in _hoard:
            if g:
                g.throw()
        del _hoard[:]


def test_cycles_check_their_results():
    main = getcurrent()
    g = Greenlet(_switch_then_return)
    assert g.switch(main, 7, k='x') == ((7,), {'k': 'x'})
    assert g.switch('v') == ('v', 7)
    before = _finally_ran[0]
    kill_suspended(8)
    assert _finally_ran[0] - before == 2
    before = _cycles_ended[0]
    collect_cycles(8)
    assert _cycles_ended[0] - before == 8
    g = Greenlet(_park_deep)
    assert g.switch(main) == 'parked'
    assert g._stack_saved > 0
    del g
