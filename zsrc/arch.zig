//! Chooses the stack switch for the target being compiled. Every file in arch/ exports the same
//! names: `switchStack` (the naked switch), `name`, `frame_size_bytes`, `stack_align_bytes`,
//! `red_zone_bytes` and `near_offset_bytes` (bytes above the stack pointer that belong to the
//! callee save area of the calls the switch makes, and so are never part of a saved stack).

const builtin = @import("builtin");

const implementation = switch (builtin.cpu.arch) {
    .x86_64 => @import("arch/x86_64.zig"),
    .x86 => @import("arch/x86.zig"),
    .aarch64 => @import("arch/aarch64.zig"),
    .arm, .thumb => @import("arch/arm.zig"),
    .riscv64 => @import("arch/riscv64.zig"),
    .powerpc64le => @import("arch/ppc64le.zig"),
    .s390x => @import("arch/s390x.zig"),
    else => @compileError("zgl: no stack switch for " ++ @tagName(builtin.cpu.arch) ++
        "; supported targets: " ++ supported),
};

pub const supported = "x86_64, x86, aarch64, arm (and thumb), riscv64, powerpc64le, s390x";

pub const switchStack = implementation.switchStack;
pub const name = implementation.name;
pub const frame_size_bytes = implementation.frame_size_bytes;
pub const stack_align_bytes = implementation.stack_align_bytes;
pub const red_zone_bytes = implementation.red_zone_bytes;
pub const near_offset_bytes = implementation.near_offset_bytes;

comptime {
    if (frame_size_bytes % stack_align_bytes != 0) @compileError("frame size breaks alignment");
    if (stack_align_bytes & (stack_align_bytes - 1) != 0) @compileError("alignment not a power of two");
}
