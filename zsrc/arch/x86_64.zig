//! Target: x86_64, System V AMD64. Reference: System V AMD64 psABI 1.0, §3.2.1 and §3.2.3.
//! Saved: rbx, rbp, r12, r13, r14, r15; no vector registers; MXCSR and the x87 control word.
//! Not saved, and why: rax, rcx, rdx, rsi, rdi, r8-r11 and xmm0-15 are caller-saved; the fs
//! base is the thread pointer, shared by every stack of the thread.
//! Stack alignment: 16 bytes at every call out (rsp+8 is 16-aligned at entry; 6 pushes and an
//! 8-byte control slot realign it).
//! Red zone: 128 bytes; nothing is live below rsp when rsp is handed to save.
//! Calls out: save(thread, rsp) and restore(thread, rsp), plain C calls; thread kept in rbx.
//! Frame (offset: contents): 0: MXCSR, 4: x87 control word, 8: r15, 16: r14, 24: r13,
//! 32: r12, 40: rbx, 48: rbp, 56: return address.

pub const name = "x86_64 System V (naked)";
pub const frame_size_bytes = 7 * 8 + 8;
pub const stack_align_bytes = 16;
pub const red_zone_bytes = 128;
pub const near_offset_bytes = 0;

/// The naked switch; `save` and `restore` are the callbacks that "Calls out" names.
pub fn SwitchStack(comptime save: anytype, comptime restore: anytype) type {
    // Named, so that the switch gets a bare symbol name (see arch.zig).
    const Switch = struct {
        pub fn switchStack() callconv(.naked) void {
            asm volatile (code
                :
                : [save] "X" (&save),
                  [restore] "X" (&restore),
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
    \\ subq $8, %%rsp
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
    \\ addq $8, %%rsp
    \\ popq %%r15
    \\ popq %%r14
    \\ popq %%r13
    \\ popq %%r12
    \\ popq %%rbx
    \\ popq %%rbp
    \\ retq
;
