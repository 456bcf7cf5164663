"""The shapes of a switch: what travels (nothing, one value, arguments and keywords, an
exception) and where a suspended greenlet's C stack is kept (in the unused end of its frame
memory, or on the heap when it does not fit there or grows later)."""
import functools
import sys

import pytest

import greenlet
from greenlet import getcurrent
from greenlet import greenlet as Greenlet

from conftest import no_automatic_collection


def echo_forever():
    """run: hands back whatever each switch() delivers, forever."""
    main = getcurrent().parent
    value = main.switch()
    while True:
        value = main.switch(value)


@pytest.fixture
def echo():
    g = Greenlet(echo_forever)
    g.switch()
    yield g
    g.throw()


@pytest.mark.parametrize('call, expected', [
    (lambda sw: sw(), ()),
    (lambda sw: sw(1), 1),
    (lambda sw: sw(()), ()),
    (lambda sw: sw((1,)), (1,)),
    (lambda sw: sw(None), None),
    (lambda sw: sw(1, 2), (1, 2)),
    (lambda sw: sw(k=1), {'k': 1}),
    (lambda sw: sw(1, k=2), ((1,), {'k': 2})),
    (lambda sw: sw(*[5]), 5),
    (lambda sw: sw(*(), **{}), ()),
    (lambda sw: sw(*(1, 2), **{'a': 3}), ((1, 2), {'a': 3})),
    (lambda sw: sw(**{'a': 3}), {'a': 3}),
    (lambda sw: sw(*[7], **{}), 7),
])
def test_what_switch_delivers(echo, call, expected):
    assert call(echo.switch) == expected
    # the same through the unbound method, and through the C API shape
    assert call(lambda *a, **k: Greenlet.switch(echo, *a, **k)) == expected


def test_one_value_is_delivered_as_the_same_object(echo):
    marker = object()
    assert echo.switch(marker) is marker
    empty = ()
    assert echo.switch(empty) is empty
    assert echo.switch() is ()


@pytest.mark.parametrize('call, expected', [
    (lambda g: g.switch(), ((), {})),
    (lambda g: g.switch(()), (((),), {})),
    (lambda g: g.switch(1), ((1,), {})),
    (lambda g: g.switch(1, 2), ((1, 2), {})),
    (lambda g: g.switch(k=1), ((), {'k': 1})),
    (lambda g: g.switch(*[1], **{'k': 2}), ((1,), {'k': 2})),
])
def test_what_run_is_called_with(call, expected):
    g = Greenlet(lambda *args, **kwargs: (args, kwargs))
    assert call(g) == expected
    assert g.dead


def test_switch_to_self_returns_what_was_sent():
    current = getcurrent()
    assert current.switch() == ()
    assert current.switch(1) == 1
    assert current.switch(1, 2) == (1, 2)
    assert current.switch(a=1) == {'a': 1}


def test_a_finished_greenlet_starts_its_pending_parent_with_its_result():
    parent = Greenlet(lambda *args: ('parent got', args))
    child = Greenlet(lambda: 'result', parent=parent)
    assert child.switch() == ('parent got', ('result',))
    child = Greenlet(lambda: (1, 2), parent=Greenlet(lambda *args: args))
    assert child.switch() == ((1, 2),)


def test_trace_sees_every_shape():
    events = []
    main = getcurrent()

    def trace(event, args):
        events.append((event, args[0] is main, args[1] is main))

    g = Greenlet(echo_forever)
    with no_automatic_collection():
        previous = greenlet.settrace(trace)
        try:
            g.switch()
            assert g.switch() == ()
            assert g.switch(1) == 1
            assert g.switch(1, k=2) == ((1,), {'k': 2})
            g.throw()
        finally:
            greenlet.settrace(previous)
    assert [e[0] for e in events] == ['switch'] * 8 + ['throw', 'switch']
    assert g.dead


def test_greenlet_type_call_shapes():
    main = getcurrent()

    def run(*args):
        return args

    assert Greenlet(run).switch(1) == (1,)
    assert Greenlet(run, main).switch(2) == (2,)
    assert Greenlet(run=run).switch(3) == (3,)
    assert Greenlet(run, parent=main).switch(4) == (4,)
    g = Greenlet()
    with pytest.raises(AttributeError):
        g.run
    with pytest.raises(TypeError, match='at most 2 arguments'):
        Greenlet(run, main, 3)
    with pytest.raises(TypeError, match='keyword'):
        Greenlet(foo=1)
    with pytest.raises(TypeError, match='GreenletChecker'):
        Greenlet(run, 5)

    class Sub(Greenlet):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.made = True

    sub = Sub(run)
    assert sub.made and sub.switch(5) == (5,)


def test_gr_frame_is_made_when_asked_and_stays_the_same():
    main = getcurrent()

    def inner():
        main.switch()

    def outer():
        inner()

    g = Greenlet(outer)
    g.switch()
    frame = g.gr_frame
    assert frame is g.gr_frame
    assert frame.f_code is inner.__code__
    assert frame.f_back.f_code is outer.__code__
    del frame
    g.switch()
    assert g.dead and g.gr_frame is None


def c_deep(levels, function):
    """function() under `levels` calls that each pass through C (functools.reduce)."""
    if levels == 0:
        return function()
    return functools.reduce(lambda acc, _: c_deep(levels - 1, function), (0,), None)


@pytest.mark.parametrize('levels', [0, 3, 12, 40, 120])
def test_many_greenlets_with_c_stacks_of_many_sizes(levels):
    # Suspended greenlets whose C stacks fit the unused end of their frame memory, and ones
    # whose stacks do not, switched among in an order that keeps moving them.
    main = getcurrent()
    greenlets = []

    def body(index):
        total = 0
        local = [index] * 8
        while True:
            value = c_deep(levels + index % 5, main.switch)
            if value is None:
                return total
            assert local == [index] * 8
            total += value

    for index in range(12):
        g = Greenlet(body)
        g.switch(index)
        greenlets.append(g)
    for round_ in range(6):
        for g in (greenlets if round_ % 2 else reversed(greenlets)):
            g.switch(round_)
    assert [g.switch(None) for g in greenlets] == [15] * 12
    assert all(g.dead for g in greenlets)


def test_a_partly_saved_stack_that_grows_later():
    # `outer` is deep in C when it starts `inner` there: only the part of outer's stack that
    # inner needs is saved then. When inner switches to main, the rest of outer's stack is
    # saved too; with enough C stack it no longer fits where the first part went.
    main = getcurrent()
    seen = []

    def at_the_bottom():
        inner = Greenlet(lambda: main.switch('inner parked'))
        seen.append(inner.switch())
        return 'outer done'

    def outer():
        marker = list(range(10))
        result = c_deep(60, at_the_bottom)
        assert marker == list(range(10))
        return result

    g = Greenlet(outer)
    assert g.switch() == 'inner parked'
    assert g._stack_saved > 0
    # main resumes outer, which returns through its 60 C levels
    assert g.switch('back') == 'outer done'
    assert seen == ['back']
    assert g.dead


def test_deep_recursion_inside_greenlets_close_to_the_limit():
    limit = sys.getrecursionlimit()
    main = getcurrent()

    def dive(n):
        if n == 0:
            return main.switch('bottom')
        return dive(n - 1)

    depth = max(10, min(limit // 2, 400))
    greenlets = [Greenlet(dive) for _ in range(4)]
    for g in greenlets:
        assert g.switch(depth) == 'bottom'
    for g in greenlets:
        assert g.switch('up') == 'up'
        assert g.dead
