"""``python -m greenlet``: the build description, the self-check and its exit status."""
import os
import platform
import re
import runpy
import subprocess
import sys
import sysconfig

import pytest

import greenlet
from greenlet import _greenlet

from conftest import _subprocess_env

# targets.py, the table of targets: the interpreter's row is the one whose platform its
# extension suffix names (.cpython-313-s390x-linux-gnu.so, .cp313-win_amd64.pyd)
TABLE = runpy.run_path(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'targets.py'))


def zig_arch_of_this_interpreter():
    suffix = sysconfig.get_config_var('EXT_SUFFIX')
    if sys.platform == 'darwin':  # .cpython-313-darwin.so names no architecture
        machine = platform.machine()
        for m in TABLE['MACOS']:
            if m.wheel_arch == machine:
                return m.zig_archs[0]
        pytest.fail('no macOS row of targets.py for the machine %s' % machine)
    if sys.platform == 'win32':
        plat = suffix.rsplit('-', 1)[1].split('.')[0]
        for w in TABLE['WINDOWS']:
            if w.wheel_arch == plat:
                return w.zig_arch
        pytest.fail('no Windows row of targets.py for the platform %s' % plat)
    plat = suffix.split('-', 2)[2].rsplit('.', 1)[0]
    for t in TABLE['TARGETS']:
        if plat in (TABLE['ext_platform'](t), TABLE['ext_platform'](t, musl=True)):
            return t.zig_arch
    pytest.fail('no row of targets.py for the platform %s' % plat)


def run_main(*args, prelude=None, timeout=120):
    if prelude is None:
        command = [sys.executable, '-m', 'greenlet', *args]
    else:
        # run the module's main() after `prelude` has changed something
        source = prelude + '\nimport sys, greenlet.__main__ as m\nsys.exit(m.main(sys.argv[1:]))'
        command = [sys.executable, '-c', source, *args]
    proc = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=_subprocess_env(), timeout=timeout,
                          cwd=os.path.dirname(os.path.abspath(__file__)),
                          universal_newlines=True, encoding='utf-8', errors='replace')
    return proc.returncode, proc.stdout, proc.stderr


def build_items():
    """greenlet._greenlet._build_info as {'target': ..., 'cpu': ..., ...}, in its order."""
    return dict(item.split('=', 1) for item in _greenlet._build_info.split())


def lines_by_key(stdout):
    """{'greenlet': [...], 'check': [...], ...}: each output line under its first word."""
    found = {}
    for line in stdout.splitlines():
        key, _, rest = line.partition(' ')
        found.setdefault(key, []).append(rest.strip())
    return found


def test_build_info_names_this_build():
    items = build_items()
    assert sorted(items) == ['cpu', 'optimize', 'target', 'zig']
    arch, os_name, abi = items['target'].split('-', 2)
    assert arch == zig_arch_of_this_interpreter()
    if sys.platform == 'win32':
        # MinGW's headers and the UCRT, the C runtime of CPython itself
        assert (os_name, abi) == ('windows', 'gnu')
    elif sys.platform == 'darwin':
        assert (os_name, abi) == ('macos', 'none')
    else:
        assert os_name == 'linux'
        # a glibc build names the glibc its symbols come from (a musl build just says musl)
        assert re.fullmatch(r'(gnu(eabihf)?\.2\.\d+|musl(eabihf)?)', abi), abi
    assert items['optimize'] in ('debug', 'safe', 'fast', 'small')  # GREENLET_ZIG_OPTIMIZE's names
    assert re.fullmatch(r'\d+\.\d+\.\d+(-.+)?', items['zig']), items['zig']
    assert items['cpu']


def test_self_check_passes_and_describes_the_build():
    rc, out, err = run_main('--no-bench')
    assert rc == 0, (out, err)
    found = lines_by_key(out)
    assert found['greenlet'] == [greenlet.__version__]
    assert found['python'][0].startswith(
        f'{platform.python_implementation()} {platform.python_version()} ')
    build = build_items()
    assert found['target'][0].split()[0] == build.pop('target')
    assert found['switch'] == [_greenlet._switch_name]
    assert found['build'] == [' '.join(f'{k}={v}' for k, v in build.items())]
    assert found['module'] == [_greenlet.__file__]
    assert found['check'] == ['switching: ok', 'throw: ok', 'threads: ok']
    assert 'bench' not in found
    assert out.splitlines()[-1] == 'self-check passed'


def test_benchmark_line_reports_a_rate():
    rc, out, err = run_main()
    assert rc == 0, (out, err)
    bench = lines_by_key(out)['bench']
    assert len(bench) == 1
    match = re.fullmatch(r'([0-9.]+) million switches/s, ([0-9]+) ns per switch', bench[0])
    assert match, bench
    assert float(match.group(1)) > 0 and int(match.group(2)) > 0


def test_help_explains_the_command():
    rc, out, err = run_main('--help')
    assert rc == 0, err
    assert 'self-check' in out and '--no-bench' in out


def test_unknown_option_is_refused():
    rc, out, err = run_main('--no-such-option')
    assert rc == 2
    assert 'unrecognized arguments: --no-such-option' in err


@pytest.mark.parametrize('prelude, failing', [
    # getcurrent() broken: no check can switch back to the greenlet that started it
    ('import greenlet; greenlet.getcurrent = lambda: None', ['switching', 'throw', 'threads']),
    # a switch into another thread's greenlet that raises something else than greenlet.error
    # (as the module sees it): only the threads check notices
    ('import greenlet; greenlet.error = type("NeverRaised", (Exception,), {})', ['threads']),
])
def test_failed_check_exits_non_zero_with_the_reason(prelude, failing):
    rc, out, err = run_main('--no-bench', prelude=prelude)
    assert rc == 1, (out, err)
    checks = lines_by_key(out)['check']
    assert [line.split(':')[0] for line in checks] == ['switching', 'throw', 'threads']
    failed = [line.split(':')[0] for line in checks if ': FAILED (' in line]
    assert failed == failing, checks
    assert out.splitlines()[-1] == f'self-check FAILED ({len(failing)} check(s))'
    assert 'self-check passed' not in out
