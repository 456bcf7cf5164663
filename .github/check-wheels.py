"""Check built wheels: python check-wheels.py WHEEL... (run with auditwheel installed).

For each Linux wheel: it holds exactly one extension module, whose file name carries the wheel's
CPython tag and the platform of its tag; `auditwheel show` finds the library consistent with a
policy at least as old as the one the wheel's name claims (same architecture); and the library
needs no external shared library beyond that policy's list. For each Windows wheel: the checks
of pe.py (the DLL's machine, file name, exports, and imports from KERNEL32, the UCRT and the
tag's python3X.dll only). Prints a table; exits 1 on any failure.
"""

import concurrent.futures
import json
import os
import re
import runpy
import subprocess
import sys
import types
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
targets = types.SimpleNamespace(**runpy.run_path(os.path.join(HERE, "..", "targets.py")))
pe = types.SimpleNamespace(**runpy.run_path(os.path.join(HERE, "pe.py")))
WINDOWS_PLATFORMS = {w.wheel_arch for w in targets.WINDOWS}
# wheel architecture -> the table's row (targets.py)
BY_WHEEL_ARCH = {t.wheel_arch: t for t in targets.TARGETS if t.os == "linux"}
TAG = re.compile(r"^(manylinux|musllinux)_(\d+)_(\d+)_(\w+)$")


def parse_tag(tag):
    m = TAG.match(tag)
    if not m:
        raise ValueError("not a manylinux/musllinux tag: %s" % tag)
    return m.group(1), (int(m.group(2)), int(m.group(3))), m.group(4)


def check(path):
    name = path.rsplit("/", 1)[-1]
    problems = []
    _, _, pytag, abitag, plats = name[: -len(".whl")].split("-")
    if plats in WINDOWS_PLATFORMS:
        return name, "pe.py: machine, exports, imports", pe.wheel_problems(path)
    claimed = plats.split(".")[0]
    family, version, arch = parse_tag(claimed)
    if family == "manylinux" and arch in BY_WHEEL_ARCH:
        expected = targets.manylinux_tag(BY_WHEEL_ARCH[arch], version)
        if plats != expected:
            problems.append("platform tags %s, expected %s" % (plats, expected))

    if arch not in BY_WHEEL_ARCH:
        return name, "-", ["%s is no architecture of targets.py" % arch]
    platform = targets.ext_platform(BY_WHEEL_ARCH[arch], musl=family == "musllinux")
    suffix = ".cpython-%s-%s.so" % (abitag[2:], platform)
    names = zipfile.ZipFile(path).namelist()
    exts = [n for n in names if n.endswith(".so")]
    if exts != ["greenlet/_greenlet" + suffix]:
        problems.append("extension files %s, expected greenlet/_greenlet%s" % (exts, suffix))

    out = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", "--json", path],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        problems.append("auditwheel show failed: %s" % out.stderr.strip()[-500:])
        return name, "-", problems
    report = json.loads(out.stdout)
    found = report["overall_tag"]
    try:
        f_family, f_version, f_arch = parse_tag(found)
    except ValueError:
        problems.append("auditwheel finds no %s policy: %s" % (family, found))
    else:
        if (f_family, f_arch) != (family, arch) or f_version > version:
            problems.append("auditwheel policy %s is not within %s" % (found, claimed))
    if report["external_libs"]:
        problems.append("external libraries: %s" % sorted(report["external_libs"]))
    return name, "auditwheel: " + found, problems


def main(paths):
    failed = 0
    # one auditwheel process per CPU at a time; the report keeps the order of the arguments
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        results = list(pool.map(check, paths))
    for name, found, problems in results:
        print("%-4s %-84s %s" % ("ok" if not problems else "FAIL", name, found))
        for p in problems:
            print("       " + p)
        failed += bool(problems)
    print("%d of %d wheels pass" % (len(paths) - failed, len(paths)))
    return 1 if failed or not paths else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
