"""Shared helpers for the greenlet behaviour suite."""
import contextlib
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import greenlet
from greenlet._greenlet import get_pending_cleanup_count
from greenlet._greenlet import get_total_main_greenlets

# Upper bound for waiting on asynchronous clean-up (thread exit, queued
# deletions).  This is a liveness bound, not a performance expectation.
SETTLE_TIMEOUT = 15.0


def c_recursion_limit():
    """The budget of nested C-level calls (Python -> C -> Python) that CPython 3.12 and 3.13
    count besides ``sys.getrecursionlimit()``: their ``Py_C_RECURSION_LIMIT``, which Python
    code cannot read. None on versions without one (up to 3.11; 3.14 measures the C stack
    instead). 3.13 keeps it at 800 on s390x, whose C frames are large, so a test that nests
    deeply through C there must stay shallower than on other machines."""
    import platform
    if sys.version_info[:2] == (3, 12):
        return 1500
    if sys.version_info[:2] == (3, 13):
        return 800 if platform.machine() == 's390x' else 10000
    return None


def wait_until(predicate, timeout=SETTLE_TIMEOUT, interval=0.005):
    """Poll ``predicate`` until it is true or ``timeout`` elapses.

    Returns the last value of ``predicate()``.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(interval)


def settle(main_greenlets_at_most=None, timeout=SETTLE_TIMEOUT):
    """Wait until the dead-thread clean-up queue is empty and, optionally,
    until no more than ``main_greenlets_at_most`` main greenlets are alive.
    The condition must still hold after a garbage collection.

    Returns ``(pending_cleanups, total_main_greenlets)`` as last observed.
    """
    rounds = [0]

    def condition():
        # getcurrent() runs this thread's deferred maintenance.
        greenlet.getcurrent()
        if get_pending_cleanup_count():
            return False
        if main_greenlets_at_most is not None:
            return get_total_main_greenlets() <= main_greenlets_at_most
        return True

    def done():
        rounds[0] += 1
        if rounds[0] % 25 == 0:
            gc.collect()
        if not condition():
            return False
        gc.collect()
        time.sleep(0.001)
        return condition()

    wait_until(done, timeout=timeout)
    return get_pending_cleanup_count(), get_total_main_greenlets()


class ThreadBaseline:
    """Snapshot of the main-greenlet count, used to check that thread
    states created during a test are all released afterwards."""

    def __init__(self):
        # Set by tests that leave suspended greenlets behind in a finished
        # thread: such a thread's main greenlet may then stay alive.
        self.main_greenlets_may_outlive_thread = False
        greenlet.getcurrent()
        self.threads = threading.active_count()
        settle()
        self.main_greenlets = get_total_main_greenlets()

    def wait_released(self, timeout=SETTLE_TIMEOUT):
        wait_until(lambda: threading.active_count() <= self.threads,
                   timeout=timeout)
        if self.main_greenlets_may_outlive_thread:
            return settle(timeout=timeout)
        return settle(self.main_greenlets, timeout=timeout)


@pytest.fixture
def thread_baseline():
    """Yields a baseline; after the test, requires that the queue of dead
    thread states is drained and, unless the test said otherwise, that every
    main greenlet created during the test has been destroyed."""
    baseline = ThreadBaseline()
    yield baseline
    pending, total = baseline.wait_released()
    assert pending == 0
    if not baseline.main_greenlets_may_outlive_thread:
        assert total <= baseline.main_greenlets


def run_in_threads(func, count, timeout=60):
    """Run ``func(n)`` for each n in ``range(count)``, each in a thread of its
    own, all at once; wait for them and return ``[func(0), func(1), ...]``
    (re-raising the first exception any of them raised)."""
    boxes = [{} for _ in range(count)]

    def target(n):
        try:
            boxes[n]['result'] = func(n)
        except BaseException as e:  # pragma: no cover - reported below
            boxes[n]['error'] = e

    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "helper thread did not finish"
    for box in boxes:
        if 'error' in box:
            raise box['error']
    return [box.get('result') for box in boxes]


def run_in_thread(func, *args, timeout=60):
    """Run ``func(*args)`` in a new thread, wait for it, and return its
    result (re-raising any exception it raised)."""
    return run_in_threads(lambda _n: func(*args), 1, timeout=timeout)[0]


def _subprocess_env():
    env = dict(os.environ)
    # Make the child import the very same greenlet package as this process.
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(greenlet.__file__)))
    existing = env.get('PYTHONPATH')
    env['PYTHONPATH'] = pkg_parent + (os.pathsep + existing if existing else '')
    env['PYTHONFAULTHANDLER'] = '1'
    env['PYTHONIOENCODING'] = 'utf-8'
    env.pop('PYTHONWARNINGS', None)
    return env


def run_script(source, timeout=120, args=()):
    """Run dedented ``source`` with ``sys.executable`` in a child process.

    Returns ``(returncode, stdout, stderr)``.
    """
    source = textwrap.dedent(source)
    proc = subprocess.run(
        [sys.executable, '-c', source] + list(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_subprocess_env(),
        cwd=os.path.dirname(os.path.abspath(__file__)),
        timeout=timeout,
        universal_newlines=True,
        encoding='utf-8',
        errors='replace',
    )
    return proc.returncode, proc.stdout, proc.stderr


@contextlib.contextmanager
def no_automatic_collection():
    """Collects now, then keeps the collector from running by itself until the block ends. A
    collection ends the suspended greenlets it finds in garbage (leftovers of earlier tests
    too), and a greenlet trace function installed meanwhile would see those switches."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@pytest.fixture
def no_uncollectable_garbage():
    """The test adds nothing to ``gc.garbage``."""
    gc.collect()
    before = list(gc.garbage)
    yield
    gc.collect()
    assert gc.garbage == before


@pytest.fixture
def script():
    """The :func:`run_script` helper as a fixture."""
    return run_script


@pytest.fixture(autouse=True)
def _no_leftover_greenlet_trace():
    """A test that fails half-way must not leave a greenlet trace function
    or a profiler installed for the tests that follow."""
    yield
    if greenlet.gettrace() is not None:
        greenlet.settrace(None)
    if sys.getprofile() is not None:
        sys.setprofile(None)


# ---- the build tools of .github/ and Zig, for the tests of those tools ----

try:
    import ziglang  # noqa: F401  (run as `sys.executable -m ziglang`)
except ImportError:
    HAVE_ZIG = False
else:
    HAVE_ZIG = True


def load_github_tool(name):
    """The script .github/<name>.py as a module (it is not a package)."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '.github', name + '.py')
    spec = importlib.util.spec_from_file_location('greenlet_build_' + name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_zig(*args, cwd=None):
    """Runs `zig ARGS` (the ziglang package) and fails the test if it fails."""
    command = [sys.executable, '-m', 'ziglang', *args]
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        pytest.fail('%s failed:\n%s' % (' '.join(command), result.stderr))
