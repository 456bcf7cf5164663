//! Chooses the stack switch for a target, by processor and operating system.
//! Every file in arch/ exports the same names: `SwitchStack` (the naked switch, made for the two
//! callbacks it calls, `save(thread, sp)` and `restore(thread, sp)` with the C calling
//! convention; switch.zig passes its own), `name`, `frame_size_bytes`, `stack_align_bytes`,
//! `red_zone_bytes`, `near_offset_bytes` (bytes above the stack pointer that belong to the
//! callee save area of the calls the switch makes, and so are never part of a saved stack) and
//! `dwarf_return_column` (the DWARF number of the register holding a frame's return address,
//! with which the C glue ends stack walks; null where the file's targets unwind without DWARF
//! CFI).
//!
//! `SwitchStack` returns a struct declared as a local constant, not the struct itself: a
//! returned struct's name spells out the arguments, while this one gives the switch a bare
//! symbol name (`arch.<file>.SwitchStack.Switch.switchStack`), which the riscv64 and ppc64le
//! assemblers need where the tests call it.
//!
//! A file serves one calling convention. Where two systems share a convention but differ in
//! details (unwind directives, a reserved register), the file branches on `builtin.os.tag` at
//! comptime; a different convention gets its own file. A file's `dwarf_return_column` and its
//! `comptime` blocks must not depend on `builtin`: build.zig, which runs on the build machine,
//! imports every file to read that constant (`dwarfReturnColumn`).

const std = @import("std");
const builtin = @import("builtin");

/// The files of arch/, by name.
const File = enum {
    x86_64,
    x86_64_windows,
    x86,
    aarch64,
    arm,
    riscv64,
    ppc64le,
    s390x,
    loongarch64,
};

/// The file that serves `cpu_arch` on `os`, null if none does.
fn select(cpu_arch: std.Target.Cpu.Arch, os: std.Target.Os.Tag) ?File {
    return switch (os) {
        .linux => switch (cpu_arch) {
            .x86_64 => .x86_64,
            .x86 => .x86,
            .aarch64 => .aarch64,
            .arm, .thumb => .arm,
            .riscv64 => .riscv64,
            .powerpc64le => .ppc64le,
            .s390x => .s390x,
            .loongarch64 => .loongarch64,
            else => null,
        },
        .windows => switch (cpu_arch) {
            .x86_64 => .x86_64_windows,
            .x86 => .x86,
            .aarch64 => .aarch64,
            else => null,
        },
        // The same conventions as on Linux; the differences are comptime branches in those files.
        .macos => switch (cpu_arch) {
            .x86_64 => .x86_64,
            .aarch64 => .aarch64,
            else => null,
        },
        else => null,
    };
}

fn Module(comptime file: File) type {
    return switch (file) {
        .x86_64 => @import("arch/x86_64.zig"),
        .x86_64_windows => @import("arch/x86_64_windows.zig"),
        .x86 => @import("arch/x86.zig"),
        .aarch64 => @import("arch/aarch64.zig"),
        .arm => @import("arch/arm.zig"),
        .riscv64 => @import("arch/riscv64.zig"),
        .ppc64le => @import("arch/ppc64le.zig"),
        .s390x => @import("arch/s390x.zig"),
        .loongarch64 => @import("arch/loongarch64.zig"),
    };
}

pub const supported = "x86_64-linux, x86-linux, aarch64-linux, arm-linux (and thumb), " ++
    "riscv64-linux, powerpc64le-linux, s390x-linux, loongarch64-linux, x86_64-windows, " ++
    "x86-windows, aarch64-windows, x86_64-macos, aarch64-macos";

fn unsupported() noreturn {
    @compileError("zgl: no stack switch for " ++ @tagName(builtin.cpu.arch) ++ "-" ++
        @tagName(builtin.os.tag) ++ "; supported targets: " ++ supported);
}

/// The file for the target being compiled.
const implementation = blk: {
    const file = Module(select(builtin.cpu.arch, builtin.os.tag) orelse unsupported());
    if (file.frame_size_bytes % file.stack_align_bytes != 0) {
        @compileError("frame size breaks alignment");
    }
    if (!std.math.isPowerOfTwo(file.stack_align_bytes)) {
        @compileError("alignment not a power of two");
    }
    break :blk file;
};

pub const SwitchStack = implementation.SwitchStack;
pub const name = implementation.name;
pub const frame_size_bytes = implementation.frame_size_bytes;
pub const stack_align_bytes = implementation.stack_align_bytes;
pub const red_zone_bytes = implementation.red_zone_bytes;
pub const near_offset_bytes = implementation.near_offset_bytes;

/// The `dwarf_return_column` of the file that serves `cpu_arch` on `os`, for build.zig, which
/// passes it to the C glue's compile (ZGL_DWARF_RETURN_COLUMN) of the target it builds for.
/// Null on Windows, whatever the processor: its objects carry Windows' own unwind data.
pub fn dwarfReturnColumn(cpu_arch: std.Target.Cpu.Arch, os: std.Target.Os.Tag) ?u16 {
    if (os == .windows) return null;
    const file = select(cpu_arch, os) orelse return null;
    return switch (file) {
        inline else => |known| Module(known).dwarf_return_column,
    };
}

/// The SEH chain of Windows x86 (arch/x86.zig): a new stack's chain starts at the thread's
/// outermost record. No other target has such a chain: 0 and nothing to do.
pub const outerExceptionRecord = if (@hasDecl(implementation, "outerExceptionRecord"))
    implementation.outerExceptionRecord
else
    noExceptionRecord;
pub const setExceptionChain = if (@hasDecl(implementation, "setExceptionChain"))
    implementation.setExceptionChain
else
    ignoreExceptionChain;

fn noExceptionRecord() u32 {
    return 0;
}

fn ignoreExceptionChain(record: u32) void {
    _ = record;
}
