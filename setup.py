"""Builds the _greenlet extension with Zig (``python -m ziglang build``); no C compiler needed.

All platform logic lives in build.zig. Set GREENLET_ZIG_TARGET (e.g. aarch64-linux-gnu.2.17)
to cross-compile, GREENLET_ZIG_CPU to choose a CPU model (default: the target's baseline; e.g.
"native"), and GREENLET_ZIG_OPTIMIZE (debug, safe, fast, small) to choose the mode.
"""

import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


# Zig's name and the oldest glibc it can target, per `platform.machine()` of a glibc Linux.
GLIBC_TARGETS = {
    "x86_64": "x86_64-linux-gnu.2.17",
    "i686": "x86-linux-gnu.2.17",
    "aarch64": "aarch64-linux-gnu.2.17",
    "armv7l": "arm-linux-gnueabihf.2.17",
    "ppc64le": "powerpc64le-linux-gnu.2.19",
    "s390x": "s390x-linux-gnu.2.17",
    "riscv64": "riscv64-linux-gnu.2.31",
}


def default_target():
    """An explicit target for this machine, so that Zig uses its own C library headers and
    stubs (no system C compiler is asked where libc lives) and the module runs on any glibc
    since the manylinux2014 floor. None lets Zig build for the native target."""
    libc, _ = platform.libc_ver()
    if sys.platform == "linux" and libc == "glibc":
        return GLIBC_TARGETS.get(platform.machine())
    return None


class ZigBuildExt(build_ext):
    def build_extension(self, ext):
        suffix = os.environ.get("GREENLET_EXT_SUFFIX") or sysconfig.get_config_var("EXT_SUFFIX")
        include = os.environ.get("GREENLET_PYTHON_INCLUDE") or sysconfig.get_paths()["include"]
        platinclude = os.environ.get("GREENLET_PYTHON_PLATINCLUDE") or sysconfig.get_paths()[
            "platinclude"
        ]
        with tempfile.TemporaryDirectory() as prefix:
            command = [
                sys.executable, "-m", "ziglang", "build", "install",
                "--prefix", prefix,
                "-Doptimize=" + os.environ.get("GREENLET_ZIG_OPTIMIZE", "fast"),
                "-Dpython-include=" + include,
                "-Dpython-platinclude=" + platinclude,
                "-Dext-suffix=" + suffix,
            ]
            target = os.environ.get("GREENLET_ZIG_TARGET") or default_target()
            if target:
                command.append("-Dtarget=" + target)
            # The target's baseline CPU unless asked otherwise: a build must run on any machine
            # of its architecture, not only on the one that built it.
            command.append("-Dcpu=" + os.environ.get("GREENLET_ZIG_CPU", "baseline"))
            subprocess.run(command, cwd=HERE, check=True)
            output = self.get_ext_fullpath(ext.name)
            os.makedirs(os.path.dirname(output), exist_ok=True)
            shutil.copyfile(os.path.join(prefix, "lib", "_greenlet" + suffix), output)


setup(
    ext_modules=[Extension("greenlet._greenlet", sources=[])],
    cmdclass={"build_ext": ZigBuildExt},
    headers=["src/greenlet/greenlet.h"],
)
