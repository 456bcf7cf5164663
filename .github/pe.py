"""PE (Windows DLL) facts for Windows wheels: read a .pyd's machine, imports and exports, check a wheel.

Standard library only (Python 3.10+), so the wheel build can use it on any host:

    python3 .github/pe.py show FILE...
    python3 .github/pe.py check-wheel WHEEL...
    python3 .github/pe.py def DLL         the .def of every name DLL exports (for zig dlltool)

Layouts are those of Microsoft's PE/COFF specification: the DOS stub's e_lfanew, the COFF file
header, the optional header's data directories (exports: 0, imports: 1) and the import and export
directory tables. Every offset taken from a file is checked against the bytes there before it
is used, so bad input raises ValueError.

A Windows extension module must load on a clean Windows with only the interpreter installed, so
a wheel's .pyd may import from KERNEL32.dll, the Universal C Runtime (api-ms-win-crt-*.dll, the C
runtime CPython itself uses) and the python3X.dll of its CPython tag, and nothing else (no
MSVCP140.dll, VCRUNTIME140.dll, libwinpthread or ntdll); it must export PyInit_<module>.
"""

import argparse
import dataclasses
import os
import re
import struct
import sys
import zipfile

MACHINES = {0x8664: "x86_64", 0x14C: "x86", 0xAA64: "aarch64"}
WHEEL_PLATFORMS = {"win_amd64": "x86_64", "win32": "x86", "win_arm64": "aarch64"}
ALLOWED_SYSTEM_DLLS = re.compile(r"(kernel32|api-ms-win-crt-[a-z0-9-]+)\.dll", re.I)


@dataclasses.dataclass
class Image:
    machine: str
    imports: dict  # DLL name -> [imported names (or "#ordinal")]
    exports: list  # exported names


class _Reader:
    def __init__(self, data):
        self.data = data

    def unpack(self, fmt, offset):
        size = struct.calcsize(fmt)
        if offset < 0 or offset + size > len(self.data):
            raise ValueError("truncated PE file (%d bytes at %#x)" % (size, offset))
        return struct.unpack_from(fmt, self.data, offset)

    def cstring(self, offset):
        if not 0 <= offset < len(self.data):
            raise ValueError("string offset %#x outside the file" % offset)
        end = self.data.find(b"\0", offset)
        if end < 0:
            raise ValueError("unterminated string at %#x" % offset)
        return self.data[offset:end].decode("ascii", "replace")


def read(data):
    """The Image of a PE file's bytes."""
    r = _Reader(data)
    if r.unpack("<2s", 0)[0] != b"MZ":
        raise ValueError("not a PE file (no MZ header)")
    pe = r.unpack("<I", 0x3C)[0]
    if r.unpack("<4s", pe)[0] != b"PE\0\0":
        raise ValueError("not a PE file (no PE signature)")
    machine, section_count, _, _, _, optional_size, _ = r.unpack("<HHIIIHH", pe + 4)
    optional = pe + 24
    magic = r.unpack("<H", optional)[0]
    if magic not in (0x10B, 0x20B):
        raise ValueError("unknown optional header magic %#x" % magic)
    directories = optional + (96 if magic == 0x10B else 112)
    count = r.unpack("<I", directories - 4)[0]
    sections = []
    for i in range(section_count):
        _, vsize, vaddr, raw_size, raw_at = r.unpack("<8sIIII", optional + optional_size + 40 * i)
        sections.append((vaddr, max(vsize, raw_size), raw_at))

    def offset(rva):
        for vaddr, size, raw_at in sections:
            if vaddr <= rva < vaddr + size:
                return raw_at + rva - vaddr
        raise ValueError("address %#x is in no section" % rva)

    def directory(index):
        return r.unpack("<II", directories + 8 * index) if index < count else (0, 0)

    imports = {}
    rva, size = directory(1)
    if rva:
        entry = offset(rva)
        while True:
            lookup, _, _, name_rva, thunks = r.unpack("<IIIII", entry)
            if not (lookup or name_rva or thunks):
                break
            names = imports.setdefault(r.cstring(offset(name_rva)), [])
            at = offset(lookup or thunks)
            wide = magic == 0x20B
            while True:
                value = r.unpack("<Q" if wide else "<I", at)[0]
                if value == 0:
                    break
                if value >> (63 if wide else 31):
                    names.append("#%d" % (value & 0xFFFF))
                else:
                    names.append(r.cstring(offset(value & 0x7FFFFFFF) + 2))
                at += 8 if wide else 4
            entry += 20
    exports = []
    rva, size = directory(0)
    if rva:
        fields = r.unpack("<IIHHIIIIIII", offset(rva))
        name_count, names_rva = fields[7], fields[9]
        for i in range(name_count):
            exports.append(r.cstring(offset(r.unpack("<I", offset(names_rva) + 4 * i)[0])))
    return Image(MACHINES.get(machine, hex(machine)), imports, exports)


def wheel_problems(path):
    """What is wrong with a Windows wheel's extension modules (an empty list: nothing)."""
    name = os.path.basename(path)
    m = re.match(r"[^-]+-[^-]+-cp(\d)(\d+)-[^-]+-(win_amd64|win32|win_arm64)\.whl$", name)
    if not m:
        return ["%s: not a Windows CPython wheel name" % name]
    python_dll = "python%s%s.dll" % (m.group(1), m.group(2))
    suffix = ".cp%s%s-%s.pyd" % (m.group(1), m.group(2), m.group(3))
    problems = []
    with zipfile.ZipFile(path) as wheel:
        modules = [n for n in wheel.namelist() if n.endswith(".pyd")]
        if not modules:
            problems.append("%s: no .pyd" % name)
        for member in modules:
            where = "%s: %s" % (name, member)
            if not member.endswith(suffix):
                problems.append("%s: file name does not end in %s" % (where, suffix))
            image = read(wheel.read(member))
            if image.machine != WHEEL_PLATFORMS[m.group(3)]:
                problems.append("%s: machine %s in a %s wheel" % (where, image.machine, m.group(3)))
            for dll in image.imports:
                if dll.lower() != python_dll and not ALLOWED_SYSTEM_DLLS.fullmatch(dll):
                    problems.append("%s: imports %s" % (where, dll))
            if python_dll not in (d.lower() for d in image.imports):
                problems.append("%s: does not import %s" % (where, python_dll))
            init = "PyInit_" + os.path.basename(member).split(".")[0]
            if init not in image.exports:
                problems.append("%s: does not export %s" % (where, init))
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("show").add_argument("files", nargs="+")
    sub.add_parser("check-wheel").add_argument("wheels", nargs="+")
    sub.add_parser("def").add_argument("dll")
    args = parser.parse_args(argv)
    if args.command == "def":
        with open(args.dll, "rb") as f:
            image = read(f.read())
        print("LIBRARY %s\nEXPORTS" % os.path.basename(args.dll))
        for name in image.exports:
            print("    " + name)
        return 0
    if args.command == "show":
        for path in args.files:
            with open(path, "rb") as f:
                image = read(f.read())
            print("%s: %s" % (path, image.machine))
            for dll, names in image.imports.items():
                print("  imports %s: %d names" % (dll, len(names)))
            print("  exports: %s" % " ".join(image.exports))
        return 0
    failed = 0
    for path in args.wheels:
        problems = wheel_problems(path)
        for problem in problems:
            print(problem)
        print("%s %s" % ("FAIL" if problems else "ok  ", os.path.basename(path)))
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
