"""The source tree keeps its shape: each stack switch states its contract, no file outgrows
one job, CPython-version knowledge stays in one place, and the Zig code is formatted.

These read the checkout the tests run from (they skip when the sources are not beside them,
as in an installed copy of the tests)."""
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
ZSRC = ROOT / 'zsrc'
GLUE = ROOT / 'src' / 'greenlet'

if not (ZSRC / 'arch.zig').is_file() or not (GLUE / '_greenlet.c').is_file():
    pytest.skip('the source tree is not beside these tests', allow_module_level=True)

MAX_LINES = 600
# Files allowed past MAX_LINES, with their current length: a file may only shrink here, and
# leaves the list once it fits.
LONG_FILES = {}

# The contract block at the top of every switch (the `//!` lines; docs/internals/porting.md).
CONTRACT_KEYS = ('Target:', 'Saved:', 'Not saved', 'Stack alignment:', 'Red zone:',
                 'Calls out:', 'Frame')

# Only these headers may test the CPython version or reach into the interpreter's internals.
PYSTATE_HEADERS = {'_pystate.h', '_pystate_chunks.h', '_pystate_frames.h'}
VERSION_KNOWLEDGE = re.compile(
    r'PY_VERSION_HEX|GREENLET_PY3\d+|Py_BUILD_CORE|#\s*include\s*["<]internal/')


def relative(path):
    return path.relative_to(ROOT).as_posix()


def source_files():
    files = [p for p in ZSRC.rglob('*') if p.suffix in ('.zig', '.h')
             and 'tests' not in p.relative_to(ZSRC).parts and not p.name.endswith('_test.zig')]
    files += [p for p in GLUE.iterdir() if p.suffix in ('.c', '.h', '.py', '.pyi')]
    return sorted(files)


def line_count(path):
    with open(path, encoding='utf-8') as f:
        return sum(1 for _ in f)


def test_the_tree_has_sources_to_check():
    names = {relative(p) for p in source_files()}
    assert {'zsrc/switch.zig', 'zsrc/arch/x86_64.zig', 'src/greenlet/_greenlet.c',
            'src/greenlet/_pystate.h'} <= names


def test_no_file_outgrows_one_job():
    too_long = {}
    for path in source_files():
        lines = line_count(path)
        allowed = LONG_FILES.get(relative(path), MAX_LINES)
        if lines > allowed:
            too_long[relative(path)] = (lines, allowed)
    assert too_long == {}, 'lines, allowed: ' + repr(too_long)


def test_long_file_exceptions_are_current():
    for name, allowed in LONG_FILES.items():
        lines = line_count(ROOT / name)
        assert lines > MAX_LINES, f'{name} fits in {MAX_LINES} lines now: drop its exception'
        assert lines == allowed, f'{name} has {lines} lines: record that (it may only shrink)'


@pytest.mark.parametrize('path', sorted((ZSRC / 'arch').glob('*.zig')), ids=lambda p: p.name)
def test_every_switch_states_its_contract(path):
    header = []
    for line in path.read_text(encoding='utf-8').splitlines():
        if not line.startswith('//!'):
            break
        header.append(line[3:].strip())
    missing = [key for key in CONTRACT_KEYS
               if not any(entry.startswith(key) for entry in header)]
    assert missing == [], f'{path.name}: the contract block lacks {missing}'


def test_cpython_version_knowledge_stays_in_pystate():
    found = []
    for path in sorted(GLUE.iterdir()):
        if path.suffix not in ('.c', '.h') or path.name in PYSTATE_HEADERS:
            continue
        for number, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1):
            if VERSION_KNOWLEDGE.search(line):
                found.append(f'{path.name}:{number}: {line.strip()}')
    assert found == []


def test_pystate_headers_exist_and_hold_the_version_gates():
    for name in PYSTATE_HEADERS:
        assert (GLUE / name).is_file(), name
    assert 'PY_VERSION_HEX' in (GLUE / '_pystate.h').read_text(encoding='utf-8')


def test_zig_sources_are_formatted():
    pytest.importorskip('ziglang', reason='zig comes with the ziglang package')
    paths = [str(ROOT / 'build.zig'), str(ZSRC)]
    result = subprocess.run([sys.executable, '-m', 'ziglang', 'fmt', '--check'] + paths,
                            capture_output=True, text=True)
    assert result.returncode == 0, 'not formatted (zig fmt):\n' + result.stdout + result.stderr
