"""Check built wheels: python check-wheels.py [--headers X.Y=DIR...] [--libsystem TBD] WHEEL...
(run with auditwheel and packaging installed).

For each Linux wheel: it holds exactly one extension module, whose file name carries the wheel's
CPython tag and the platform of its tag; `auditwheel show` finds the library consistent with a
policy at least as old as the one the wheel's name claims (same architecture); and the library
needs no external shared library beyond that policy's list. For each Windows wheel: the checks
of pe.py (the DLL's machine, file name, exports, and imports from KERNEL32, the UCRT and the
tag's python3X.dll only). For each macOS wheel: the checks of macho.py (the CPU types of the
tag, LC_BUILD_VERSION for macOS with the tag's version as minos, libSystem the only dylib, no
rpath); every undefined symbol of every image is declared by the headers of the wheel's CPython
version (--headers X.Y=DIR: PyAPI_FUNC/PyAPI_DATA) or exported by libSystem (--libsystem: the
text stub Zig links against); and packaging.tags would accept the tag on a Mac of each of its
architectures at the tag's macOS version. (`delocate-listdeps` needs Apple's otool: the
release workflow runs it on the macOS runners.) Prints a table; exits 1 on any failure.
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
macho = types.SimpleNamespace(**runpy.run_path(os.path.join(HERE, "macho.py")))
WINDOWS_PLATFORMS = {w.wheel_arch for w in targets.WINDOWS}
HEADERS = {}  # X.Y -> the C names CPython's headers declare
LIBSYSTEM = set()  # the C names libSystem exports


def declared_names(include_dir):
    """Every function and data name the CPython headers under include_dir declare."""
    names = set()
    # PyAPI_FUNC(type) [attribute macros] name(  /  PyAPI_DATA(type) name
    func = re.compile(r"PyAPI_FUNC\((?:[^()]|\([^()]*\))*\)[\w\s*]*?(\w+)\s*\(")
    data = re.compile(r"PyAPI_DATA\((?:[^()]|\([^()]*\))*\)\s*\**\s*(\w+)")
    alias = re.compile(r"^\s*#\s*define\s+(\w+)\s+(\w+)\s*$", re.M)
    aliases = set()
    for root, _, files in os.walk(include_dir):
        for f in files:
            if f.endswith(".h"):
                with open(os.path.join(root, f), encoding="utf-8", errors="replace") as h:
                    text = h.read()
                names.update(func.findall(text))
                names.update(data.findall(text))
                aliases.update(alias.findall(text))
    # a declared name that a macro renames (3.10-3.12 with PY_SSIZE_T_CLEAN:
    # PyArg_ParseTuple -> _PyArg_ParseTuple_SizeT) is linked under the new name
    return names | {new for old, new in aliases if old in names}


def tbd_names(path):
    """The C names (leading '_' dropped) a .tbd text stub lists as symbols."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    names = set()
    for block in re.findall(r"(?:symbols|weak-symbols|thread-local-symbols):\s*\[(.*?)\]", text, re.S):
        for name in re.findall(r"'?([A-Za-z0-9_$.]+)'?", block):
            if name.startswith("_"):
                names.add(name[1:])
            else:
                names.add(name)
    return names


def check_macos(path, name, pytag):
    import packaging.tags
    problems = [p.split(": ", 1)[1] if p.startswith(name) else p for p in macho.check_wheel(path)]
    version = "%s.%s" % (pytag[2], pytag[3:])
    if version not in HEADERS:
        problems.append("no CPython %s headers given to check its undefined symbols" % version)
    if not LIBSYSTEM:
        problems.append("no libSystem stub given to check its undefined symbols")
    with zipfile.ZipFile(path) as wheel:
        for member in (n for n in wheel.namelist() if n.endswith(".so")):
            for image in macho.parse(wheel.read(member)).images:
                stray = macho.undefined_outside(image, HEADERS.get(version, set()) | LIBSYSTEM)
                if stray:
                    problems.append("%s %s: undefined and neither CPython's nor libSystem's: %s"
                                    % (member, image.cpu, " ".join(stray)))
    match = re.match(r"macosx_(\d+)_(\d+)_(\w+)$", name[:-4].split("-")[-1])
    minos, arch = (int(match.group(1)), int(match.group(2))), match.group(3)
    for cpu in (("arm64", "x86_64") if arch == "universal2" else (arch,)):
        accepted = list(packaging.tags.mac_platforms(max(minos, (11, 0)) if cpu == "arm64" else minos, cpu))
        if match.group(0) not in accepted:
            problems.append("packaging.tags does not accept %s on an %s Mac" % (match.group(0), cpu))
    return problems
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
    modules = [n for n in zipfile.ZipFile(path).namelist() if n.endswith((".so", ".pyd"))]
    if len(modules) != 1:
        return name, "-", ["extension modules %s, expected exactly one" % modules]
    if plats in WINDOWS_PLATFORMS:
        return name, "pe.py: machine, exports, imports", pe.wheel_problems(path)
    if plats.startswith("macosx_"):
        return name, "macho.py, symbols, tags", check_macos(path, name, pytag)
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
    args = sys.argv[1:]
    while args and args[0] in ("--headers", "--libsystem"):
        if args[0] == "--headers":
            version, _, directory = args[1].partition("=")
            HEADERS[version] = declared_names(directory)
        else:
            LIBSYSTEM.update(tbd_names(args[1]))
        args = args[2:]
    sys.exit(main(args))
