"""Builds the _greenlet extension with Zig (``python -m ziglang build``); no C compiler needed.

build.zig compiles; this file chooses the target and names the results. Settings (environment):
GREENLET_ZIG_TARGET  a Zig target such as aarch64-linux-gnu.2.17 or x86_64-linux-musl: cross-build
                     for it, with the extension suffix and the manylinux/musllinux wheel tag of
                     that platform (the CPython version is the one running this build)
GREENLET_ZIG_CPU     a Zig CPU model (default: the architecture's release baseline; e.g. native)
GREENLET_ZIG_OPTIMIZE  debug, safe, fast (default) or small
"""

import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import Extension, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


# Per Linux architecture (`platform.machine()` / wheel spelling): Zig's architecture name, the
# CPU model release builds target, CPython's multiarch triplet prefix, and the oldest glibc a
# wheel for it can claim (manylinux2014 = glibc 2.17; riscv64 first shipped with 2.27 and its
# manylinux floor is 2.31).
ARCHES = {
    "x86_64": ("x86_64", "x86_64", "x86_64", (2, 17)),
    "i686": ("x86", "i686", "i386", (2, 17)),
    "aarch64": ("aarch64", "generic", "aarch64", (2, 17)),
    "armv7l": ("arm", "generic+v7a+vfp3d16-neon", "arm", (2, 17)),
    "ppc64le": ("powerpc64le", "pwr8", "powerpc64le", (2, 17)),
    "s390x": ("s390x", "z196", "s390x", (2, 17)),
    "riscv64": ("riscv64", "baseline_rv64", "riscv64", (2, 31)),
}
ZIG_ARCHES = {zig: machine for machine, (zig, _, _, _) in ARCHES.items()}
# Zig 0.17 provides glibc for powerpc64le from 2.19 on; every symbol of ppc64le glibc up to
# 2.19 is versioned GLIBC_2.17 (its first release), so such a build still fits manylinux 2.17.
ZIG_OLDEST_GLIBC = {"powerpc64le": (2, 19)}
MANYLINUX2014 = {"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x"}


def default_target():
    """An explicit target for this machine, so that Zig uses its own C library headers and
    stubs (no system C compiler is asked where libc lives) and the module runs on any glibc
    since the manylinux floor. None lets Zig build for the native target."""
    libc, _ = platform.libc_ver()
    if sys.platform == "linux" and libc == "glibc" and platform.machine() in ARCHES:
        zig, _, _, floor = ARCHES[platform.machine()]
        glibc = max(floor, ZIG_OLDEST_GLIBC.get(zig, floor))
        abi = "gnueabihf" if zig == "arm" else "gnu"
        return "%s-linux-%s.%d.%d" % (zig, abi, *glibc)
    return None


class CrossTarget:
    """What a Zig target triple such as ``aarch64-linux-gnu.2.17`` or ``x86_64-linux-musl``
    means for the wheel: the extension suffix CPython looks for on that platform and the
    wheel's platform tag. Only Linux targets of the supported architectures qualify."""

    def __init__(self, triple):
        parts = triple.split("-")
        if len(parts) != 3 or parts[0] not in ZIG_ARCHES or parts[1] != "linux":
            raise SystemExit(
                "GREENLET_ZIG_TARGET=%r: expected <arch>-linux-<abi>[.<glibc version>] with arch "
                "one of %s" % (triple, ", ".join(sorted(ZIG_ARCHES)))
            )
        self.triple = triple
        self.zig_arch = parts[0]
        self.machine = ZIG_ARCHES[self.zig_arch]
        abi, _, version = parts[2].partition(".")
        wanted_abi = {"gnu": "gnueabihf", "musl": "musleabihf"} if self.zig_arch == "arm" else {}
        if abi not in ("gnu", "musl", "gnueabihf", "musleabihf") or wanted_abi.get(abi, abi) != abi:
            raise SystemExit(
                "GREENLET_ZIG_TARGET=%r: the ABI must be %s"
                % (triple, "gnueabihf or musleabihf" if self.zig_arch == "arm" else "gnu or musl")
            )
        self.musl = abi.startswith("musl")
        _, cpu, multiarch, floor = ARCHES[self.machine]
        self.cpu = cpu
        self.multiarch = "%s-linux-%s" % (multiarch, abi)
        if self.musl:
            # Zig links musl 1.2, the musllinux_1_2 baseline.
            self.platform_tag = "musllinux_1_2_" + self.machine
            return
        if version:
            try:
                glibc = tuple(int(n) for n in version.split("."))[:2]
            except ValueError:
                raise SystemExit("GREENLET_ZIG_TARGET=%r: bad glibc version" % triple) from None
        else:
            raise SystemExit(
                "GREENLET_ZIG_TARGET=%r: name the oldest glibc to support, e.g. %s.%d.%d"
                % (triple, triple, *floor)
            )
        if glibc == ZIG_OLDEST_GLIBC.get(self.zig_arch):
            glibc = floor
        glibc = max(glibc, floor)
        self.platform_tag = "manylinux_%d_%d_%s" % (glibc + (self.machine,))
        if glibc == (2, 17) and self.machine in MANYLINUX2014:
            self.platform_tag += ".manylinux2014_" + self.machine

    def ext_suffix(self):
        # The interpreter's own suffix with its platform part replaced, e.g.
        # .cpython-313t-x86_64-linux-gnu.so -> .cpython-313t-aarch64-linux-gnu.so
        soabi = sysconfig.get_config_var("SOABI") or ""
        if not soabi.startswith("cpython-"):
            raise SystemExit("cross builds need CPython (this is %s)" % soabi)
        return ".cpython-%s-%s.so" % (soabi.split("-")[1], self.multiarch)


def cross_target():
    triple = os.environ.get("GREENLET_ZIG_TARGET")
    return CrossTarget(triple) if triple else None


class ZigBuildExt(build_ext):
    def build_extension(self, ext):
        cross = cross_target()
        suffix = cross.ext_suffix() if cross else sysconfig.get_config_var("EXT_SUFFIX")
        paths = sysconfig.get_paths()
        with tempfile.TemporaryDirectory() as prefix:
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
            target = cross.triple if cross else default_target()
            if target:
                command.append("-Dtarget=" + target)
            # The architecture's release baseline unless asked otherwise: a build must run on
            # any machine of its architecture, not only on the one that built it.
            machine = cross.machine if cross else platform.machine()
            cpu = ARCHES[machine][1] if machine in ARCHES else "baseline"
            command.append("-Dcpu=" + os.environ.get("GREENLET_ZIG_CPU", cpu))
            subprocess.run(command, cwd=HERE, check=True)
            output = self.get_ext_fullpath(ext.name)
            if cross:
                output = output[: -len(sysconfig.get_config_var("EXT_SUFFIX"))] + suffix
            os.makedirs(os.path.dirname(output), exist_ok=True)
            shutil.copyfile(os.path.join(prefix, "lib", "_greenlet" + suffix), output)


class TargetWheel(bdist_wheel):
    """A cross build is tagged for its target (manylinux/musllinux), not for the host."""

    def get_tag(self):
        impl, abi, plat = super().get_tag()
        cross = cross_target()
        return (impl, abi, cross.platform_tag) if cross else (impl, abi, plat)


setup(
    ext_modules=[Extension("greenlet._greenlet", sources=[])],
    cmdclass={"build_ext": ZigBuildExt, "bdist_wheel": TargetWheel},
    headers=["src/greenlet/greenlet.h"],
)
