//! Target: s390x, z/Architecture ELF ABI. Reference: s390x ELF ABI Supplement (IBM, s390x-abi),
//! "Register Preservation Rules" and "The Stack Frame" (back-chain slot, register save area).
//! Saved: r6-r13 (r11 being the frame pointer when there is one); f8-f15 (the left halves of
//! v8-v15, all the ABI keeps); FPC; r14, the return address the final `br` goes through. r15,
//! the stack pointer, is restored by popping the frame.
//! Not saved, and why: r0-r5, f0-f7, the right halves of v8-v15, v16-v31 and the condition
//! code are volatile; a0 and a1 hold the thread pointer, shared by every stack of the thread.
//! The ABI's table does not list FPC (its text defers to the POWER ABI's rule for FPSCR: only
//! functions made for it change the rounding mode and masks); each stack keeps its own, like
//! the floating-point control state of the other targets. It is saved whole: its flags are not
//! preserved across calls, so any value is right there.
//! Stack alignment: 8 bytes at entry and at every call out (the frame is 304 bytes).
//! Red zone: none; nothing is live below r15 when r15 is handed to save.
//! Calls out: save(thread, r15) and restore(thread, r15), `brasl %r14`; thread kept in r6. The
//! caller must provide a 160-byte area at r15: the back-chain slot, then the register save
//! area its callees write their own registers into. Those 160 bytes are the near offset,
//! never saved or restored.
//! Frame (offset: contents): 0: back-chain slot, 8: register save area (to 160, for the
//! callees), 160: r6, 168: r7, ..., 224: r14 (r<n> at 160 + (n - 6) * 8), 232: f8, 240: f9,
//! ..., 288: f15 (f<n> at 232 + (n - 8) * 8), 296: FPC, 300: unused.

pub const name = "s390x z/Architecture ELF (naked)";
pub const frame_size_bytes = 304;
pub const stack_align_bytes = 8;
pub const red_zone_bytes = 0;
pub const near_offset_bytes = 160;
pub const dwarf_return_column: ?u16 = 14; // r14

/// The naked switch; `save` and `restore` are the callbacks that "Calls out" names.
pub fn SwitchStack(comptime save: anytype, comptime restore: anytype) type {
    // Named, so that the switch gets a bare symbol name (see arch.zig).
    const Switch = struct {
        pub fn switchStack() callconv(.naked) void {
            asm volatile (code
                :
                : [save] "X" (&save),
                  [restore] "X" (&restore),
                  [frame] "i" (frame_size_bytes),
            );
        }
    };
    return Switch;
}

const code =
    \\ aghi %%r15, -%[frame:c]
    \\ stmg %%r6, %%r14, 160(%%r15)
    \\ std %%f8, 232(%%r15)
    \\ std %%f9, 240(%%r15)
    \\ std %%f10, 248(%%r15)
    \\ std %%f11, 256(%%r15)
    \\ std %%f12, 264(%%r15)
    \\ std %%f13, 272(%%r15)
    \\ std %%f14, 280(%%r15)
    \\ std %%f15, 288(%%r15)
    \\ stfpc 296(%%r15)
    // r6 = thread; r2 = thread, r3 = r15: save returns the stack pointer to use.
    \\ lgr %%r6, %%r2
    \\ lgr %%r3, %%r15
    \\ brasl %%r14, %[save]
    // The stack above r15 + 160 is garbage until restore returns.
    \\ lgr %%r15, %%r2
    \\ lgr %%r2, %%r6
    \\ lgr %%r3, %%r15
    \\ brasl %%r14, %[restore]
    // The stack is restored: reload the target's registers and return its status in r2.
    \\ lfpc 296(%%r15)
    \\ ld %%f15, 288(%%r15)
    \\ ld %%f14, 280(%%r15)
    \\ ld %%f13, 272(%%r15)
    \\ ld %%f12, 264(%%r15)
    \\ ld %%f11, 256(%%r15)
    \\ ld %%f10, 248(%%r15)
    \\ ld %%f9, 240(%%r15)
    \\ ld %%f8, 232(%%r15)
    \\ lmg %%r6, %%r14, 160(%%r15)
    \\ aghi %%r15, %[frame:c]
    \\ br %%r14
;
