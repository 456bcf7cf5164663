//! The switch contract, tested the same way on every target: distinct sentinels in every
//! callee-saved register (integer, FP/vector and control state) survive a switch to a stack
//! that puts other values in all of them, and the stack pointer is aligned after every switch.
//! On targets that return through a link register, each side calls the switch from its own
//! call site and checks it came back to that one, which proves the return address is saved;
//! on arm the second call site is in the other instruction set (ARM or Thumb), so every round
//! also returns across an interworking boundary. On x86 Windows the head of the SEH chain
//! (fs:[0]) is per-stack state too: each side links a record of its own in front of the chain
//! it found, so the two heads differ and each is a chain that exception dispatch could walk.

const std = @import("std");
const builtin = @import("builtin");
const zgl = @import("../root.zig");
const harness = @import("harness.zig");
const Green = harness.Green;
const World = harness.World;
const Thread = zgl.transfer.Thread;

const Side = enum { main, other };

/// Comptime facts the helpers' assembly branches on (`.if`).
const has_sse = builtin.cpu.arch == .x86 and builtin.cpu.has(.x86, .sse);
const windows = builtin.os.tag == .windows;
const has_seh_chain = windows and builtin.cpu.arch == .x86;
const in_thumb_state = builtin.cpu.arch.isThumb() or
    (builtin.cpu.arch == .arm and builtin.cpu.has(.arm, .thumb_mode));

/// Distinct values for every register of a class, different on each side.
fn fill(comptime T: type, values: []T, side: Side, class: u64) void {
    const seed: u64 = switch (side) {
        .main => 0x1234_5678_9ABC,
        .other => 0xBAD_C0DE,
    };
    for (values, 0..) |*value, index| {
        var mixed = (seed ^ (class << 48) ^ index) *% 0x9E37_79B9_7F4A_7C15;
        mixed ^= mixed >> 29;
        value.* = @truncate(mixed);
    }
}

/// Register images the helper loads before the switch and stores after it, in the order of
/// the target's `Registers` layout; `stack_pointer` is stored after the switch returns. `site`
/// (link-register targets) picks the helper's call site going in, and names the one it came
/// back to. Control registers get only mode bits the ABI lets support functions change.
const Registers = switch (builtin.cpu.arch) {
    .x86_64 => if (windows) extern struct {
        general: [8]u64, // rbx, rbp, rsi, rdi, r12, r13, r14, r15
        vector: [20]u64, // xmm6-xmm15, two quadwords each
        mxcsr: u32,
        x87_control: u16,
        padding: u16 = 0,
        stack_pointer: u64 = 0,

        fn sentinels(side: Side) @This() {
            var registers: @This() = .{
                .general = undefined,
                .vector = undefined,
                .mxcsr = 0,
                .x87_control = 0,
            };
            fill(u64, &registers.general, side, 1);
            fill(u64, &registers.vector, side, 2);
            // Rounding mode and precision differ between the two sides; status bits clear.
            registers.mxcsr = if (side == .main) 0x1F80 | 0x6000 else 0x1F80 | 0x2000;
            registers.x87_control = if (side == .main) 0x037F | 0x0C00 else 0x027F;
            return registers;
        }
    } else extern struct {
        general: [6]u64, // rbx, rbp, r12, r13, r14, r15
        mxcsr: u32,
        x87_control: u16,
        padding: u16 = 0,
        stack_pointer: u64 = 0,

        fn sentinels(side: Side) @This() {
            var registers: @This() = .{ .general = undefined, .mxcsr = 0, .x87_control = 0 };
            fill(u64, &registers.general, side, 1);
            // Rounding mode and precision differ between the two sides; status bits clear.
            registers.mxcsr = if (side == .main) 0x1F80 | 0x6000 else 0x1F80 | 0x2000;
            registers.x87_control = if (side == .main) 0x037F | 0x0C00 else 0x027F;
            return registers;
        }
    },
    .x86 => if (windows) extern struct {
        general: [4]u32, // ebx, esi, edi, ebp
        mxcsr: u32, // loaded and checked only where the switch saves it
        x87_control: u16,
        padding: u16 = 0,
        seh_head: u32, // fs:[0]; see sentinelsHere
        stack_pointer: u32 = 0,

        fn sentinels(side: Side) @This() {
            var registers: @This() = .{
                .general = undefined,
                .mxcsr = 0,
                .x87_control = 0,
                .seh_head = 0,
            };
            fill(u32, &registers.general, side, 1);
            if (has_sse) {
                registers.mxcsr = if (side == .main) 0x1F80 | 0x6000 else 0x1F80 | 0x2000;
            }
            registers.x87_control = if (side == .main) 0x037F | 0x0C00 else 0x027F;
            return registers;
        }
    } else extern struct {
        general: [4]u32, // ebx, esi, edi, ebp
        mxcsr: u32, // loaded and checked only where the switch saves it
        x87_control: u16,
        padding: u16 = 0,
        stack_pointer: u32 = 0,

        fn sentinels(side: Side) @This() {
            var registers: @This() = .{ .general = undefined, .mxcsr = 0, .x87_control = 0 };
            fill(u32, &registers.general, side, 1);
            if (has_sse) {
                registers.mxcsr = if (side == .main) 0x1F80 | 0x6000 else 0x1F80 | 0x2000;
            }
            registers.x87_control = if (side == .main) 0x037F | 0x0C00 else 0x027F;
            return registers;
        }
    },
    .aarch64 => extern struct {
        general: [11]u64, // x19-x28, x29
        float: [8]u64, // d8-d15
        fpcr: u64,
        site: u64,
        stack_pointer: u64 = 0,

        fn sentinels(side: Side) @This() {
            var registers: @This() = undefined;
            fill(u64, &registers.general, side, 1);
            fill(u64, &registers.float, side, 2);
            // Rounding mode (bits 22-23) and flush-to-zero (bit 24).
            registers.fpcr = if (side == .main) 3 << 22 | 1 << 24 else 1 << 22;
            registers.site = @backingInt(side);
            registers.stack_pointer = 0;
            return registers;
        }
    },
    .arm, .thumb => extern struct {
        general: [8]u32, // r4-r11
        float: [8]u64, // d8-d15
        fpscr: u32,
        site: u32,
        stack_pointer: u32 = 0,
        padding: u32 = 0,

        fn sentinels(side: Side) @This() {
            var registers: @This() = undefined;
            fill(u32, &registers.general, side, 1);
            fill(u64, &registers.float, side, 2);
            // Rounding mode (bits 22-23) and flush-to-zero (bit 24).
            registers.fpscr = if (side == .main) 3 << 22 | 1 << 24 else 1 << 22;
            registers.site = @backingInt(side);
            registers.stack_pointer = 0;
            registers.padding = 0;
            return registers;
        }
    },
    .riscv64 => extern struct {
        general: [12]u64, // s0-s11
        float: [12]u64, // fs0-fs11
        site: u64,
        stack_pointer: u64 = 0,

        fn sentinels(side: Side) @This() {
            var registers: @This() = undefined;
            fill(u64, &registers.general, side, 1);
            fill(u64, &registers.float, side, 2);
            registers.site = @backingInt(side);
            registers.stack_pointer = 0;
            return registers;
        }
    },
    .loongarch64 => extern struct {
        general: [10]u64, // fp ($r22), s0-s8 ($r23-$r31)
        float: [8]u64, // fs0-fs7 ($f24-$f31)
        fcsr: u64, // fcsr0: Enables and RM only
        site: u64,
        stack_pointer: u64 = 0,

        fn sentinels(side: Side) @This() {
            var registers: @This() = undefined;
            fill(u64, &registers.general, side, 1);
            fill(u64, &registers.float, side, 2);
            // Rounding mode (RM, bits 8-9) and one exception enable (bits 0-4: invalid on one
            // side, division by zero on the other; nothing raises either while it is set).
            registers.fcsr = if (side == .main) 3 << 8 | 1 << 4 else 1 << 8 | 1 << 3;
            registers.site = @backingInt(side);
            registers.stack_pointer = 0;
            return registers;
        }
    },
    .powerpc64le => extern struct {
        vector: [24]u64 align(16), // v20-v31, two doublewords each
        vscr: [4]u32, // the VSCR word first, as stvx stores it in little-endian mode
        general: [18]u64, // r14-r31
        toc: u64, // r2
        float: [18]u64, // f14-f31
        fpscr: u64, // mode fields 6 and 7 (the low byte) only
        cr: u32, // CR2-CR4 only
        vrsave: u32,
        site: u64,
        stack_pointer: u64 = 0,

        fn sentinels(side: Side) @This() {
            var registers: @This() = undefined;
            fill(u64, &registers.vector, side, 1);
            fill(u64, &registers.general, side, 2);
            fill(u64, (&registers.toc)[0..1], side, 3);
            fill(u64, &registers.float, side, 4);
            // Non-Java mode (NJ, bit 16) on one side only.
            registers.vscr = .{ if (side == .main) 1 << 16 else 0, 0, 0, 0 };
            // Rounding mode (RN, bits 0-1), non-IEEE mode (NI, bit 2) and exception enables
            // (bits 3-7; nothing raises an exception while they are set).
            registers.fpscr = if (side == .main) 0x10 | 0x04 | 1 else 0x08 | 2;
            registers.cr = if (side == .main) 0x00AB_C000 else 0x0054_3000;
            registers.vrsave = if (side == .main) 0xA5A5_0F0F else 0x5A5A_F0F0;
            registers.site = @backingInt(side);
            registers.stack_pointer = 0;
            return registers;
        }
    },
    .s390x => extern struct {
        general: [8]u64, // r6-r13
        float: [8]u64, // f8-f15
        fpc: u32,
        padding: u32 = 0,
        site: u64,
        stack_pointer: u64 = 0,

        fn sentinels(side: Side) @This() {
            var registers: @This() = undefined;
            fill(u64, &registers.general, side, 1);
            fill(u64, &registers.float, side, 2);
            // Binary rounding mode (bits 29-31).
            registers.fpc = if (side == .main) 1 else 2;
            registers.padding = 0;
            registers.site = @backingInt(side);
            registers.stack_pointer = 0;
            return registers;
        }
    },
    else => @compileError("no register sentinel helper for " ++ @tagName(builtin.cpu.arch)),
};

// The Windows and loongarch64 helpers below address these fields by fixed offsets.
comptime {
    if (windows and builtin.cpu.arch == .x86_64) {
        std.debug.assert(@offsetOf(Registers, "vector") == 64);
        std.debug.assert(@offsetOf(Registers, "mxcsr") == 224);
        std.debug.assert(@offsetOf(Registers, "stack_pointer") == 232);
    }
    if (has_seh_chain) {
        std.debug.assert(@offsetOf(Registers, "seh_head") == 24);
        std.debug.assert(@offsetOf(Registers, "stack_pointer") == 28);
    }
    if (builtin.cpu.arch == .loongarch64) {
        std.debug.assert(@offsetOf(Registers, "fcsr") == 144);
        std.debug.assert(@offsetOf(Registers, "stack_pointer") == 160);
    }
}

fn same(expected: Registers, actual: Registers) bool {
    inline for (@typeInfo(Registers).@"struct".field_names) |field| {
        if (comptime std.mem.eql(u8, field, "stack_pointer")) continue;
        if (!std.meta.eql(@field(expected, field), @field(actual, field))) return false;
    }
    return true;
}

/// A registration record of the x86 Windows SEH chain (NT_TIB.ExceptionList), which lives in
/// the frame of the function that links it.
const SehRecord = extern struct {
    previous: u32,
    handler: u32,
};

/// Declines every exception (ExceptionContinueSearch), should one ever be dispatched. Its
/// arguments (exception record, record, context, dispatcher context) go unread.
fn sehContinueSearch(_: *anyopaque, _: *anyopaque, _: *anyopaque, _: *anyopaque) callconv(.c) u32 {
    return 1;
}

/// The sentinels of `side`, for use on the stack that calls this. On x86 Windows the SEH chain
/// head is `record` (a local of the caller, so it outlives every switch the caller makes),
/// linked in front of the chain this stack has now.
fn sentinelsHere(side: Side, record: *SehRecord) Registers {
    var registers = Registers.sentinels(side);
    if (has_seh_chain) {
        const head = asm volatile ("movl %%fs:0, %[head]"
            : [head] "=r" (-> u32),
        );
        record.* = .{ .previous = head, .handler = @intFromPtr(&sehContinueSearch) };
        registers.seh_head = @intFromPtr(record);
    }
    return registers;
}

/// Loads `registers` into the callee-saved registers, switches (thread.target must be set),
/// and stores the registers as found after the switch returns. Preserves the caller's values.
noinline fn switchWithSentinels() callconv(.naked) void {
    switch (builtin.cpu.arch) {
        // Windows frame: 0: shadow space, 32: xmm6-xmm15, 192: MXCSR, 196: x87 control word,
        // 200: registers, 208: unused, 216: r15, r14, r13, r12, rdi, rsi, rbx, rbp. The
        // registers arrive in rcx and the thread in rdx.
        .x86_64 => if (windows) asm volatile (
            \\ .seh_proc %[self:P]
            \\ pushq %%rbp
            \\ .seh_pushreg %%rbp
            \\ pushq %%rbx
            \\ .seh_pushreg %%rbx
            \\ pushq %%rsi
            \\ .seh_pushreg %%rsi
            \\ pushq %%rdi
            \\ .seh_pushreg %%rdi
            \\ pushq %%r12
            \\ .seh_pushreg %%r12
            \\ pushq %%r13
            \\ .seh_pushreg %%r13
            \\ pushq %%r14
            \\ .seh_pushreg %%r14
            \\ pushq %%r15
            \\ .seh_pushreg %%r15
            \\ subq $216, %%rsp
            \\ .seh_stackalloc 216
            \\ .irp n, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
            \\ movaps %%xmm\n, (32 + (\n - 6) * 16)(%%rsp)
            \\ .seh_savexmm %%xmm\n, (32 + (\n - 6) * 16)
            \\ .endr
            \\ .seh_endprologue
            \\ stmxcsr 192(%%rsp)
            \\ fnstcw 196(%%rsp)
            \\ movq %%rcx, 200(%%rsp)
            \\ movq %%rdx, %%r11
            \\ movq 0(%%rcx), %%rbx
            \\ movq 8(%%rcx), %%rbp
            \\ movq 16(%%rcx), %%rsi
            \\ movq 24(%%rcx), %%rdi
            \\ movq 32(%%rcx), %%r12
            \\ movq 40(%%rcx), %%r13
            \\ movq 48(%%rcx), %%r14
            \\ movq 56(%%rcx), %%r15
            \\ .irp n, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
            \\ movups (64 + (\n - 6) * 16)(%%rcx), %%xmm\n
            \\ .endr
            \\ ldmxcsr 224(%%rcx)
            \\ fldcw 228(%%rcx)
            \\ movq %%r11, %%rcx
            \\ callq %[switch_stack:P]
            \\ movq 200(%%rsp), %%rcx
            \\ movq %%rbx, 0(%%rcx)
            \\ movq %%rbp, 8(%%rcx)
            \\ movq %%rsi, 16(%%rcx)
            \\ movq %%rdi, 24(%%rcx)
            \\ movq %%r12, 32(%%rcx)
            \\ movq %%r13, 40(%%rcx)
            \\ movq %%r14, 48(%%rcx)
            \\ movq %%r15, 56(%%rcx)
            \\ .irp n, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
            \\ movups %%xmm\n, (64 + (\n - 6) * 16)(%%rcx)
            \\ movaps (32 + (\n - 6) * 16)(%%rsp), %%xmm\n
            \\ .endr
            \\ stmxcsr 224(%%rcx)
            \\ fnstcw 228(%%rcx)
            \\ movq %%rsp, 232(%%rcx)
            \\ ldmxcsr 192(%%rsp)
            \\ fldcw 196(%%rsp)
            \\ addq $216, %%rsp
            \\ popq %%r15
            \\ popq %%r14
            \\ popq %%r13
            \\ popq %%r12
            \\ popq %%rdi
            \\ popq %%rsi
            \\ popq %%rbx
            \\ popq %%rbp
            \\ retq
            \\ .seh_endproc
            :
            : [switch_stack] "X" (&zgl.transfer.switchStack),
              [self] "X" (&switchWithSentinels),
        ) else asm volatile (
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
            : [switch_stack] "X" (&zgl.transfer.switchStack),
        ),
        // Windows frame: 0: MXCSR, 4: x87 control word, 8: registers, 12: SEH chain head,
        // 16: edi, esi, ebx, ebp. Elsewhere: 0: MXCSR, 4: x87 control word, 8: registers,
        // 12: edi, esi, ebx, ebp, with 16-byte alignment at the call.
        .x86 => if (windows) asm volatile (
            \\ pushl %%ebp
            \\ pushl %%ebx
            \\ pushl %%esi
            \\ pushl %%edi
            \\ pushl %%fs:0
            \\ subl $12, %%esp
            \\ .if %[sse:c]
            \\ stmxcsr 0(%%esp)
            \\ .endif
            \\ fnstcw 4(%%esp)
            \\ movl 36(%%esp), %%eax
            \\ movl 40(%%esp), %%ecx
            \\ movl %%eax, 8(%%esp)
            \\ movl 0(%%eax), %%ebx
            \\ movl 4(%%eax), %%esi
            \\ movl 8(%%eax), %%edi
            \\ movl 12(%%eax), %%ebp
            \\ .if %[sse:c]
            \\ ldmxcsr 16(%%eax)
            \\ .endif
            \\ fldcw 20(%%eax)
            \\ movl 24(%%eax), %%edx
            \\ movl %%edx, %%fs:0
            \\ pushl %%ecx
            \\ calll %[switch_stack:P]
            \\ movl %%esp, %%edx
            \\ addl $4, %%esp
            \\ movl 8(%%esp), %%eax
            \\ movl %%ebx, 0(%%eax)
            \\ movl %%esi, 4(%%eax)
            \\ movl %%edi, 8(%%eax)
            \\ movl %%ebp, 12(%%eax)
            \\ .if %[sse:c]
            \\ stmxcsr 16(%%eax)
            \\ ldmxcsr 0(%%esp)
            \\ .endif
            \\ fnstcw 20(%%eax)
            \\ movl %%fs:0, %%ecx
            \\ movl %%ecx, 24(%%eax)
            \\ movl %%edx, 28(%%eax)
            \\ fldcw 4(%%esp)
            \\ addl $12, %%esp
            \\ popl %%fs:0
            \\ popl %%edi
            \\ popl %%esi
            \\ popl %%ebx
            \\ popl %%ebp
            \\ retl
            :
            : [switch_stack] "X" (&zgl.transfer.switchStack),
              [sse] "i" (@intFromBool(has_sse)),
        ) else asm volatile (
            \\ pushl %%ebp
            \\ pushl %%ebx
            \\ pushl %%esi
            \\ pushl %%edi
            \\ subl $12, %%esp
            \\ .if %[sse:c]
            \\ stmxcsr 0(%%esp)
            \\ .endif
            \\ fnstcw 4(%%esp)
            \\ movl 32(%%esp), %%eax
            \\ movl 36(%%esp), %%ecx
            \\ movl %%eax, 8(%%esp)
            \\ movl 0(%%eax), %%ebx
            \\ movl 4(%%eax), %%esi
            \\ movl 8(%%eax), %%edi
            \\ movl 12(%%eax), %%ebp
            \\ .if %[sse:c]
            \\ ldmxcsr 16(%%eax)
            \\ .endif
            \\ fldcw 20(%%eax)
            \\ subl $12, %%esp
            \\ pushl %%ecx
            \\ calll %[switch_stack:P]
            \\ movl %%esp, %%edx
            \\ addl $16, %%esp
            \\ movl 8(%%esp), %%eax
            \\ movl %%ebx, 0(%%eax)
            \\ movl %%esi, 4(%%eax)
            \\ movl %%edi, 8(%%eax)
            \\ movl %%ebp, 12(%%eax)
            \\ .if %[sse:c]
            \\ stmxcsr 16(%%eax)
            \\ ldmxcsr 0(%%esp)
            \\ .endif
            \\ fnstcw 20(%%eax)
            \\ movl %%edx, 24(%%eax)
            \\ fldcw 4(%%esp)
            \\ addl $12, %%esp
            \\ popl %%edi
            \\ popl %%esi
            \\ popl %%ebx
            \\ popl %%ebp
            \\ retl
            :
            : [switch_stack] "X" (&zgl.transfer.switchStack),
              [sse] "i" (@intFromBool(has_sse)),
        ),
        // Frame: the switch's (x19-x30, d8-d15, FPCR at 160), then registers at 168.
        .aarch64 => asm volatile (
            \\ sub sp, sp, #24 * 8
            \\ stp x19, x20, [sp, #0 * 8]
            \\ stp x21, x22, [sp, #2 * 8]
            \\ stp x23, x24, [sp, #4 * 8]
            \\ stp x25, x26, [sp, #6 * 8]
            \\ stp x27, x28, [sp, #8 * 8]
            \\ stp x29, x30, [sp, #10 * 8]
            \\ stp d8, d9, [sp, #12 * 8]
            \\ stp d10, d11, [sp, #14 * 8]
            \\ stp d12, d13, [sp, #16 * 8]
            \\ stp d14, d15, [sp, #18 * 8]
            \\ mrs x9, fpcr
            \\ stp x9, x0, [sp, #20 * 8]
            \\ ldp x19, x20, [x0, #0 * 8]
            \\ ldp x21, x22, [x0, #2 * 8]
            \\ ldp x23, x24, [x0, #4 * 8]
            \\ ldp x25, x26, [x0, #6 * 8]
            \\ ldp x27, x28, [x0, #8 * 8]
            \\ ldr x29, [x0, #10 * 8]
            \\ ldp d8, d9, [x0, #11 * 8]
            \\ ldp d10, d11, [x0, #13 * 8]
            \\ ldp d12, d13, [x0, #15 * 8]
            \\ ldp d14, d15, [x0, #17 * 8]
            \\ ldp x9, x10, [x0, #19 * 8]
            \\ msr fpcr, x9
            \\ mov x0, x1
            \\ cbnz x10, 1f
            \\ bl %[switch_stack]
            \\ mov x10, #0
            \\ b 2f
            \\ 1: bl %[switch_stack]
            \\ mov x10, #1
            \\ 2: ldr x9, [sp, #21 * 8]
            \\ stp x19, x20, [x9, #0 * 8]
            \\ stp x21, x22, [x9, #2 * 8]
            \\ stp x23, x24, [x9, #4 * 8]
            \\ stp x25, x26, [x9, #6 * 8]
            \\ stp x27, x28, [x9, #8 * 8]
            \\ str x29, [x9, #10 * 8]
            \\ stp d8, d9, [x9, #11 * 8]
            \\ stp d10, d11, [x9, #13 * 8]
            \\ stp d12, d13, [x9, #15 * 8]
            \\ stp d14, d15, [x9, #17 * 8]
            \\ mrs x11, fpcr
            \\ stp x11, x10, [x9, #19 * 8]
            \\ mov x11, sp
            \\ str x11, [x9, #21 * 8]
            \\ ldr x9, [sp, #20 * 8]
            \\ msr fpcr, x9
            \\ ldp d14, d15, [sp, #18 * 8]
            \\ ldp d12, d13, [sp, #16 * 8]
            \\ ldp d10, d11, [sp, #14 * 8]
            \\ ldp d8, d9, [sp, #12 * 8]
            \\ ldp x29, x30, [sp, #10 * 8]
            \\ ldp x27, x28, [sp, #8 * 8]
            \\ ldp x25, x26, [sp, #6 * 8]
            \\ ldp x23, x24, [sp, #4 * 8]
            \\ ldp x21, x22, [sp, #2 * 8]
            \\ ldp x19, x20, [sp, #0 * 8]
            \\ add sp, sp, #24 * 8
            \\ ret
            :
            : [switch_stack] "X" (&zgl.transfer.switchStack),
        ),
        // Frame: 0: registers, 4: FPSCR, 8: unused, 12: d8-d15, 76: r4-r11, lr. Call site 1 is
        // in the other instruction set: `bl` there becomes `blx` at link time.
        .arm, .thumb => asm volatile (
            \\ push {r4-r11, lr}
            \\ vpush {d8-d15}
            \\ sub sp, sp, #12
            \\ vmrs r12, fpscr
            \\ str r0, [sp]
            \\ str r12, [sp, #4]
            \\ add r2, r0, #32
            \\ vldm r2, {d8-d15}
            \\ ldr r2, [r0, #96]
            \\ vmsr fpscr, r2
            \\ ldr r3, [r0, #100]
            \\ ldm r0, {r4-r11}
            \\ mov r0, r1
            \\ cmp r3, #0
            \\ bne 1f
            \\ bl %[switch_stack]
            \\ mov r3, #0
            \\ b 2f
            \\ 1:
            \\ .if %[thumb:c]
            \\ adr r12, 3f
            \\ bx r12
            \\ .arm
            \\ .balign 4
            \\ 3: bl %[switch_stack]
            \\ mov r3, #1
            \\ adr r12, 4f
            \\ orr r12, r12, #1
            \\ bx r12
            \\ .thumb
            \\ 4:
            \\ .else
            \\ adr r12, 3f
            \\ orr r12, r12, #1
            \\ bx r12
            \\ .thumb
            \\ 3: bl %[switch_stack]
            \\ mov r3, #1
            \\ adr r12, 4f
            \\ bx r12
            \\ .arm
            \\ .balign 4
            \\ 4:
            \\ .endif
            \\ 2: ldr r12, [sp]
            \\ stm r12, {r4-r11}
            \\ add r2, r12, #32
            \\ vstm r2, {d8-d15}
            \\ vmrs r2, fpscr
            \\ str r2, [r12, #96]
            \\ str r3, [r12, #100]
            \\ mov r2, sp
            \\ str r2, [r12, #104]
            \\ ldr r2, [sp, #4]
            \\ vmsr fpscr, r2
            \\ add sp, sp, #12
            \\ vpop {d8-d15}
            \\ pop {r4-r11, pc}
            :
            : [switch_stack] "X" (&zgl.transfer.switchStack),
              [thumb] "i" (@intFromBool(in_thumb_state)),
        ),
        // Frame: the switch's (ra, s0-s11, fs0-fs11), then registers at 200.
        .riscv64 => asm volatile (
            \\ addi sp, sp, -26 * 8
            \\ sd ra, 0(sp)
            \\ .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
            \\ sd s\n, (8 + \n * 8)(sp)
            \\ fsd fs\n, (104 + \n * 8)(sp)
            \\ ld s\n, (\n * 8)(a0)
            \\ fld fs\n, (96 + \n * 8)(a0)
            \\ .endr
            \\ sd a0, 200(sp)
            \\ ld t0, 192(a0)
            \\ mv a0, a1
            \\ bnez t0, 1f
            \\ call %[switch_stack]
            \\ li t0, 0
            \\ j 2f
            \\ 1: call %[switch_stack]
            \\ li t0, 1
            \\ 2: ld t1, 200(sp)
            \\ .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
            \\ sd s\n, (\n * 8)(t1)
            \\ fsd fs\n, (96 + \n * 8)(t1)
            \\ ld s\n, (8 + \n * 8)(sp)
            \\ fld fs\n, (104 + \n * 8)(sp)
            \\ .endr
            \\ sd t0, 192(t1)
            \\ sd sp, 200(t1)
            \\ ld ra, 0(sp)
            \\ addi sp, sp, 26 * 8
            \\ ret
            :
            : [switch_stack] "X" (&zgl.transfer.switchStack),
        ),
        // Frame: the switch's (ra, fp, s0-s8, fs0-fs7, fcsr0), then registers at 160.
        .loongarch64 => asm volatile (
            \\ addi.d $sp, $sp, -22 * 8
            \\ st.d $ra, $sp, 0
            \\ .irp n, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
            \\ st.d $r\n, $sp, (8 + (\n - 22) * 8)
            \\ ld.d $r\n, $a0, ((\n - 22) * 8)
            \\ .endr
            \\ .irp n, 24, 25, 26, 27, 28, 29, 30, 31
            \\ fst.d $f\n, $sp, (88 + (\n - 24) * 8)
            \\ fld.d $f\n, $a0, (80 + (\n - 24) * 8)
            \\ .endr
            \\ movfcsr2gr $t0, $fcsr0
            \\ st.d $t0, $sp, 152
            \\ ld.d $t0, $a0, 144
            \\ movgr2fcsr $fcsr0, $t0
            \\ st.d $a0, $sp, 160
            \\ ld.d $t0, $a0, 152
            \\ move $a0, $a1
            \\ bnez $t0, 1f
            \\ bl %[switch_stack]
            \\ move $t0, $zero
            \\ b 2f
            \\ 1: bl %[switch_stack]
            \\ ori $t0, $zero, 1
            \\ 2: ld.d $t1, $sp, 160
            \\ .irp n, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
            \\ st.d $r\n, $t1, ((\n - 22) * 8)
            \\ ld.d $r\n, $sp, (8 + (\n - 22) * 8)
            \\ .endr
            \\ .irp n, 24, 25, 26, 27, 28, 29, 30, 31
            \\ fst.d $f\n, $t1, (80 + (\n - 24) * 8)
            \\ fld.d $f\n, $sp, (88 + (\n - 24) * 8)
            \\ .endr
            \\ movfcsr2gr $t2, $fcsr0
            \\ andi $t2, $t2, 0x31f
            \\ st.d $t2, $t1, 144
            \\ st.d $t0, $t1, 152
            \\ st.d $sp, $t1, 160
            \\ ld.d $t2, $sp, 152
            \\ movgr2fcsr $fcsr0, $t2
            \\ ld.d $ra, $sp, 0
            \\ addi.d $sp, $sp, 22 * 8
            \\ jr $ra
            :
            : [switch_stack] "X" (&zgl.transfer.switchStack),
        ),
        // Frame: the switch's (see arch/ppc64le.zig), then registers at 560.
        .powerpc64le => asm volatile (
            \\ mflr 0
            \\ stdu 1, -576(1)
            \\ std 0, 536(1)
            \\ std 2, 528(1)
            \\ std 3, 560(1)
            \\ .irp n, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
            \\ std \n, (384 + (\n - 14) * 8)(1)
            \\ stfd \n, (240 + (\n - 14) * 8)(1)
            \\ .endr
            \\ .irp n, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
            \\ li 12, 32 + (\n - 20) * 16
            \\ stvx \n, 1, 12
            \\ li 12, (\n - 20) * 16
            \\ lvx \n, 3, 12
            \\ .endr
            \\ mfvscr 0
            \\ li 12, 224
            \\ stvx 0, 1, 12
            \\ li 12, 192
            \\ lvx 0, 3, 12
            \\ mtvscr 0
            \\ mffs 0
            \\ stfd 0, 544(1)
            \\ lfd 0, 504(3)
            \\ mtfsf 0xff, 0
            \\ mfcr 12
            \\ stw 12, 552(1)
            \\ lwz 12, 512(3)
            \\ mtcrf 0x38, 12
            \\ mfvrsave 12
            \\ stw 12, 556(1)
            \\ lwz 12, 516(3)
            \\ mtvrsave 12
            \\ .irp n, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
            \\ ld \n, (208 + (\n - 14) * 8)(3)
            \\ lfd \n, (360 + (\n - 14) * 8)(3)
            \\ .endr
            \\ ld 11, 520(3)
            \\ ld 2, 352(3)
            \\ mr 3, 4
            \\ cmpdi 11, 0
            \\ bne 0, 1f
            \\ bl %[switch_stack]
            \\ nop
            \\ li 11, 0
            \\ b 2f
            \\ 1: bl %[switch_stack]
            \\ nop
            \\ li 11, 1
            \\ 2: ld 12, 560(1)
            \\ .irp n, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
            \\ std \n, (208 + (\n - 14) * 8)(12)
            \\ stfd \n, (360 + (\n - 14) * 8)(12)
            \\ ld \n, (384 + (\n - 14) * 8)(1)
            \\ lfd \n, (240 + (\n - 14) * 8)(1)
            \\ .endr
            \\ std 2, 352(12)
            \\ .irp n, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
            \\ li 10, (\n - 20) * 16
            \\ stvx \n, 12, 10
            \\ li 10, 32 + (\n - 20) * 16
            \\ lvx \n, 1, 10
            \\ .endr
            \\ mfvscr 0
            \\ li 10, 192
            \\ stvx 0, 12, 10
            \\ li 10, 224
            \\ lvx 0, 1, 10
            \\ mtvscr 0
            \\ mffs 0
            \\ stfd 0, 504(12)
            \\ ld 10, 504(12)
            \\ andi. 10, 10, 0xff
            \\ std 10, 504(12)
            \\ lfd 0, 544(1)
            \\ mtfsf 0xff, 0
            \\ mfcr 10
            \\ rlwinm 10, 10, 0, 8, 19
            \\ stw 10, 512(12)
            \\ lwz 10, 552(1)
            \\ mtcrf 0x38, 10
            \\ mfvrsave 10
            \\ stw 10, 516(12)
            \\ lwz 10, 556(1)
            \\ mtvrsave 10
            \\ std 11, 520(12)
            \\ std 1, 528(12)
            \\ ld 2, 528(1)
            \\ ld 0, 536(1)
            \\ mtlr 0
            \\ addi 1, 1, 576
            \\ blr
            :
            : [switch_stack] "X" (&zgl.transfer.switchStack),
        ),
        // Frame: the switch's (save area, r6-r14, f8-f15, FPC), then registers at 304.
        .s390x => asm volatile (
            \\ aghi %%r15, -312
            \\ stmg %%r6, %%r14, 160(%%r15)
            \\ .irp n, 8, 9, 10, 11, 12, 13, 14, 15
            \\ std %%f\n, (232 + (\n - 8) * 8)(%%r15)
            \\ ld %%f\n, (64 + (\n - 8) * 8)(%%r2)
            \\ .endr
            \\ stfpc 296(%%r15)
            \\ stg %%r2, 304(%%r15)
            \\ lfpc 128(%%r2)
            \\ lg %%r0, 136(%%r2)
            \\ lmg %%r6, %%r13, 0(%%r2)
            \\ lgr %%r2, %%r3
            \\ ltgr %%r0, %%r0
            \\ jne 1f
            \\ brasl %%r14, %[switch_stack]
            \\ lghi %%r0, 0
            \\ j 2f
            \\ 1: brasl %%r14, %[switch_stack]
            \\ lghi %%r0, 1
            \\ 2: lg %%r1, 304(%%r15)
            \\ stmg %%r6, %%r13, 0(%%r1)
            \\ .irp n, 8, 9, 10, 11, 12, 13, 14, 15
            \\ std %%f\n, (64 + (\n - 8) * 8)(%%r1)
            \\ ld %%f\n, (232 + (\n - 8) * 8)(%%r15)
            \\ .endr
            \\ stfpc 128(%%r1)
            \\ stg %%r0, 136(%%r1)
            \\ stg %%r15, 144(%%r1)
            \\ lfpc 296(%%r15)
            \\ lmg %%r6, %%r14, 160(%%r15)
            \\ aghi %%r15, 312
            \\ br %%r14
            :
            : [switch_stack] "X" (&zgl.transfer.switchStack),
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
    var seh_record: SehRecord = undefined;
    const expected = sentinelsHere(.other, &seh_record);
    var round: u32 = 0;
    while (round < exchange.rounds) : (round += 1) {
        var registers = expected;
        switchKeepingSentinels(green.world, &green.world.main, &registers);
        if (!same(expected, registers)) exchange.other_mismatches += 1;
        const misaligned = registers.stack_pointer % zgl.arch.stack_align_bytes != 0;
        if (misaligned) exchange.other_misaligned += 1;
    }
}

test "callee-saved registers and control state survive a switch to a clobbering stack" {
    var world: World = undefined;
    world.init(&zgl.alloc.testing_allocator);
    var exchange: Exchange = .{ .rounds = 64 };
    var other = world.green(1, clobberingBody);
    other.context = &exchange;
    try world.switchTo(&other);
    var seh_record: SehRecord = undefined;
    const expected = sentinelsHere(.main, &seh_record);
    var round: u32 = 0;
    while (round < exchange.rounds) : (round += 1) {
        var registers = expected;
        switchKeepingSentinels(&world, &other, &registers);
        try std.testing.expect(same(expected, registers));
        try std.testing.expectEqual(0, registers.stack_pointer % zgl.arch.stack_align_bytes);
    }
    // The last switch resumed the other side's final round, which then finished into main.
    try std.testing.expect(other.dead());
    try std.testing.expectEqual(@as(u32, 0), exchange.other_mismatches);
    try std.testing.expectEqual(@as(u32, 0), exchange.other_misaligned);
    other.stack.freeCopy(&zgl.alloc.testing_allocator);
    world.main.stack.freeCopy(&zgl.alloc.testing_allocator);
}

fn readExceptionChainBody(green: *Green) void {
    const seen: *u32 = @ptrCast(@alignCast(green.context.?));
    seen.* = asm volatile ("movl %%fs:0, %[head]"
        : [head] "=r" (-> u32),
    );
}

test "a new stack's SEH chain starts at the thread's outermost record, not in its starter's frames" {
    if (!has_seh_chain) return error.SkipZigTest; // only Windows x86 has a chain at fs:[0]
    var world: World = undefined;
    world.init(&zgl.alloc.testing_allocator);
    const outer = world.thread.outer_exception_record;
    try std.testing.expect(outer != 0);
    try std.testing.expectEqual(outer, zgl.arch.outerExceptionRecord());
    // the starter links a record of its own frame in front, as a function with a handler does
    var record: SehRecord = .{
        .previous = asm volatile ("movl %%fs:0, %[head]"
            : [head] "=r" (-> u32),
        ),
        .handler = @intFromPtr(&sehContinueSearch),
    };
    zgl.arch.setExceptionChain(@intFromPtr(&record));
    var seen: u32 = 0;
    var other = world.green(1, readExceptionChainBody);
    other.context = &seen;
    try world.switchTo(&other);
    const head_after = asm volatile ("movl %%fs:0, %[head]"
        : [head] "=r" (-> u32),
    );
    zgl.arch.setExceptionChain(record.previous);
    try std.testing.expect(other.dead());
    try std.testing.expectEqual(outer, seen);
    // back on the starter, its own chain is in place again
    try std.testing.expectEqual(@as(u32, @intFromPtr(&record)), head_after);
    other.stack.freeCopy(&zgl.alloc.testing_allocator);
    world.main.stack.freeCopy(&zgl.alloc.testing_allocator);
}

/// The x64 unwind data of a function (Microsoft, "x64 exception handling"): RUNTIME_FUNCTION
/// and the UNWIND_INFO it points to, with its array of UNWIND_CODE slots.
const RuntimeFunction = extern struct { begin: u32, end: u32, unwind_info: u32 };
extern "kernel32" fn RtlLookupFunctionEntry(pc: u64, image_base: *u64, history: ?*anyopaque) callconv(.winapi) ?*const RuntimeFunction;

const uwop_push_nonvol = 0;
const uwop_alloc_large = 1;
const uwop_alloc_small = 2;
const uwop_save_xmm128 = 8;

test "the x64 Windows switch has unwind data: every pushed register, the frame and xmm6-xmm15" {
    if (!(windows and builtin.cpu.arch == .x86_64)) return error.SkipZigTest; // x64 Windows only
    var image_base: u64 = 0;
    const entry = RtlLookupFunctionEntry(@intFromPtr(&zgl.transfer.switchStack), &image_base, null) orelse
        return error.NoUnwindData;
    const info: [*]const u8 = @ptrFromInt(image_base + entry.unwind_info);
    try std.testing.expectEqual(@as(u8, 1), info[0] & 7); // version 1
    const count = info[2];
    const codes: [*]align(1) const u16 = @ptrCast(info + 4);
    var pushed: u16 = 0; // bit per register number (rbx 3, rbp 5, rsi 6, rdi 7, r12-r15)
    var xmm: u16 = 0; // bit per xmm register
    var allocated: u32 = 0;
    var slot: usize = 0;
    while (slot < count) : (slot += 1) {
        const op = (codes[slot] >> 8) & 0xf;
        const op_info: u4 = @intCast(codes[slot] >> 12);
        switch (op) {
            uwop_push_nonvol => pushed |= @as(u16, 1) << op_info,
            uwop_alloc_small => allocated += @as(u32, op_info) * 8 + 8,
            uwop_alloc_large => {
                slot += 1;
                allocated += @as(u32, codes[slot]) * 8;
            },
            uwop_save_xmm128 => {
                xmm |= @as(u16, 1) << op_info;
                slot += 1;
            },
            else => return error.UnexpectedUnwindCode,
        }
    }
    const callee_saved: u16 = (1 << 3) | (1 << 5) | (1 << 6) | (1 << 7) | (0xf << 12);
    try std.testing.expectEqual(callee_saved, pushed);
    try std.testing.expectEqual(@as(u16, 0xffc0), xmm); // xmm6-xmm15
    try std.testing.expectEqual(@as(u32, 200), allocated);
}
