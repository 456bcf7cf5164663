"""The ``parent`` attribute: reading, assignment rules and where a
finishing greenlet's result goes."""
import gc

import pytest

from greenlet import getcurrent
from greenlet import greenlet as Greenlet


def test_parent_defaults_to_creating_greenlet():
    main = getcurrent()
    assert Greenlet().parent is main

    def body():
        return Greenlet().parent is getcurrent()

    assert Greenlet(body).switch() is True


def test_parent_none_means_current():
    assert Greenlet(parent=None).parent is getcurrent()


def test_parent_can_be_read_and_reassigned():
    a = Greenlet()
    b = Greenlet()
    c = Greenlet(parent=a)
    assert c.parent is a
    c.parent = b
    assert c.parent is b


def test_subclass_instances_are_accepted_as_parent():
    class Sub(Greenlet):
        pass

    s = Sub(lambda *a: ('sub got', a))
    child = Greenlet(lambda: 'from child', parent=s)
    assert child.parent is s
    assert child.switch() == ('sub got', ('from child',))


def test_set_parent_to_self_is_cyclic():
    g = Greenlet()
    with pytest.raises(ValueError) as info:
        g.parent = g
    assert str(info.value) == 'cyclic parent chain'


def test_longer_cycle_is_rejected_and_parent_unchanged():
    a = Greenlet()
    b = Greenlet(parent=a)
    c = Greenlet(parent=b)
    original = a.parent
    with pytest.raises(ValueError) as info:
        a.parent = c
    assert str(info.value) == 'cyclic parent chain'
    assert a.parent is original


@pytest.mark.parametrize('value, type_name', [
    (None, 'NoneType'),
    (5, 'int'),
    ('parent', 'str'),
    (object(), 'object'),
    ([], 'list'),
])
def test_non_greenlet_parent_is_type_error(value, type_name):
    g = Greenlet()
    original = g.parent
    with pytest.raises(TypeError) as info:
        g.parent = value
    assert str(info.value) == (
        'GreenletChecker: Expected any type of greenlet, not %s' % type_name)
    assert g.parent is original


def test_delete_parent_is_refused():
    g = Greenlet()
    with pytest.raises(AttributeError) as info:
        del g.parent
    assert str(info.value) == "can't delete attribute"
    assert g.parent is getcurrent()


def test_delete_main_parent_is_refused():
    with pytest.raises(AttributeError) as info:
        del getcurrent().parent
    assert str(info.value) == "can't delete attribute"


def test_main_greenlet_parent_is_none():
    assert getcurrent().parent is None


@pytest.mark.parametrize('new_parent', ['main', 'child'])
def test_main_greenlet_parent_cannot_be_set(new_parent):
    main = getcurrent()
    value = main if new_parent == 'main' else Greenlet()
    with pytest.raises(AttributeError) as info:
        main.parent = value
    assert str(info.value) == 'cannot set the parent of a main greenlet'
    assert main.parent is None


def test_main_parent_check_comes_before_type_check():
    with pytest.raises(AttributeError) as info:
        getcurrent().parent = 5
    assert str(info.value) == 'cannot set the parent of a main greenlet'


def test_child_of_greenlet_returns_to_it():
    def outer():
        inner = Greenlet(lambda: 'from inner')
        assert inner.parent is getcurrent()
        return ('outer got', inner.switch())

    assert Greenlet(outer).switch() == ('outer got', 'from inner')


def test_result_goes_to_reassigned_parent():
    main = getcurrent()

    def collector():
        got = main.switch('collector ready')
        return ('collector received', got)

    coll = Greenlet(collector)
    assert coll.switch() == 'collector ready'
    worker = Greenlet(lambda: 'work result')
    worker.parent = coll
    assert worker.switch() == ('collector received', 'work result')
    assert worker.dead and coll.dead


def test_result_goes_to_parent_current_at_death_time():
    main = getcurrent()

    def collector():
        return ('late parent got', main.switch('collector ready'))

    coll = Greenlet(collector)
    coll.switch()

    def worker():
        getcurrent().parent.switch('paused')
        getcurrent().parent = coll  # changed while running
        return 'value'

    w = Greenlet(worker)
    assert w.switch() == 'paused'
    assert w.switch() == ('late parent got', 'value')


def test_parent_change_while_suspended_redirects_exception():
    main = getcurrent()

    def catcher():
        try:
            main.switch('catcher ready')
        except KeyError as e:
            return ('catcher caught', e.args)

    c = Greenlet(catcher)
    c.switch()

    def failing():
        main.switch('parked')
        raise KeyError('boom')

    f = Greenlet(failing)
    f.switch()
    f.parent = c
    assert f.switch() == ('catcher caught', ('boom',))


def test_dead_parent_is_skipped():
    dead_parent = Greenlet(lambda: None)
    dead_parent.switch()
    assert dead_parent.dead
    child = Greenlet(lambda: 'to grandparent', parent=dead_parent)
    assert child.switch() == 'to grandparent'


def test_chain_of_dead_parents_is_skipped():
    chain = []
    for _ in range(3):
        d = Greenlet(lambda: None, parent=chain[-1] if chain else None)
        chain.append(d)
    for d in chain:
        d.switch()
        assert d.dead
    child = Greenlet(lambda: 'skipped three', parent=chain[-1])
    assert child.switch() == 'skipped three'


def test_exception_skips_dead_parent():
    dead_parent = Greenlet(lambda: None)
    dead_parent.switch()

    def fail():
        raise ArithmeticError('through the dead')

    child = Greenlet(fail, parent=dead_parent)
    with pytest.raises(ArithmeticError, match='through the dead'):
        child.switch()


@pytest.mark.parametrize('child_result', [(1,), None, 'x', (1, 2)], ids=repr)
def test_pending_parent_started_with_single_result(child_result):
    def parent_run(*args, **kwargs):
        return ('parent started with', args, kwargs)

    p = Greenlet(parent_run)
    child = Greenlet(lambda: child_result, parent=p)
    assert child.switch() == ('parent started with', (child_result,), {})
    assert p.dead and child.dead


def test_pending_parent_started_by_exception_dies_with_it():
    called = []
    p = Greenlet(lambda *a: called.append(a))

    def fail():
        raise EOFError('starts parent in throw mode')

    child = Greenlet(fail, parent=p)
    with pytest.raises(EOFError):
        child.switch()
    assert called == []
    assert p.dead


def test_pending_parent_without_run_failure_goes_further_up():
    broken_parent = Greenlet()
    child = Greenlet(lambda: None, parent=broken_parent)
    with pytest.raises(AttributeError) as info:
        child.switch()
    assert 'run' in str(info.value)
    assert child.dead
    assert not broken_parent.dead


def test_nested_pending_parents_all_started():
    order = []

    def make(name):
        def run(*args):
            order.append((name, args))
            return name
        return run

    top = Greenlet(make('top'))
    middle = Greenlet(make('middle'), parent=top)
    bottom = Greenlet(make('bottom'), parent=middle)
    assert bottom.switch('go') == 'top'
    assert order == [('bottom', ('go',)), ('middle', ('bottom',)),
                     ('top', ('middle',))]


def test_parent_assignment_does_not_switch():
    ran = []
    p = Greenlet(lambda *a: ran.append(a))
    g = Greenlet()
    g.parent = p
    assert ran == []
    assert not p.dead


def test_parent_of_started_greenlet_can_change_within_thread():
    main = getcurrent()
    g = Greenlet(lambda: main.switch())
    g.switch()
    other = Greenlet(lambda *a: ('other', a))
    g.parent = other
    assert g.parent is other
    assert g.switch() == ('other', ((),))


def test_result_travels_up_a_long_chain_of_pending_parents():
    parents = [getcurrent()]
    for _ in range(200):
        parents.append(Greenlet(lambda *a: a[0] if a else None,
                                parent=parents[-1]))
    leaf = Greenlet(lambda: 'leaf', parent=parents[-1])
    assert leaf.switch() == 'leaf'
    assert all(p.dead for p in parents[1:])


@pytest.mark.parametrize('detour', [False, True])
@pytest.mark.parametrize('through_dead_parent', [False, True])
def test_finished_greenlet_reaches_a_parent_whose_start_drops_it(through_dead_parent, detour):
    # The child finishes and its result goes to its pending parent (or, when
    # that parent is dead, to the pending grandparent). Starting that greenlet
    # looks up its `run`: Python code that may first switch to another
    # greenlet and back (detour), then re-parents the child (and the dead
    # parent) to main, dropping every other reference to the greenlet being
    # started. The start goes on with a live object and the result arrives.
    main = getcurrent()
    seen = []

    class LooksUpRun(Greenlet):
        @property
        def run(self):
            if detour:
                assert Greenlet(lambda: 'back').switch() == 'back'
            child.parent = main
            if through_dead_parent:
                dead_parent.parent = main
            gc.collect()
            return lambda value: seen.append(value) or 'started'

    parent = LooksUpRun()
    if through_dead_parent:
        dead_parent = Greenlet(lambda: None)
        dead_parent.switch()
        assert dead_parent.dead
        dead_parent.parent = parent
        parent = dead_parent
    child = Greenlet(lambda: 'child result', parent=parent)
    del parent
    assert child.switch() == 'started'
    assert seen == ['child result']
    assert child.dead
    assert child.parent is main
