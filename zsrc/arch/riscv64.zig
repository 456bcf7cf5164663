//! Target: riscv64, LP64D. Reference: RISC-V ELF psABI, "Integer Register Convention" and
//! "Floating-point Register Convention" (the callee-saved sets), "Integer Calling Convention"
//! (the stack).
//! Saved: s0-s11 (s0 being the frame pointer); fs0-fs11; ra, the return address the final
//! `ret` goes through.
//! Not saved, and why: a0-a7, t0-t6, fa0-fa7, ft0-ft11 and the vector registers are
//! caller-saved; gp and tp are not allocatable (tp is the thread pointer, shared by every stack
//! of the thread); fcsr has thread storage duration by the psABI (C11 7.6), so every stack of
//! the thread shares it.
//! Stack alignment: 16 bytes at entry and at every call out (the frame is 208 bytes).
//! Red zone: none; nothing is live below sp when sp is handed to save.
//! Calls out: save(thread, sp) and restore(thread, sp), plain `call`; thread kept in s1.
//! Frame (offset: contents): 0: ra, 8: s0, 16: s1, ..., 96: s11 (s<n> at 8 + n * 8),
//! 104: fs0, 112: fs1, ..., 192: fs11 (fs<n> at 104 + n * 8), 200: unused.

const builtin = @import("builtin");

pub const name = "riscv64 LP64D (naked)";
pub const frame_size_bytes = 26 * 8;
pub const stack_align_bytes = 16;
pub const red_zone_bytes = 0;
pub const near_offset_bytes = 0;
pub const dwarf_return_column: ?u16 = 1; // ra

/// The naked switch; `save` and `restore` are the callbacks that "Calls out" names.
pub fn SwitchStack(comptime save: anytype, comptime restore: anytype) type {
    if (!builtin.cpu.has(.riscv, .d)) @compileError("zgl: riscv64 needs the D extension");
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
    \\ addi sp, sp, -%[frame:c]
    \\ sd ra, 0 * 8(sp)
    \\ sd s0, 1 * 8(sp)
    \\ sd s1, 2 * 8(sp)
    \\ sd s2, 3 * 8(sp)
    \\ sd s3, 4 * 8(sp)
    \\ sd s4, 5 * 8(sp)
    \\ sd s5, 6 * 8(sp)
    \\ sd s6, 7 * 8(sp)
    \\ sd s7, 8 * 8(sp)
    \\ sd s8, 9 * 8(sp)
    \\ sd s9, 10 * 8(sp)
    \\ sd s10, 11 * 8(sp)
    \\ sd s11, 12 * 8(sp)
    \\ fsd fs0, 13 * 8(sp)
    \\ fsd fs1, 14 * 8(sp)
    \\ fsd fs2, 15 * 8(sp)
    \\ fsd fs3, 16 * 8(sp)
    \\ fsd fs4, 17 * 8(sp)
    \\ fsd fs5, 18 * 8(sp)
    \\ fsd fs6, 19 * 8(sp)
    \\ fsd fs7, 20 * 8(sp)
    \\ fsd fs8, 21 * 8(sp)
    \\ fsd fs9, 22 * 8(sp)
    \\ fsd fs10, 23 * 8(sp)
    \\ fsd fs11, 24 * 8(sp)
    // s1 = thread; a0 = thread, a1 = sp: save returns the stack pointer to use.
    \\ mv s1, a0
    \\ mv a1, sp
    \\ call %[save]
    // The stack above sp is garbage until restore returns.
    \\ mv sp, a0
    \\ mv a0, s1
    \\ mv a1, sp
    \\ call %[restore]
    // The stack is restored: reload the target's registers and return its status in a0.
    \\ fld fs11, 24 * 8(sp)
    \\ fld fs10, 23 * 8(sp)
    \\ fld fs9, 22 * 8(sp)
    \\ fld fs8, 21 * 8(sp)
    \\ fld fs7, 20 * 8(sp)
    \\ fld fs6, 19 * 8(sp)
    \\ fld fs5, 18 * 8(sp)
    \\ fld fs4, 17 * 8(sp)
    \\ fld fs3, 16 * 8(sp)
    \\ fld fs2, 15 * 8(sp)
    \\ fld fs1, 14 * 8(sp)
    \\ fld fs0, 13 * 8(sp)
    \\ ld s11, 12 * 8(sp)
    \\ ld s10, 11 * 8(sp)
    \\ ld s9, 10 * 8(sp)
    \\ ld s8, 9 * 8(sp)
    \\ ld s7, 8 * 8(sp)
    \\ ld s6, 7 * 8(sp)
    \\ ld s5, 6 * 8(sp)
    \\ ld s4, 5 * 8(sp)
    \\ ld s3, 4 * 8(sp)
    \\ ld s2, 3 * 8(sp)
    \\ ld s1, 2 * 8(sp)
    \\ ld s0, 1 * 8(sp)
    \\ ld ra, 0 * 8(sp)
    \\ addi sp, sp, %[frame:c]
    \\ ret
;
