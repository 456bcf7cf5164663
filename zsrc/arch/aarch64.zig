//! Target: aarch64, AAPCS64, on Linux (ELF), macOS (Mach-O) and Windows (PE/COFF). Reference:
//! Procedure Call Standard for the Arm 64-bit Architecture (IHI 0055), §6.1.1 general-purpose
//! registers, §6.1.2 SIMD and floating-point registers, §6.4.5 the stack; Microsoft, "Overview of
//! ARM64 ABI conventions" and "ARM64 exception handling" for Windows.
//! Saved: x19-x28, x29 (frame pointer); d8-d15 (the low halves of v8-v15, all the ABI keeps);
//! FPCR; x30, the return address the final `ret` goes through.
//! Not saved, and why: x0-x17 and the rest of v0-v31 are caller-saved; x18 is the platform
//! register, never touched (Windows keeps the thread's TEB in it; macOS reserves it); FPSR holds
//! only cumulative status flags, which the ABI does not preserve; tpidr_el0 is the thread
//! pointer, shared by every stack of the thread. FPCR is a "global register" that only support
//! functions such as fesetround may change; a switch is no such function, so each stack keeps
//! its own, as arm does with FPSCR and x86 with MXCSR.
//! Stack alignment: 16 bytes, always (sp is 16-aligned at entry; the frame is 176 bytes).
//! Red zone: none; nothing is live below sp when sp is handed to save. (Windows reserves 16
//! bytes below sp for patching tools, which compiled code never uses.)
//! Calls out: save(thread, sp) and restore(thread, sp), plain `bl`; thread kept in x19.
//! Unwind data (Windows only): `.seh_*` directives describe the prologue and the epilogue,
//! one unwind code for each of their instructions in the same order, so exception dispatch
//! and debuggers walk through save and restore into the switch's caller. x29 is left pointing
//! at the caller's frame record, so walks that follow frame records skip the switch's frame.
//! Frame (offset: contents): 0: x19, 8: x20, 16: x21, 24: x22, 32: x23, 40: x24, 48: x25,
//! 56: x26, 64: x27, 72: x28, 80: x29, 88: x30, 96: d8, 104: d9, 112: d10, 120: d11, 128: d12,
//! 136: d13, 144: d14, 152: d15, 160: FPCR, 168: unused.

const builtin = @import("builtin");

pub const name = "aarch64 AAPCS64 (naked)";
pub const frame_size_bytes = 22 * 8;
pub const stack_align_bytes = 16;
pub const red_zone_bytes = 0;
pub const near_offset_bytes = 0;
pub const dwarf_return_column: ?u16 = 30; // x30 (lr); Windows has no DWARF CFI

/// Windows unwinds through tables of unwind codes, which the `.seh_*` directives build.
const windows = builtin.os.tag == .windows;

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
                  [windows] "i" (@intFromBool(windows)),
                  [frame] "i" (frame_size_bytes),
            );
        }
    };
    return Switch;
}

const code =
    \\ .if %[windows:c]
    \\ .seh_proc %[self]
    \\ .endif
    \\ sub sp, sp, #%[frame:c]
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
    \\ .if %[windows:c]
    \\ .seh_stackalloc %[frame:c]
    \\ .seh_save_regp x19, 0 * 8
    \\ .seh_save_regp x21, 2 * 8
    \\ .seh_save_regp x23, 4 * 8
    \\ .seh_save_regp x25, 6 * 8
    \\ .seh_save_regp x27, 8 * 8
    \\ .seh_save_fplr 10 * 8
    \\ .seh_save_fregp d8, 12 * 8
    \\ .seh_save_fregp d10, 14 * 8
    \\ .seh_save_fregp d12, 16 * 8
    \\ .seh_save_fregp d14, 18 * 8
    \\ .seh_endprologue
    \\ .endif
    \\ mrs x9, fpcr
    \\ str x9, [sp, #20 * 8]
    // x19 = thread; x0 = thread, x1 = sp: save returns the stack pointer to use.
    \\ mov x19, x0
    \\ mov x1, sp
    \\ bl %[save]
    // The stack above sp is garbage until restore returns.
    \\ mov sp, x0
    \\ mov x0, x19
    \\ mov x1, sp
    \\ bl %[restore]
    // The stack is restored: reload the target's registers and return its status in w0.
    \\ ldr x9, [sp, #20 * 8]
    \\ msr fpcr, x9
    \\ .if %[windows:c]
    \\ .seh_startepilogue
    \\ .endif
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
    \\ add sp, sp, #%[frame:c]
    \\ .if %[windows:c]
    \\ .seh_save_fregp d14, 18 * 8
    \\ .seh_save_fregp d12, 16 * 8
    \\ .seh_save_fregp d10, 14 * 8
    \\ .seh_save_fregp d8, 12 * 8
    \\ .seh_save_fplr 10 * 8
    \\ .seh_save_regp x27, 8 * 8
    \\ .seh_save_regp x25, 6 * 8
    \\ .seh_save_regp x23, 4 * 8
    \\ .seh_save_regp x21, 2 * 8
    \\ .seh_save_regp x19, 0 * 8
    \\ .seh_stackalloc %[frame:c]
    \\ .seh_endepilogue
    \\ .endif
    \\ ret
    \\ .if %[windows:c]
    \\ .seh_endproc
    \\ .endif
;
