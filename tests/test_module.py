"""Public surface of the ``greenlet`` package and ``greenlet._greenlet``."""
import os
import re
import struct
import subprocess
import sys
import sysconfig

import pytest

import greenlet
import greenlet._greenlet as ext
from greenlet import greenlet as Greenlet

PACKAGE_ALL = ['__version__', '_C_API', 'GreenletExit', 'error', 'getcurrent',
               'greenlet', 'gettrace', 'settrace']

PACKAGE_PUBLIC_NAMES = [
    'CLOCKS_PER_SEC', 'GREENLET_USE_CONTEXT_VARS', 'GREENLET_USE_GC',
    'GREENLET_USE_TRACING', 'GreenletExit', '_C_API', '_greenlet',
    'enable_optional_cleanup', 'error', 'get_clocks_used_doing_optional_cleanup',
    'getcurrent', 'gettrace', 'greenlet', 'settrace',
]

EXTENSION_ONLY_NAMES = [
    'GREENLET_USE_STANDARD_THREADING', 'get_pending_cleanup_count',
    'get_total_main_greenlets', 'UnswitchableGreenlet', 'set_thread_local',
]


def test_all_is_exact():
    assert greenlet.__all__ == PACKAGE_ALL


def test_package_names_are_exact():
    names = sorted(n for n in dir(greenlet)
                   if not (n.startswith('__') and n.endswith('__')))
    assert names == sorted(PACKAGE_PUBLIC_NAMES)


@pytest.mark.parametrize('name', EXTENSION_ONLY_NAMES)
def test_extension_only_names(name):
    assert hasattr(ext, name)
    assert not hasattr(greenlet, name)


def test_trash_nesting_helper_only_before_313():
    if sys.version_info >= (3, 13):
        assert not hasattr(ext, 'get_tstate_trash_delete_nesting')
    else:
        assert isinstance(ext.get_tstate_trash_delete_nesting(), int)


@pytest.mark.parametrize('name', [n for n in PACKAGE_PUBLIC_NAMES if n != '_greenlet'])
def test_package_reexports_extension_objects(name):
    value = getattr(ext, name)
    if isinstance(value, int):
        assert getattr(greenlet, name) == value
    else:
        assert getattr(greenlet, name) is value


def test_extension_module_name():
    assert ext.__name__ == 'greenlet._greenlet'
    assert greenlet._greenlet is ext


def test_version_is_a_3x_string():
    assert isinstance(greenlet.__version__, str)
    assert re.match(r'^3\.\d+\.\d+', greenlet.__version__)


def test_greenlet_exit_class():
    assert greenlet.GreenletExit.__bases__ == (BaseException,)
    assert not issubclass(greenlet.GreenletExit, Exception)
    assert greenlet.GreenletExit.__module__ == 'greenlet'
    assert repr(greenlet.GreenletExit) == "<class 'greenlet.GreenletExit'>"


def test_error_class():
    assert greenlet.error.__bases__ == (Exception,)
    assert greenlet.error.__module__ == 'greenlet'
    assert repr(greenlet.error) == "<class 'greenlet.error'>"


def test_greenlet_type_identity():
    assert Greenlet.__module__ == 'greenlet'
    assert Greenlet.__name__ == 'greenlet'
    assert Greenlet.__mro__ == (Greenlet, object)
    assert repr(Greenlet) == "<class 'greenlet.greenlet'>"
    assert Greenlet.__doc__.startswith('greenlet(run=None, parent=None) -> greenlet')


def test_class_attributes():
    expected = ['GreenletExit', '__bool__', '__del__', '__dict__', '__doc__', '__getstate__',
                '__init__', '__new__', '__repr__', '_stack_saved', 'dead',
                'error', 'getcurrent', 'gettrace', 'gr_context', 'gr_frame',
                'parent', 'run', 'settrace', 'switch', 'throw']
    assert sorted(Greenlet.__dict__) == expected


@pytest.mark.parametrize('name', ['getcurrent', 'error', 'GreenletExit',
                                  'settrace', 'gettrace'])
def test_module_names_copied_onto_class(name):
    assert Greenlet.__dict__[name] is getattr(greenlet, name)


def test_class_level_getcurrent_and_exceptions_work():
    assert Greenlet.getcurrent() is greenlet.getcurrent()
    g = Greenlet(lambda: Greenlet.getcurrent())
    assert g.switch() is g
    with pytest.raises(Greenlet.GreenletExit):
        raise greenlet.GreenletExit
    assert Greenlet.error is greenlet.error


def test_greenlet_is_subclassable():
    class Sub(Greenlet):
        pass

    s = Sub(lambda: 'sub')
    assert isinstance(s, Greenlet)
    assert s.switch() == 'sub'


def test_main_greenlet_is_plain_greenlet_instance():
    assert type(greenlet.getcurrent()) is Greenlet


def _expected_basicsize():
    pointer = struct.calcsize('P')
    free_threaded = bool(sysconfig.get_config_var('Py_GIL_DISABLED'))
    if sys.maxsize > 2 ** 32:
        assert pointer == 8
    else:
        assert pointer == 4
    head = (4 if free_threaded else 2) * pointer
    if hasattr(sys, 'getobjects'):  # Py_TRACE_REFS builds
        head += 2 * pointer
    return head, pointer


def test_basicsize_matches_abi():
    head, pointer = _expected_basicsize()
    assert Greenlet.__basicsize__ == head + 3 * pointer
    assert Greenlet.__itemsize__ == 0


def test_weakref_and_dict_offsets():
    head, pointer = _expected_basicsize()
    assert Greenlet.__weakrefoffset__ == head
    assert Greenlet.__dictoffset__ == head + pointer


def test_constants():
    assert greenlet.GREENLET_USE_GC == 1
    assert greenlet.GREENLET_USE_TRACING == 1
    assert greenlet.GREENLET_USE_CONTEXT_VARS == 1
    assert ext.GREENLET_USE_STANDARD_THREADING == 1
    assert isinstance(greenlet.CLOCKS_PER_SEC, int)
    assert greenlet.CLOCKS_PER_SEC > 1


def test_c_api_capsule():
    capsule = greenlet._C_API
    assert type(capsule).__name__ == 'PyCapsule'
    assert 'greenlet._C_API' in repr(capsule)
    assert capsule is ext._C_API


def test_capsule_importable_by_name():
    ctypes = pytest.importorskip('ctypes')
    import_capsule = ctypes.pythonapi.PyCapsule_Import
    import_capsule.restype = ctypes.c_void_p
    import_capsule.argtypes = [ctypes.c_char_p, ctypes.c_int]
    assert import_capsule(b'greenlet._C_API', 0)


def test_optional_cleanup_switch():
    # Always restore to enabled, which is the state at import.
    try:
        assert greenlet.enable_optional_cleanup(False) is None
        assert greenlet.get_clocks_used_doing_optional_cleanup() is None
        greenlet.enable_optional_cleanup(True)
        clocks = greenlet.get_clocks_used_doing_optional_cleanup()
        assert isinstance(clocks, int) and clocks >= 0
        greenlet.enable_optional_cleanup(1)  # any truthy value
        assert greenlet.get_clocks_used_doing_optional_cleanup() == clocks
        greenlet.enable_optional_cleanup([])  # any falsy value
        assert greenlet.get_clocks_used_doing_optional_cleanup() is None
    finally:
        greenlet.enable_optional_cleanup(True)
    assert greenlet.get_clocks_used_doing_optional_cleanup() is not None


def test_enable_optional_cleanup_takes_one_argument():
    with pytest.raises(TypeError):
        greenlet.enable_optional_cleanup()
    with pytest.raises(TypeError):
        greenlet.enable_optional_cleanup(True, False)


def test_counters_are_ints():
    assert isinstance(ext.get_pending_cleanup_count(), int)
    assert ext.get_pending_cleanup_count() >= 0
    total = ext.get_total_main_greenlets()
    assert isinstance(total, int)
    assert total >= 1  # this thread's main greenlet exists


def _thread_state_dict():
    ctypes = pytest.importorskip('ctypes')
    get_dict = ctypes.pythonapi.PyThreadState_GetDict
    # The C function returns a borrowed reference: take it as an address.
    get_dict.restype = ctypes.c_void_p
    get_dict.argtypes = []
    return ctypes.cast(get_dict(), ctypes.py_object).value


def test_set_thread_local_stores_in_thread_state_dict():
    key = 'greenlet-suite-thread-local'
    value = object()
    assert ext.set_thread_local(key, value) is None
    state_dict = _thread_state_dict()
    try:
        assert state_dict[key] is value
    finally:
        state_dict.pop(key, None)


def test_unswitchable_greenlet_type():
    U = ext.UnswitchableGreenlet
    assert issubclass(U, Greenlet)
    u = U(lambda: 'switched')
    assert u.force_switch_error is False
    assert u.force_slp_switch_error is False
    assert u.switch() == 'switched'


def test_unswitchable_greenlet_first_switch_failure_is_clean():
    u = ext.UnswitchableGreenlet(lambda: 'second try works')
    u.force_switch_error = True
    with pytest.raises(SystemError) as info:
        u.switch()
    assert str(info.value) == 'Failed to switch stacks into a greenlet for the first time.'
    assert not u.dead
    u.force_switch_error = False
    assert u.switch() == 'second try works'


def test_unswitchable_greenlet_running_switch_failure_is_clean():
    main = greenlet.getcurrent()
    u = ext.UnswitchableGreenlet(lambda: main.switch('parked') or 'finished')
    assert u.switch() == 'parked'
    u.force_switch_error = True
    with pytest.raises(SystemError) as info:
        u.switch()
    assert str(info.value) == 'Failed to switch stacks into a running greenlet.'
    assert not u.dead
    u.force_switch_error = False
    assert u.switch() == 'finished'


def test_import_leaves_the_gil_as_the_build_has_it():
    # A free-threaded build turns the GIL on (with a RuntimeWarning) when it
    # imports an extension module that does not declare it can run without
    # it. Ours declares that: the GIL stays off there, and on.
    code = ("import sys, warnings; warnings.simplefilter('error'); import greenlet; "
            "greenlet.greenlet(lambda: None).switch(); "
            "print(getattr(sys, '_is_gil_enabled', lambda: True)())")
    env = dict(os.environ)
    env.pop('PYTHON_GIL', None)
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    free_threaded = bool(sysconfig.get_config_var('Py_GIL_DISABLED'))
    assert out.stdout.split() == ['False' if free_threaded else 'True']


def _load_extension_again():
    """A second module object made from the extension file, as an import after the removal of
    greenlet._greenlet from sys.modules makes it."""
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.ExtensionFileLoader(ext.__name__, ext.__file__)
    spec = importlib.util.spec_from_file_location(ext.__name__, ext.__file__, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_module_uses_multi_phase_initialization():
    # PEP 489: the init function returns a definition, and executing it makes the module.
    assert ext.__spec__ is not None
    again = _load_extension_again()
    assert again is not ext
    assert type(again) is type(ext)


def test_reloaded_module_shares_the_first_ones_objects():
    again = _load_extension_again()
    for name in ('greenlet', 'error', 'GreenletExit', 'UnswitchableGreenlet'):
        assert getattr(again, name) is getattr(ext, name), name
    assert again.getcurrent() is ext.getcurrent()
    child = again.greenlet(lambda x: x * 2)
    assert isinstance(child, Greenlet)
    assert child.switch(21) == 42
    # its own capsule, with the same table contents
    assert again._C_API is not ext._C_API
    assert again.get_pending_cleanup_count() == ext.get_pending_cleanup_count()

