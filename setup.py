"""Builds the _greenlet extension with Zig (``python -m ziglang build``); no C compiler needed.

build.zig compiles; this file chooses the target and names the results. Settings (environment):
GREENLET_ZIG_TARGET  a Zig target, <arch>-linux-<abi>.<glibc>, <arch>-linux-musl,
                     <arch>-windows[-gnu] or <arch>-macos (arch aarch64 or x86_64), or
                     universal2-macos (both macOS images joined into one file): cross-build for
                     it, with the extension suffix and the wheel tag of that platform
                     (manylinux, musllinux, win_amd64, win32, win_arm64, macosx; the CPython
                     version is the one running this build). Default: the row of targets.py for
                     this interpreter's platform, at its libc floor
MACOSX_DEPLOYMENT_TARGET  macOS: the oldest macOS to support, X.Y (default: targets.py's, 11.0
                     for arm64 and universal2, 10.9 for x86_64): each image's minimum OS (arm64
                     never below 11.0) and the wheel tag's version
GREENLET_ZIG_CPU     a Zig CPU model (default: the architecture's release baseline; e.g. native,
                     which also leaves the wheel tagged for this machine only)
GREENLET_ZIG_OPTIMIZE  debug, safe, fast (default) or small
"""

import os
import runpy
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import types

from setuptools import Extension, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


# targets.py, the one table of targets, sits beside this file (and in the sdist)
targets = types.SimpleNamespace(**runpy.run_path(os.path.join(HERE, "targets.py")))
LINUX = [t for t in targets.TARGETS if t.os == "linux"]


def native_triple():
    """The Zig target of the table's row for this interpreter's platform (the one its extension
    suffix names: .cpython-312-x86_64-linux-gnu.so, .cp312-win_amd64.pyd), at that row's libc
    floor; None elsewhere. An explicit target also makes Zig use its own C library headers and
    stubs: no system C compiler is asked where libc lives, and the module runs on any glibc
    since the floor."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ""
    if sys.platform == "darwin":
        # macosx-11.0-arm64, macosx-10.9-universal2 (cibuildwheel sets _PYTHON_HOST_PLATFORM)
        arch = sysconfig.get_platform().rsplit("-", 1)[-1]
        return next((m.name for m in targets.MACOS if m.wheel_arch == arch), None)
    if sys.platform == "win32":
        plat = suffix.rsplit("-", 1)[-1].split(".")[0]
        return next((targets.windows_zig_target(w) for w in targets.WINDOWS if w.wheel_arch == plat), None)
    if sys.platform != "linux" or suffix.count("-") < 2:
        return None
    plat = suffix.split("-", 2)[2].rsplit(".", 1)[0]
    for t in LINUX:
        for musl in (False, True):
            if targets.ext_platform(t, musl) == plat:
                return targets.zig_target(t, musl)
    return None


class CrossTarget:
    """What a Zig target triple (``<arch>-linux-gnu.<glibc>``, ``<arch>-linux-musl``,
    ``<arch>-windows``) means for the wheel: the extension suffix CPython looks for on that
    platform and the wheel's platform tag. Only targets of the table (targets.py) qualify."""

    windows = None  # the targets.py row of a Windows target
    macos = None  # the targets.py row of a macOS target

    def __init__(self, triple):
        parts = triple.split("-")
        if len(parts) >= 2 and parts[1].startswith("macos"):
            self._init_macos(triple, parts)
            return
        if len(parts) >= 2 and parts[1] == "windows":
            self._init_windows(triple, parts)
            return
        zig_arches = {t.zig_arch: t for t in LINUX}
        if len(parts) != 3 or parts[0] not in zig_arches or parts[1] != "linux":
            raise SystemExit(
                "GREENLET_ZIG_TARGET=%r: expected <arch>-linux-<abi>[.<glibc version>] with arch "
                "one of %s" % (triple, ", ".join(sorted(zig_arches)))
            )
        self.triple = triple
        t = self.target = zig_arches[parts[0]]
        abi, _, version = parts[2].partition(".")
        musl_abi = t.abi.replace("gnu", "musl")
        if abi not in (t.abi, musl_abi):
            raise SystemExit("GREENLET_ZIG_TARGET=%r: the ABI must be %s or %s" % (triple, t.abi, musl_abi))
        self.musl = abi == musl_abi
        self.cpu = t.cpu
        self.multiarch = targets.ext_platform(t, musl=self.musl)
        if self.musl:
            # Zig links musl 1.2, the musllinux_1_2 baseline.
            self.platform_tag = targets.musllinux_tag(t)
            return
        if not version:
            raise SystemExit(
                "GREENLET_ZIG_TARGET=%r: name the oldest glibc to support, e.g. %s"
                % (triple, targets.zig_target(t))
            )
        try:
            glibc = tuple(int(n) for n in version.split("."))[:2]
        except ValueError:
            raise SystemExit("GREENLET_ZIG_TARGET=%r: bad glibc version" % triple) from None
        # Zig's oldest glibc for the architecture still fits the floor's tag (see targets.py)
        if glibc == t.zig_glibc:
            glibc = t.glibc
        self.platform_tag = targets.manylinux_tag(t, glibc)

    def _init_windows(self, triple, parts):
        try:
            w = self.windows = targets.find_windows("%s-windows-gnu" % parts[0])
        except KeyError:
            w = None
        if w is None or parts[2:] not in ([], ["gnu"]):
            raise SystemExit(
                "GREENLET_ZIG_TARGET=%r: expected <arch>-windows with arch one of %s"
                % (triple, ", ".join(t.zig_arch for t in targets.WINDOWS))
            )
        python = "%d.%d" % sys.version_info[:2]
        if python not in w.pythons:
            raise SystemExit("%s: no CPython %s for %s (targets.py)" % (triple, python, w.title))
        if sysconfig.get_config_var("Py_GIL_DISABLED"):
            raise SystemExit("%s: free-threaded CPython is not built for Windows" % triple)
        self.triple = targets.windows_zig_target(w)
        self.cpu = w.cpu
        self.platform_tag = w.wheel_arch

    def _init_macos(self, triple, parts):
        arch = {"aarch64": "arm64", "arm64": "arm64"}.get(parts[0], parts[0])
        try:
            m = self.macos = targets.find_macos(arch + "-macos")
        except KeyError:
            raise SystemExit(
                "GREENLET_ZIG_TARGET=%r: expected <arch>-macos with arch aarch64, x86_64 or "
                "universal2 (set MACOSX_DEPLOYMENT_TARGET for the oldest macOS)" % triple
            ) from None
        if len(parts) != 2 or parts[1] != "macos":
            raise SystemExit("GREENLET_ZIG_TARGET=%r: the macOS version comes from "
                             "MACOSX_DEPLOYMENT_TARGET, not the target" % triple)
        minos = os.environ.get("MACOSX_DEPLOYMENT_TARGET") or m.minos
        try:
            version = tuple(int(n) for n in minos.split("."))
        except ValueError:
            version = ()
        if len(version) not in (1, 2):
            raise SystemExit("MACOSX_DEPLOYMENT_TARGET=%r: expected X.Y" % minos)
        self.minos = "%d.%d" % (version + (0,))[:2]
        if len(m.zig_archs) == 1:  # a thin wheel's tag never names a macOS its CPU cannot run
            self.minos = targets.macos_image_minos(m.zig_archs[0], self.minos)
        self.platform_tag = targets.macos_tag(m, self.minos)
        self.triple = targets.macos_zig_target(m.zig_archs[0], self.minos)
        self.cpu = m.cpu or "baseline"

    def images(self):
        """(Zig target, CPU model) of each image to build: one, or two for universal2."""
        if not self.macos:
            return [(self.triple, self.cpu)]
        return targets.macos_images(self.macos, self.minos)

    def python_dll(self):
        return "python%d%d.dll" % sys.version_info[:2]

    def ext_suffix(self):
        if self.windows:
            return targets.windows_ext_suffix(self.windows, "%d.%d" % sys.version_info[:2])
        # The interpreter's own suffix with its platform part replaced, e.g.
        # .cpython-313t-x86_64-linux-gnu.so -> .cpython-313t-aarch64-linux-gnu.so (macOS:
        # .cpython-313-darwin.so, whatever the architecture)
        soabi = sysconfig.get_config_var("SOABI") or ""
        if not soabi.startswith("cpython-"):
            raise SystemExit("cross builds need CPython (this is %s)" % soabi)
        if self.macos:
            return ".cpython-%s-darwin.so" % soabi.split("-")[1]
        return ".cpython-%s-%s.so" % (soabi.split("-")[1], self.multiarch)


def build_target():
    """The target of this build: GREENLET_ZIG_TARGET's, else this platform's row; None for a
    platform the table does not know (Zig then builds for the native target)."""
    triple = os.environ.get("GREENLET_ZIG_TARGET") or native_triple()
    return CrossTarget(triple) if triple else None


class ZigBuildExt(build_ext):
    def build_extension(self, ext):
        target = build_target()
        native = not os.environ.get("GREENLET_ZIG_TARGET")
        suffix = sysconfig.get_config_var("EXT_SUFFIX") if native else target.ext_suffix()
        output = self.get_ext_fullpath(ext.name)
        output = output[: -len(sysconfig.get_config_var("EXT_SUFFIX"))] + suffix
        os.makedirs(os.path.dirname(output), exist_ok=True)
        with tempfile.TemporaryDirectory() as work:
            images = []
            for n, (triple, cpu) in enumerate(target.images() if target else [(None, "baseline")]):
                prefix = os.path.join(work, str(n))
                self.zig_build(prefix, suffix, triple, cpu, target)
                images.append(os.path.join(prefix, "lib", "_greenlet" + suffix))
            if len(images) == 1:
                shutil.copyfile(images[0], output)
            else:  # universal2: the arm64 and x86_64 images in one fat Mach-O
                macho = runpy.run_path(os.path.join(HERE, ".github", "macho.py"))
                macho["make_universal"](images, output)

    def zig_build(self, prefix, suffix, triple, cpu, target):
        """One image: `zig build install` into `prefix`, for Zig target `triple` (None: this
        machine) and CPU model `cpu`."""
        paths = sysconfig.get_paths()
        command = [
            sys.executable, "-m", "ziglang", "build", "install",
            "--prefix", prefix,
            "-Doptimize=" + os.environ.get("GREENLET_ZIG_OPTIMIZE", "fast"),
            # The headers of this interpreter serve every target: src/greenlet/_target.h
            # replaces the architecture-dependent values of its pyconfig.h.
            "-Dpython-include=" + paths["include"],
            "-Dpython-platinclude=" + paths["platinclude"],
            "-Dext-suffix=" + suffix,
        ]
        if triple:
            command.append("-Dtarget=" + triple)
        if target and target.windows:
            command.append("-Dpython-dll=" + target.python_dll())
        # The architecture's release baseline unless asked otherwise: a build must run on
        # any machine of its architecture, not only on the one that built it.
        command.append("-Dcpu=" + os.environ.get("GREENLET_ZIG_CPU", cpu))
        subprocess.run(command, cwd=HERE, check=True)


class TargetWheel(bdist_wheel):
    """A wheel is tagged for its target's manylinux/musllinux floor, which is what the build
    links against (a cross build for its target, not for the host); a build for another CPU
    model than the baseline only for this machine's platform."""

    def get_tag(self):
        impl, abi, plat = super().get_tag()
        target = build_target()
        if target is None or os.environ.get("GREENLET_ZIG_CPU", target.cpu) != target.cpu:
            return impl, abi, plat
        return impl, abi, target.platform_tag


setup(
    ext_modules=[Extension("greenlet._greenlet", sources=[])],
    cmdclass={"build_ext": ZigBuildExt, "bdist_wheel": TargetWheel},
    headers=["src/greenlet/greenlet.h"],
)
