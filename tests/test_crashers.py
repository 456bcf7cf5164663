"""Scripts for situations that are prone to crash a greenlet implementation:
interpreter exit with suspended greenlets in several threads and with
daemon threads switching, switching in thread-local destructors as a thread
ends, SIGINT while greenlets switch, and switching inside __del__, inside trace and profile
functions (greenlet's and sys's), inside a gc callback and inside a weakref
callback.  Each runs in its own interpreter (tests/crashers/*.py, with the
same greenlet package as this process) and must exit with status 0, print
exactly the expected lines and write no traceback or error to stderr.  The
expected lines are the same with the original greenlet 3.5.6 on every
supported CPython."""
import os
import signal
import subprocess
import sys

import pytest

from conftest import _subprocess_env

HERE = os.path.dirname(os.path.abspath(__file__))
CRASHERS = os.path.join(HERE, 'crashers')


def run_crasher(name, *args, timeout=120):
    proc = subprocess.run(
        [sys.executable, os.path.join(CRASHERS, name)] + list(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_subprocess_env(),
        cwd=HERE,
        timeout=timeout,
        universal_newlines=True,
        encoding='utf-8',
        errors='replace',
    )
    return proc.returncode, proc.stdout, proc.stderr


def check_clean(rc, out, err):
    assert rc == 0, 'exit status %r (%s)\nstdout:\n%s\nstderr:\n%s' % (
        rc, _describe(rc), out, err)
    assert 'Fatal Python error' not in err, err
    assert 'Traceback' not in err, err
    assert 'Exception ignored' not in err, err


def _describe(rc):
    if rc is not None and rc < 0:
        try:
            return signal.Signals(-rc).name
        except ValueError:
            return 'signal %d' % -rc
    return 'exit code'


def test_crasher_scripts_are_all_tested():
    scripts = sorted(f for f in os.listdir(CRASHERS)
                     if f.endswith('.py') and not f.startswith('_'))
    tested = sorted({name for name, *_ in CASES})
    assert scripts == tested


CASES = [
    ('shutdown_threads.py', (), [
        'kept from finished threads 24',
        'main thread greenlets 10',
        'MAIN EXIT',
        'atexit switch',
        'atexit current is main True',
    ]),
    ('switch_at_thread_exit.py', (), [
        'untouched ran in its thread True',
        'touched ran in its thread True',
        'parked ran in its thread True finished after resumed True',
        'spinning',
        'MAIN EXIT',
    ]),
    ('sigint_switching.py', ('timer',), [
        'KeyboardInterrupt caught in main',
        'switched before the signal True',
        'dead after interrupt at most one True',
        'current is main True',
        'OK timer',
    ]),
    ('sigint_switching.py', ('raise',), [
        'inner parked',
        'outer finally, child dead True',
        'KeyboardInterrupt caught in main, outer dead True',
        'OK raise',
    ]),
    ('sigint_switching.py', ('handler',), [
        'handled some True',
        'echo saw every call True',
        'handlers ran in greenlets of this thread True',
        "states ['alive', 'alive', 'alive']",
        'OK handler',
    ]),
    ('switch_in_del.py', (), [
        "1 ('main-del', True)",
        "2 child done ('child-del', True)",
        '3a holding',
        "3b ('killed-frame', True)",
        "4 collected ('cycle', True)",
        "5 dropper done ('starter', 'finished inside del')",
        '6 bulk done 50 True',
        'echo calls 54',
        'current is main True',
        'OK',
    ]),
    ('switch_in_settrace.py', (), [
        "values [0, 1, 2, 3, 4, 'before throw']",
        'result 50 True',
        'tracer was installed True',
        "events ['switch', 'throw']",
        'all echoed True',
        'callback ran in the target True',
        'current is main True',
        'OK',
    ]),
    ('switch_in_sys_trace.py', (), [
        'traced values [0, 1, 2, 3, 4, 55]',
        "trace events 15 ['call', 'line', 'return']",
        'all echoed True',
        'trace removed True',
        'profiled values [0, 1, 2, 3, 4, 55]',
        "profile events 21 [('c_call', 'switch'), ('call', 'square'), ('return', 'square')]",
        'all echoed True',
        'preempted results True',
        'preempted aaaaaaaaa',
        'current is main True',
        'echo calls 36',
        'OK',
    ]),
    ('switch_in_gc_callback.py', (), [
        "main collect [('start', True), ('stop', True)]",
        "child collected ('stop', True)",
        'switches 2001 allocator done',
        'automatic collections seen True',
        'all echoed True',
        'current is main True',
        'OK',
    ]),
    ('switch_in_weakref_callback.py', (), [
        "1 ('main', True, True)",
        "2 child done ('child', True, True)",
        '3a holding',
        "3b ('killed', True, True)",
        "4 ('cycle', True, True)",
        "5 ('greenlet', True, True)",
        "6 ('suspended greenlet', True, True)",
        'current is main True',
        'OK',
    ]),
]


@pytest.mark.parametrize(
    'name, args, expected',
    [pytest.param(n, a, e, id=n[:-3] + ('-' + a[0] if a else '')) for n, a, e in CASES])
def test_crasher(name, args, expected):
    rc, out, err = run_crasher(name, *args)
    check_clean(rc, out, err)
    assert out.splitlines() == expected, err
