"""greenlet.throw(): forms, delivery, validation and where uncaught
exceptions end up."""
import sys
import traceback

import pytest

import greenlet
from greenlet import getcurrent
from greenlet import greenlet as Greenlet


def _catching_greenlet():
    """A suspended greenlet that reports what was thrown into it."""
    main = getcurrent()

    def body():
        try:
            main.switch('parked')
        except BaseException as e:  # reporting everything is the point
            return e
        return 'nothing thrown'

    g = Greenlet(body)
    assert g.switch() == 'parked'
    return g


def test_throw_class_into_suspended():
    g = _catching_greenlet()
    caught = g.throw(ValueError)
    assert type(caught) is ValueError
    assert caught.args == ()
    assert g.dead


def test_throw_class_and_value():
    g = _catching_greenlet()
    caught = g.throw(ValueError, 'the value')
    assert type(caught) is ValueError
    assert caught.args == ('the value',)


def test_throw_class_and_tuple_value_becomes_args():
    g = _catching_greenlet()
    caught = g.throw(KeyError, ('a', 'b'))
    assert type(caught) is KeyError
    assert caught.args == ('a', 'b')


def test_throw_instance_is_delivered_as_is():
    g = _catching_greenlet()
    exc = RuntimeError('instance')
    caught = g.throw(exc)
    assert caught is exc


def test_throw_class_with_matching_instance_value():
    g = _catching_greenlet()
    exc = LookupError('given')
    assert g.throw(LookupError, exc) is exc


def test_throw_with_traceback_keeps_its_frames():
    def origin():
        raise KeyError('origin')

    try:
        origin()
    except KeyError as e:
        tb = e.__traceback__
    g = _catching_greenlet()
    caught = g.throw(KeyError, KeyError('sent'), tb)
    assert caught.args == ('sent',)
    names = [entry.name for entry in traceback.extract_tb(caught.__traceback__)]
    assert 'origin' in names
    assert 'body' in names


def test_throw_default_is_greenlet_exit_returned_as_value():
    main = getcurrent()
    finally_ran = []

    def body():
        try:
            main.switch()
        finally:
            finally_ran.append(sys.exc_info()[0])
        return 'not reached'

    g = Greenlet(body)
    g.switch()
    result = g.throw()
    assert type(result) is greenlet.GreenletExit
    assert finally_ran == [greenlet.GreenletExit]
    assert g.dead


def test_throw_greenlet_exit_subclass_instance_is_returned():
    class Stop(greenlet.GreenletExit):
        pass

    main = getcurrent()
    g = Greenlet(lambda: main.switch())
    g.switch()
    stop = Stop('bye')
    assert g.throw(stop) is stop
    assert g.dead


def test_uncaught_thrown_exception_raises_in_thrower_that_is_parent():
    main = getcurrent()

    def body():
        main.switch()

    g = Greenlet(body)
    g.switch()
    with pytest.raises(ValueError) as info:
        g.throw(ValueError, 'vv')
    assert info.value.args == ('vv',)
    assert g.dead


def test_throw_into_greenlet_that_catches_and_switches_back():
    main = getcurrent()

    def body():
        while True:
            try:
                main.switch('waiting')
            except IndexError as e:
                main.switch(('handled', e.args))

    g = Greenlet(body)
    assert g.switch() == 'waiting'
    assert g.throw(IndexError, 3) == ('handled', (3,))
    assert g.switch() == 'waiting'
    assert not g.dead


def test_throw_into_pending_does_not_call_run():
    called = []
    g = Greenlet(lambda: called.append('ran'))
    with pytest.raises(ValueError, match='never started'):
        g.throw(ValueError('never started'))
    assert called == []
    assert g.dead


def test_default_throw_into_pending_returns_greenlet_exit():
    called = []
    g = Greenlet(lambda: called.append('ran'))
    result = g.throw()
    assert type(result) is greenlet.GreenletExit
    assert called == []
    assert g.dead


def test_throw_into_pending_without_run_stays_pending():
    g = Greenlet()
    with pytest.raises(AttributeError) as info:
        g.throw(ValueError)
    assert 'run' in str(info.value)
    assert not g.dead
    g.run = lambda: 'ok'
    assert g.switch() == 'ok'


def test_throw_into_dead_returns_greenlet_exit():
    d = Greenlet(lambda: None)
    d.switch()
    result = d.throw()
    assert type(result) is greenlet.GreenletExit
    bye = greenlet.GreenletExit('bye')
    assert d.throw(bye) is bye
    assert d.dead


def test_throw_into_dead_raises_other_exceptions_in_ancestor():
    d = Greenlet(lambda: None)
    d.switch()
    with pytest.raises(ValueError) as info:
        d.throw(ValueError, 'into the dead')
    assert info.value.args == ('into the dead',)


def test_throw_into_dead_from_child_goes_to_dead_greenlets_parent():
    d = Greenlet(lambda: None)
    d.switch()

    def thrower():
        d.throw(KeyError('to main'))
        return 'thrower resumed'  # pragma: no cover

    t = Greenlet(thrower)
    with pytest.raises(KeyError):
        t.switch()
    assert not t.dead  # it is still suspended inside throw()


BAD_THROW_ARGS = [
    pytest.param((1,), 'exceptions must be classes, or instances, not int',
                 id='int'),
    pytest.param(('text',), 'exceptions must be classes, or instances, not str',
                 id='str'),
    pytest.param((object,), 'exceptions must be classes, or instances, not type',
                 id='non-exception-class'),
    pytest.param((None,), 'exceptions must be classes, or instances, not NoneType',
                 id='None'),
    pytest.param((ValueError('x'), 1),
                 'instance exception may not have a separate value',
                 id='instance-plus-value'),
    pytest.param((ValueError, None, 1),
                 'throw() third argument must be a traceback object',
                 id='bad-traceback'),
    pytest.param((ValueError, None, 'tb'),
                 'throw() third argument must be a traceback object',
                 id='bad-traceback-str'),
]


@pytest.mark.parametrize('args, message', BAD_THROW_ARGS)
def test_throw_validates_arguments_in_caller_before_switching(args, message):
    main = getcurrent()
    log = []

    def body():
        try:
            main.switch('parked')
        except BaseException as e:
            log.append(e)

    suspended = Greenlet(body)
    suspended.switch()
    pending = Greenlet(lambda: log.append('pending ran'))
    for target in (suspended, pending):
        with pytest.raises(TypeError) as info:
            target.throw(*args)
        assert str(info.value) == message
    assert log == []
    assert not suspended.dead and bool(suspended)
    assert not pending.dead and not bool(pending)
    suspended.switch()
    assert suspended.dead


def test_throw_rejects_too_many_arguments():
    g = Greenlet(lambda: None)
    with pytest.raises(TypeError) as info:
        g.throw(ValueError, None, None, None)
    assert str(info.value) == 'throw() takes at most 3 arguments (4 given)'


def test_throw_rejects_keyword_arguments():
    g = Greenlet(lambda: None)
    with pytest.raises(TypeError) as info:
        g.throw(typ=ValueError)
    assert 'keyword' in str(info.value)
    assert not g.dead


def test_throw_goes_to_original_suspended_parent():
    main = getcurrent()

    def parent_body():
        try:
            main.switch('parent parked')
        except IndexError:
            return 'parent caught'
        return 'parent not thrown into'

    p = Greenlet(parent_body)
    assert p.switch() == 'parent parked'
    child = Greenlet(lambda: main.switch('child parked'), parent=p)
    assert child.switch() == 'child parked'
    assert child.throw(IndexError) == 'parent caught'
    assert child.dead
    assert p.dead


def test_throw_into_pending_child_of_suspended_parent():
    main = getcurrent()

    def parent_body():
        try:
            main.switch('parent parked')
        except IndexError as e:
            return ('parent caught', e.args)

    p = Greenlet(parent_body)
    p.switch()
    child = Greenlet(lambda: 'never runs', parent=p)
    assert child.throw(IndexError, 'x') == ('parent caught', ('x',))
    assert child.dead and p.dead


def test_throw_starts_pending_parent_with_the_exception():
    parent_called = []
    p = Greenlet(lambda *a: parent_called.append(a))
    child = Greenlet(lambda: 'child', parent=p)
    with pytest.raises(IndexError):
        child.throw(IndexError)
    assert child.dead
    assert p.dead
    assert parent_called == []


def test_throw_from_non_parent_delivers_uncaught_to_parent():
    main = getcurrent()
    log = []

    def victim():
        main.switch()

    v = Greenlet(victim)
    v.switch()

    def thrower():
        try:
            v.throw(OSError('from thrower'))
        except OSError:
            log.append('thrower caught it')

    t = Greenlet(thrower)
    with pytest.raises(OSError, match='from thrower'):
        t.switch()
    assert log == []
    assert v.dead
    assert not t.dead


def test_throw_to_self_raises_immediately():
    def body():
        me = getcurrent()
        try:
            me.throw(KeyError('self'))
        except KeyError as e:
            return ('caught own', e.args)

    assert Greenlet(body).switch() == ('caught own', ('self',))


def test_throw_is_bound_to_target():
    main = getcurrent()
    g = Greenlet(lambda: main.switch())
    g.switch()
    throw = g.throw
    assert type(throw()) is greenlet.GreenletExit
    assert g.dead
