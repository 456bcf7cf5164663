//! Target: loongarch64, LP64D. Reference: Procedure Call Standard for the LoongArch
//! Architecture (LoongArch ELF psABI), "The registers" (its general-purpose and floating-point
//! register conventions) and "Subroutine Calling Sequence" ("The registers", "The stack");
//! LoongArch Reference Manual Volume 1, "Floating-point Control and Status Register".
//! Saved: s0-s8 ($r23-$r31) and fp ($r22, also s9); fs0-fs7 ($f24-$f31, whole 64-bit
//! doubles); the control fields of fcsr0, Enables and RM; ra ($r1), the return address the
//! final `jr` goes through.
//! Not saved, and why: a0-a7, t0-t8, fa0-fa7 and ft0-ft15 are temporaries, and so are the
//! condition flags fcc0-fcc7 and every part of the LSX/LASX vector registers that does not
//! overlap fs0-fs7; $r21 is reserved and tp ($r2) is the thread pointer, neither allocatable
//! (tp is shared by every stack of the thread). The psABI gives fcsr0 no rule, so C's does
//! (C11 7.6): a call keeps its caller's control modes. A switch is no function allowed to
//! change them, so each stack keeps its own Enables and RM, as aarch64 does with FPCR; the
//! Flags and Cause fields are status, left as they are (writes to the fcsr1 and fcsr3 aliases
//! change only their own fields and never trap).
//! Stack alignment: 16 bytes at entry and at every call out (the frame is 160 bytes).
//! Red zone: none; nothing is live below sp when sp is handed to save.
//! Calls out: save(thread, sp) and restore(thread, sp), plain `bl`; thread kept in s0.
//! Frame (offset: contents): 0: ra, 8: fp, 16: s0, 24: s1, ..., 80: s8 (s<n> at 16 + n * 8),
//! 88: fs0, 96: fs1, ..., 144: fs7 (fs<n> at 88 + n * 8), 152: fcsr0, 156: unused.

const builtin = @import("builtin");

pub const name = "loongarch64 LP64D (naked)";
pub const frame_size_bytes = 20 * 8;
pub const stack_align_bytes = 16;
pub const red_zone_bytes = 0;
pub const near_offset_bytes = 0;
pub const dwarf_return_column: ?u16 = 1; // ra

/// The naked switch; `save` and `restore` are the callbacks that "Calls out" names.
pub fn SwitchStack(comptime save: anytype, comptime restore: anytype) type {
    if (!builtin.cpu.has(.loongarch, .d)) {
        @compileError("zgl: loongarch64 needs the D extension (64-bit FPU)");
    }
    // Named, so that the switch gets a bare symbol name (see arch.zig).
    const Switch = struct {
        pub noinline fn switchStack() callconv(.naked) void {
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
    \\ addi.d $sp, $sp, -%[frame:c]
    \\ st.d $ra, $sp, 0 * 8
    \\ st.d $fp, $sp, 1 * 8
    \\ st.d $s0, $sp, 2 * 8
    \\ st.d $s1, $sp, 3 * 8
    \\ st.d $s2, $sp, 4 * 8
    \\ st.d $s3, $sp, 5 * 8
    \\ st.d $s4, $sp, 6 * 8
    \\ st.d $s5, $sp, 7 * 8
    \\ st.d $s6, $sp, 8 * 8
    \\ st.d $s7, $sp, 9 * 8
    \\ st.d $s8, $sp, 10 * 8
    \\ fst.d $fs0, $sp, 11 * 8
    \\ fst.d $fs1, $sp, 12 * 8
    \\ fst.d $fs2, $sp, 13 * 8
    \\ fst.d $fs3, $sp, 14 * 8
    \\ fst.d $fs4, $sp, 15 * 8
    \\ fst.d $fs5, $sp, 16 * 8
    \\ fst.d $fs6, $sp, 17 * 8
    \\ fst.d $fs7, $sp, 18 * 8
    \\ movfcsr2gr $t0, $fcsr0
    \\ st.w $t0, $sp, 19 * 8
    // s0 = thread; a0 = thread, a1 = sp: save returns the stack pointer to use.
    \\ move $s0, $a0
    \\ move $a1, $sp
    \\ bl %[save]
    // The stack above sp is garbage until restore returns.
    \\ move $sp, $a0
    \\ move $a0, $s0
    \\ move $a1, $sp
    \\ bl %[restore]
    // The stack is restored: reload the target's registers and return its status in a0.
    \\ ld.w $t0, $sp, 19 * 8
    \\ movgr2fcsr $fcsr1, $t0
    \\ movgr2fcsr $fcsr3, $t0
    \\ fld.d $fs7, $sp, 18 * 8
    \\ fld.d $fs6, $sp, 17 * 8
    \\ fld.d $fs5, $sp, 16 * 8
    \\ fld.d $fs4, $sp, 15 * 8
    \\ fld.d $fs3, $sp, 14 * 8
    \\ fld.d $fs2, $sp, 13 * 8
    \\ fld.d $fs1, $sp, 12 * 8
    \\ fld.d $fs0, $sp, 11 * 8
    \\ ld.d $s8, $sp, 10 * 8
    \\ ld.d $s7, $sp, 9 * 8
    \\ ld.d $s6, $sp, 8 * 8
    \\ ld.d $s5, $sp, 7 * 8
    \\ ld.d $s4, $sp, 6 * 8
    \\ ld.d $s3, $sp, 5 * 8
    \\ ld.d $s2, $sp, 4 * 8
    \\ ld.d $s1, $sp, 3 * 8
    \\ ld.d $s0, $sp, 2 * 8
    \\ ld.d $fp, $sp, 1 * 8
    \\ ld.d $ra, $sp, 0 * 8
    \\ addi.d $sp, $sp, %[frame:c]
    \\ jr $ra
;
