//! Target: x86_64 Windows, the Microsoft x64 calling convention. Reference: Microsoft, "x64
//! calling convention" and "x64 ABI conventions" (register volatility, stack allocation, the
//! x87 control word and MXCSR), "x64 prolog and epilog" and "x64 exception handling" (the
//! unwind data below).
//! Saved: rbx, rbp, rsi, rdi, r12, r13, r14, r15; xmm6-xmm15 whole (128 bits each); MXCSR and
//! the x87 control word.
//! Not saved, and why: rax, rcx, rdx, r8-r11, xmm0-xmm5, xmm16-31 and the upper halves of the
//! ymm/zmm registers are volatile; the gs base is the thread's TEB, shared by every stack of
//! the thread. Its stack limits stay right: every stack lies inside the thread's stack.
//! Not supported: hardware shadow stacks (CET). The final `retq` goes to the target's return
//! address, which the shadow stack never saw, so the module must not be marked CETCOMPAT.
//! Stack alignment: 16 bytes at every call out (rsp+8 is 16-aligned at entry; 8 pushes and
//! a 200-byte area realign it).
//! Red zone: none; nothing is live below rsp when rsp is handed to save.
//! Calls out: save(thread, rsp) and restore(thread, rsp) with thread in rcx and rsp in rdx,
//! plain calls; thread kept in rbx. Each callee owns the 32 bytes of shadow space at rsp (it
//! may spill its register arguments there), so those 32 bytes are the near offset, never
//! saved or restored.
//! Unwind data: the prologue carries `.seh_*` directives, so exception dispatch and debuggers
//! walk through save and restore into the switch's caller. The epilogue has the shape the
//! unwinder recognises (`addq` to rsp, pops, `retq`) and needs no directives.
//! Frame (offset: contents): 0: shadow space (to 32, for the callees), 32: xmm6, 48: xmm7,
//! ..., 176: xmm15 (xmm<n> at 32 + (n - 6) * 16), 192: MXCSR, 196: x87 control word, 200: r15,
//! 208: r14, 216: r13, 224: r12, 232: rdi, 240: rsi, 248: rbx, 256: rbp, 264: return address.

const std = @import("std");

pub const name = "x86_64 Microsoft x64 (naked)";
/// The return address, the pushed registers and the area below them.
pub const frame_size_bytes = 8 + pushed_registers * 8 + area_bytes;
pub const stack_align_bytes = 16;
pub const red_zone_bytes = 0;
pub const near_offset_bytes = 32;
pub const dwarf_return_column: ?u16 = null; // Windows has no DWARF CFI

/// The frame below the return address: what `code` pushes, then the area it reserves for the
/// shadow space, xmm6-xmm15, MXCSR and the x87 control word.
const pushed_registers = 8;
const area_bytes = near_offset_bytes + 10 * 16 + 8;

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
        pub noinline fn switchStack() callconv(.naked) void {
            asm volatile (code
                :
                : [save] "X" (&save),
                  [restore] "X" (&restore),
                  [self] "X" (&switchStack),
                  [area] "i" (area_bytes),
            );
        }
    };
    return Switch;
}

const code =
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
    \\ subq %[area], %%rsp
    \\ .seh_stackalloc %[area:c]
    \\ movaps %%xmm6, 32(%%rsp)
    \\ .seh_savexmm %%xmm6, 32
    \\ movaps %%xmm7, 48(%%rsp)
    \\ .seh_savexmm %%xmm7, 48
    \\ movaps %%xmm8, 64(%%rsp)
    \\ .seh_savexmm %%xmm8, 64
    \\ movaps %%xmm9, 80(%%rsp)
    \\ .seh_savexmm %%xmm9, 80
    \\ movaps %%xmm10, 96(%%rsp)
    \\ .seh_savexmm %%xmm10, 96
    \\ movaps %%xmm11, 112(%%rsp)
    \\ .seh_savexmm %%xmm11, 112
    \\ movaps %%xmm12, 128(%%rsp)
    \\ .seh_savexmm %%xmm12, 128
    \\ movaps %%xmm13, 144(%%rsp)
    \\ .seh_savexmm %%xmm13, 144
    \\ movaps %%xmm14, 160(%%rsp)
    \\ .seh_savexmm %%xmm14, 160
    \\ movaps %%xmm15, 176(%%rsp)
    \\ .seh_savexmm %%xmm15, 176
    \\ .seh_endprologue
    \\ stmxcsr 192(%%rsp)
    \\ fnstcw 196(%%rsp)
    // rbx = thread; rcx = thread, rdx = rsp: save returns the stack pointer to use.
    \\ movq %%rcx, %%rbx
    \\ movq %%rsp, %%rdx
    \\ callq %[save:P]
    // The stack above rsp + 32 is garbage until restore returns.
    \\ movq %%rax, %%rsp
    \\ movq %%rbx, %%rcx
    \\ movq %%rsp, %%rdx
    \\ callq %[restore:P]
    // The stack is restored: reload the target's registers and return its status in eax.
    \\ ldmxcsr 192(%%rsp)
    \\ fldcw 196(%%rsp)
    \\ movaps 32(%%rsp), %%xmm6
    \\ movaps 48(%%rsp), %%xmm7
    \\ movaps 64(%%rsp), %%xmm8
    \\ movaps 80(%%rsp), %%xmm9
    \\ movaps 96(%%rsp), %%xmm10
    \\ movaps 112(%%rsp), %%xmm11
    \\ movaps 128(%%rsp), %%xmm12
    \\ movaps 144(%%rsp), %%xmm13
    \\ movaps 160(%%rsp), %%xmm14
    \\ movaps 176(%%rsp), %%xmm15
    \\ addq %[area], %%rsp
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
;
