//! Target: x86_64, System V AMD64, on Linux (ELF) and macOS (Mach-O). Reference: System V AMD64
//! psABI 1.0, §3.2.1 and §3.2.3.
//! Saved: rbx, rbp, r12, r13, r14, r15; no vector registers; MXCSR and the x87 control word.
//! Not saved, and why: rax, rcx, rdx, rsi, rdi, r8-r11 and xmm0-15 are caller-saved; the fs
//! base is the thread pointer, shared by every stack of the thread.
//! Stack alignment: 16 bytes at every call out (rsp+8 is 16-aligned at entry; 6 pushes and an
//! 8-byte control slot realign it).
//! Red zone: 128 bytes; nothing is live below rsp when rsp is handed to save.
//! Calls out: save(thread, rsp) and restore(thread, rsp), plain C calls; thread kept in rbx.
//! Frame (offset: contents): 0: MXCSR, 4: x87 control word, 8: r15, 16: r14, 24: r13,
//! 32: r12, 40: rbx, 48: rbp, 56: return address.

const std = @import("std");

pub const name = "x86_64 System V (naked)";
/// The return address, the pushed registers and the control slot.
pub const frame_size_bytes = 8 + pushed_registers * 8 + control_bytes;
pub const stack_align_bytes = 16;
pub const red_zone_bytes = 128;
pub const near_offset_bytes = 0;
pub const dwarf_return_column: ?u16 = 16; // the return address (rip)

/// The frame below the return address: what `code` pushes, then a slot it reserves for MXCSR
/// and the x87 control word.
const pushed_registers = 6;
const control_bytes = 8;

comptime {
    @setEvalBranchQuota(10_000);
    const pushes = std.mem.count(u8, code, "pushq");
    const pops = std.mem.count(u8, code, "popq");
    if (pushes != pushed_registers or pops != pushed_registers) {
        @compileError("pushed_registers differs from what code pushes and pops");
    }
}

/// The naked switch; `save` and `restore` are the callbacks that "Calls out" names.
pub fn SwitchStack(comptime save: anytype, comptime restore: anytype) type {
    // Named, so that the switch gets a bare symbol name (see arch.zig).
    const Switch = struct {
        pub fn switchStack() callconv(.naked) void {
            asm volatile (code
                :
                : [save] "X" (&save),
                  [restore] "X" (&restore),
                  [control] "i" (control_bytes),
            );
        }
    };
    return Switch;
}

const code =
    \\ pushq %%rbp
    \\ pushq %%rbx
    \\ pushq %%r12
    \\ pushq %%r13
    \\ pushq %%r14
    \\ pushq %%r15
    // %[control] is the immediate $8: Debug builds assemble this with Zig's own x86_64
    // backend, which reads operands as immediates but takes no `:c` form.
    \\ subq %[control], %%rsp
    \\ stmxcsr 0(%%rsp)
    \\ fnstcw 4(%%rsp)
    // rbx = thread; rdi = thread, rsi = rsp: save returns the stack pointer to use.
    \\ movq %%rdi, %%rbx
    \\ movq %%rsp, %%rsi
    \\ callq %[save:P]
    // The stack above rsp is garbage until restore returns.
    \\ movq %%rax, %%rsp
    \\ movq %%rbx, %%rdi
    \\ movq %%rsp, %%rsi
    \\ callq %[restore:P]
    // The stack is restored: reload the target's registers and return its status in eax.
    \\ ldmxcsr 0(%%rsp)
    \\ fldcw 4(%%rsp)
    \\ addq %[control], %%rsp
    \\ popq %%r15
    \\ popq %%r14
    \\ popq %%r13
    \\ popq %%r12
    \\ popq %%rbx
    \\ popq %%rbp
    \\ retq
;
