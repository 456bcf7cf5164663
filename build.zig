//! One build graph: the stack-slicing core (zsrc/), the CPython extension `_greenlet` built from
//! the core and the C glue (src/greenlet/), and the core's own tests. It never runs Python:
//! setup.py passes the interpreter's include directory and extension suffix.

const std = @import("std");
const zgl_arch = @import("zsrc/arch.zig");

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});

    const python_include = b.option(
        []const u8,
        "python-include",
        "Directory holding Python.h of the CPython the extension is built for.",
    );
    const python_platinclude = b.option(
        []const u8,
        "python-platinclude",
        "Directory holding pyconfig.h, when it differs from python-include.",
    );
    const ext_suffix = b.option(
        []const u8,
        "ext-suffix",
        "File name suffix of CPython extension modules, e.g. .cpython-312-x86_64-linux-gnu.so.",
    ) orelse ".so";
    const python_dll = b.option(
        []const u8,
        "python-dll",
        "Windows: the DLL of the CPython the extension is built for, e.g. python313.dll.",
    );

    const core = b.createModule(.{
        .root_source_file = b.path("zsrc/root.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
        .pic = true,
        .stack_check = false,
    });
    core.addIncludePath(b.path("zsrc"));

    // The extension: the core plus the C glue, as one shared object with undefined Python symbols
    // (a DLL importing them from python3X.dll on Windows).
    if (python_include) |include| {
        const extension_module = b.createModule(.{
            .root_source_file = b.path("zsrc/exports.zig"),
            .target = target,
            .optimize = optimize,
            .link_libc = true,
            .pic = true,
            .stack_check = false,
        });
        const file = if (target.result.os.tag == .windows)
            windowsExtension(b, extension_module, include, python_dll, optimize)
        else
            posixExtension(b, extension_module, include, python_platinclude, optimize);
        const install = b.addInstallFileWithDir(file, .lib, b.fmt("_greenlet{s}", .{ext_suffix}));
        b.getInstallStep().dependOn(&install.step);
    }

    addCapiTest(b, target, optimize, python_include, python_platinclude, python_dll, ext_suffix);
    addBench(b, target, optimize);

    const header = b.addTranslateC(.{
        .root_source_file = b.path("zsrc/zgl.h"),
        .target = target,
        .optimize = optimize,
    });
    core.addImport("zgl_h", header.createModule());
    const core_tests = b.addTest(.{ .root_module = core });
    const test_step = b.step("test", "Run the core's tests (no Python needed).");
    if (testsCanRun(b.graph.host.result, target.result)) {
        test_step.dependOn(&b.addRunArtifact(core_tests).step);
    } else {
        // Building and linking the tests still checks the switch's assembly for the target;
        // asking for the binary makes the step link it rather than only analyse the code.
        _ = core_tests.getEmittedBin();
        test_step.dependOn(&core_tests.step);
    }
}

/// Whether this host can run the core's tests for `target`: natively, under qemu (-fqemu) for
/// Linux targets, or under wine (-fwine) for Windows targets of the host's own processor
/// family. Windows targets of another family (aarch64-windows on x86_64) and macOS targets
/// on another system cannot.
fn testsCanRun(host: std.Target, target: std.Target) bool {
    if (target.os.tag == .macos) return host.os.tag == .macos and host.cpu.arch == target.cpu.arch;
    if (target.os.tag != .windows or host.os.tag == .windows) return true;
    return switch (target.cpu.arch) {
        .x86, .x86_64 => host.cpu.arch.isX86(),
        .aarch64 => host.cpu.arch == .aarch64,
        else => false,
    };
}

/// The extension for ELF and Mach-O targets: a shared object whose Python symbols stay
/// undefined, bound by the interpreter that loads it.
fn posixExtension(
    b: *std.Build,
    extension_module: *std.Build.Module,
    include: []const u8,
    python_platinclude: ?[]const u8,
    optimize: std.builtin.Optimize,
) std.Build.LazyPath {
    const target = extension_module.resolved_target.?;
    addGlue(b, extension_module, include, python_platinclude, optimize);
    // The library links the C library for glibc targets, so that every libc symbol it uses
    // carries the glibc version it needs (which manylinux tags are about). Against musl it
    // leaves them undefined instead: the interpreter has already loaded musl, which binds
    // them, and the library then does not name Zig's "libc.so" stub as a dependency, a name
    // that musl systems do not install and that musllinux policies do not allow.
    const musl = target.result.abi.isMusl();
    const library_module = b.createModule(.{
        .target = target,
        .optimize = optimize,
        .link_libc = !musl,
        .pic = true,
    });
    const object = b.addObject(.{ .name = "_greenlet", .root_module = extension_module });
    // Debug builds check for undefined behaviour; the object carries that runtime itself,
    // so the library does not add Zig's default one (whose thread-local signal stack does
    // not fit the static TLS block of a module loaded with dlopen).
    object.bundle_ubsan_rt = optimize == .debug;
    library_module.addObjectFile(object.getEmittedBin());
    const extension = b.addLibrary(.{
        .name = "_greenlet",
        .linkage = .dynamic,
        .root_module = library_module,
    });
    extension.linker_allow_shlib_undefined = true;
    // memcpy and friends come from the C library, which is faster than Zig's generic ones
    // for the stack copies; nothing else of compiler-rt is needed.
    // Debug builds also need compiler-rt's 128-bit and long double helpers, and 32-bit Arm
    // its __aeabi_read_tp (the thread pointer for the glue's thread-local state).
    const arch = target.result.cpu.arch;
    extension.bundle_compiler_rt = optimize == .debug or arch.isArm() or arch.isThumb();
    extension.bundle_ubsan_rt = false;
    return extension.getEmittedBin();
}

/// The extension for Windows: a DLL (.pyd) linked straight from the core's module, with the C
/// glue as an object and an import library for python3X.dll (-Dpython-dll) that `zig dlltool`
/// makes from the .def of exactly the symbols the glue imports (zsrc/tools/imports_def.zig).
/// No pyconfig.h is read: src/greenlet/_target.h holds the Windows facts.
fn windowsExtension(
    b: *std.Build,
    extension_module: *std.Build.Module,
    include: []const u8,
    python_dll_option: ?[]const u8,
    optimize: std.builtin.Optimize,
) std.Build.LazyPath {
    const target = extension_module.resolved_target.?;
    const python_dll = python_dll_option orelse {
        const fail = b.addFail("a Windows extension needs -Dpython-dll=<python3X.dll>");
        b.getInstallStep().dependOn(&fail.step);
        return b.path("build.zig");
    };
    const glue_module = b.createModule(.{
        .target = target,
        .optimize = optimize,
        .link_libc = true,
        .stack_check = false,
    });
    addGlue(b, glue_module, include, null, optimize);
    const glue = b.addObject(.{ .name = "_greenlet_glue", .root_module = glue_module });
    const extension = pythonDll(b, "_greenlet", extension_module, glue, python_dll);
    // compiler-rt's stack probe (___chkstk_ms), which Windows needs for frames over a page
    extension.bundle_compiler_rt = true;
    extension.bundle_ubsan_rt = optimize == .debug;
    return extension.getEmittedBin();
}

/// A Windows DLL named `name` of `module` plus `object`, which imports from python3X.dll `dll`
/// through an import library of exactly the symbols it uses.
fn pythonDll(
    b: *std.Build,
    name: []const u8,
    module: *std.Build.Module,
    object: *std.Build.Step.Compile,
    dll: []const u8,
) *std.Build.Step.Compile {
    const objects = [_]std.Build.LazyPath{object.getEmittedBin()};
    module.addObjectFile(objects[0]);
    module.addObjectFile(pythonImportLibrary(b, dll, module.resolved_target.?, &objects));
    return b.addLibrary(.{ .name = name, .linkage = .dynamic, .root_module = module });
}

/// The import library of `dll` for the symbols that `objects` import from it.
fn pythonImportLibrary(
    b: *std.Build,
    dll: []const u8,
    target: std.Build.ResolvedTarget,
    objects: []const std.Build.LazyPath,
) std.Build.LazyPath {
    const tool = b.addExecutable(.{
        .name = "imports_def",
        .root_module = b.createModule(.{
            .root_source_file = b.path("zsrc/tools/imports_def.zig"),
            .target = b.graph.host,
            .optimize = .Debug,
        }),
    });
    const make_def = b.addRunArtifact(tool);
    make_def.addArg(dll);
    const def = make_def.addOutputFileArg("python.def");
    for (objects) |object| make_def.addFileArg(object);
    const machine = switch (target.result.cpu.arch) {
        .x86_64 => "i386:x86-64",
        .x86 => "i386",
        .aarch64 => "arm64",
        else => @panic("no Windows import library machine for this architecture"),
    };
    const dlltool = b.addSystemCommand(&.{ b.graph.zig_exe, "dlltool", "-m", machine, "-D", dll, "-d" });
    dlltool.addFileArg(def);
    dlltool.addArg("-l");
    return dlltool.addOutputFileArg("python.lib");
}

fn addGlue(
    b: *std.Build,
    module: *std.Build.Module,
    python_include: []const u8,
    python_platinclude: ?[]const u8,
    optimize: std.builtin.Optimize,
) void {
    module.addIncludePath(b.path("zsrc"));
    module.addIncludePath(b.path("src/greenlet"));
    module.addSystemIncludePath(.{ .cwd_relative = python_include });
    if (python_platinclude) |platinclude| {
        module.addSystemIncludePath(.{ .cwd_relative = platinclude });
    }
    const debug_flags: []const []const u8 = &.{ "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fno-strict-aliasing" };
    const release_flags: []const []const u8 = &.{ "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fno-strict-aliasing", "-DNDEBUG" };
    // A stack walk must not go past the oldest frame of a greenlet (see g_start in the glue):
    // its unwind data says so with the DWARF number of the return address register, from the
    // target's file of zsrc/arch/. On 32-bit Arm, whose unwind tables (EHABI) cannot say that
    // of one frame, every function here is marked as one no unwinding goes through.
    const target = module.resolved_target.?.result;
    if (zgl_arch.dwarfReturnColumn(target.cpu.arch, target.os.tag)) |column| {
        module.addCMacro("ZGL_DWARF_RETURN_COLUMN", b.fmt("{d}", .{column}));
    }
    if (target.cpu.arch.isArm() or target.cpu.arch.isThumb()) module.unwind_tables = .none;
    module.addCSourceFile(.{
        .file = b.path("src/greenlet/_greenlet.c"),
        .flags = if (optimize == .debug) debug_flags else release_flags,
    });
}

/// Step `capi-test`: the C API test extension tests/c_api/_capi_test.c, a consumer of greenlet.h
/// (from -Dgreenlet-include, default src/greenlet), installed as lib/_capi_test<ext-suffix>.
/// Not part of the default install.
fn addCapiTest(
    b: *std.Build,
    target: std.Build.ResolvedTarget,
    optimize: std.builtin.Optimize,
    python_include: ?[]const u8,
    python_platinclude: ?[]const u8,
    python_dll: ?[]const u8,
    ext_suffix: []const u8,
) void {
    const greenlet_include = b.option(
        []const u8,
        "greenlet-include",
        "Directory holding the greenlet.h that the C API test extension is built against.",
    );
    const step = b.step("capi-test", "Build the C API test extension (needs -Dpython-include).");
    const include = python_include orelse {
        step.dependOn(&b.addFail("capi-test needs -Dpython-include=<directory of Python.h>").step);
        return;
    };
    const module = b.createModule(.{ .target = target, .optimize = optimize, .link_libc = true, .pic = true });
    module.addIncludePath(if (greenlet_include) |dir| .{ .cwd_relative = dir } else b.path("src/greenlet"));
    // for _target.h only, when greenlet.h comes from -Dgreenlet-include
    module.addIncludePath(b.path("src/greenlet"));
    module.addSystemIncludePath(.{ .cwd_relative = include });
    if (python_platinclude) |platinclude| module.addSystemIncludePath(.{ .cwd_relative = platinclude });
    module.addCSourceFile(.{
        .file = b.path("tests/c_api/_capi_test.c"),
        .flags = &.{ "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-Wno-missing-field-initializers" },
    });
    const extension = if (target.result.os.tag == .windows) blk: {
        // a DLL importing from python3X.dll, as the extension itself (windowsExtension)
        const dll = python_dll orelse {
            step.dependOn(&b.addFail("capi-test for Windows needs -Dpython-dll=<python3X.dll>").step);
            return;
        };
        const object = b.addObject(.{ .name = "_capi_test_obj", .root_module = module });
        const library_module = b.createModule(.{ .target = target, .optimize = optimize, .link_libc = true });
        break :blk pythonDll(b, "_capi_test", library_module, object, dll);
    } else blk: {
        const library = b.addLibrary(.{ .name = "_capi_test", .linkage = .dynamic, .root_module = module });
        library.linker_allow_shlib_undefined = true;
        break :blk library;
    };
    const install = b.addInstallFileWithDir(extension.getEmittedBin(), .lib, b.fmt("_capi_test{s}", .{ext_suffix}));
    step.dependOn(&install.step);
}

/// Step `bench`: bench/switch_bench.zig, the core's raw stack switch timed without Python.
/// Use an optimized build: `zig build bench -Doptimize=fast`.
fn addBench(b: *std.Build, target: std.Build.ResolvedTarget, optimize: std.builtin.Optimize) void {
    const core = b.createModule(.{
        .root_source_file = b.path("zsrc/root.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
        .stack_check = false,
    });
    core.addIncludePath(b.path("zsrc"));
    const module = b.createModule(.{
        .root_source_file = b.path("bench/switch_bench.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
        .stack_check = false,
    });
    module.addImport("zgl", core);
    const exe = b.addExecutable(.{ .name = "switch_bench", .root_module = module });
    // memcpy from the C library, as in the extension (debug builds need compiler-rt for ubsan)
    exe.bundle_compiler_rt = optimize == .debug;
    const step = b.step("bench", "Time the core's raw stack switch without Python (use -Doptimize=fast).");
    step.dependOn(&b.addRunArtifact(exe).step);
}
