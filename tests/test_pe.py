"""Tests of .github/pe.py on Windows DLLs that Zig builds here (x86_64 and x86 Windows)."""
import os
import sys
import zipfile

import pytest

from conftest import HAVE_ZIG
from conftest import load_github_tool
from conftest import run_zig as zig

pe = load_github_tool("pe")

MODULE_C = b"""
#include <string.h>
typedef struct _object PyObject;
__declspec(dllimport) PyObject *PyLong_FromLong(long);
__declspec(dllexport) PyObject *PyInit__greenlet(void) { return PyLong_FromLong((long)strlen("x")); }
"""
# the same, and a call into the Windows sockets DLL: an import no extension of ours may have
EXTRA_C = MODULE_C + b"""
__declspec(dllimport) int __stdcall WSAGetLastError(void);
__declspec(dllexport) int socket_error(void) { return WSAGetLastError(); }
"""
NO_INIT_C = b"__declspec(dllexport) int something(void) { return 1; }\n"


def build_dll(directory, name, source, target, python_dll="python313.dll", *flags):
    """A DLL from C `source` for Zig `target`, linked against an import library of
    `python_dll` that exports PyLong_FromLong."""
    machine = {"x86_64-windows-gnu": "i386:x86-64", "x86-windows-gnu": "i386"}[target]
    with open(os.path.join(directory, name + ".def"), "w") as f:
        f.write("LIBRARY %s\nEXPORTS\n    PyLong_FromLong\n" % python_dll)
    zig("dlltool", "-m", machine, "-D", python_dll, "-d", name + ".def", "-l", name + ".lib",
        cwd=directory)
    with open(os.path.join(directory, name + ".c"), "wb") as f:
        f.write(source)
    zig("cc", "-target", target, "-shared", "-O1", name + ".c", name + ".lib", *flags,
        "-o", name + ".pyd", cwd=directory)
    return os.path.join(directory, name + ".pyd")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not HAVE_ZIG:
        pytest.skip("ziglang is not importable by %s; these tests build Windows DLLs with it"
                    % sys.executable)
    d = str(tmp_path_factory.mktemp("pe"))
    x64 = "x86_64-windows-gnu"
    return {
        "good": build_dll(d, "good", MODULE_C, x64),
        "x86": build_dll(d, "x86", MODULE_C, "x86-windows-gnu"),
        "extra": build_dll(d, "extra", EXTRA_C, x64, "python313.dll", "-lws2_32"),
        "py312": build_dll(d, "py312", MODULE_C, x64, "python312.dll"),
        "no_init": build_dll(d, "no_init", NO_INIT_C, x64),
    }


def read(path):
    with open(path, "rb") as f:
        return pe.read(f.read())


def wheel(directory, pyd, name="greenlet-9.9-cp313-cp313-win_amd64.whl",
          member="greenlet/_greenlet.cp313-win_amd64.pyd"):
    path = os.path.join(str(directory), name)
    with zipfile.ZipFile(path, "w") as w:
        w.writestr("greenlet/__init__.py", "")
        with open(pyd, "rb") as f:
            w.writestr(member, f.read())
    return path


def test_reads_machine_imports_and_exports(built):
    image = read(built["good"])
    assert image.machine == "x86_64"
    assert image.imports["python313.dll"] == ["PyLong_FromLong"]
    assert "PyInit__greenlet" in image.exports
    assert any(pe.ALLOWED_SYSTEM_DLLS.fullmatch(dll) for dll in image.imports)
    assert read(built["x86"]).machine == "x86"
    assert "WSAGetLastError" in read(built["extra"]).imports["WS2_32.dll"]


def test_a_good_wheel_has_no_problems(built, tmp_path):
    assert pe.wheel_problems(wheel(tmp_path, built["good"])) == []


@pytest.mark.parametrize("case, expected", [
    ("extra", "imports WS2_32.dll"),
    ("py312", "does not import python313.dll"),
    ("x86", "machine x86 in a win_amd64 wheel"),
    ("no_init", "does not export PyInit__greenlet"),
])
def test_wheel_problems_are_found(built, tmp_path, case, expected):
    problems = pe.wheel_problems(wheel(tmp_path, built[case]))
    assert any(expected in p for p in problems), problems


def test_the_module_file_name_must_carry_the_tag(built, tmp_path):
    path = wheel(tmp_path, built["good"], member="greenlet/_greenlet.cp312-win_amd64.pyd")
    assert any("does not end in .cp313-win_amd64.pyd" in p for p in pe.wheel_problems(path))


def test_def_lists_every_export(built, capsys):
    assert pe.main(["def", built["good"]]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert lines[0] == "LIBRARY good.pyd" and lines[1] == "EXPORTS"
    assert "    PyInit__greenlet" in lines


@pytest.mark.parametrize("data", [b"", b"MZ" + b"\0" * 62, b"\x7fELF" + b"\0" * 200])
def test_bad_input_raises_value_error(data):
    with pytest.raises(ValueError):
        pe.read(data)
