"""Mach-O facts for macOS wheels: read thin and fat files, join thin images, check a wheel.

Standard library only (Python 3.10+), so the wheel build can use it on any host:

    python3 .github/macho.py show FILE...
    python3 .github/macho.py universal2 ARM64 X86_64 OUT
    python3 .github/macho.py check-wheel WHEEL... [--minos X.Y]

Layouts are those of Apple's <mach-o/loader.h> and <mach-o/fat.h>. Images are read only when
they are 64-bit little-endian (MH_MAGIC_64: arm64 and x86_64, all that macOS wheels carry); a
fat file's header and table are big-endian, whatever its images are. Every offset, size and count
taken from a file is checked against the bytes there before it is used, so bad input raises
ValueError, and every loop runs over a count that was itself checked.

Versions are (X, Y, Z) tuples, decoded from the 32-bit "xxxx.yy.zz" nibble encoding. Symbol names
come in two spellings: `Image.undefined` keeps the table's spelling (`_PyLong_FromLong`, since
Mach-O prefixes every C name with '_'), `Image.undefined_c` drops that '_' (`PyLong_FromLong`).
"""

import argparse
import collections
import dataclasses
import os
import re
import struct
import sys
import zipfile

MH_MAGIC, MH_MAGIC_64 = 0xFEEDFACE, 0xFEEDFACF
FAT_MAGIC, FAT_MAGIC_64 = 0xCAFEBABE, 0xCAFEBABF
MAGICS = {MH_MAGIC, MH_MAGIC_64, FAT_MAGIC, FAT_MAGIC_64}  # read big-endian or little-endian

CPU_TYPE_X86_64, CPU_TYPE_ARM64 = 0x01000007, 0x0100000C
CPU_NAMES = {CPU_TYPE_X86_64: "x86_64", CPU_TYPE_ARM64: "arm64"}
CPU_SUBTYPE_MODEL = 0x00FFFFFF  # the model; the high byte holds capability bits
SUBTYPE_NAMES = {
    (CPU_TYPE_X86_64, 3): "x86_64_all", (CPU_TYPE_X86_64, 8): "x86_64h",
    (CPU_TYPE_ARM64, 0): "arm64_all", (CPU_TYPE_ARM64, 1): "arm64_v8",
    (CPU_TYPE_ARM64, 2): "arm64e",
}
# log2 of each image's alignment inside a fat file. The loader maps an image's segments straight
# from their file offsets, and a mapping must start on a page: macOS on arm64 uses 16 KiB pages,
# on x86_64 4 KiB pages. Apple's lipo records these same values (14 and 12) for these CPUs.
PAGE_ALIGN_LOG2 = {CPU_TYPE_X86_64: 12, CPU_TYPE_ARM64: 14}

MH_DYLIB, MH_BUNDLE = 0x6, 0x8
FILETYPE_NAMES = {
    0x1: "MH_OBJECT", 0x2: "MH_EXECUTE", 0x3: "MH_FVMLIB", 0x4: "MH_CORE", 0x5: "MH_PRELOAD",
    0x6: "MH_DYLIB", 0x7: "MH_DYLINKER", 0x8: "MH_BUNDLE", 0x9: "MH_DYLIB_STUB", 0xA: "MH_DSYM",
    0xB: "MH_KEXT_BUNDLE", 0xC: "MH_FILESET",
}
FLAG_NAMES = (  # bit i of mach_header_64.flags, without the MH_ prefix
    "NOUNDEFS INCRLINK DYLDLINK BINDATLOAD PREBOUND SPLIT_SEGS LAZY_INIT TWOLEVEL FORCE_FLAT "
    "NOMULTIDEFS NOFIXPREBINDING PREBINDABLE ALLMODSBOUND SUBSECTIONS_VIA_SYMBOLS CANONICAL "
    "WEAK_DEFINES BINDS_TO_WEAK ALLOW_STACK_EXECUTION ROOT_SAFE SETUID_SAFE NO_REEXPORTED_DYLIBS "
    "PIE DEAD_STRIPPABLE_DYLIB HAS_TLV_DESCRIPTORS NO_HEAP_EXECUTION APP_EXTENSION_SAFE "
    "NLIST_OUTOFSYNC_WITH_DYLDINFO SIM_SUPPORT").split()

LC_REQ_DYLD = 0x80000000
LC_SYMTAB, LC_RPATH = 0x2, 0x1C | LC_REQ_DYLD
LC_VERSION_MIN_MACOSX, LC_BUILD_VERSION = 0x24, 0x32
DYLIB_COMMANDS = {  # load command -> how it links the dylib
    0xC: "load", 0x18 | LC_REQ_DYLD: "weak", 0x1F | LC_REQ_DYLD: "reexport", 0x20: "lazy",
    0x23 | LC_REQ_DYLD: "upward",
}
PLATFORM_MACOS = 1
PLATFORM_NAMES = {1: "macOS", 2: "iOS", 3: "tvOS", 4: "watchOS", 5: "bridgeOS", 6: "macCatalyst"}
N_STAB, N_TYPE, N_EXT, N_UNDF = 0xE0, 0x0E, 0x01, 0x0
NLIST_64 = struct.Struct("<IBBhQ")  # n_strx, n_type, n_sect, n_desc, n_value: 16 bytes

LIBSYSTEM = "/usr/lib/libSystem.B.dylib"
# the first macOS release that runs on arm64 (targets.py, the table of targets)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import targets  # noqa: E402

MACOS_ARM64_FIRST = tuple(map(int, targets.MACOS_FIRST["aarch64"].split("."))) + (0,)
# Below this target, linkers (Apple's and Zig's) write LC_VERSION_MIN_MACOSX instead of
# LC_BUILD_VERSION: the loader of those releases knows only the older command.
BUILD_VERSION_FIRST = (10, 14, 0)


@dataclasses.dataclass
class Image:
    """One thin 64-bit image and what its header and load commands state."""

    data: bytes = dataclasses.field(repr=False)  # the image's bytes, exactly as in the file
    offset: int  # where the image starts in the file (0 for a thin file)
    cputype: int
    cpusubtype: int
    filetype: int
    flags: int
    build_versions: list = dataclasses.field(default_factory=list)  # (platform, minos, sdk)
    version_min_macosx: tuple | None = None  # (minos, sdk) of LC_VERSION_MIN_MACOSX
    dylibs: list = dataclasses.field(default_factory=list)  # (how linked, path), in order
    rpaths: list = dataclasses.field(default_factory=list)
    undefined: list = dataclasses.field(default_factory=list)  # as spelled in the table

    cpu = property(lambda self: CPU_NAMES.get(self.cputype, "cputype 0x%x" % self.cputype))
    cpu_key = property(lambda self: (self.cputype, self.cpusubtype & CPU_SUBTYPE_MODEL))
    subtype = property(
        lambda self: SUBTYPE_NAMES.get(self.cpu_key, "subtype 0x%x" % self.cpusubtype))
    filetype_name = property(
        lambda self: FILETYPE_NAMES.get(self.filetype, "filetype 0x%x" % self.filetype))

    @property
    def flag_names(self):
        names = ["MH_" + name for bit, name in enumerate(FLAG_NAMES) if self.flags >> bit & 1]
        unknown = self.flags >> len(FLAG_NAMES) << len(FLAG_NAMES)
        return names + (["0x%x" % unknown] if unknown else [])

    @property
    def undefined_c(self):
        """The undefined symbols as C names: the table's leading '_' removed where present."""
        return [name[1:] if name.startswith("_") else name for name in self.undefined]


# What `parse` returns: kind is "thin", "fat" (FAT_MAGIC) or "fat64" (FAT_MAGIC_64).
MachO = collections.namedtuple("MachO", "kind images")


def version(encoded):
    """(X, Y, Z) from the nibble encoding xxxx.yy.zz (X in the high 16 bits)."""
    return (encoded >> 16, (encoded >> 8) & 0xFF, encoded & 0xFF)


def _unpack(layout, data, pos, what):
    size = struct.calcsize(layout)
    if pos + size > len(data):
        raise ValueError("%s runs past the end (%d bytes at offset %d of %d)"
                         % (what, size, pos, len(data)))
    return struct.unpack_from(layout, data, pos)


def _string(data, start, end, what):
    """The NUL-terminated string that starts at data[start] and ends before data[end]."""
    stop = data.find(b"\0", start, end) if 0 <= start < end <= len(data) else -1
    if stop < 0:
        raise ValueError("%s: no NUL-terminated string at offset %d" % (what, start))
    return data[start:stop].decode("utf-8", "replace")


def _lc_str(body, fixed_size, what):
    """The string that a load command's lc_str (at offset 8) points to, inside the command."""
    (offset,) = _unpack("<I", body, 8, what)
    if offset < fixed_size:
        raise ValueError("%s: string offset %d overlaps the command's fields" % (what, offset))
    return _string(body, offset, len(body), what)


def parse_image(data, offset=0):
    """Parse one thin 64-bit little-endian image; `offset` is only recorded."""
    data = bytes(data)
    (little,) = _unpack("<I", data, 0, "the Mach-O magic")
    (big,) = struct.unpack_from(">I", data)
    if big in (FAT_MAGIC, FAT_MAGIC_64):
        raise ValueError("a fat file where a thin image was expected")
    if MH_MAGIC in (little, big):
        raise ValueError("a 32-bit Mach-O image; only 64-bit images are read")
    if big == MH_MAGIC_64:
        raise ValueError("a big-endian Mach-O image; only little-endian images are read")
    if little != MH_MAGIC_64:
        raise ValueError("not a Mach-O file (magic 0x%08x)" % big)
    _, cputype, cpusubtype, filetype, ncmds, sizeofcmds, flags, _ = _unpack(
        "<8I", data, 0, "mach_header_64")
    image = Image(data, offset, cputype, cpusubtype, filetype, flags)
    end = 32 + sizeofcmds
    if end > len(data) or ncmds * 8 > sizeofcmds:
        raise ValueError("%d load commands of %d bytes in all do not fit in the %d-byte image"
                         % (ncmds, sizeofcmds, len(data)))
    pos = 32
    for index in range(ncmds):
        what = "load command %d" % index
        cmd, cmdsize = _unpack("<2I", data, pos, what)
        if cmdsize < 8 or cmdsize % 8 or pos + cmdsize > end:
            raise ValueError("%s (0x%x): size %d is not a multiple of 8 or runs past the %d "
                             "bytes of load commands" % (what, cmd, cmdsize, sizeofcmds))
        _read_command(image, cmd, data[pos:pos + cmdsize], what)
        pos += cmdsize
    return image


def _read_command(image, cmd, body, what):
    if cmd in DYLIB_COMMANDS:
        image.dylibs.append((DYLIB_COMMANDS[cmd], _lc_str(body, 24, what)))
    elif cmd == LC_RPATH:
        image.rpaths.append(_lc_str(body, 12, what))
    elif cmd == LC_BUILD_VERSION:
        platform, minos, sdk, ntools = _unpack("<4I", body, 8, what)
        if 24 + 8 * ntools > len(body):
            raise ValueError("%s: %d tool entries run past the command" % (what, ntools))
        image.build_versions.append((platform, version(minos), version(sdk)))
    elif cmd == LC_VERSION_MIN_MACOSX:
        minos, sdk = _unpack("<2I", body, 8, what)
        image.version_min_macosx = (version(minos), version(sdk))
    elif cmd == LC_SYMTAB:
        symoff, nsyms, stroff, strsize = _unpack("<4I", body, 8, what)
        data = image.data
        if symoff + nsyms * NLIST_64.size > len(data) or stroff + strsize > len(data):
            raise ValueError("%s: symbols or strings run past the end of the image" % what)
        for index in range(nsyms):
            strx, ntype, _, _, value = NLIST_64.unpack_from(data, symoff + index * NLIST_64.size)
            # Undefined and external: no debug entry, type N_UNDF, N_EXT set, and value 0 (a
            # non-zero value would make it a common symbol, i.e. a tentative definition).
            if ntype & N_STAB or ntype & N_TYPE != N_UNDF or not ntype & N_EXT or value:
                continue
            name = _string(data, stroff + strx, stroff + strsize, "symbol %d's name" % index)
            image.undefined.append(name)


def parse(data):
    """Parse a thin image or a fat file (FAT_MAGIC or FAT_MAGIC_64) held in `data`."""
    data = bytes(data)
    if len(data) >= 4 and struct.unpack_from(">I", data)[0] in (FAT_MAGIC, FAT_MAGIC_64):
        return _parse_fat(data)
    return MachO("thin", [parse_image(data)])


def _parse_fat(data):
    magic, count = _unpack(">2I", data, 0, "the fat header")
    entry = struct.Struct(">5I" if magic == FAT_MAGIC else ">2I2Q2I")
    table_end = 8 + count * entry.size
    if count == 0 or table_end > len(data):
        # A Java class file starts with the same magic; its version fields make a huge count.
        raise ValueError("the fat header lists %d images, which cannot fit in %d bytes"
                         % (count, len(data)))
    images, ranges = [], []
    for index in range(count):
        what = "fat image %d" % index
        fields = entry.unpack_from(data, 8 + entry.size * index)
        cputype, cpusubtype, offset, size, align = fields[:5]
        if offset < table_end or offset + size > len(data):
            raise ValueError("%s (offset %d, size %d) lies outside the file's %d bytes"
                             % (what, offset, size, len(data)))
        if align > 31 or offset % (1 << align):
            raise ValueError("%s: offset %d is not aligned to 2**%d" % (what, offset, align))
        try:
            image = parse_image(data[offset:offset + size], offset)
        except ValueError as error:
            raise ValueError("%s: %s" % (what, error)) from None
        if image.cpu_key != (cputype, cpusubtype & CPU_SUBTYPE_MODEL):
            raise ValueError("%s: the fat table says CPU 0x%x/0x%x, the image 0x%x/0x%x" % (
                what, cputype, cpusubtype, image.cputype, image.cpusubtype))
        if any(image.cpu_key == other.cpu_key for other in images):
            raise ValueError("%s: a second image for %s" % (what, image.subtype))
        ranges.append((offset, offset + size))
        images.append(image)
    ranges.sort()
    if any(start < previous_end for (_, previous_end), (start, _) in zip(ranges, ranges[1:])):
        raise ValueError("two images of the fat file overlap")
    return MachO("fat" if magic == FAT_MAGIC else "fat64", images)


def read(path):
    with open(path, "rb") as f:
        return parse(f.read())


def make_universal(thin_paths, out_path):
    """Join thin 64-bit images (distinct CPUs, one file type) into one FAT_MAGIC file.

    Images are copied verbatim, smallest alignment first (x86_64 before arm64, the order of
    Apple's universal2 files), each at an offset aligned as PAGE_ALIGN_LOG2 says.
    """
    images = []
    for path in thin_paths:
        try:
            macho = read(path)
        except ValueError as error:
            raise ValueError("%s: %s" % (path, error)) from None
        if macho.kind != "thin":
            raise ValueError("%s: already a fat file; give thin images" % path)
        image = macho.images[0]
        if image.cputype not in PAGE_ALIGN_LOG2:
            raise ValueError("%s: %s is neither arm64 nor x86_64" % (path, image.cpu))
        for other_path, other in images:
            if other.cputype == image.cputype:
                raise ValueError("%s and %s are both %s" % (other_path, path, image.cpu))
            if other.filetype != image.filetype:
                raise ValueError("%s is %s but %s is %s" % (
                    other_path, other.filetype_name, path, image.filetype_name))
        images.append((path, image))
    if not images:
        raise ValueError("no images to join")
    images = [image for _, image in sorted(
        images, key=lambda item: (PAGE_ALIGN_LOG2[item[1].cputype], item[1].cputype))]
    table, body = [struct.pack(">2I", FAT_MAGIC, len(images))], []
    offset = 8 + 20 * len(images)
    for image in images:
        align = PAGE_ALIGN_LOG2[image.cputype]
        start = -(-offset >> align) << align  # offset rounded up to a multiple of 2**align
        if start + len(image.data) > 0xFFFFFFFF:
            raise ValueError("the images are too large for a FAT_MAGIC file (4 GiB at most)")
        table.append(struct.pack(">5I", image.cputype, image.cpusubtype, start,
                                 len(image.data), align))
        body += [bytes(start - offset), image.data]
        offset = start + len(image.data)
    blob = b"".join(table + body)
    if [image.data for image in parse(blob).images] != [image.data for image in images]:
        raise AssertionError("the fat file does not read back as its images")
    with open(out_path, "wb") as f:
        f.write(blob)


def undefined_outside(image, allowed_names):
    """The image's undefined symbols, as C names (see Image.undefined_c), that are not in
    `allowed_names`, sorted. The caller passes C names too: CPython's API and what libSystem
    exports (which includes `dyld_stub_binder`, undefined in most images linked for macOS)."""
    allowed = set(allowed_names)
    return sorted(name for name in set(image.undefined_c) if name not in allowed)


WHEEL_PLATFORM = re.compile(r"macosx_(\d+)_(\d+)_(arm64|x86_64|universal2)")


def parse_minos(text):
    """(X, Y, 0) from "X.Y"."""
    match = re.fullmatch(r"(\d+)\.(\d+)", str(text))
    if not match:
        raise ValueError("not a macOS version X.Y: %r" % (text,))
    return (int(match.group(1)), int(match.group(2)), 0)


def check_wheel(path, expected_minos=None):
    """Problems (strings; none means good) of a macOS wheel's Mach-O members.

    Its name must carry one platform tag macosx_X_Y_ARCH. Each member whose first four bytes are
    a Mach-O magic (names do not count) must hold exactly the tag's CPUs (universal2: arm64 and
    x86_64) and be a bundle or dylib. Each image must have an LC_BUILD_VERSION for macOS whose
    minos is X.Y.0 (below 10.14, an LC_VERSION_MIN_MACOSX will do); an arm64 image under an
    older universal2 tag must say 11.0.0, since macOS runs on arm64 from 11.0 on. The only dylib
    linked may be libSystem, and no image may have an LC_RPATH. `expected_minos` ("X.Y"), if
    given, must be the tag's version. The undefined symbols are left to `undefined_outside`.
    """
    name = os.path.basename(path)
    fields = name[:-4].split("-") if name.endswith(".whl") else []
    match = WHEEL_PLATFORM.fullmatch(fields[-1]) if len(fields) in (5, 6) else None
    if not match:
        return ["%s: the name has no single macosx_X_Y_ARCH platform tag (ARCH arm64, x86_64 "
                "or universal2)" % name]
    tag_minos, arch = (int(match.group(1)), int(match.group(2)), 0), match.group(3)
    problems = []
    if expected_minos is not None and parse_minos(expected_minos) != tag_minos:
        problems.append("%s: the tag says macOS %d.%d, expected %s"
                        % (name, tag_minos[0], tag_minos[1], expected_minos))
    if arch == "arm64" and tag_minos < MACOS_ARM64_FIRST:
        problems.append("%s: an arm64 tag needs macOS 11.0 or newer" % name)
    try:
        with zipfile.ZipFile(path) as wheel:
            members = [(info.filename, wheel.read(info)) for info in wheel.infolist()]
    except Exception as error:  # a damaged archive fails in many ways (zipfile, zlib, ...)
        return problems + ["%s: cannot read the wheel: %s" % (name, error)]
    found = [(member, data) for member, data in members if len(data) >= 4
             and MAGICS & {int.from_bytes(data[:4], "big"), int.from_bytes(data[:4], "little")}]
    for member, data in found:
        problems += ["%s: %s: %s" % (name, member, problem)
                     for problem in _check_member(data, arch, tag_minos)]
    if not found:
        problems.append("%s: no Mach-O file in the wheel" % name)
    return problems


def _check_member(data, arch, tag_minos):
    try:
        macho = parse(data)
    except ValueError as error:
        return ["not a valid Mach-O file: %s" % error]
    problems = []
    cpus = sorted(image.cpu for image in macho.images)
    wanted = ["arm64", "x86_64"] if arch == "universal2" else [arch]
    if cpus != wanted:
        problems.append("holds %s (%s), the tag's %s needs %s" % (
            " + ".join(cpus), macho.kind, arch, " + ".join(wanted)))
    for image in macho.images:
        cpu = image.cpu
        if image.filetype not in (MH_BUNDLE, MH_DYLIB):
            problems.append("%s: %s, not a bundle or dylib" % (cpu, image.filetype_name))
        wanted_minos = max(tag_minos, MACOS_ARM64_FIRST) if cpu == "arm64" else tag_minos
        versions = image.build_versions
        if not versions and image.version_min_macosx and wanted_minos < BUILD_VERSION_FIRST:
            versions = [(PLATFORM_MACOS, image.version_min_macosx[0], None)]
        if not versions:
            problems.append("%s: no LC_BUILD_VERSION" % cpu)
        for platform, minos, _ in versions:
            if platform != PLATFORM_MACOS:
                problems.append("%s: LC_BUILD_VERSION for %s, not macOS"
                                % (cpu, PLATFORM_NAMES.get(platform, platform)))
            elif minos != wanted_minos:
                problems.append("%s: minos %s, the tag needs %s"
                                % (cpu, "%d.%d.%d" % minos, "%d.%d.%d" % wanted_minos))
        problems += ["%s: links %s (%s); only %s may be linked" % (cpu, path, how, LIBSYSTEM)
                     for how, path in image.dylibs if path != LIBSYSTEM]
        problems += ["%s: has LC_RPATH %s" % (cpu, rpath) for rpath in image.rpaths]
    return problems


def describe(macho):
    """Lines of text that state the facts of each image."""
    lines = ["%s, %d image(s)" % (macho.kind, len(macho.images))]
    for image in macho.images:
        lines.append("  %s (%s) at offset %d, %d bytes: %s" % (
            image.cpu, image.subtype, image.offset, len(image.data), image.filetype_name))
        lines.append("    flags: %s" % (" ".join(image.flag_names) or "-"))
        lines += ["    LC_BUILD_VERSION: %s minos %s sdk %s" % (
            PLATFORM_NAMES.get(platform, platform), "%d.%d.%d" % minos, "%d.%d.%d" % sdk)
            for platform, minos, sdk in image.build_versions]
        if image.version_min_macosx:
            lines.append("    LC_VERSION_MIN_MACOSX: %d.%d.%d sdk %d.%d.%d"
                         % sum(image.version_min_macosx, ()))
        lines += ["    dylib (%s): %s" % dylib for dylib in image.dylibs]
        lines += ["    rpath: %s" % rpath for rpath in image.rpaths]
        lines.append("    undefined: %s" % (" ".join(sorted(image.undefined_c)) or "-"))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="print the facts of each image")
    show.add_argument("files", nargs="+")
    join = commands.add_parser("universal2", help="join an arm64 and an x86_64 image")
    for argument in ("arm64", "x86_64", "out"):
        join.add_argument(argument)
    check = commands.add_parser("check-wheel", help="check macOS wheels; exit 1 on problems")
    check.add_argument("wheels", nargs="+")
    check.add_argument("--minos", help="the macOS version X.Y that every tag must state")
    args = parser.parse_args(argv)
    try:
        if args.command == "show":
            for path in args.files:
                print(path + ": " + "\n".join(describe(read(path))))
            return 0
        if args.command == "universal2":
            for cpu in ("arm64", "x86_64"):
                if [image.cpu for image in read(getattr(args, cpu)).images] != [cpu]:
                    raise ValueError("%s: not a thin %s image" % (getattr(args, cpu), cpu))
            make_universal([args.arm64, args.x86_64], args.out)
            return 0
        if args.minos is not None:
            parse_minos(args.minos)
    except (OSError, ValueError) as error:
        print("error: %s" % error, file=sys.stderr)
        return 1
    failed = False
    for path in args.wheels:
        problems = check_wheel(path, args.minos)
        print("%s: %s" % (path, "%d problem(s)" % len(problems) if problems else "ok"))
        for problem in problems:
            print("  " + problem)
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
