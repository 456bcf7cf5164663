//! The switch contract, tested the same way on every target: distinct sentinels in every
//! callee-saved register (integer, FP/vector and control state) survive a switch to a stack
//! that puts other values in all of them, and the stack pointer is aligned after every switch.

const std = @import("std");
const builtin = @import("builtin");
const zgl = @import("../root.zig");
const harness = @import("harness.zig");
const Green = harness.Green;
const World = harness.World;
const Thread = zgl.transfer.Thread;

/// Register images the helper loads before the switch and stores after it, in the order of
/// the target's `Registers` layout; `stack_pointer` is stored after the switch returns.
const Registers = switch (builtin.cpu.arch) {
    .x86_64 => extern struct {
        general: [6]u64, // rbx, rbp, r12, r13, r14, r15
        mxcsr: u32,
        x87_control: u16,
        padding: u16 = 0,
        stack_pointer: u64 = 0,

        fn sentinels(seed: u64) @This() {
            var registers: @This() = .{ .general = undefined, .mxcsr = 0, .x87_control = 0 };
            for (&registers.general, 0..) |*value, index| value.* = seed *% (index + 3) ^ 0x5A5A_0000_0000_0000;
            // Rounding mode and exception masks differ between the two sides; status bits clear.
            registers.mxcsr = if (seed % 2 == 0) 0x1F80 | 0x6000 else 0x1F80 | 0x2000;
            registers.x87_control = if (seed % 2 == 0) 0x037F | 0x0C00 else 0x027F;
            return registers;
        }

        fn same(expected: @This(), actual: @This()) bool {
            return std.mem.eql(u64, &expected.general, &actual.general) and
                expected.mxcsr == actual.mxcsr and expected.x87_control == actual.x87_control;
        }
    },
    else => @compileError("no register sentinel helper for " ++ @tagName(builtin.cpu.arch)),
};

/// Loads `registers` into the callee-saved registers, switches (thread.target must be set),
/// and stores the registers as found after the switch returns. Preserves the caller's values.
fn switchWithSentinels() callconv(.naked) void {
    switch (builtin.cpu.arch) {
        .x86_64 => asm volatile (
            \\ pushq %%rbp
            \\ pushq %%rbx
            \\ pushq %%r12
            \\ pushq %%r13
            \\ pushq %%r14
            \\ pushq %%r15
            \\ subq $8, %%rsp
            \\ stmxcsr 0(%%rsp)
            \\ fnstcw 4(%%rsp)
            \\ pushq %%rdi
            \\ subq $8, %%rsp
            \\ movq %%rsi, %%r11
            \\ movq 0(%%rdi), %%rbx
            \\ movq 8(%%rdi), %%rbp
            \\ movq 16(%%rdi), %%r12
            \\ movq 24(%%rdi), %%r13
            \\ movq 32(%%rdi), %%r14
            \\ movq 40(%%rdi), %%r15
            \\ ldmxcsr 48(%%rdi)
            \\ fldcw 52(%%rdi)
            \\ movq %%r11, %%rdi
            \\ callq %[switch_stack:P]
            \\ movq 8(%%rsp), %%rdi
            \\ movq %%rbx, 0(%%rdi)
            \\ movq %%rbp, 8(%%rdi)
            \\ movq %%r12, 16(%%rdi)
            \\ movq %%r13, 24(%%rdi)
            \\ movq %%r14, 32(%%rdi)
            \\ movq %%r15, 40(%%rdi)
            \\ stmxcsr 48(%%rdi)
            \\ fnstcw 52(%%rdi)
            \\ movq %%rsp, 56(%%rdi)
            \\ addq $16, %%rsp
            \\ ldmxcsr 0(%%rsp)
            \\ fldcw 4(%%rsp)
            \\ addq $8, %%rsp
            \\ popq %%r15
            \\ popq %%r14
            \\ popq %%r13
            \\ popq %%r12
            \\ popq %%rbx
            \\ popq %%rbp
            \\ retq
            :
            : [switch_stack] "X" (&zgl.arch.switchStack),
        ),
        else => @compileError("no register sentinel helper"),
    }
}

const SentinelCall = *const fn (registers: *Registers, thread: *Thread) callconv(.c) void;

fn switchKeepingSentinels(world: *World, target: *Green, registers: *Registers) void {
    world.thread.target = &target.stack;
    world.thread.status = .ok;
    const call: SentinelCall = @ptrCast(&switchWithSentinels);
    call(registers, &world.thread);
}

const Exchange = struct {
    rounds: u32,
    other_mismatches: u32 = 0,
    other_misaligned: u32 = 0,
};

fn clobberingBody(green: *Green) void {
    const exchange: *Exchange = @ptrCast(@alignCast(green.context.?));
    const expected = Registers.sentinels(0xBAD_C0DE);
    var round: u32 = 0;
    while (round < exchange.rounds) : (round += 1) {
        var registers = expected;
        switchKeepingSentinels(green.world, &green.world.main, &registers);
        if (!Registers.same(expected, registers)) exchange.other_mismatches += 1;
        if (registers.stack_pointer % zgl.arch.stack_align_bytes != 0) exchange.other_misaligned += 1;
    }
}

test "callee-saved registers and control state survive a switch to a clobbering stack" {
    var world: World = undefined;
    world.init(&zgl.alloc.testing_allocator);
    var exchange: Exchange = .{ .rounds = 64 };
    var other = world.green(1, clobberingBody);
    other.context = &exchange;
    try world.switchTo(&other);
    const expected = Registers.sentinels(0x1234_5678_9ABC);
    var round: u32 = 0;
    while (round < exchange.rounds) : (round += 1) {
        var registers = expected;
        switchKeepingSentinels(&world, &other, &registers);
        try std.testing.expect(Registers.same(expected, registers));
        try std.testing.expectEqual(@as(u64, 0), registers.stack_pointer % zgl.arch.stack_align_bytes);
    }
    // The last switch resumed the other side's final round, which then finished into main.
    try std.testing.expect(other.dead());
    try std.testing.expectEqual(@as(u32, 0), exchange.other_mismatches);
    try std.testing.expectEqual(@as(u32, 0), exchange.other_misaligned);
    other.stack.freeCopy(&zgl.alloc.testing_allocator);
    world.main.stack.freeCopy(&zgl.alloc.testing_allocator);
}
