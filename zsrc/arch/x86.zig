//! Target: x86 (i686): System V i386 on Linux, cdecl on Windows. Reference: System V i386 psABI
//! 1.1, "Function Calling Sequence": the register usage table and "The Stack Frame" (16-byte
//! alignment at a call); Microsoft, "Argument passing and naming conventions" and "__cdecl"
//! (the same register usage, 4-byte alignment), and "Thread Information Block" /
//! NT_TIB.ExceptionList for the SEH chain.
//! Saved: ebx, esi, edi, ebp; no vector registers; the x87 control word, and MXCSR when the
//! target CPU has SSE (a CPU without SSE, such as plain i686, has no MXCSR); on Windows, the
//! head of the SEH registration chain at fs:[0].
//! Not saved, and why: eax, ecx, edx, the x87 stack (empty at calls) and xmm0-7 are
//! caller-saved; the gs base (Linux) is the thread pointer and the fs base (Windows) the
//! thread's TEB, shared by every stack of the thread, and so are the TEB's stack limits, which
//! stay right: every stack lies inside the thread's stack.
//! SEH chain (Windows): exception dispatch on x86 walks a list of registration records that
//! functions with handlers link into their own frames, from the head at fs:[0]. Each stack has
//! its own list, so the switch keeps the head in its frame like a register. This is all the
//! switch does; the rest belongs to whoever starts a stack. A new stack begins with the head
//! of the stack that started it, whose records lie in the starter's frames, and those frames
//! may later be copied away and overwritten while the new stack still links to them. So a new
//! stack's chain starts at the thread's outermost record instead (`outerExceptionRecord`, noted
//! by Thread.init; Thread.start installs it with `setExceptionChain`): the record that the
//! thread's start routine linked in, which stays put until the thread ends, and whose handler
//! is the thread's last resort for an exception nothing else handles. The core's own frames
//! and the glue's (compiled by clang for MinGW) link in no records of their own.
//! Unwind data: the switch's code has no CFI directives; on Linux, dwarf_return_column is the
//! number with which the glue ends walks at g_start. Windows x86 has no unwind tables:
//! exceptions follow the SEH chain above, and debuggers follow ebp, which the switch leaves
//! pointing at its caller's frame.
//! Stack alignment: 16 bytes at every call out on Linux (esp+4 is 16-aligned at entry; 4
//! pushes and a 12-byte control area realign it; each call pushes 16 bytes of arguments), 4 on
//! Windows, all its conventions promise (the same frame and calls keep it).
//! Red zone: none; nothing is live below esp when esp is handed to save.
//! Calls out: save(thread, esp) and restore(thread, esp), cdecl: arguments on the stack below
//! the handed esp, popped by the caller; thread kept in ebx.
//! Frame (offset: contents): 0: MXCSR, 4: x87 control word, 8: the SEH chain head (Windows;
//! unused on Linux), 12: edi, 16: esi, 20: ebx, 24: ebp, 28: return address.

const std = @import("std");
const builtin = @import("builtin");

/// Windows keeps a chain of exception handler records per stack, from fs:[0].
const windows = builtin.os.tag == .windows;

pub const name = if (windows) "x86 Windows cdecl (naked)" else "x86 System V i386 (naked)";
/// The return address, the pushed registers and the control area.
pub const frame_size_bytes = 4 + pushed_registers * 4 + control_bytes;
pub const stack_align_bytes = if (windows) 4 else 16;
pub const red_zone_bytes = 0;
pub const near_offset_bytes = 0;
pub const dwarf_return_column: ?u16 = 8; // the return address (eip); Windows has no DWARF CFI

/// The frame below the return address: what `code` pushes, then the control area for MXCSR,
/// the x87 control word and the SEH chain head (pushed into its top on Windows).
const pushed_registers = 4;
const control_bytes = 12;

comptime {
    // Only the registers are popped (pushes also pass the callbacks' arguments).
    @setEvalBranchQuota(10_000);
    if (std.mem.count(u8, code, "popl %%e") != pushed_registers) {
        @compileError("pushed_registers differs from what code pops");
    }
}

/// MXCSR exists only on CPUs with SSE; the switch saves it whenever the target has it.
const saves_mxcsr = builtin.cpu.has(.x86, .sse);

/// Windows: the record at the outer end of the running thread's SEH chain (the last one before
/// the end mark 0xffffffff), 0 for an empty chain or elsewhere.
pub fn outerExceptionRecord() u32 {
    if (!windows) return 0;
    const end_mark: u32 = 0xffff_ffff;
    var record = asm volatile ("movl %%fs:0, %[head]"
        : [head] "=r" (-> u32),
    );
    var outer: u32 = 0;
    // A record is { next, handler }; a corrupt chain stops the walk after a bounded count.
    var count: u32 = 0;
    while (record != 0 and record != end_mark and count < 1 << 16) : (count += 1) {
        outer = record;
        record = @as(*const volatile u32, @ptrFromInt(record)).*;
    }
    return outer;
}

/// Windows: makes `record` the head of the running stack's SEH chain (0: leaves it as it is).
pub fn setExceptionChain(record: u32) void {
    if (!windows or record == 0) return;
    asm volatile ("movl %[record], %%fs:0"
        :
        : [record] "r" (record),
        : .{ .memory = true });
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
                  [sse] "i" (@intFromBool(saves_mxcsr)),
                  [windows] "i" (@intFromBool(windows)),
                  [control] "i" (control_bytes),
                  [frame] "i" (frame_size_bytes),
            );
        }
    };
    return Switch;
}

const code =
    \\ pushl %%ebp
    \\ pushl %%ebx
    \\ pushl %%esi
    \\ pushl %%edi
    \\ .if %[windows:c]
    \\ pushl %%fs:0
    \\ subl $%[control:c] - 4, %%esp
    \\ .else
    \\ subl $%[control:c], %%esp
    \\ .endif
    \\ .if %[sse:c]
    \\ stmxcsr 0(%%esp)
    \\ .endif
    \\ fnstcw 4(%%esp)
    // ebx = thread, the first argument: right above the frame.
    \\ movl %[frame:c](%%esp), %%ebx
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
    // The stack is restored: reload the target's registers (and SEH chain head), and return
    // its status in eax.
    \\ .if %[sse:c]
    \\ ldmxcsr 0(%%esp)
    \\ .endif
    \\ fldcw 4(%%esp)
    \\ .if %[windows:c]
    \\ addl $%[control:c] - 4, %%esp
    \\ popl %%fs:0
    \\ .else
    \\ addl $%[control:c], %%esp
    \\ .endif
    \\ popl %%edi
    \\ popl %%esi
    \\ popl %%ebx
    \\ popl %%ebp
    \\ retl
;
