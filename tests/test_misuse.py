"""Misuse of the API raises the documented exception (never crashes)."""
import importlib
import os
import pickle
import re
import sys
import threading
import time

import pytest

import greenlet
from greenlet import getcurrent
from greenlet import greenlet as Greenlet

from conftest import no_automatic_collection


def _pending():
    return Greenlet(lambda *a, **k: None)


def _suspended():
    main = getcurrent()
    g = Greenlet(lambda: main.switch())
    g.switch()
    return g


def _dead():
    g = Greenlet(lambda: None)
    g.switch()
    return g


def _set(obj, name, value):
    setattr(obj, name, value)


def _with_run(g, run):
    g.run = run  # accepted: run is only called when the greenlet starts
    return g


class _BadBool:
    def __bool__(self):
        raise ZeroDivisionError('no truth')


ANY = object()  # message not compared

# (id, action, exception type, exact message or ANY)
MISUSE = [
    ('ctor-three-args', lambda: Greenlet(None, None, None), TypeError,
     'green() takes at most 2 arguments (3 given)'),
    ('ctor-parent-int', lambda: Greenlet(parent=1), TypeError,
     'GreenletChecker: Expected any type of greenlet, not int'),
    ('ctor-parent-str', lambda: Greenlet(None, 'p'), TypeError,
     'GreenletChecker: Expected any type of greenlet, not str'),
    ('parent-none', lambda: _set(_pending(), 'parent', None), TypeError,
     'GreenletChecker: Expected any type of greenlet, not NoneType'),
    ('parent-self', lambda: (lambda g: _set(g, 'parent', g))(_pending()),
     ValueError, 'cyclic parent chain'),
    ('parent-delete', lambda: delattr(_pending(), 'parent'), AttributeError,
     "can't delete attribute"),
    ('main-parent-set', lambda: _set(getcurrent(), 'parent', _pending()),
     AttributeError, 'cannot set the parent of a main greenlet'),
    ('main-run-get', lambda: getcurrent().run, AttributeError,
     'Main greenlets do not have a run attribute.'),
    ('main-run-set', lambda: _set(getcurrent(), 'run', len), AttributeError,
     'Main greenlets do not have a run attribute.'),
    ('run-set-suspended', lambda: _set(_suspended(), 'run', len), AttributeError,
     'run cannot be set after the start of the greenlet'),
    ('run-set-dead', lambda: _set(_dead(), 'run', len), AttributeError,
     'run cannot be set after the start of the greenlet'),
    ('run-get-dead', lambda: _dead().run, AttributeError, 'run'),
    ('no-run-switch', lambda: Greenlet().switch(), AttributeError, 'run'),
    ('no-run-throw', lambda: Greenlet().throw(), AttributeError, 'run'),
    ('run-not-callable', lambda: Greenlet(3).switch(), TypeError,
     "'int' object is not callable"),
    ('gr-frame-set', lambda: _set(_pending(), 'gr_frame', None), AttributeError,
     "attribute 'gr_frame' of 'greenlet.greenlet' objects is not writable"),
    ('dead-set', lambda: _set(_pending(), 'dead', True), AttributeError,
     "attribute 'dead' of 'greenlet.greenlet' objects is not writable"),
    ('stack-saved-set', lambda: _set(_pending(), '_stack_saved', 0),
     AttributeError,
     "attribute '_stack_saved' of 'greenlet.greenlet' objects is not writable"),
    ('dict-set-list', lambda: _set(_pending(), '__dict__', []), TypeError,
     '__dict__ must be a dictionary'),
    ('dict-delete', lambda: delattr(_pending(), '__dict__'), TypeError,
     '__dict__ may not be deleted'),
    ('context-set-int', lambda: _set(_pending(), 'gr_context', 1), TypeError,
     'greenlet context must be a contextvars.Context or None'),
    ('context-delete', lambda: delattr(_pending(), 'gr_context'), AttributeError,
     "can't delete context attribute"),
    ('pickle', lambda: pickle.dumps(_pending(), 2), TypeError,
     "cannot serialize 'greenlet.greenlet' object"),
    ('getstate', lambda: getcurrent().__getstate__(), TypeError,
     "cannot serialize 'greenlet.greenlet' object"),
    ('throw-int', lambda: _suspended().throw(1), TypeError,
     'exceptions must be classes, or instances, not int'),
    ('throw-instance-and-value', lambda: _suspended().throw(KeyError(), 1),
     TypeError, 'instance exception may not have a separate value'),
    ('throw-bad-tb', lambda: _suspended().throw(KeyError, None, 'tb'), TypeError,
     'throw() third argument must be a traceback object'),
    ('throw-four-args', lambda: _pending().throw(KeyError, None, None, None),
     TypeError, 'throw() takes at most 3 arguments (4 given)'),
    ('throw-keywords', lambda: _pending().throw(typ=KeyError), TypeError, ANY),
    ('unbound-switch-on-non-greenlet', lambda: Greenlet.switch(object()),
     TypeError, ANY),
    ('unbound-throw-on-non-greenlet', lambda: Greenlet.throw(1), TypeError, ANY),
    ('parent-descriptor-on-non-greenlet', lambda: Greenlet.parent.__get__(1),
     TypeError, ANY),
    ('settrace-no-args', lambda: greenlet.settrace(), TypeError, ANY),
    ('getcurrent-with-args', lambda: greenlet.getcurrent(1), TypeError, ANY),
    ('gettrace-with-args', lambda: greenlet.gettrace(1), TypeError, ANY),
    ('optional-cleanup-bad-bool',
     lambda: greenlet.enable_optional_cleanup(_BadBool()), ZeroDivisionError,
     'no truth'),
    ('init-again-bad-parent', lambda: _pending().__init__(None, 5), TypeError,
     'GreenletChecker: Expected any type of greenlet, not int'),
    ('new-non-greenlet-type', lambda: Greenlet.__new__(int), TypeError,
     'greenlet.greenlet.__new__(int): int is not a subtype of greenlet.greenlet'),
    ('run-set-not-callable', lambda: _with_run(_pending(), 5).switch(), TypeError,
     "'int' object is not callable"),
    ('throw-non-exception-instance', lambda: _suspended().throw(object()), TypeError,
     'exceptions must be classes, or instances, not object'),
    ('throw-non-exception-class', lambda: _suspended().throw(object), TypeError,
     'exceptions must be classes, or instances, not type'),
    # Argument counts of the module functions (CPython words these itself).
    ('settrace-two-args', lambda: greenlet.settrace(None, None), TypeError, ANY),
    ('optional-cleanup-no-args', lambda: greenlet._greenlet.enable_optional_cleanup(),
     TypeError, ANY),
    ('pending-cleanup-count-with-args',
     lambda: greenlet._greenlet.get_pending_cleanup_count(1), TypeError, ANY),
    ('total-main-greenlets-with-args',
     lambda: greenlet._greenlet.get_total_main_greenlets(1), TypeError, ANY),
    ('clocks-used-with-args',
     lambda: greenlet._greenlet.get_clocks_used_doing_optional_cleanup(1), TypeError, ANY),
    ('set-thread-local-one-arg', lambda: greenlet._greenlet.set_thread_local('k'),
     TypeError, ANY),
    ('set-thread-local-unhashable-key',
     lambda: greenlet._greenlet.set_thread_local([], 1), TypeError, ANY),
    ('fail-allocations-not-int',
     lambda: greenlet._greenlet._fail_stack_allocations_after('1'), TypeError, ANY),
    ('fail-allocations-below-minus-one',
     lambda: greenlet._greenlet._fail_stack_allocations_after(-2), ValueError,
     'count must be -1 (never fail) or at least 0'),
]


@pytest.mark.parametrize('action, exc_type, message',
                         [pytest.param(a, e, m, id=i) for i, a, e, m in MISUSE])
def test_misuse_raises(action, exc_type, message):
    with pytest.raises(exc_type) as info:
        action()
    assert type(info.value) is exc_type
    if message is not ANY:
        assert str(info.value) == message
    # The interpreter and the greenlet machinery are still fine.
    assert Greenlet(lambda: 'alive').switch() == 'alive'
    assert greenlet.gettrace() is None


def test_reinit_of_pending_greenlet_replaces_run_and_parent():
    g = Greenlet(lambda: 'old')
    other = Greenlet(lambda *a: ('other', a))
    g.__init__(lambda: 'new', other)
    assert g.parent is other
    assert g.switch() == ('other', ('new',))


def test_switching_into_running_greenlet_chain_does_not_crash():
    main = getcurrent()

    def body():
        # Switching "up" to the parent which is running the switch that
        # started us is a normal switch; switching to self is a no-op.
        assert getcurrent().switch('self') == 'self'
        return main.switch('to parent')

    g = Greenlet(body)
    assert g.switch() == 'to parent'
    assert g.switch('finish') == 'finish'


def test_subclass_with_failing_run_property_stays_pending():
    class Broken(Greenlet):
        @property
        def run(self):
            raise LookupError('no run for you')

    b = Broken()
    with pytest.raises(LookupError, match='no run for you'):
        b.switch()
    assert not b.dead and not b
    with pytest.raises(LookupError):
        b.switch()


def test_abstract_run_makes_subclass_uninstantiable():
    import abc

    class Abstract(Greenlet, metaclass=abc.ABCMeta):
        @abc.abstractmethod
        def run(self):
            pass

    with pytest.raises(TypeError):
        Abstract()

    class Concrete(Abstract):
        def run(self):
            return 'concrete'

    assert Concrete().switch() == 'concrete'


def test_run_lookup_that_switches_away_and_back():
    main = getcurrent()

    class Tricky(Greenlet):
        def __getattribute__(self, name):
            if name == 'run':
                main_value = main.switch('switched during run lookup')
                assert main_value == 'resume lookup'
            return Greenlet.__getattribute__(self, name)

        def run(self, arg):
            return ('ran', arg)

    t = Tricky()
    starter = Greenlet(lambda: t.switch('arg'))
    assert starter.switch() == 'switched during run lookup'
    assert starter.switch('resume lookup') == ('ran', 'arg')


def test_exception_swallowed_in_getattribute_does_not_replace_thrown_one():
    class Noisy(Greenlet):
        def __getattribute__(self, name):
            try:
                raise OSError('noise')
            except OSError:
                pass
            return Greenlet.__getattribute__(self, name)

    class Thrown(Exception):
        pass

    n = Noisy(lambda: None)
    with pytest.raises(Thrown):
        n.throw(Thrown())


def test_exc_info_not_leaked_by_failed_switch():
    g = Greenlet()
    try:
        g.switch()
    except AttributeError:
        pass
    assert sys.exc_info() == (None, None, None)


LOW_LEVEL_FAILURE_SCRIPT = r'''
import sys
import greenlet._greenlet as ext

main = ext.getcurrent()
u = ext.UnswitchableGreenlet(lambda: main.switch('parked'))
if sys.argv[1] == 'running':
    print(u.switch(), flush=True)
u.force_slp_switch_error = True
u.switch()
print('NOT REACHED', flush=True)
'''


@pytest.mark.parametrize('when', ['first', 'running'])
def test_low_level_switch_failure_aborts_process(script, when):
    import signal
    rc, out, err = script(LOW_LEVEL_FAILURE_SCRIPT, args=[when])
    # abort() ends a Windows process with exit status 3
    aborted = (3,) if sys.platform == 'win32' else (-signal.SIGABRT, -signal.SIGSEGV)
    assert rc in aborted, (rc, out, err)
    assert 'NOT REACHED' not in out
    if when == 'running':
        assert out.splitlines()[0] == 'parked'


def test_reinit_of_started_greenlet_with_run_is_refused():
    main = getcurrent()
    g = Greenlet(lambda: main.switch('parked'))
    assert g.switch() == 'parked'
    other = Greenlet(lambda: None)
    for args in ((len,), (len, other)):
        with pytest.raises(AttributeError) as info:
            g.__init__(*args)
        assert str(info.value) == 'run cannot be set after the start of the greenlet'
        assert g.parent is main
    assert g.switch() == ()
    assert g.dead


def test_init_sets_run_before_parent():
    # greenlet.__init__(run, parent) assigns run first, then parent, as the
    # original does: when both are wrong, the error is about run, and a
    # refused run leaves the parent alone.
    main = getcurrent()
    started = Greenlet(lambda: main.switch('parked'))
    assert started.switch() == 'parked'
    with pytest.raises(AttributeError) as info:
        started.__init__(len, 5)
    assert str(info.value) == 'run cannot be set after the start of the greenlet'
    with pytest.raises(AttributeError) as info:
        main.__init__(len, Greenlet())
    assert str(info.value) == 'Main greenlets do not have a run attribute.'
    pending = Greenlet(lambda: None)
    with pytest.raises(TypeError) as info:
        pending.__init__(len, 5)
    assert str(info.value) == 'GreenletChecker: Expected any type of greenlet, not int'
    assert pending.run is len
    assert started.switch() == ()


def test_throw_non_exception_leaves_targets_untouched():
    ran = []
    pending = Greenlet(lambda: ran.append('pending'))
    suspended = _suspended()
    for target in (pending, suspended):
        for bad in (object(), object, 1, None):
            with pytest.raises(TypeError) as info:
                target.throw(bad)
            assert str(info.value).startswith('exceptions must be classes, or instances, not ')
    assert ran == []
    assert not pending and not pending.dead
    assert suspended and not suspended.dead
    assert suspended.switch() == ()
    pending.switch()
    assert ran == ['pending']


def test_non_callable_trace_function_fails_the_switch_and_is_removed():
    ran = []
    with no_automatic_collection():
        greenlet.settrace(1)  # accepted: only called at the next switch
        try:
            g = Greenlet(lambda: ran.append(1))
            with pytest.raises(TypeError) as info:
                g.switch()
            assert str(info.value) == "'int' object is not callable"
            # The failing trace function is removed; the greenlet was entered
            # and died of the error without running.
            assert greenlet.gettrace() is None
            assert g.dead
            assert ran == []
        finally:
            greenlet.settrace(None)
    assert Greenlet(lambda: 'fine').switch() == 'fine'


def _greenlets_of_finished_thread():
    """The main greenlet and a pending greenlet of a thread that ended."""
    box = []

    def in_thread():
        box.append(getcurrent())
        box.append(Greenlet(lambda: 'never'))

    t = threading.Thread(target=in_thread)
    t.start()
    t.join(60)
    other_main, pending = box
    deadline = time.monotonic() + 15
    while not other_main.dead and time.monotonic() < deadline:
        getcurrent()
        time.sleep(0.01)
    assert other_main.dead
    return other_main, pending


EXITED = 'cannot switch to a different thread (which happens to have exited)'


def test_throw_into_greenlets_of_a_finished_thread():
    other_main, pending = _greenlets_of_finished_thread()
    for target in (other_main, pending):
        for args in ((), (ValueError,), (ValueError('x'),)):
            with pytest.raises(greenlet.error) as info:
                target.throw(*args)
            assert str(info.value) == EXITED
    assert not pending and not pending.dead


def test_parent_from_a_finished_thread():
    other_main, pending = _greenlets_of_finished_thread()
    main = getcurrent()
    g = Greenlet(lambda: main.switch('parked'))
    assert g.switch() == 'parked'
    for parent in (other_main, pending):
        with pytest.raises(ValueError) as info:
            g.parent = parent
        assert str(info.value) == 'parent cannot be on a different thread'
    assert g.parent is main
    # A pending greenlet accepts such a parent, and cannot start.
    fresh = Greenlet(lambda: 'never')
    fresh.parent = pending
    with pytest.raises(greenlet.error) as info:
        fresh.switch()
    assert str(info.value) == EXITED
    assert not fresh.dead
    assert g.switch() == ()


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MISUSE_PAGE = os.path.join(REPO, 'docs', 'misuse.md')


def _parametrized_ids(func):
    """The ids given with pytest.param(..., id=...) to ``func``'s
    parametrize marks."""
    ids = set()
    for mark in getattr(func, 'pytestmark', []):
        if mark.name == 'parametrize':
            for value in mark.args[1]:
                if getattr(value, 'id', None) is not None:
                    ids.add(value.id)
    return ids


def test_misuse_table_names_existing_tests():
    # docs/misuse.md backs every row with named tests: each must be a test
    # function of the named file and, with [...], one of its explicitly
    # named parametrized cases.
    with open(MISUSE_PAGE, encoding='utf-8') as f:
        text = f.read()
    rows = [line for line in text.splitlines()
            if line.startswith('| ')
            and not line.startswith(('| Misuse', '| Situation', '| ---'))]
    assert len(rows) >= 40
    missing = []
    for row in rows:
        cells = [c.strip() for c in row.strip('|').split(' | ')]
        assert len(cells) == 3, row
        names = re.findall(r'`tests/(test_\w+)\.py::(\w+)(?:\[([^\]`]+)\])?`', cells[2])
        assert names, 'a row without a test: %s' % row
        for module_name, func_name, case in names:
            assert os.path.exists(os.path.join(REPO, 'tests', module_name + '.py'))
            func = getattr(importlib.import_module(module_name), func_name, None)
            if not callable(func) or (case and case not in _parametrized_ids(func)):
                missing.append((module_name, func_name, case))
    assert missing == []
