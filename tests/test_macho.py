"""Tests of .github/macho.py on Mach-O images that Zig builds here for arm64 and x86_64 macOS."""
import os
import random
import struct
import subprocess
import sys
import zipfile

import pytest

from conftest import HAVE_ZIG
from conftest import load_github_tool
from conftest import run_zig

macho = load_github_tool("macho")
MACHO_PY = macho.__file__
EXTRA_INSTALL_NAME = "/opt/extra/lib/libextra.dylib"
UNIVERSAL2_WHEEL = "greenlet-9.9-cp311-cp311-macosx_11_0_universal2.whl"
ARM64_WHEEL = "greenlet-9.9-cp311-cp311-macosx_11_0_arm64.whl"
MEMBER = "greenlet/_greenlet.cpython-311-darwin.so"

EXTENSION_C = b"""
#include <string.h>
typedef struct _object PyObject;
extern PyObject *PyLong_FromLong(long);
PyObject *text_length(const char *text) { return PyLong_FromLong((long)strlen(text)); }
"""
EXTRA_C = b"int extra_value(void) { return 7; }\n"
USES_EXTRA_C = b"""
extern int extra_value(void);
int twice_extra(void) { return 2 * extra_value(); }
"""


def zig_cc(directory, out, source, *flags):
    """Build `out` in `directory` from C `source` with `zig cc` and return its path."""
    source_path = os.path.join(directory, out + ".c")
    with open(source_path, "wb") as f:
        f.write(source)
    out_path = os.path.join(directory, out)
    run_zig("cc", *flags, "-o", out_path, source_path)
    return out_path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Paths of the images: name -> path. Python's names stay undefined (dynamic_lookup)."""
    if not HAVE_ZIG:
        pytest.skip("ziglang is not importable by %s; these tests build macOS images with it"
                    % sys.executable)
    directory = str(tmp_path_factory.mktemp("macho"))
    bundle = ["-shared", "-undefined", "dynamic_lookup"]
    arm64, x86_64 = "-target aarch64-macos.11.0", "-target x86_64-macos.11.0"
    paths = {
        "arm64": zig_cc(directory, "arm64.so", EXTENSION_C, *arm64.split(), *bundle),
        "x86_64": zig_cc(directory, "x86_64.so", EXTENSION_C, *x86_64.split(), *bundle),
        "x86_64_10.9": zig_cc(directory, "x86_64_109.so", EXTENSION_C,
                              "-target", "x86_64-macos.10.9", *bundle),
        "arm64_12.0": zig_cc(directory, "arm64_12.so", EXTENSION_C,
                             "-target", "aarch64-macos.12.0", *bundle),
        "arm64_rpath": zig_cc(directory, "arm64_rpath.so", EXTENSION_C, *arm64.split(), *bundle,
                              "-Wl,-rpath,/opt/extra/lib"),
        "extra": zig_cc(directory, "libextra.dylib", EXTRA_C, *arm64.split(), "-shared",
                        "-Wl,-install_name," + EXTRA_INSTALL_NAME),
    }
    paths["arm64_extra"] = zig_cc(directory, "arm64_extra.so", USES_EXTRA_C, *arm64.split(),
                                  *bundle, "-L" + directory, "-lextra")
    paths["universal2"] = os.path.join(directory, "universal2.so")
    macho.make_universal([paths["arm64"], paths["x86_64"]], paths["universal2"])
    return paths


def data_of(path):
    with open(path, "rb") as f:
        return f.read()


def make_wheel(directory, name, members):
    path = os.path.join(str(directory), name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        wheel.writestr("greenlet/__init__.py", "")
        for member, path_or_data in members.items():
            data = path_or_data if isinstance(path_or_data, bytes) else data_of(path_or_data)
            wheel.writestr(member, data)
    return path


def command_offset(data, wanted):
    """Offset of the first load command `wanted` in a thin image."""
    ncmds = struct.unpack_from("<I", data, 16)[0]
    pos = 32
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<2I", data, pos)
        if cmd == wanted:
            return pos
        pos += cmdsize
    raise AssertionError("no load command 0x%x" % wanted)


def patched(data, offset, layout, value):
    data = bytearray(data)
    struct.pack_into(layout, data, offset, value)
    return bytes(data)


# Reading


@pytest.mark.parametrize("cpu", ["arm64", "x86_64"])
def test_thin_image_facts(built, cpu):
    result = macho.read(built[cpu])
    assert result.kind == "thin"
    (image,) = result.images
    assert (image.cpu, image.subtype) == (cpu, cpu + "_all")
    assert image.filetype_name in ("MH_DYLIB", "MH_BUNDLE")
    assert "MH_DYLDLINK" in image.flag_names
    assert [(platform, minos) for platform, minos, _ in image.build_versions] == [
        (macho.PLATFORM_MACOS, (11, 0, 0))]
    assert image.dylibs == [("load", macho.LIBSYSTEM)]
    assert image.rpaths == []
    assert {"_PyLong_FromLong", "_strlen"} <= set(image.undefined)
    assert {"PyLong_FromLong", "strlen"} <= set(image.undefined_c)
    assert "text_length" not in image.undefined_c  # defined here, so not undefined


def test_old_target_has_version_min(built):
    (image,) = macho.read(built["x86_64_10.9"]).images
    assert image.build_versions == []
    assert image.version_min_macosx[0] == (10, 9, 0)


def test_rpath_and_extra_dylib_are_read(built):
    assert macho.read(built["arm64_rpath"]).images[0].rpaths == ["/opt/extra/lib"]
    dylibs = macho.read(built["arm64_extra"]).images[0].dylibs
    assert ("load", EXTRA_INSTALL_NAME) in dylibs and ("load", macho.LIBSYSTEM) in dylibs


def test_undefined_outside(built):
    (image,) = macho.read(built["arm64"]).images
    libsystem = {"strlen", "dyld_stub_binder"}
    assert macho.undefined_outside(image, libsystem | {"PyLong_FromLong"}) == []
    assert macho.undefined_outside(image, libsystem) == ["PyLong_FromLong"]


def test_version_decoding():
    assert macho.version(0x000A1002) == (10, 16, 2)
    assert macho.version(0x000B0000) == (11, 0, 0)


def test_only_external_undefined_symbols_count(built):
    data = data_of(built["arm64"])
    symtab = command_offset(data, macho.LC_SYMTAB)
    symoff, nsyms, stroff, _ = struct.unpack_from("<4I", data, symtab + 8)
    for index in range(nsyms):
        entry = symoff + 16 * index
        strx, ntype = struct.unpack_from("<IB", data, entry)
        if ntype == macho.N_EXT | macho.N_UNDF and data[stroff + strx:].startswith(
                b"_PyLong_FromLong\0"):
            private = patched(data, entry + 4, "<B", macho.N_UNDF)
            break
    (image,) = macho.parse(private).images
    assert "PyLong_FromLong" not in image.undefined_c and "strlen" in image.undefined_c


# Writing


def test_universal2_reads_back_both_images(built):
    fat = data_of(built["universal2"])
    assert struct.unpack_from(">2I", fat) == (macho.FAT_MAGIC, 2)
    table = [struct.unpack_from(">5I", fat, 8 + 20 * i) for i in range(2)]
    result = macho.parse(fat)
    assert result.kind == "fat"
    by_cpu = {image.cpu: image for image in result.images}
    assert sorted(by_cpu) == ["arm64", "x86_64"]
    for cpu, align in (("arm64", 14), ("x86_64", 12)):
        image = by_cpu[cpu]
        assert image.data == data_of(built[cpu])
        assert image.offset % (1 << align) == 0
        (entry,) = [entry for entry in table if entry[0] == image.cputype]
        assert entry == (image.cputype, image.cpusubtype, image.offset, len(image.data), align)
        assert fat[image.offset:image.offset + len(image.data)] == data_of(built[cpu])


def test_universal2_does_not_depend_on_input_order(built, tmp_path):
    out = str(tmp_path / "swapped.so")
    macho.make_universal([built["x86_64"], built["arm64"]], out)
    assert data_of(out) == data_of(built["universal2"])


def fat_file(images, fat64=False):
    """A fat file written here by hand: every image at a multiple of 16 KiB."""
    magic, layout = (macho.FAT_MAGIC_64, ">2I2Q2I") if fat64 else (macho.FAT_MAGIC, ">5I")
    header, body, offset = [struct.pack(">2I", magic, len(images))], [], 16384
    for data in images:
        cputype, cpusubtype = struct.unpack_from("<2I", data, 4)
        header.append(struct.pack(layout, cputype, cpusubtype, offset, len(data), 14,
                                  *[0] * fat64))
        body.append(data + bytes(-len(data) % 16384))
        offset += len(body[-1])
    blob = b"".join(header)
    return blob + bytes(16384 - len(blob)) + b"".join(body)


def test_fat64_is_read(built):
    images = [data_of(built["x86_64"]), data_of(built["arm64"])]
    result = macho.parse(fat_file(images, fat64=True))
    assert result.kind == "fat64"
    assert [image.data for image in result.images] == images
    assert macho.parse(fat_file(images)).kind == "fat"


def test_universal2_refusals(built, tmp_path):
    out = str(tmp_path / "out.so")
    with pytest.raises(ValueError, match="both arm64"):
        macho.make_universal([built["arm64"], built["arm64_12.0"]], out)
    with pytest.raises(ValueError, match="already a fat file"):
        macho.make_universal([built["universal2"], built["x86_64"]], out)
    bundle = tmp_path / "bundle.so"  # the x86_64 image with its file type set to MH_BUNDLE
    bundle.write_bytes(patched(data_of(built["x86_64"]), 12, "<I", macho.MH_BUNDLE))
    with pytest.raises(ValueError, match="MH_DYLIB but .* is MH_BUNDLE"):
        macho.make_universal([built["arm64"], str(bundle)], out)
    thirty_two = tmp_path / "i386.so"
    thirty_two.write_bytes(struct.pack("<7I", macho.MH_MAGIC, 7, 3, 6, 0, 0, 0))
    with pytest.raises(ValueError, match="32-bit"):
        macho.make_universal([built["arm64"], str(thirty_two)], out)
    noise = tmp_path / "noise.so"
    noise.write_bytes(random.Random(7).randbytes(5000))
    with pytest.raises(ValueError, match="not a Mach-O file"):
        macho.make_universal([built["arm64"], str(noise)], out)
    assert not os.path.exists(out)


# Bad input


@pytest.mark.parametrize("data", [
    b"", b"\xcf\xfa", b"\xcf\xfa\xed\xfe" + bytes(10), random.Random(1).randbytes(4096),
    b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + bytes(64),  # a Java class file's first bytes
    b"\xca\xfe\xba\xbe\x00\x00\x00\x00", b"\xfe\xed\xfa\xcf" + bytes(60),
], ids=["empty", "2 bytes", "short header", "random", "java", "no fat images", "big-endian"])
def test_not_macho_raises(data):
    with pytest.raises(ValueError):
        macho.parse(data)


def test_damaged_images_raise(built):
    good = data_of(built["arm64_rpath"])
    symtab = command_offset(good, macho.LC_SYMTAB)
    dylib = command_offset(good, 0xC)
    rpath = command_offset(good, macho.LC_RPATH)
    rpath_size = struct.unpack_from("<I", good, rpath + 4)[0]
    damaged = {
        "truncated": good[:100],
        "sizeofcmds past end": patched(good, 20, "<I", len(good)),
        "too many commands": patched(good, 16, "<I", 0xFFFFFFFF),
        "cmdsize 0": patched(good, 36, "<I", 0),
        "cmdsize odd": patched(good, 36, "<I", 12),
        "cmdsize huge": patched(good, 36, "<I", 0x7FFFFFF8),
        "symbols past end": patched(good, symtab + 12, "<I", 0x10000000),
        "strings past end": patched(good, symtab + 20, "<I", len(good)),
        "name in fields": patched(good, dylib + 8, "<I", 4),
        "name past command": patched(good, dylib + 8, "<I", 0x1000),
        "no NUL": good[:rpath + 12] + b"A" * (rpath_size - 12) + good[rpath + rpath_size:],
    }
    for label, data in damaged.items():
        with pytest.raises(ValueError):
            macho.parse(data)
            pytest.fail(label)
    with pytest.raises(ValueError, match="load command 0 .*size 12 is not a multiple of 8"):
        macho.parse(damaged["cmdsize odd"])
    with pytest.raises(ValueError, match="overlaps the command's fields"):
        macho.parse(damaged["name in fields"])


def test_damaged_fat_files_raise(built):
    fat = data_of(built["universal2"])
    arm64_offset = struct.unpack_from(">I", fat, 8 + 20 + 8)[0]
    for data in [
        fat[:arm64_offset + 100],  # the second image cut short
        patched(fat, 8 + 8, ">I", len(fat)),  # an offset past the end
        patched(fat, 8 + 8, ">I", 4097),  # not aligned
        patched(fat, 8, ">I", macho.CPU_TYPE_ARM64),  # table and image disagree
        patched(fat, 4, ">I", 100000),  # a table longer than the file
        fat[:arm64_offset] + fat,  # a fat file inside a fat file
    ]:
        with pytest.raises(ValueError):
            macho.parse(data)
    with pytest.raises(ValueError, match="not aligned to 2\\*\\*13"):
        macho.parse(patched(fat, 8 + 16, ">I", 13))  # x86_64 at 4096 said to need 8 KiB
    with pytest.raises(ValueError, match="a second image for x86_64_all"):
        macho.parse(fat_file([data_of(built["x86_64"])] * 2))


def test_random_damage_raises_only_value_error(built):
    good = data_of(built["universal2"])
    rng = random.Random(2024)
    hot = list(range(64))  # the fat table, each image's load commands and its symbols
    for image in macho.parse(good).images:
        end = image.offset + len(image.data)
        hot += [*range(image.offset, image.offset + 2048), *range(end - 4096, end)]
    for _ in range(1500):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.choice(hot)] = rng.randrange(256)
        try:
            macho.parse(data)
        except ValueError:
            pass


# Wheels


def test_good_wheels_pass(built, tmp_path):
    assert macho.check_wheel(make_wheel(tmp_path, UNIVERSAL2_WHEEL,
                                        {MEMBER: built["universal2"]}), "11.0") == []
    assert macho.check_wheel(make_wheel(tmp_path, ARM64_WHEEL, {MEMBER: built["arm64"]})) == []
    x86_64_wheel = "greenlet-9.9-cp311-cp311-macosx_10_9_x86_64.whl"
    assert macho.check_wheel(make_wheel(tmp_path, x86_64_wheel,
                                        {MEMBER: built["x86_64_10.9"]})) == []
    # Under a 10.9 universal2 tag, the arm64 image says 11.0: macOS on arm64 starts there.
    old = str(tmp_path / "old.so")
    macho.make_universal([built["arm64"], built["x86_64_10.9"]], old)
    old_wheel = make_wheel(tmp_path, UNIVERSAL2_WHEEL.replace("11_0", "10_9"), {MEMBER: old})
    assert macho.check_wheel(old_wheel, "10.9") == []
    wheel = make_wheel(tmp_path, "greenlet-9.9-cp311-cp311-macosx_10_9_arm64.whl",
                       {MEMBER: built["arm64"]})
    assert "an arm64 tag needs macOS 11.0 or newer" in macho.check_wheel(wheel)[0]


def test_minos_other_than_tag(built, tmp_path):
    wheel = make_wheel(tmp_path, ARM64_WHEEL, {MEMBER: built["arm64_12.0"]})
    assert macho.check_wheel(wheel) == [
        "%s: %s: arm64: minos 12.0.0, the tag needs 11.0.0" % (ARM64_WHEEL, MEMBER)]
    good = make_wheel(tmp_path, UNIVERSAL2_WHEEL, {MEMBER: built["universal2"]})
    (problem,) = macho.check_wheel(good, expected_minos="10.9")
    assert "the tag says macOS 11.0, expected 10.9" in problem


def test_extra_dylib_and_rpath_fail(built, tmp_path):
    wheel = make_wheel(tmp_path, ARM64_WHEEL, {MEMBER: built["arm64_extra"]})
    (problem,) = macho.check_wheel(wheel)
    assert "links %s" % EXTRA_INSTALL_NAME in problem
    wheel = make_wheel(tmp_path, ARM64_WHEEL, {MEMBER: built["arm64_rpath"]})
    (problem,) = macho.check_wheel(wheel)
    assert "has LC_RPATH /opt/extra/lib" in problem


def test_universal2_tag_with_thin_file_fails(built, tmp_path):
    wheel = make_wheel(tmp_path, UNIVERSAL2_WHEEL, {MEMBER: built["arm64"]})
    (problem,) = macho.check_wheel(wheel)
    assert "holds arm64 (thin), the tag's universal2 needs arm64 + x86_64" in problem


def test_members_are_found_by_magic(built, tmp_path):
    wheel = make_wheel(tmp_path, ARM64_WHEEL, {"greenlet/blob.bin": built["universal2"]})
    (problem,) = macho.check_wheel(wheel)
    assert "greenlet/blob.bin: holds arm64 + x86_64 (fat)" in problem
    wheel = make_wheel(tmp_path, ARM64_WHEEL, {"greenlet/_greenlet.so": b"\0" * 64})
    assert macho.check_wheel(wheel) == ["%s: no Mach-O file in the wheel" % ARM64_WHEEL]


def test_bad_wheel_names_and_archives(tmp_path):
    wheel = make_wheel(tmp_path, "greenlet-9.9-cp311-cp311-linux_x86_64.whl", {})
    assert "no single macosx_X_Y_ARCH platform tag" in macho.check_wheel(wheel)[0]
    not_zip = tmp_path / ARM64_WHEEL
    not_zip.write_bytes(b"not a zip file")
    assert "cannot read the wheel" in macho.check_wheel(str(not_zip))[0]


# Command line


def run(*args):
    return subprocess.run([sys.executable, MACHO_PY, *args], capture_output=True, text=True)


def test_command_line(built, tmp_path):
    shown = run("show", built["universal2"])
    assert shown.returncode == 0
    assert "fat, 2 image(s)" in shown.stdout and shown.stdout.count("minos 11.0.0") == 2
    assert "dylib (load): /usr/lib/libSystem.B.dylib" in shown.stdout
    out = str(tmp_path / "cli.so")
    assert run("universal2", built["arm64"], built["x86_64"], out).returncode == 0
    assert data_of(out) == data_of(built["universal2"])
    swapped = run("universal2", built["x86_64"], built["arm64"], out)
    assert swapped.returncode == 1 and "not a thin arm64 image" in swapped.stderr
    good = make_wheel(tmp_path, UNIVERSAL2_WHEEL, {MEMBER: built["universal2"]})
    assert run("check-wheel", good, "--minos", "11.0").returncode == 0
    bad = run("check-wheel", good, "--minos", "12.0")
    assert bad.returncode == 1 and "expected 12.0" in bad.stdout
    assert run("show", str(tmp_path / "missing.so")).returncode == 1
