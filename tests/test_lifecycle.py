"""Object lifetime: killing unfinished greenlets on release, weak
references, ``__dict__``, refusal to serialise and ``repr``."""
import copy
import gc
import pickle
import re
import sys
import weakref

import pytest

import greenlet
from greenlet import getcurrent
from greenlet import greenlet as Greenlet

KILL_MESSAGE = 'Killing the greenlet because all references have vanished.'


def _suspend_with_log(log, main=None):
    main = main or getcurrent()

    def body():
        try:
            main.switch('suspended')
        except BaseException as e:
            log.append(('caught', type(e), e.args))
            raise
        finally:
            log.append('finally')

    g = Greenlet(body)
    assert g.switch() == 'suspended'
    return g


def test_releasing_suspended_greenlet_throws_greenlet_exit():
    log = []
    g = _suspend_with_log(log)
    assert log == []
    del g
    assert log == [('caught', greenlet.GreenletExit, (KILL_MESSAGE,)), 'finally']


def test_kill_returns_control_to_releasing_code_not_to_parent():
    main = getcurrent()
    log = []

    def hub_body():
        main.switch('hub parked')
        log.append('hub resumed')  # must not happen

    hub = Greenlet(hub_body)
    hub.switch()

    def body():
        try:
            main.switch('parked')
        finally:
            log.append('finally ran')

    g = Greenlet(body, parent=hub)
    g.switch()
    del g
    log.append('after del')
    assert log == ['finally ran', 'after del']
    assert not hub.dead


def test_kill_from_inside_another_greenlet():
    log = []
    main = getcurrent()
    holder = [_suspend_with_log(log)]

    def releaser():
        del holder[0]
        log.append('releaser continues')
        return 'released'

    assert Greenlet(releaser).switch() == 'released'
    assert log[-2:] == ['finally', 'releaser continues']
    assert getcurrent() is main


def test_greenlet_that_catches_exit_and_returns_dies_quietly(capsys):
    seen = []
    main = getcurrent()

    def body():
        try:
            main.switch()
        except greenlet.GreenletExit as e:
            seen.append(str(e))
            return 'ignored result'

    g = Greenlet(body)
    g.switch()
    ref = weakref.ref(g)
    del g
    assert seen == [KILL_MESSAGE]
    assert ref() is None
    captured = capsys.readouterr()
    assert captured.err == ''


def test_handled_exception_of_releaser_survives_kill():
    log = []
    g = _suspend_with_log(log)
    try:
        raise KeyError('outer')
    except KeyError:
        del g
        assert sys.exc_info()[0] is KeyError
        assert sys.exc_info()[1].args == ('outer',)
    assert 'finally' in log


def test_error_raised_during_kill_is_unraisable(monkeypatch):
    reports = []

    def hook(unraisable):
        reports.append((unraisable.exc_type, str(unraisable.exc_value),
                        repr(unraisable.object)))

    monkeypatch.setattr(sys, 'unraisablehook', hook)
    main = getcurrent()

    def body():
        try:
            main.switch()
        except greenlet.GreenletExit:
            raise ValueError('raised while being killed')

    g = Greenlet(body)
    g.switch()
    del g
    assert len(reports) == 1
    exc_type, message, obj_repr = reports[0]
    assert exc_type is ValueError
    assert message == 'raised while being killed'
    assert obj_repr.startswith('<greenlet.greenlet object at ')
    assert obj_repr.endswith(' dead>')


def test_resurrected_greenlet_keeps_original_parent():
    main = getcurrent()
    keep = []
    hub = Greenlet(lambda *a: None)

    def body():
        try:
            main.switch()
        except greenlet.GreenletExit:
            me = getcurrent()
            keep.append(me)
            keep.append(me.parent)
            return 'finished after resurrection'

    g = Greenlet(body, parent=hub)
    g.switch()
    del g
    resurrected, parent_during_kill = keep
    assert parent_during_kill is main
    assert resurrected.parent is hub
    assert resurrected.dead
    assert not hub.dead and not hub


def test_pending_greenlet_released_without_running():
    called = []

    class Callable:
        def __call__(self):
            called.append('ran')

    run = Callable()
    run_ref = weakref.ref(run)
    g = Greenlet(run)
    ref = weakref.ref(g)
    del run
    assert run_ref() is not None
    del g
    assert ref() is None
    assert run_ref() is None
    assert called == []


def test_dead_greenlet_released_without_running():
    log = []
    g = Greenlet(lambda: log.append('ran once'))
    g.switch()
    ref = weakref.ref(g)
    del g
    assert ref() is None
    assert log == ['ran once']


def test_run_is_released_once_started():
    class Callable:
        def __call__(self):
            getcurrent().parent.switch()

    run = Callable()
    run_ref = weakref.ref(run)
    g = Greenlet(run)
    del run
    g.switch()
    # The run object is still executing (its frame holds ``self``) ...
    assert run_ref() is not None
    g.switch()
    assert g.dead
    gc.collect()
    assert run_ref() is None


def test_weakref_to_live_greenlets():
    main = getcurrent()
    g = Greenlet(lambda: main.switch())
    ref = weakref.ref(g)
    assert ref() is g
    g.switch()
    assert ref() is g
    assert weakref.ref(main)() is main
    g.switch()
    assert ref() is g


def test_weakref_callback_runs_when_greenlet_freed():
    fired = []
    g = Greenlet(lambda: None)
    ref = weakref.ref(g, lambda r: fired.append(r))
    del g
    assert fired == [ref]
    assert ref() is None


def test_weakref_to_suspended_cleared_after_kill():
    log = []
    g = _suspend_with_log(log)
    ref = weakref.ref(g)
    del g
    assert ref() is None
    assert 'finally' in log


def test_weakref_cleared_before_parent_is_released():
    main = getcurrent()
    observed = []

    def parent_body():
        try:
            main.switch()
        except greenlet.GreenletExit:
            observed.append(child_ref())

    p = Greenlet(parent_body)
    p.switch()
    child = Greenlet(lambda: None, parent=p)
    child_ref = weakref.ref(child)
    del p  # now only the pending child keeps the parent alive
    del child
    assert observed == [None]


def test_dict_starts_empty_and_holds_attributes():
    g = Greenlet()
    assert g.__dict__ == {}
    g.color = 'red'
    assert g.__dict__ == {'color': 'red'}
    assert vars(g) is g.__dict__


def test_dict_can_be_replaced_with_a_dict():
    g = Greenlet()
    g.__dict__ = {'a': 1}
    assert g.a == 1
    assert g.__dict__ == {'a': 1}


@pytest.mark.parametrize('value', [None, 1, [('a', 1)], 'x'], ids=repr)
def test_dict_must_be_a_dictionary(value):
    g = Greenlet()
    g.keep = True
    with pytest.raises(TypeError) as info:
        g.__dict__ = value
    assert str(info.value) == '__dict__ must be a dictionary'
    assert g.keep is True


def test_dict_may_not_be_deleted():
    g = Greenlet()
    with pytest.raises(TypeError) as info:
        del g.__dict__
    assert str(info.value) == '__dict__ may not be deleted'


def test_main_greenlet_has_dict_too():
    main = getcurrent()
    main.some_attribute = 1
    try:
        assert main.__dict__['some_attribute'] == 1
    finally:
        del main.some_attribute


SERIALIZERS = [
    pytest.param(lambda g: pickle.dumps(g), id='pickle-default'),
    pytest.param(lambda g: pickle.dumps(g, protocol=pickle.HIGHEST_PROTOCOL),
                 id='pickle-highest'),
    pytest.param(copy.copy, id='copy'),
    pytest.param(copy.deepcopy, id='deepcopy'),
    pytest.param(lambda g: g.__reduce_ex__(2), id='reduce_ex-2'),
    pytest.param(lambda g: g.__getstate__(), id='getstate'),
]


@pytest.mark.parametrize('serialize', SERIALIZERS)
def test_greenlets_refuse_serialisation(serialize):
    main = getcurrent()
    g = Greenlet(lambda: main.switch())
    for target in (Greenlet(), main, g):
        with pytest.raises(TypeError) as info:
            serialize(target)
        assert str(info.value) == "cannot serialize 'greenlet.greenlet' object"
    g.switch()
    with pytest.raises(TypeError):
        serialize(g)
    g.switch()


@pytest.mark.parametrize('protocol', [0, 1])
def test_old_pickle_protocols_refuse_greenlets(protocol):
    # Protocols 0 and 1 go through copyreg, which may reject the type
    # before __getstate__ is consulted; either refusal is acceptable.
    for target in (Greenlet(), getcurrent()):
        with pytest.raises(TypeError) as info:
            pickle.dumps(target, protocol=protocol)
        assert str(info.value) in ("cannot pickle 'greenlet' object",
                                   "cannot serialize 'greenlet.greenlet' object")


def test_subclass_serialisation_error_names_subclass():
    class Serialless(Greenlet):
        pass

    with pytest.raises(TypeError) as info:
        pickle.dumps(Serialless())
    assert str(info.value) == "cannot serialize 'Serialless' object"


def test_deepcopy_of_container_holding_greenlet_refused():
    with pytest.raises(TypeError):
        copy.deepcopy({'g': Greenlet()})


REPR_PREFIX = re.compile(r'^<greenlet\.greenlet object at 0x[0-9a-fA-F]+ \(otid=0x')


def test_repr_of_running_main():
    r = repr(getcurrent())
    assert REPR_PREFIX.match(r)
    assert r.endswith(' current active started main>')
    assert str(getcurrent()) == r
    assert type(r) is str


def test_repr_of_main_seen_from_child():
    main = getcurrent()
    r = Greenlet(lambda: repr(main)).switch()
    assert REPR_PREFIX.match(r)
    assert r.endswith(' suspended active started main>')


def test_repr_of_pending():
    r = repr(Greenlet())
    assert REPR_PREFIX.match(r)
    assert r.endswith(' pending>')
    # the words after the thread id only: hex numbers can spell 'dead' (otid=0xdeadd0)
    states = r[r.index(')') + 1:]
    for word in ('started', 'active', 'main', 'current', 'suspended', 'dead'):
        assert word not in states


def test_repr_of_running_child():
    r = Greenlet(lambda: repr(getcurrent())).switch()
    assert REPR_PREFIX.match(r)
    assert r.endswith(' current active started>')
    assert 'main' not in r


def test_repr_of_suspended_child():
    main = getcurrent()
    g = Greenlet(lambda: main.switch())
    g.switch()
    r = repr(g)
    assert r.endswith(' suspended active started>')
    assert 'current' not in r and 'main' not in r
    g.switch()


def test_repr_of_dead():
    g = Greenlet(lambda: None)
    g.switch()
    r = repr(g)
    assert REPR_PREFIX.match(r)
    assert r.endswith(' dead>')
    for word in ('suspended', 'started', 'active', 'current', 'pending', 'main'):
        assert word not in r


def test_repr_contains_address_of_object():
    g = Greenlet()
    # spelled as the interpreter spells addresses (%p: zero-padded capitals on Windows)
    address = object.__repr__(g).rsplit(' at ', 1)[1].rstrip('>')
    assert int(address, 16) == id(g)
    assert ('object at %s ' % address) in repr(g)


def test_repr_of_subclass_uses_type_name():
    class Fancy(Greenlet):
        pass

    r = repr(Fancy())
    assert r.startswith('<Fancy object at 0x')
    assert r.endswith(' pending>')


def test_same_thread_greenlets_share_otid():
    main = getcurrent()
    g = Greenlet(lambda: main.switch())
    g.switch()
    otid = re.compile(r'\(otid=(0x[0-9a-fA-F]+)\)')
    assert otid.search(repr(g)).group(1) == otid.search(repr(main)).group(1)
    g.switch()


def test_stack_saved_reports_spilled_bytes():
    main = getcurrent()
    assert main._stack_saved == 0

    def body():
        main.switch(main._stack_saved)

    g = Greenlet(body)
    assert g._stack_saved == 0
    main_saved_while_child_ran = g.switch()
    assert main_saved_while_child_ran > 0
    assert g._stack_saved > 0
    g.switch()
    assert g._stack_saved == 0
    assert g.dead


def test_stack_saved_is_read_only():
    with pytest.raises(AttributeError):
        Greenlet()._stack_saved = 1


def test_dead_is_read_only():
    with pytest.raises(AttributeError):
        Greenlet().dead = True


UNKILLABLE_SCRIPT = r'''
import sys
import greenlet

main = greenlet.getcurrent()

def stubborn():
    try:
        main.switch()
    except greenlet.GreenletExit:
        print("GOT EXIT", flush=True)
        main.switch()   # refuses to die

g = greenlet.greenlet(stubborn)
g.switch()
del g
print("AFTER DEL", flush=True)
'''


def test_greenlet_that_refuses_to_die_is_reported(script):
    rc, out, err = script(UNKILLABLE_SCRIPT)
    assert rc == 0, err
    assert out.splitlines() == ['GOT EXIT', 'AFTER DEL']
    assert 'GreenletExit did not kill <greenlet.greenlet object at ' in err
