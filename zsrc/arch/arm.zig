//! Target: arm (ARMv7-A with VFP, hard-float EABI), in ARM or Thumb-2 state. Reference: Procedure
//! Call Standard for the Arm Architecture (AAPCS32, IHI 0042), "Core registers", "VFP register
//! usage conventions" (with the FPSCR rules), "The Stack".
//! Saved: r4-r11 (r7 or r11 being the frame pointer); d8-d15 (= s16-s31); FPSCR; lr, the return
//! address the final `pop {..., pc}` goes through.
//! Not saved, and why: r0-r3, r12 and d0-d7, d16-d31 are caller-saved; TPIDRURO is the thread
//! pointer, shared by every stack of the thread. The ABI lets only support functions such as
//! fesetround change the FPSCR mode bits (rounding, flush-to-zero, exception enables); a switch
//! is no such function, so each stack keeps its own. FPSCR is saved whole: its status bits
//! (flags, cumulative exceptions) are not preserved across calls, so any value is right there.
//! Stack alignment: 8 bytes at every call out (sp is 8-aligned at entry; the frame is 104
//! bytes).
//! Red zone: none; nothing is live below sp when sp is handed to save.
//! Calls out: save(thread, sp) and restore(thread, sp), plain `bl`, which the linker turns into
//! `blx` should the callee be in the other instruction set; thread kept in r4. The code means
//! the same in ARM and Thumb-2 state, and `pop {..., pc}` returns to either state by bit 0 of
//! the saved lr, so ARM and Thumb-2 callers both work.
//! Frame (offset: contents): 0: FPSCR, 4: d8, 12: d9, 20: d10, 28: d11, 36: d12, 44: d13,
//! 52: d14, 60: d15, 68: r4, 72: r5, 76: r6, 80: r7, 84: r8, 88: r9, 92: r10, 96: r11, 100: lr.

const std = @import("std");
const builtin = @import("builtin");

pub const name = "arm AAPCS VFP (naked)";
/// The control slot, then what `code` pushes: d8-d15, then r4-r11 and lr.
pub const frame_size_bytes = control_bytes + vfp_registers * 8 + core_registers * 4;
pub const stack_align_bytes = 8;
pub const red_zone_bytes = 0;
pub const near_offset_bytes = 0;
pub const dwarf_return_column: ?u16 = null; // EHABI unwind tables, no DWARF CFI

/// The slot `code` reserves for FPSCR below the pushed registers, and the registers it pushes.
const control_bytes = 4;
const vfp_registers = 8;
const core_registers = 9;

comptime {
    @setEvalBranchQuota(10_000);
    const vfp = listLength("vpush") == vfp_registers and listLength("vpop") == vfp_registers;
    const core = listLength("push") == core_registers and listLength("pop") == core_registers;
    if (!vfp or !core) @compileError("the register counts differ from what code pushes and pops");
}

/// The number of registers in the list of `code`'s one `mnemonic {...}` instruction; a range
/// such as r4-r11 counts each register in it.
fn listLength(comptime mnemonic: []const u8) u32 {
    const start = std.mem.indexOf(u8, code, " " ++ mnemonic ++ " {").? + mnemonic.len + 3;
    const end = std.mem.indexOfScalarPos(u8, code, start, '}').?;
    var length: u32 = 0;
    var items = std.mem.tokenizeAny(u8, code[start..end], ", ");
    while (items.next()) |item| {
        const dash = std.mem.indexOfScalar(u8, item, '-') orelse {
            length += 1;
            continue;
        };
        const first = std.fmt.parseInt(u32, item[1..dash], 10) catch unreachable;
        const last = std.fmt.parseInt(u32, item[dash + 2 ..], 10) catch unreachable;
        length += last - first + 1;
    }
    return length;
}

/// The naked switch; `save` and `restore` are the callbacks that "Calls out" names.
pub fn SwitchStack(comptime save: anytype, comptime restore: anytype) type {
    if (!builtin.cpu.has(.arm, .vfp2)) @compileError("zgl: the arm switch needs VFP (d8-d15)");
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
    \\ push {r4-r11, lr}
    \\ vpush {d8-d15}
    \\ sub sp, sp, #%[control:c]
    \\ vmrs r4, fpscr
    \\ str r4, [sp]
    // r4 = thread; r0 = thread, r1 = sp: save returns the stack pointer to use.
    \\ mov r4, r0
    \\ mov r1, sp
    \\ bl %[save]
    // The stack above sp is garbage until restore returns.
    \\ mov sp, r0
    \\ mov r0, r4
    \\ mov r1, sp
    \\ bl %[restore]
    // The stack is restored: reload the target's registers and return its status in r0.
    \\ ldr r1, [sp]
    \\ vmsr fpscr, r1
    \\ add sp, sp, #%[control:c]
    \\ vpop {d8-d15}
    \\ pop {r4-r11, pc}
;
