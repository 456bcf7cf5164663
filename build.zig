//! One build graph: the stack-slicing core (zsrc/), the CPython extension `_greenlet` built from
//! the core and the C glue (src/greenlet/), and the core's own tests. It never runs Python:
//! setup.py passes the interpreter's include directory and extension suffix.

const std = @import("std");

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

    const core = b.createModule(.{
        .root_source_file = b.path("zsrc/root.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
        .pic = true,
        .stack_check = false,
    });
    core.addIncludePath(b.path("zsrc"));

    // The extension: the core plus the C glue, as one shared object with undefined Python symbols.
    if (python_include) |include| {
        const extension_module = b.createModule(.{
            .root_source_file = b.path("zsrc/exports.zig"),
            .target = target,
            .optimize = optimize,
            .link_libc = true,
            .pic = true,
            .stack_check = false,
        });
        addGlue(b, extension_module, include, python_platinclude, optimize);
        const extension = b.addLibrary(.{
            .name = "_greenlet",
            .linkage = .dynamic,
            .root_module = extension_module,
        });
        extension.linker_allow_shlib_undefined = true;
        const install = b.addInstallFileWithDir(
            extension.getEmittedBin(),
            .lib,
            b.fmt("_greenlet{s}", .{ext_suffix}),
        );
        b.getInstallStep().dependOn(&install.step);
    }

    const header = b.addTranslateC(.{
        .root_source_file = b.path("zsrc/zgl.h"),
        .target = target,
        .optimize = optimize,
    });
    core.addImport("zgl_h", header.createModule());
    const core_tests = b.addTest(.{ .root_module = core });
    const run_core_tests = b.addRunArtifact(core_tests);
    const test_step = b.step("test", "Run the core's tests (no Python needed).");
    test_step.dependOn(&run_core_tests.step);
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
    module.addCSourceFile(.{
        .file = b.path("src/greenlet/_greenlet.c"),
        .flags = if (optimize == .debug) debug_flags else release_flags,
    });
}
