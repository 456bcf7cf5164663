"""Switching, value passing, run/return rules and greenlet states."""
import sys
import traceback

import pytest

from greenlet import getcurrent
from greenlet import greenlet as Greenlet


# (positional args, keyword args, value seen by the receiving switch())
VALUE_RULES = [
    pytest.param((), {}, (), id='nothing-gives-empty-tuple'),
    pytest.param((1,), {}, 1, id='one-arg-unwrapped'),
    pytest.param((None,), {}, None, id='one-None-arg'),
    pytest.param(((1, 2),), {}, (1, 2), id='one-tuple-arg-kept'),
    pytest.param(((),), {}, (), id='one-empty-tuple-arg'),
    pytest.param((1, 2), {}, (1, 2), id='several-args-tuple'),
    pytest.param((1, 2, 3), {}, (1, 2, 3), id='three-args-tuple'),
    pytest.param((), {'k': 'v'}, {'k': 'v'}, id='kwargs-only-dict'),
    pytest.param((), {'a': 1, 'b': 2}, {'a': 1, 'b': 2}, id='two-kwargs-dict'),
    pytest.param((1,), {'k': 'v'}, ((1,), {'k': 'v'}), id='arg-and-kwarg-pair'),
    pytest.param((1, 2), {'k': 'v'}, ((1, 2), {'k': 'v'}), id='args-and-kwarg-pair'),
]


@pytest.mark.parametrize('args, kwargs, expected', VALUE_RULES)
def test_value_sent_into_suspended_greenlet(args, kwargs, expected):
    received = []

    def body():
        received.append(getcurrent().parent.switch())

    g = Greenlet(body)
    g.switch()
    assert g.switch(*args, **kwargs) is None  # body returned None
    assert received == [expected]
    assert type(received[0]) is type(expected)


@pytest.mark.parametrize('args, kwargs, expected', VALUE_RULES)
def test_value_sent_from_child_to_parent(args, kwargs, expected):
    def body():
        getcurrent().parent.switch(*args, **kwargs)

    g = Greenlet(body)
    got = g.switch()
    assert got == expected
    assert type(got) is type(expected)
    assert not g.dead


@pytest.mark.parametrize('args, kwargs, expected', VALUE_RULES)
def test_switch_to_self_returns_built_value(args, kwargs, expected):
    got_in_main = getcurrent().switch(*args, **kwargs)
    assert got_in_main == expected
    assert type(got_in_main) is type(expected)

    def body():
        return getcurrent().switch(*args, **kwargs)

    got_in_child = Greenlet(body).switch()
    assert got_in_child == expected


def test_switch_with_empty_kwargs_mapping_counts_as_nothing():
    received = []

    def body():
        received.append(getcurrent().parent.switch())
        received.append(getcurrent().parent.switch())

    g = Greenlet(body)
    g.switch()
    g.switch(**{})
    g.switch(7, **{})
    assert received == [(), 7]


def test_single_tuple_argument_is_not_unwrapped_twice():
    received = []

    def body():
        received.append(getcurrent().parent.switch())

    g = Greenlet(body)
    g.switch()
    payload = (1,)
    g.switch(payload)
    assert received[0] is payload


def test_first_switch_passes_args_and_kwargs_to_run():
    def run(*args, **kwargs):
        return args, kwargs

    assert Greenlet(run).switch() == ((), {})
    assert Greenlet(run).switch(1) == ((1,), {})
    assert Greenlet(run).switch(1, 2, x=3) == ((1, 2), {'x': 3})
    assert Greenlet(run).switch(x=3) == ((), {'x': 3})


@pytest.mark.parametrize('value', [
    (1,), None, (), (1, 2), [1], {'a': 1}, 0, '', ((1,), {'k': 2}),
], ids=repr)
def test_run_return_value_reaches_parent_exactly(value):
    g = Greenlet(lambda: value)
    got = g.switch()
    assert got is value
    assert g.dead


def test_return_value_after_resume_goes_to_parent_not_resumer():
    main = getcurrent()
    log = []

    def worker():
        main.switch('parked')
        return 'finished'

    w = Greenlet(worker)
    assert w.switch() == 'parked'

    def resumer():
        log.append('resumer-start')
        w.switch()
        log.append('resumer-resumed')  # never reached: w's parent is main

    r = Greenlet(resumer)
    assert r.switch() == 'finished'
    assert w.dead
    assert not r.dead
    assert log == ['resumer-start']


def _raise_from_depth():
    raise ZeroDivisionError('deep failure')


def _run_calls_helper():
    _raise_from_depth()


def test_exception_propagates_to_parent_with_traceback():
    g = Greenlet(_run_calls_helper)
    with pytest.raises(ZeroDivisionError, match='deep failure') as info:
        g.switch()
    names = [entry.name for entry in traceback.extract_tb(info.value.__traceback__)]
    assert '_run_calls_helper' in names
    assert '_raise_from_depth' in names
    assert names.index('_run_calls_helper') < names.index('_raise_from_depth')
    assert g.dead


def test_exception_after_resume_raises_in_parent():
    main = getcurrent()

    def body():
        main.switch('ready')
        raise KeyError('later')

    g = Greenlet(body)
    assert g.switch() == 'ready'
    with pytest.raises(KeyError) as info:
        g.switch()
    assert info.value.args == ('later',)
    names = [entry.name for entry in traceback.extract_tb(info.value.__traceback__)]
    assert 'body' in names
    assert g.dead


def test_exception_goes_to_parent_not_to_the_resumer():
    main = getcurrent()
    resumer_log = []

    def victim():
        main.switch()
        raise LookupError('from victim')

    v = Greenlet(victim)
    v.switch()

    def resumer():
        try:
            v.switch()
        except LookupError:
            resumer_log.append('wrongly caught in resumer')

    r = Greenlet(resumer)
    with pytest.raises(LookupError, match='from victim'):
        r.switch()
    assert resumer_log == []
    assert v.dead and not r.dead


def test_subclass_with_run_method():
    class Doubler(Greenlet):
        def run(self, x):
            assert getcurrent() is self
            return x * 2

    d = Doubler()
    assert d.switch(21) == 42
    assert d.dead


def test_subclass_run_method_can_switch_back_and_forth():
    class Echo(Greenlet):
        def run(self, first):
            total = first
            while True:
                nxt = self.parent.switch(total)
                if nxt is None:
                    return 'done'
                total += nxt

    e = Echo()
    assert e.switch(1) == 1
    assert e.switch(2) == 3
    assert e.switch(3) == 6
    assert e.switch(None) == 'done'


def test_subclass_init_without_super_is_valid_greenlet():
    class Custom(Greenlet):
        def __init__(self, value):
            self.value = value

        def run(self):
            return self.value

    c = Custom('v')
    assert c.parent is getcurrent()
    assert c.switch() == 'v'


def test_constructor_stores_run_and_parent():
    def f():
        return 'f'

    main = getcurrent()
    parent = Greenlet(lambda *a: a)
    g = Greenlet(f, parent)
    assert g.run is f
    assert g.parent is parent
    g2 = Greenlet(run=f, parent=main)
    assert g2.run is f
    assert g2.parent is main
    g3 = Greenlet(parent=None)
    assert g3.parent is main


def test_new_ignores_arguments():
    g = Greenlet.__new__(Greenlet, 1, 2, x=3)
    assert isinstance(g, Greenlet)
    assert g.parent is getcurrent()
    assert not g and not g.dead


def test_constructor_never_calls_run():
    called = []
    Greenlet(lambda: called.append(1))
    assert called == []


def test_run_none_is_readable_and_fails_when_started():
    g = Greenlet(None)
    assert g.run is None
    with pytest.raises(TypeError) as info:
        g.switch()
    assert str(info.value) == "'NoneType' object is not callable"
    assert g.dead


@pytest.mark.parametrize('bad_run, type_name', [
    (5, 'int'), ('text', 'str'), ([], 'list'),
])
def test_non_callable_run_raises_in_switcher(bad_run, type_name):
    g = Greenlet(bad_run)
    with pytest.raises(TypeError) as info:
        g.switch()
    assert str(info.value) == "'%s' object is not callable" % type_name
    assert g.dead


def test_missing_run_raises_attribute_error_and_stays_pending():
    g = Greenlet()
    with pytest.raises(AttributeError) as info:
        g.switch()
    assert 'run' in str(info.value)
    assert not g.dead
    assert not g
    g.run = lambda: 'now it runs'
    assert g.switch() == 'now it runs'


def test_switch_to_dead_greenlet_from_parent_returns_own_value():
    d = Greenlet(lambda: None)
    d.switch()
    assert d.dead
    assert d.switch() == ()
    assert d.switch(1) == 1
    assert d.switch(1, 2) == (1, 2)
    assert d.switch(k=1) == {'k': 1}


def test_switch_to_dead_greenlet_goes_to_its_parent():
    main = getcurrent()
    d = Greenlet(lambda: None)
    d.switch()

    def child():
        d.switch('via dead')
        return 'child resumed'

    c = Greenlet(child)
    assert c.switch() == 'via dead'
    assert not c.dead
    assert c.switch() == 'child resumed'
    assert d.parent is main


def test_switch_to_dead_greenlet_starts_pending_ancestor():
    ancestor = Greenlet(lambda *a, **k: ('ancestor', a, k))
    d = Greenlet(lambda: None)
    d.switch()
    d.parent = ancestor
    assert d.switch(1, k=2) == ('ancestor', (1,), {'k': 2})
    assert ancestor.dead


def test_pending_state():
    g = Greenlet(lambda: None)
    assert bool(g) is False
    assert g.dead is False
    assert g.gr_frame is None


def test_running_state():
    seen = {}

    def body():
        me = getcurrent()
        seen['bool'] = bool(me)
        seen['dead'] = me.dead
        seen['frame'] = me.gr_frame

    g = Greenlet(body)
    g.switch()
    assert seen == {'bool': True, 'dead': False, 'frame': None}


def test_suspended_state():
    main = getcurrent()

    def parked_here():
        main.switch()

    g = Greenlet(parked_here)
    g.switch()
    assert bool(g) is True
    assert g.dead is False
    assert g.gr_frame is not None
    assert g.gr_frame.f_code.co_name == 'parked_here'
    g.switch()


def test_dead_state():
    g = Greenlet(lambda: None)
    g.switch()
    assert bool(g) is False
    assert g.dead is True
    assert g.gr_frame is None


def test_main_greenlet_state():
    main = getcurrent()
    assert bool(main) is True
    assert main.dead is False
    assert main.parent is None
    assert type(main) is Greenlet


def test_suspended_main_greenlet_exposes_its_frame():
    main = getcurrent()

    def body():
        return main.gr_frame

    here = sys._getframe()
    frame = Greenlet(body).switch()
    assert frame is here
    assert main.gr_frame is None


def test_gr_frame_is_read_only():
    g = Greenlet(lambda: None)
    with pytest.raises(AttributeError) as info:
        g.gr_frame = None
    assert str(info.value) == (
        "attribute 'gr_frame' of 'greenlet.greenlet' objects is not writable")


def _level_three(main):
    main.switch()


def _level_two(main):
    _level_three(main)


def _level_one(main):
    _level_two(main)


def _frame_names(frame):
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names


def test_suspended_frame_chain_ends_at_run_frame():
    g = Greenlet(_level_one)
    g.switch(getcurrent())
    assert _frame_names(g.gr_frame) == ['_level_three', '_level_two', '_level_one']
    g.switch()
    assert g.dead and g.gr_frame is None


def test_suspended_frame_chain_with_c_calls_between_frames():
    main = getcurrent()

    def through_builtin():
        # map() and list() put C-level calls between the Python frames.
        return list(map(lambda x: main.switch(x), [1]))

    g = Greenlet(through_builtin)
    assert g.switch() == 1
    names = _frame_names(g.gr_frame)
    assert names[0] == '<lambda>'
    assert names[-1] == 'through_builtin'
    assert len(names) == 2
    assert g.switch('back') == ['back']


def test_frame_chain_stays_valid_after_other_switches():
    main = getcurrent()
    g = Greenlet(_level_one)
    g.switch(main)
    others = []
    for i in range(5):
        other = Greenlet(lambda i=i: main.switch(i))
        others.append(other)
        other.switch()
    assert _frame_names(g.gr_frame) == ['_level_three', '_level_two', '_level_one']
    for other in others:
        other.switch()
    g.switch()


def test_run_frame_has_no_back_link_while_running():
    def body():
        frame = sys._getframe(0)
        return frame.f_back, frame.f_code.co_name

    back, name = Greenlet(body).switch()
    assert back is None
    assert name == 'body'


def test_run_attribute_only_readable_while_pending():
    main = getcurrent()
    observed = {}

    def body():
        observed['has_run_while_running'] = hasattr(getcurrent(), 'run')
        main.switch()

    g = Greenlet(body)
    assert g.run is body
    g.switch()
    assert observed == {'has_run_while_running': False}
    with pytest.raises(AttributeError) as info:
        g.run
    assert 'run' in str(info.value)
    g.switch()
    assert g.dead
    assert not hasattr(g, 'run')


def test_run_writable_while_pending():
    g = Greenlet(lambda: 'first')
    g.run = lambda: 'second'
    assert g.switch() == 'second'


@pytest.mark.parametrize('state', ['suspended', 'dead'])
def test_run_cannot_be_set_after_start(state):
    main = getcurrent()
    g = Greenlet(lambda: main.switch())
    g.switch()
    if state == 'dead':
        g.switch()
        assert g.dead
    with pytest.raises(AttributeError) as info:
        g.run = lambda: None
    assert str(info.value) == 'run cannot be set after the start of the greenlet'
    if state == 'suspended':
        g.switch()


def test_main_greenlet_has_no_run_attribute():
    main = getcurrent()
    with pytest.raises(AttributeError) as info:
        main.run
    assert str(info.value) == 'Main greenlets do not have a run attribute.'
    with pytest.raises(AttributeError) as info:
        main.run = lambda: None
    assert str(info.value) == 'Main greenlets do not have a run attribute.'


def test_constructor_too_many_arguments():
    with pytest.raises(TypeError) as info:
        Greenlet(lambda: None, getcurrent(), 3)
    assert str(info.value) == 'green() takes at most 2 arguments (3 given)'


def test_constructor_unknown_keyword():
    with pytest.raises(TypeError) as info:
        Greenlet(foo=1)
    if sys.version_info >= (3, 13):
        expected = "green() got an unexpected keyword argument 'foo'"
    else:
        expected = "'foo' is an invalid keyword argument for green()"
    assert str(info.value) == expected


def test_constructor_bad_parent():
    with pytest.raises(TypeError) as info:
        Greenlet(parent=5)
    assert str(info.value) == 'GreenletChecker: Expected any type of greenlet, not int'


def test_constructor_run_and_parent_positional_and_keyword_conflict():
    with pytest.raises(TypeError):
        Greenlet(lambda: None, run=lambda: None)


def test_new_greenlet_starts_without_handled_exception():
    def body():
        return sys.exc_info()

    g = Greenlet(body)
    try:
        raise ValueError('outer')
    except ValueError:
        inside = g.switch()
        assert sys.exc_info()[0] is ValueError
    assert inside == (None, None, None)


def test_handled_exception_is_per_greenlet():
    main = getcurrent()

    def body():
        try:
            raise KeyError('inner')
        except KeyError:
            main.switch(sys.exc_info()[0])
            return sys.exc_info()[0]

    g = Greenlet(body)
    assert g.switch() is KeyError
    assert sys.exc_info() == (None, None, None)
    try:
        raise IndexError
    except IndexError:
        assert g.switch() is KeyError
        assert sys.exc_info()[0] is IndexError


def test_switch_is_a_bound_method_of_the_target():
    g = Greenlet(lambda x: x + 1)
    sw = g.switch
    assert sw(1) == 2
    assert Greenlet.switch(Greenlet(lambda: 'unbound call')) == 'unbound call'


def test_ping_pong_between_two_children():
    log = []

    def ping():
        for i in range(3):
            log.append(('ping', i))
            pong_g.switch(i)
        return 'ping done'

    def pong(i):
        while True:
            log.append(('pong', i))
            i = ping_g.switch()

    ping_g = Greenlet(ping)
    pong_g = Greenlet(pong)
    assert ping_g.switch() == 'ping done'
    assert log == [('ping', 0), ('pong', 0), ('ping', 1), ('pong', 1),
                   ('ping', 2), ('pong', 2)]
    assert ping_g.dead
    assert not pong_g.dead
    # Resume pong so it ends: make its next switch land in a dead greenlet,
    # which redirects the value to main.
    assert pong_g.switch('x') == ()


def test_generator_like_usage():
    def producer():
        for item in 'abc':
            getcurrent().parent.switch(item)
        return StopIteration

    g = Greenlet(producer)
    seen = []
    while True:
        item = g.switch()
        if item is StopIteration:
            break
        seen.append(item)
    assert seen == ['a', 'b', 'c']
    assert g.dead


def test_switch_arguments_are_not_leaked():
    payload = object()
    key_payload = object()
    baseline = (sys.getrefcount(payload), sys.getrefcount(key_payload))

    def body():
        while True:
            getcurrent().parent.switch()

    g = Greenlet(body)
    g.switch()
    for _ in range(200):
        g.switch(payload)
        g.switch(payload, k=key_payload)
        g.switch(k=key_payload)
        getcurrent().switch(payload, key_payload)
    g.throw()
    assert (sys.getrefcount(payload), sys.getrefcount(key_payload)) == baseline


def test_return_values_are_not_leaked():
    payload = object()
    baseline = sys.getrefcount(payload)
    for _ in range(200):
        assert Greenlet(lambda: payload).switch() is payload
    assert sys.getrefcount(payload) == baseline


def test_pending_args_delivered_when_switching_greenlet_is_released():
    # A greenlet that drops the last outside reference to itself and then
    # switches away with a value is killed during that switch; the value
    # it sent still arrives.
    main = getcurrent()
    cleanup = []
    holder = []

    def worker():
        value = main.switch('primed')
        del holder[:]
        starter.parent = main  # the finished starter stops referencing us
        try:
            main.switch(value)
        finally:
            cleanup.append('worker finally')

    holder.append(Greenlet(worker))
    assert holder[0].switch() == 'primed'
    starter = Greenlet(lambda: 'the value', parent=holder[0])
    assert starter.switch() == 'the value'
    assert cleanup == ['worker finally']
    assert holder == []
