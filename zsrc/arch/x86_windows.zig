//! Target: x86 (i686) Windows, cdecl. Reference: Microsoft, "Argument passing and naming
//! conventions" and "__cdecl" (the register usage shared by the 32-bit conventions), and
//! "Thread Information Block" / NT_TIB.ExceptionList for the SEH chain.
//! Saved: ebx, esi, edi, ebp; the x87 control word, and MXCSR when the target CPU has SSE; the
//! head of the SEH registration chain at fs:[0].
//! Not saved, and why: eax, ecx, edx, the x87 stack (empty at calls) and xmm0-7 are volatile;
//! the fs base is the thread's TEB, shared by every stack of the thread, and so are its stack
//! limits, which stay right: every stack lies inside the thread's stack.
//! SEH chain: exception dispatch on x86 walks a list of registration records that functions
//! with handlers link into their own frames, from the head at fs:[0]. Each stack has its own
//! list, so the switch keeps the head in its frame like a register. This is all the switch
//! does; the rest belongs to whoever starts a stack. A new stack begins with the head of the
//! stack that started it, whose records lie in the starter's frames, and those frames may
//! later be copied away and overwritten while the new stack still links to them. Upstream
//! greenlet handles it when a greenlet starts: the record its first function links in is
//! pointed past the starter's records, at a record near the outer end of the thread's chain
//! (noted when the thread's main greenlet was made), which lies beyond every stack and stays
//! put. Starting code for this target must do the same.
//! Unwind data: x86 has no unwind tables. Exceptions follow the SEH chain above; debuggers
//! follow ebp, which the switch leaves pointing at its caller's frame.
//! Stack alignment: 4 bytes, all that the 32-bit Windows conventions promise; the frame and
//! the 8 bytes of arguments of each call out keep it.
//! Red zone: none; nothing is live below esp when esp is handed to save.
//! Calls out: save(thread, esp) and restore(thread, esp), cdecl: arguments on the stack below
//! the handed esp, popped by the caller; thread kept in ebx.
//! Frame (offset: contents): 0: MXCSR, 4: x87 control word, 8: SEH chain head, 12: edi,
//! 16: esi, 20: ebx, 24: ebp, 28: return address.

const builtin = @import("builtin");
const transfer = @import("../switch.zig");

pub const name = "x86 Windows cdecl (naked)";
pub const frame_size_bytes = 7 * 4 + 4;
pub const stack_align_bytes = 4;
pub const red_zone_bytes = 0;
pub const near_offset_bytes = 0;

/// MXCSR exists only on CPUs with SSE; the switch saves it whenever the target has it.
const saves_mxcsr = builtin.cpu.has(.x86, .sse);

pub noinline fn switchStack() callconv(.naked) void {
    asm volatile (
        \\ pushl %%ebp
        \\ pushl %%ebx
        \\ pushl %%esi
        \\ pushl %%edi
        \\ pushl %%fs:0
        \\ subl $8, %%esp
        \\ .if %[sse:c]
        \\ stmxcsr 0(%%esp)
        \\ .endif
        \\ fnstcw 4(%%esp)
        // ebx = thread, the first argument: above the 28 bytes pushed and the return address.
        \\ movl 32(%%esp), %%ebx
        // save(thread, esp) returns the stack pointer to use.
        \\ movl %%esp, %%eax
        \\ pushl %%eax
        \\ pushl %%ebx
        \\ calll %[save:P]
        // The stack above esp is garbage until restore returns.
        \\ movl %%eax, %%esp
        \\ pushl %%eax
        \\ pushl %%ebx
        \\ calll %[restore:P]
        \\ addl $8, %%esp
        // The stack is restored: reload the target's registers and SEH chain head, and return
        // its status in eax.
        \\ .if %[sse:c]
        \\ ldmxcsr 0(%%esp)
        \\ .endif
        \\ fldcw 4(%%esp)
        \\ addl $8, %%esp
        \\ popl %%fs:0
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
