"""greenlet's C API (greenlet.h and the ``greenlet._C_API`` capsule), driven from a C extension.

The extension (tests/c_api/_capi_test.c) is built here with ``python -m ziglang build
capi-test`` against the greenlet.h installed next to the imported ``greenlet`` package and the
running interpreter's headers. A missing zig, header or build failure fails the tests; nothing
here is skipped.

``GREENLET_CAPI_TEST_DIR`` names a directory holding an extension built beforehand (for an
interpreter that cannot run zig, such as another architecture's CPython under qemu-user, for
which tests/cross builds it on the host); it must hold ``_capi_test`` with this interpreter's
extension suffix.
"""
import gc
import importlib.util
import os
import struct
import subprocess
import sys
import sysconfig
import textwrap
import threading
import types
import weakref

import pytest

import greenlet
from greenlet import getcurrent

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAD_ARGUMENT = "bad argument type for built-in operation"


def _zig_cache_dir(tmp_root):
    # Reuse the checkout's cache when it is writable (the build runner is then compiled once);
    # otherwise a private one.
    local = os.path.join(REPO, ".zig-cache")
    if os.access(REPO, os.W_OK) and (not os.path.exists(local) or os.access(local, os.W_OK)):
        return local
    return str(tmp_root / "zig-cache")


@pytest.fixture(scope="module")
def capi_dir(tmp_path_factory):
    prebuilt = os.environ.get("GREENLET_CAPI_TEST_DIR")
    if prebuilt:
        built = os.path.join(prebuilt, "_capi_test" + sysconfig.get_config_var("EXT_SUFFIX"))
        assert os.path.isfile(built), "GREENLET_CAPI_TEST_DIR has no %s" % os.path.basename(built)
        return os.path.abspath(prebuilt)
    try:
        import ziglang  # noqa: F401
    except ImportError:
        pytest.fail("the ziglang package is required to build the C API test extension "
                    "(pip install the ziglang that targets.py pins)")
    header_dir = os.path.dirname(os.path.abspath(greenlet.__file__))
    assert os.path.isfile(os.path.join(header_dir, "greenlet.h")), (
        "greenlet.h is not installed in %s" % header_dir)
    paths = sysconfig.get_paths()
    include, platinclude = paths["include"], paths["platinclude"]
    assert os.path.isfile(os.path.join(include, "Python.h")), (
        "Python.h not found in %s; the interpreter's development headers are needed" % include)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    assert os.path.isfile(os.path.join(REPO, "build.zig")), REPO

    tmp = tmp_path_factory.mktemp("capi")
    prefix = tmp / "prefix"
    command = [
        sys.executable, "-m", "ziglang", "build", "capi-test",
        "--prefix", str(prefix),
        "--cache-dir", _zig_cache_dir(tmp),
        "-Doptimize=safe",
        "-Dpython-include=" + include,
        "-Dpython-platinclude=" + platinclude,
        "-Dgreenlet-include=" + header_dir,
        "-Dext-suffix=" + suffix,
    ]
    proc = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail("building the C API test extension failed (%d):\n%s\n%s"
                    % (proc.returncode, " ".join(command), proc.stdout))
    built = prefix / "lib" / ("_capi_test" + suffix)
    assert built.is_file(), "zig build capi-test did not install %s" % built
    return str(built.parent)


@pytest.fixture(scope="module")
def capi(capi_dir):
    path = os.path.join(capi_dir, "_capi_test" + sysconfig.get_config_var("EXT_SUFFIX"))
    spec = importlib.util.spec_from_file_location("_capi_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["_capi_test"] = module
    return module


def suspended(run_after=None):
    """A greenlet suspended in its first switch back to the caller; resuming it
    returns what it received (or what run_after makes of it)."""
    def run():
        received = getcurrent().parent.switch("ready")
        return run_after(received) if run_after else received
    g = greenlet.greenlet(run)
    assert g.switch() == "ready"
    return g


def catcher():
    """A suspended greenlet that returns the exception thrown into it."""
    def run():
        try:
            getcurrent().parent.switch("ready")
        except BaseException as e:  # noqa: B902
            return e
        return "no exception"
    g = greenlet.greenlet(run)
    assert g.switch() == "ready"
    return g


# ---------------------------------------------------------------- capsule, header, layout

def test_capsule_and_table(capi):
    assert type(greenlet._C_API).__name__ == "PyCapsule"
    assert "greenlet._C_API" in repr(greenlet._C_API)
    assert capi.API_POINTERS == 12
    assert capi.filled_slots() == 12
    assert capi.version() == "1.0.0"


def test_type_slot_is_greenlet_type(capi):
    assert capi.api_type() is greenlet.greenlet
    assert capi.api_type() is greenlet._greenlet.greenlet


def test_exception_slots(capi):
    assert capi.api_error() is greenlet.error
    assert capi.api_exit() is greenlet.GreenletExit
    with pytest.raises(greenlet.error, match="^from C$"):
        capi.raise_error("from C")
    with pytest.raises(greenlet.GreenletExit, match="^bye$"):
        capi.raise_exit("bye")


def test_sizeof_pygreenlet_matches_type_and_upstream_layout(capi):
    layout = capi.layout()
    pointer = struct.calcsize("P")
    assert layout["sizeof_pyobject"] == object.__basicsize__
    assert layout["expected"] == object.__basicsize__ + 3 * pointer
    assert layout["sizeof"] == layout["expected"]
    assert greenlet.greenlet.__basicsize__ == layout["sizeof"]
    assert greenlet.greenlet.__itemsize__ == 0
    assert layout["weakreflist"] == object.__basicsize__
    assert layout["dict"] == object.__basicsize__ + pointer
    assert layout["pimpl"] == object.__basicsize__ + 2 * pointer
    assert greenlet.greenlet.__weakrefoffset__ == layout["weakreflist"]
    assert greenlet.greenlet.__dictoffset__ == layout["dict"]


# ---------------------------------------------------------------- PyGreenlet_Check

def test_check(capi):
    class Sub(greenlet.greenlet):
        pass

    assert capi.check(getcurrent()) is True
    assert capi.check(greenlet.greenlet()) is True
    assert capi.check(Sub()) is True
    assert capi.check(capi.SubGreenlet()) is True
    for obj in (None, 1, "greenlet", object(), greenlet.greenlet, greenlet.getcurrent):
        assert capi.check(obj) is False, obj
    assert capi.check_null() is False


# ---------------------------------------------------------------- PyGreenlet_GetCurrent

def test_getcurrent(capi):
    main = getcurrent()
    assert capi.getcurrent() is main
    assert capi.getcurrent_checked() is main

    seen = []

    def run():
        seen.append((capi.getcurrent(), capi.getcurrent_checked()))
        return "done"
    g = greenlet.greenlet(run)
    assert g.switch() == "done"
    assert seen == [(g, g)]
    assert capi.getcurrent() is main


def test_getcurrent_returns_new_references(capi):
    current = getcurrent()
    before = sys.getrefcount(current)
    for _ in range(1000):
        capi.getcurrent()
        capi.getcurrent_checked()
    assert sys.getrefcount(current) == before


def test_getcurrent_in_thread_is_that_threads_main(capi):
    out = []

    def body():
        here = capi.getcurrent()
        out.append((here is getcurrent(), capi.main(here), here is not main))
    main = getcurrent()
    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert out == [(True, (1, None), True)]


def test_getcurrent_during_finalization(capi_dir):
    script = textwrap.dedent("""
        import atexit, os, sys
        sys.path.insert(0, %r)
        import _capi_test

        def show(where):
            current, exc = _capi_test.getcurrent_pair()
            text = "%%s %%s %%r\\n" %% (where, type(current).__name__, exc)
            os.write(1, text.encode())

        class Late:
            def __del__(self):
                show("finalizing")

        atexit.register(show, "atexit")
        late = Late()
        late.cycle = late
        del late
        keep = Late()   # module global: dropped during interpreter finalization
    """ % capi_dir)
    proc = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "atexit greenlet None", proc.stdout
    assert lines[-1] == ("finalizing NoneType RuntimeError('greenlet is being finalized')"), (
        proc.stdout)


# ---------------------------------------------------------------- PyGreenlet_New

def test_new_without_run_or_parent(capi):
    g = capi.new()
    assert type(g) is greenlet.greenlet
    assert g.parent is getcurrent()
    assert not g and not g.dead
    with pytest.raises(AttributeError, match="run"):
        g.switch()
    with pytest.raises(AttributeError, match="run"):
        capi.switch(g)
    # still pending, and can be given a run later
    assert capi.started(g) == (0, None)
    g.run = lambda: "late run"
    assert g.switch() == "late run"
    assert g.dead


def test_new_with_run(capi):
    def run(*args, **kwargs):
        return ("ran", args, kwargs)
    g = capi.new(run)
    assert g.run is run
    assert g.parent is getcurrent()
    assert g.switch(1, k=2) == ("ran", (1,), {"k": 2})


def test_new_with_run_and_parent(capi):
    parent = greenlet.greenlet(lambda value: ("parent got", value))
    g = capi.new(lambda: 42, parent)
    assert g.parent is parent
    assert capi.get_parent(g) == (parent, None)
    assert g.switch() == ("parent got", 42)
    assert g.dead and parent.dead


def test_new_with_parent_only(capi):
    parent = suspended(lambda received: ("parent resumed with", received))
    g = capi.new(parent=parent)
    assert g.parent is parent
    g.run = lambda: "child result"
    assert g.switch() == ("parent resumed with", "child result")


def test_new_with_none_parent_means_current(capi):
    # PyGreenlet_New is "like greenlet(run=run, parent=parent)", and greenlet(parent=None)
    # keeps the current greenlet as parent.
    assert greenlet.greenlet(parent=None).parent is getcurrent()
    g = capi.new(lambda: "ok", None)
    assert g.parent is getcurrent()
    assert g.switch() == "ok"


def test_new_with_bad_parent(capi):
    with pytest.raises(TypeError, match="^GreenletChecker: Expected any type of greenlet, not str$"):
        capi.new(lambda: None, "not a greenlet")
    with pytest.raises(TypeError, match="GreenletChecker"):
        capi.new(None, 42)


def test_new_inside_greenlet_defaults_parent_to_it(capi):
    def run():
        child = capi.new(lambda: "child done")
        return child.parent is getcurrent(), child.switch()
    outer = greenlet.greenlet(run)
    assert outer.switch() == (True, "child done")


def test_new_reference_counts(capi):
    def run():
        return None
    before = sys.getrefcount(run)
    for _ in range(500):
        g = capi.new(run)
        g.switch()
        del g
        capi.new(run, getcurrent())
    gc.collect()
    assert sys.getrefcount(run) == before


# ---------------------------------------------------------------- PyGreenlet_Switch

def test_switch_starts_with_null_args_and_kwargs(capi):
    g = greenlet.greenlet(lambda *a, **k: (a, k))
    assert capi.switch(g) == ((), {})
    g = greenlet.greenlet(lambda *a, **k: (a, k))
    assert capi.switch(g, (1, 2)) == ((1, 2), {})
    g = greenlet.greenlet(lambda *a, **k: (a, k))
    assert capi.switch(g, (1,), {"k": "v"}) == ((1,), {"k": "v"})
    g = greenlet.greenlet(lambda *a, **k: (a, k))
    assert capi.switch(g, (), {"only": 1}) == ((), {"only": 1})


@pytest.mark.parametrize("args, kwargs, expected", [
    ((), None, ()),
    ((5,), None, 5),
    ((None,), None, None),
    (((1,),), None, (1,)),
    ((1, 2), None, (1, 2)),
    ((), {"k": "v"}, {"k": "v"}),
    ((1,), {"k": "v"}, ((1,), {"k": "v"})),
    ((), {}, ()),
    ((7,), {}, 7),
])
def test_switch_value_passing(capi, args, kwargs, expected):
    g = suspended()
    result = capi.switch(g, args) if kwargs is None else capi.switch(g, args, kwargs)
    assert result == expected
    assert type(result) is type(expected)
    assert g.dead


def test_switch_null_args_to_suspended(capi):
    g = suspended()
    assert capi.switch(g) == ()


@pytest.mark.parametrize("kwargs", [
    ["k", "v"],
    "not a dict",
    42,
    types.MappingProxyType({"k": "v"}),
])
def test_switch_non_dict_kwargs_are_ignored(capi, kwargs):
    g = suspended()
    assert capi.switch(g, (1, 2), kwargs) == (1, 2)
    g = greenlet.greenlet(lambda *a, **k: (a, k))
    assert capi.switch(g, (3,), kwargs) == ((3,), {})


def test_switch_dict_subclass_kwargs(capi):
    class D(dict):
        pass
    g = greenlet.greenlet(lambda *a, **k: (a, k))
    assert capi.switch(g, (), D(x=1)) == ((), {"x": 1})


def test_switch_tuple_subclass_args(capi):
    class T(tuple):
        pass
    g = greenlet.greenlet(lambda *a: a)
    assert capi.switch(g, T((1, 2))) == (1, 2)
    g = suspended()
    result = capi.switch(g, T(("a", "b")))
    assert tuple(result) == ("a", "b")


def test_switch_tuple_subclass_whose_len_switches(capi):
    # A tuple subclass whose __len__ runs Python code (here: switching to the running greenlet)
    # must not disturb the switch that carries it.
    class T(tuple):
        def __len__(self):
            getcurrent().switch()
            return tuple.__len__(self)

    kwargs = {"a": 42}

    def run():
        return capi.switch(getcurrent().parent, T(), kwargs)
    g = greenlet.greenlet(run)
    assert g.switch() == kwargs
    assert capi.switch(g, T((9,))) == 9
    assert g.dead


def test_switch_to_self(capi):
    assert capi.switch(getcurrent(), (5,)) == 5
    assert capi.switch(getcurrent(), (1, 2)) == (1, 2)
    assert capi.switch(getcurrent()) == ()


def test_switch_to_dead_goes_to_ancestor(capi):
    g = greenlet.greenlet(lambda: None)
    g.switch()
    assert g.dead
    assert capi.switch(g, ("x",)) == "x"


def test_switch_propagates_exception(capi):
    def run():
        raise KeyError("from run")
    g = greenlet.greenlet(run)
    with pytest.raises(KeyError, match="from run"):
        capi.switch(g)
    assert g.dead


@pytest.mark.parametrize("bad", [None, 1, "greenlet", object(), greenlet.greenlet])
def test_switch_non_greenlet(capi, bad):
    with pytest.raises(TypeError, match="^%s$" % BAD_ARGUMENT):
        capi.switch(bad)
    with pytest.raises(TypeError, match="^%s$" % BAD_ARGUMENT):
        capi.switch(bad, (1,), {"k": 1})


def test_switch_reference_counts(capi):
    sent = object()
    returned = object()
    args = (sent,)
    kwargs = {"k": sent}
    before = (sys.getrefcount(sent), sys.getrefcount(returned), sys.getrefcount(args),
              sys.getrefcount(kwargs))

    def loop(*unused_args, **unused_kwargs):
        parent = getcurrent().parent
        while True:
            parent.switch(returned)
    g = greenlet.greenlet(loop)
    for _ in range(300):
        assert capi.switch(g, args) is returned
        assert capi.switch(g, args, kwargs) is returned
        assert capi.switch(g) is returned
    g.throw()
    del g
    gc.collect()
    after = (sys.getrefcount(sent), sys.getrefcount(returned), sys.getrefcount(args),
             sys.getrefcount(kwargs))
    assert after == before


def test_switch_across_threads_is_greenlet_error(capi):
    made = []
    release = threading.Event()

    def body():
        g = suspended()
        made.append(g)
        release.wait(30)
        g.switch()
    t = threading.Thread(target=body)
    t.start()
    try:
        while not made:
            t.join(0.01)
        with pytest.raises(greenlet.error):
            capi.switch(made[0])
        with pytest.raises(greenlet.error):
            capi.throw(made[0], ValueError)
    finally:
        release.set()
        t.join()


# ---------------------------------------------------------------- PyGreenlet_Throw

def test_throw_type_only(capi):
    g = catcher()
    e = capi.throw(g, ValueError)
    assert type(e) is ValueError and e.args == ()
    assert g.dead


def test_throw_type_and_value(capi):
    g = catcher()
    e = capi.throw(g, ValueError, "vv")
    assert type(e) is ValueError and e.args == ("vv",)


def test_throw_type_and_none_value(capi):
    g = catcher()
    e = capi.throw(g, KeyError, None)
    assert type(e) is KeyError and e.args == ()


def test_throw_instance(capi):
    exc = IndexError("inst")
    g = catcher()
    assert capi.throw(g, exc) is exc
    g = catcher()
    assert capi.throw(g, exc, None) is exc
    g = catcher()
    assert capi.throw(g, exc, None, None) is exc


def test_throw_with_traceback(capi):
    def origin():
        raise ValueError("original")
    try:
        origin()
    except ValueError as e:
        tb = e.__traceback__
    g = catcher()
    thrown = capi.throw(g, ValueError, "with tb", tb)
    assert type(thrown) is ValueError and thrown.args == ("with tb",)
    names = []
    t = thrown.__traceback__
    while t is not None:
        names.append(t.tb_frame.f_code.co_name)
        t = t.tb_next
    assert "origin" in names


def test_throw_uncaught_goes_to_parent(capi):
    g = suspended()
    with pytest.raises(KeyError, match="uncaught"):
        capi.throw(g, KeyError("uncaught"))
    assert g.dead


def test_throw_greenletexit_is_a_value(capi):
    g = suspended()
    result = capi.throw(g, greenlet.GreenletExit)
    assert type(result) is greenlet.GreenletExit
    assert g.dead


def test_throw_into_pending(capi):
    called = []
    g = greenlet.greenlet(lambda: called.append(1))
    with pytest.raises(ValueError, match="^pending$"):
        capi.throw(g, ValueError("pending"))
    assert g.dead and not called
    g = greenlet.greenlet(lambda: called.append(1))
    assert type(capi.throw(g, greenlet.GreenletExit)) is greenlet.GreenletExit
    assert g.dead and not called


def test_throw_into_dead(capi):
    g = greenlet.greenlet(lambda: None)
    g.switch()
    bye = greenlet.GreenletExit("bye")
    assert capi.throw(g, bye) is bye
    with pytest.raises(RuntimeError, match="^dead$"):
        capi.throw(g, RuntimeError, "dead")


@pytest.mark.parametrize("args, message", [
    ((ValueError, None, "not a traceback"), "throw() third argument must be a traceback object"),
    ((ValueError, "v", 42), "throw() third argument must be a traceback object"),
    ((ValueError("x"), "value"), "instance exception may not have a separate value"),
    ((42,), "exceptions must be classes, or instances, not int"),
    ((object,), "exceptions must be classes, or instances, not type"),
    (("ValueError",), "exceptions must be classes, or instances, not str"),
    ((None,), "exceptions must be classes, or instances, not NoneType"),
])
def test_throw_bad_arguments(capi, args, message):
    g = catcher()
    with pytest.raises(TypeError) as info:
        capi.throw(g, *args)
    assert str(info.value) == message
    # validated in the caller: the target is untouched and still suspended
    assert capi.active(g) == (1, None)
    assert g.switch("after") == "no exception"


@pytest.mark.parametrize("bad", [None, 1, "greenlet", object()])
def test_throw_non_greenlet(capi, bad):
    with pytest.raises(TypeError, match="^%s$" % BAD_ARGUMENT):
        capi.throw(bad, ValueError)


# ---------------------------------------------------------------- PyGreenlet_SetParent

def test_setparent(capi):
    parent = greenlet.greenlet(lambda value: value * 2)
    g = greenlet.greenlet(lambda: 21)
    assert capi.setparent(g, parent) is None
    assert g.parent is parent
    assert capi.get_parent(g) == (parent, None)
    assert g.switch() == 42


def test_setparent_routes_return_value_to_suspended_parent(capi):
    g = greenlet.greenlet(lambda: "finished")
    collector = suspended(lambda received: ("collected", received))
    capi.setparent(g, collector)
    assert g.switch() == ("collected", "finished")
    assert collector.dead


def test_setparent_cycle(capi):
    a = greenlet.greenlet()
    b = greenlet.greenlet(parent=a)
    with pytest.raises(ValueError, match="^cyclic parent chain$"):
        capi.setparent(a, b)
    with pytest.raises(ValueError, match="^cyclic parent chain$"):
        capi.setparent(a, a)
    assert a.parent is getcurrent() and b.parent is a


@pytest.mark.parametrize("bad", [None, 1, "x", object()])
def test_setparent_non_greenlet_parent(capi, bad):
    g = greenlet.greenlet()
    with pytest.raises(TypeError) as info:
        capi.setparent(g, bad)
    assert str(info.value) == ("GreenletChecker: Expected any type of greenlet, not %s"
                               % type(bad).__name__)
    assert g.parent is getcurrent()


def test_setparent_null_parent(capi):
    g = greenlet.greenlet()
    with pytest.raises(AttributeError, match="^can't delete attribute$"):
        capi.setparent(g)
    assert g.parent is getcurrent()


def test_setparent_of_main(capi):
    with pytest.raises(AttributeError, match="^cannot set the parent of a main greenlet$"):
        capi.setparent(getcurrent(), greenlet.greenlet())


@pytest.mark.parametrize("bad", [None, 1, "x", object()])
def test_setparent_non_greenlet_self(capi, bad):
    with pytest.raises(TypeError):
        capi.setparent(bad, getcurrent())


def test_setparent_to_other_thread(capi):
    other = []
    release = threading.Event()

    def body():
        other.append(getcurrent())
        release.wait(30)
    t = threading.Thread(target=body)
    t.start()
    try:
        while not other:
            t.join(0.01)
        started = suspended()
        with pytest.raises(ValueError, match="^parent cannot be on a different thread$"):
            capi.setparent(started, other[0])
        assert started.parent is getcurrent()
        started.switch()
    finally:
        release.set()
        t.join()


# ---------------------------------------------------------------- MAIN / STARTED / ACTIVE

def states(capi, g):
    return capi.main(g), capi.started(g), capi.active(g)


def test_state_predicates(capi):
    ok = None
    main = getcurrent()
    assert states(capi, main) == ((1, ok), (1, ok), (1, ok))

    inside = []
    g = greenlet.greenlet(lambda: inside.append(states(capi, getcurrent()))
                          or getcurrent().parent.switch())
    assert states(capi, g) == ((0, ok), (0, ok), (0, ok))          # pending
    g.switch()
    assert inside == [((0, ok), (1, ok), (1, ok))]                 # running
    assert states(capi, g) == ((0, ok), (1, ok), (1, ok))          # suspended
    g.switch()
    assert g.dead
    assert states(capi, g) == ((0, ok), (1, ok), (0, ok))          # dead

    thrown = greenlet.greenlet(lambda: None)
    capi.throw(thrown, greenlet.GreenletExit)
    assert states(capi, thrown) == ((0, ok), (1, ok), (0, ok))

    sub = capi.SubGreenlet()
    assert states(capi, sub) == ((0, ok), (0, ok), (0, ok))


@pytest.mark.parametrize("bad", [None, 1, "greenlet", object(), greenlet.greenlet])
@pytest.mark.parametrize("name", ["main", "started", "active"])
def test_state_predicates_non_greenlet(capi, name, bad):
    rc, exc = getattr(capi, name)(bad)
    assert rc == -1
    assert type(exc) is TypeError
    assert str(exc) == BAD_ARGUMENT


# ---------------------------------------------------------------- PyGreenlet_GetParent

def test_get_parent(capi):
    main = getcurrent()
    assert capi.get_parent(main) == (None, None)        # NULL, no exception
    assert capi.get_parent_alias(main) == (None, None)
    a = greenlet.greenlet(lambda value: ("a", value))
    b = greenlet.greenlet(lambda value: ("b", value), parent=a)
    assert capi.get_parent(a) == (main, None)
    assert capi.get_parent(b) == (a, None)
    assert capi.get_parent_alias(b) == (a, None)

    def run():
        return capi.get_parent(getcurrent())
    c = greenlet.greenlet(run, parent=b)
    assert c.switch() == ("a", ("b", (b, None)))


@pytest.mark.parametrize("bad", [None, 1, "greenlet", object()])
def test_get_parent_non_greenlet(capi, bad):
    result, exc = capi.get_parent(bad)
    assert result is None
    assert type(exc) is TypeError and str(exc) == BAD_ARGUMENT


def test_get_parent_returns_new_reference(capi):
    parent = greenlet.greenlet()
    g = greenlet.greenlet(parent=parent)
    before = sys.getrefcount(parent)
    for _ in range(1000):
        capi.get_parent(g)
    assert sys.getrefcount(parent) == before


# ---------------------------------------------------------------- a C subclass

def test_c_subclass_layout(capi):
    layout = capi.layout()
    Sub = capi.SubGreenlet
    assert Sub.__base__ is greenlet.greenlet
    assert issubclass(Sub, greenlet.greenlet)
    assert Sub.__basicsize__ == layout["sub_sizeof"]
    assert layout["sub_payload"] >= greenlet.greenlet.__basicsize__
    assert Sub.__basicsize__ > greenlet.greenlet.__basicsize__
    assert Sub.__dictoffset__ == greenlet.greenlet.__dictoffset__
    assert Sub.__weakrefoffset__ == greenlet.greenlet.__weakrefoffset__


def test_c_subclass_switches(capi):
    s = capi.SubGreenlet()
    s.marker = 2.5
    assert capi.sub_fields(s) == (None, 0, 2.5)
    assert s.parent is getcurrent()
    assert s.switch(1, 2) == ("sub", 1, 2.5)
    assert s.payload == (1, 2)
    assert capi.sub_fields(s) == ((1, 2), 1, 2.5)
    assert capi.active(s) == (1, None) and capi.check(s)
    assert s.bump() == 2
    s.attr = "instance dict works"
    assert s.__dict__ == {"attr": "instance dict works"}
    ref = weakref.ref(s)
    assert s.switch("back") == ("back", (1, 2), 3)
    assert s.dead and capi.active(s) == (0, None) and capi.started(s) == (1, None)
    assert capi.sub_fields(s) == ((1, 2), 3, 2.5)
    del s
    gc.collect()
    assert ref() is None


def test_c_subclass_switch_through_capi_and_throw(capi):
    s = capi.SubGreenlet()
    assert capi.switch(s, ("x",)) == ("sub", 1, 0.0)
    with pytest.raises(KeyError, match="into sub"):
        capi.throw(s, KeyError("into sub"))
    assert s.dead


def test_c_subclass_with_parent_and_python_subclass(capi):
    main = getcurrent()

    class PySub(capi.SubGreenlet):
        def run(self, value):
            self.payload = value
            main.switch(("py", self.bump()))
            return ("py done", self.counter)

    collector = suspended(lambda received: ("collector", received))
    p = PySub(parent=collector)
    assert p.parent is collector
    assert p.switch("v") == ("py", 1)
    assert capi.sub_fields(p) == ("v", 1, 0.0)
    assert p.switch() == ("collector", ("py done", 1))
    assert p.dead


def test_c_subclass_cycles_through_c_field_are_collected(capi):
    refs = []
    for i in range(100):
        s = capi.SubGreenlet()
        if i % 2:
            assert s.switch(i) == ("sub", 1, 0.0)
            s.switch("end")           # dead
        s.payload = [s, i]            # a cycle through the C field
        refs.append(weakref.ref(s))
    del s
    gc.collect()
    gc.collect()
    assert [r for r in refs if r() is not None] == []


class Witness:
    def __init__(self, log):
        self.log = log

    def __del__(self):
        self.log.append("payload released")


def test_c_subclass_killed_when_unreferenced_while_suspended(capi):
    # `run` as the plain greenlet attribute (not a method bound to the instance), so the
    # suspended frame does not keep the greenlet alive.
    class Killable(capi.SubGreenlet):
        run = greenlet.greenlet.__dict__["run"]

    log = []
    main = getcurrent()

    def body():
        try:
            main.switch("suspended")
        except greenlet.GreenletExit:
            log.append("killed")
            raise
    k = Killable(body)
    k.payload = Witness(log)
    k.counter = 7
    assert k.switch() == "suspended"
    ref = weakref.ref(k)
    del k
    gc.collect()
    assert ref() is None
    assert log == ["killed", "payload released"]
