"""contextvars: each greenlet runs in its own context."""
import contextvars
import threading

import pytest

from greenlet import getcurrent
from greenlet import greenlet as Greenlet

VAR = contextvars.ContextVar('greenlet_test_var', default='default')
OTHER = contextvars.ContextVar('greenlet_test_other')

WAIT = 60


@pytest.fixture
def main_value():
    """Sets VAR in the running (main) greenlet's context for one test."""
    token = VAR.set('main value')
    yield 'main value'
    VAR.reset(token)


def test_new_greenlet_starts_with_empty_context(main_value):
    assert VAR.get() == main_value
    g = Greenlet(lambda: (VAR.get(), OTHER.get('unset')))
    assert g.gr_context is None
    assert g.switch() == ('default', 'unset')
    assert VAR.get() == main_value


def test_greenlet_context_is_not_shared_with_parent(main_value):
    def body():
        VAR.set('child value')
        getcurrent().parent.switch(VAR.get())
        return VAR.get()

    g = Greenlet(body)
    assert g.switch() == 'child value'
    assert VAR.get() == main_value
    assert g.switch() == 'child value'
    assert VAR.get() == main_value


def test_two_greenlets_keep_separate_values():
    main = getcurrent()

    def body(name):
        VAR.set(name)
        while True:
            main.switch(VAR.get())

    a = Greenlet(body)
    b = Greenlet(body)
    assert a.switch('a') == 'a'
    assert b.switch('b') == 'b'
    for _ in range(3):
        assert a.switch() == 'a'
        assert b.switch() == 'b'
    a.throw()
    b.throw()


def test_suspended_greenlet_context_is_readable():
    main = getcurrent()

    def body():
        VAR.set('inside')
        main.switch()

    g = Greenlet(body)
    g.switch()
    ctx = g.gr_context
    assert isinstance(ctx, contextvars.Context)
    assert ctx[VAR] == 'inside'
    assert VAR.get() != 'inside'
    g.switch()


def test_running_greenlet_context_is_thread_current_context():
    def body():
        VAR.set('live')
        ctx = getcurrent().gr_context
        return isinstance(ctx, contextvars.Context) and ctx[VAR] == 'live'

    assert Greenlet(body).switch() is True


def test_assign_context_before_start(main_value):
    g = Greenlet(lambda: VAR.get())
    g.gr_context = contextvars.copy_context()
    assert g.switch() == main_value


def test_share_current_context_by_assignment(main_value):
    def body():
        VAR.set('written by child')

    g = Greenlet(body)
    shared = contextvars.copy_context()
    g.gr_context = shared
    g.switch()
    assert shared[VAR] == 'written by child'
    assert VAR.get() == main_value


def test_context_run_as_greenlet_run():
    ctx = contextvars.Context()
    ctx.run(VAR.set, 'in ctx')

    def func(suffix):
        return VAR.get() + suffix

    assert Greenlet(ctx.run).switch(func, '!') == 'in ctx!'
    assert VAR.get() != 'in ctx'


def test_context_run_spanning_a_switch():
    main = getcurrent()
    ctx = contextvars.Context()
    ctx.run(VAR.set, 'ctx value')

    def inner():
        before = VAR.get()
        main.switch(before)
        return VAR.get()

    g = Greenlet(lambda: ctx.run(inner))
    assert g.switch() == 'ctx value'
    assert g.gr_context[VAR] == 'ctx value'
    assert VAR.get() != 'ctx value'
    assert g.switch() == 'ctx value'


def test_setting_running_greenlet_context_takes_effect_immediately():
    def body():
        fresh = contextvars.Context()
        fresh.run(VAR.set, 'fresh')
        getcurrent().gr_context = fresh
        seen = [VAR.get()]
        getcurrent().gr_context = None
        seen.append(VAR.get())
        return seen

    assert Greenlet(body).switch() == ['fresh', 'default']


def test_setting_suspended_greenlet_context():
    main = getcurrent()
    g = Greenlet(lambda: [main.switch(VAR.get()), VAR.get()][1])
    assert g.switch() == 'default'
    replacement = contextvars.Context()
    replacement.run(VAR.set, 'replaced')
    g.gr_context = replacement
    assert g.gr_context is replacement
    assert g.switch() == 'replaced'


def test_dead_greenlet_keeps_last_context():
    def body():
        VAR.set('last')

    g = Greenlet(body)
    g.switch()
    assert g.dead
    assert g.gr_context[VAR] == 'last'
    g.gr_context = None
    assert g.gr_context is None


def test_greenlet_that_never_set_a_variable_has_no_context():
    g = Greenlet(lambda: None)
    g.switch()
    assert g.gr_context is None


@pytest.mark.parametrize('bad', [1, 'ctx', {}, object()], ids=repr)
def test_context_must_be_context_or_none(bad):
    g = Greenlet()
    with pytest.raises(TypeError) as info:
        g.gr_context = bad
    assert str(info.value) == 'greenlet context must be a contextvars.Context or None'
    assert g.gr_context is None


def test_context_cannot_be_deleted():
    g = Greenlet()
    with pytest.raises(AttributeError) as info:
        del g.gr_context
    assert str(info.value) == "can't delete context attribute"


def test_context_run_must_nest_across_greenlets():
    main = getcurrent()
    ctx = contextvars.Context()

    def enter_and_leave_open():
        ctx.run(main.switch)

    g1 = Greenlet(enter_and_leave_open)
    g1.switch()
    # ctx is still entered in g1; entering it again elsewhere is refused
    # by the interpreter.
    with pytest.raises(RuntimeError):
        ctx.run(lambda: None)
    g1.switch()
    assert g1.dead
    assert ctx.run(lambda: 'usable again') == 'usable again'


def test_other_thread_context_rules():
    ready = threading.Event()
    finish = threading.Event()
    box = {}

    def in_thread():
        box['main'] = getcurrent()

        def body():
            VAR.set('thread child')
            getcurrent().parent.switch()
            box['after'] = VAR.get()

        box['suspended'] = Greenlet(body)
        box['suspended'].switch()
        ready.set()
        finish.wait(WAIT)
        box['suspended'].switch()

    t = threading.Thread(target=in_thread)
    t.start()
    try:
        assert ready.wait(WAIT)
        running_elsewhere = box['main']
        with pytest.raises(ValueError) as info:
            running_elsewhere.gr_context
        assert str(info.value) == (
            'cannot get context of a greenlet that is running in a different thread')
        with pytest.raises(ValueError) as info:
            running_elsewhere.gr_context = None
        assert str(info.value) == (
            'cannot set context of a greenlet that is running in a different thread')
        # A suspended greenlet of another thread can be read and written.
        suspended = box['suspended']
        assert suspended.gr_context[VAR] == 'thread child'
        replacement = contextvars.Context()
        replacement.run(VAR.set, 'set from main thread')
        suspended.gr_context = replacement
    finally:
        finish.set()
        t.join(WAIT)
    assert box['after'] == 'set from main thread'


def test_new_thread_main_greenlet_context():
    box = {}

    def in_thread():
        box['initial'] = VAR.get()
        VAR.set('thread')
        box['ctx_value'] = getcurrent().gr_context[VAR]

    token = VAR.set('not inherited')
    try:
        t = threading.Thread(target=in_thread)
        t.start()
        t.join(WAIT)
    finally:
        VAR.reset(token)
    assert box == {'initial': 'default', 'ctx_value': 'thread'}
