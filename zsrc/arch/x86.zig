//! Target: x86 (i686), System V i386. Reference: System V i386 psABI 1.1, "Function Calling
//! Sequence": the register usage table and "The Stack Frame" (16-byte alignment at a call).
//! Saved: ebx, esi, edi, ebp; no vector registers; the x87 control word, and MXCSR when the
//! target CPU has SSE (a CPU without SSE, such as plain i686, has no MXCSR).
//! Not saved, and why: eax, ecx, edx, the x87 stack (empty at calls) and xmm0-7 are
//! caller-saved; the gs base is the thread pointer, shared by every stack of the thread.
//! Stack alignment: 16 bytes at every call out (esp+4 is 16-aligned at entry; 4 pushes and a
//! 12-byte control area realign it; each call pushes 16 bytes of arguments).
//! Red zone: none; nothing is live below esp when esp is handed to save.
//! Calls out: save(thread, esp) and restore(thread, esp), cdecl: arguments on the stack below
//! the handed esp, popped by the caller; thread kept in ebx.
//! Frame (offset: contents): 0: MXCSR, 4: x87 control word, 8: unused, 12: edi, 16: esi,
//! 20: ebx, 24: ebp, 28: return address.

const builtin = @import("builtin");
const transfer = @import("../switch.zig");

pub const name = "x86 System V i386 (naked)";
pub const frame_size_bytes = 7 * 4 + 4;
pub const stack_align_bytes = 16;
pub const red_zone_bytes = 0;
pub const near_offset_bytes = 0;

/// MXCSR exists only on CPUs with SSE; the switch saves it whenever the target has it.
const saves_mxcsr = builtin.cpu.has(.x86, .sse);

pub fn switchStack() callconv(.naked) void {
    asm volatile (
        \\ pushl %%ebp
        \\ pushl %%ebx
        \\ pushl %%esi
        \\ pushl %%edi
        \\ subl $12, %%esp
        \\ .if %[sse:c]
        \\ stmxcsr 0(%%esp)
        \\ .endif
        \\ fnstcw 4(%%esp)
        // ebx = thread, the first argument: above the 28 bytes pushed and the return address.
        \\ movl 32(%%esp), %%ebx
        // save(thread, esp) returns the stack pointer to use; 16 bytes of arguments keep the
        // alignment.
        \\ movl %%esp, %%eax
        \\ subl $8, %%esp
        \\ pushl %%eax
        \\ pushl %%ebx
        \\ calll %[save:P]
        // The stack above esp is garbage until restore returns.
        \\ movl %%eax, %%esp
        \\ subl $8, %%esp
        \\ pushl %%eax
        \\ pushl %%ebx
        \\ calll %[restore:P]
        \\ addl $16, %%esp
        // The stack is restored: reload the target's registers and return its status in eax.
        \\ .if %[sse:c]
        \\ ldmxcsr 0(%%esp)
        \\ .endif
        \\ fldcw 4(%%esp)
        \\ addl $12, %%esp
        \\ popl %%edi
        \\ popl %%esi
        \\ popl %%ebx
        \\ popl %%ebp
        \\ retl
        :
        : [save] "X" (&transfer.switchStackSave),
          [restore] "X" (&transfer.switchStackRestore),
          [sse] "i" (@intFromBool(saves_mxcsr)),
    );
}
