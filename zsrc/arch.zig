//! Chooses the stack switch for the target being compiled, by processor and operating system.
//! Every file in arch/ exports the same names: `SwitchStack` (the naked switch, made for the two
//! callbacks it calls, `save(thread, sp)` and `restore(thread, sp)` with the C calling
//! convention; switch.zig passes its own), `name`, `frame_size_bytes`, `stack_align_bytes`,
//! `red_zone_bytes` and `near_offset_bytes` (bytes above the stack pointer that belong to the
//! callee save area of the calls the switch makes, and so are never part of a saved stack).
//!
//! `SwitchStack` returns a struct declared as a local constant, not the struct itself: a
//! returned struct's name spells out the arguments, while this one gives the switch a bare
//! symbol name (`arch.<file>.SwitchStack.Switch.switchStack`), which the riscv64 and ppc64le
//! assemblers need where the tests call it.
//!
//! A file serves one calling convention. Where two systems share a convention but differ in
//! details (unwind directives, a reserved register), the file branches on `builtin.os.tag` at
//! comptime; a different convention gets its own file.

const builtin = @import("builtin");

const implementation = switch (builtin.os.tag) {
    .linux => switch (builtin.cpu.arch) {
        .x86_64 => @import("arch/x86_64.zig"),
        .x86 => @import("arch/x86.zig"),
        .aarch64 => @import("arch/aarch64.zig"),
        .arm, .thumb => @import("arch/arm.zig"),
        .riscv64 => @import("arch/riscv64.zig"),
        .powerpc64le => @import("arch/ppc64le.zig"),
        .s390x => @import("arch/s390x.zig"),
        .loongarch64 => @import("arch/loongarch64.zig"),
        else => unsupported(),
    },
    .windows => switch (builtin.cpu.arch) {
        .x86_64 => @import("arch/x86_64_windows.zig"),
        .x86 => @import("arch/x86.zig"),
        .aarch64 => @import("arch/aarch64.zig"),
        else => unsupported(),
    },
    // The same conventions as on Linux; the differences are comptime branches in those files.
    .macos => switch (builtin.cpu.arch) {
        .x86_64 => @import("arch/x86_64.zig"),
        .aarch64 => @import("arch/aarch64.zig"),
        else => unsupported(),
    },
    else => unsupported(),
};

pub const supported = "x86_64-linux, x86-linux, aarch64-linux, arm-linux (and thumb), " ++
    "riscv64-linux, powerpc64le-linux, s390x-linux, loongarch64-linux, x86_64-windows, " ++
    "x86-windows, aarch64-windows, x86_64-macos, aarch64-macos";

fn unsupported() noreturn {
    @compileError("zgl: no stack switch for " ++ @tagName(builtin.cpu.arch) ++ "-" ++
        @tagName(builtin.os.tag) ++ "; supported targets: " ++ supported);
}

pub const SwitchStack = implementation.SwitchStack;
pub const name = implementation.name;
pub const frame_size_bytes = implementation.frame_size_bytes;
pub const stack_align_bytes = implementation.stack_align_bytes;
pub const red_zone_bytes = implementation.red_zone_bytes;
pub const near_offset_bytes = implementation.near_offset_bytes;

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

comptime {
    if (frame_size_bytes % stack_align_bytes != 0) @compileError("frame size breaks alignment");
    if (stack_align_bytes & (stack_align_bytes - 1) != 0) @compileError("alignment not a power of two");
}
