//! Target: powerpc64le, ELFv2. Reference: 64-Bit ELF V2 ABI Specification (OpenPOWER),
//! "Function Calling Sequence": "Register Roles", "Limited-Access Bits", "The Stack Frame";
//! "Symbol Values" (local and global entry points).
//! Saved: r14-r31, r2 (TOC); f14-f31, v20-v31, VRSAVE; CR2-CR4, the FPSCR mode fields
//! (rounding, non-IEEE, exception enables), VSCR; LR, the return address the final `blr` goes
//! through.
//! Not saved, and why: r0, r3-r12, f0-f13, v0-v19, CR0, CR1, CR5-CR7, CTR and XER are volatile;
//! the upper halves of vs14-vs31 are volatile; r13 is the thread pointer, shared by every stack
//! of the thread. The FPSCR status fields are volatile, so only fields 6 and 7 are reloaded.
//! Stack alignment: 16 bytes at entry and at every call out (the frame is 560 bytes).
//! Red zone: 288 bytes below r1; nothing is live there when r1 is handed to save.
//! Calls out: save(thread, r1) and restore(thread, r1) as `bl` + `nop` to their local entry
//! points, which need r2 to be this module's TOC: the switch derives it from its own address
//! (as a global entry point does from r12), so it works whatever r2 its caller had, and
//! reloads the caller's r2 at the end. Callees may write the 32-byte frame header (CR and LR
//! save words; the TOC save word when the linker routes a call through a stub): it is the
//! near offset, never saved or restored. No parameter save area: both calls pass only two
//! register arguments to prototyped functions. Thread kept in r14.
//! Frame (offset: contents): 0: back chain, 8: CR save word, 16: LR save word, 24: TOC save
//! word (these four for the callees), 32: v20, 48: v21, ..., 208: v31 (v<n> at
//! 32 + (n - 20) * 16), 224: VSCR, 240: f14, ..., 376: f31 (f<n> at 240 + (n - 14) * 8),
//! 384: r14, ..., 520: r31 (r<n> at 384 + (n - 14) * 8), 528: r2, 536: LR, 544: FPSCR,
//! 552: CR, 556: VRSAVE.

pub const name = "powerpc64le ELFv2 (naked)";
pub const frame_size_bytes = 560;
pub const stack_align_bytes = 16;
pub const red_zone_bytes = 288;
pub const near_offset_bytes = 32;
pub const dwarf_return_column: ?u16 = 65; // LR

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
    \\ mflr 0
    \\ stdu 1, -%[frame:c](1)
    \\ std 0, 536(1)
    \\ std 2, 528(1)
    \\ .irp n, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    \\ std \n, (384 + (\n - 14) * 8)(1)
    \\ stfd \n, (240 + (\n - 14) * 8)(1)
    \\ .endr
    \\ .irp n, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    \\ li 12, 32 + (\n - 20) * 16
    \\ stvx \n, 1, 12
    \\ .endr
    \\ mfvscr 0
    \\ li 12, 224
    \\ stvx 0, 1, 12
    \\ mffs 0
    \\ stfd 0, 544(1)
    \\ mfcr 12
    \\ stw 12, 552(1)
    \\ mfvrsave 12
    \\ stw 12, 556(1)
    // r2 = this module's TOC, from the address of label 1.
    \\ bcl 20, 31, 1f
    \\ 1: mflr 12
    \\ addis 2, 12, (.TOC. - 1b)@ha
    \\ addi 2, 2, (.TOC. - 1b)@l
    // r14 = thread; r3 = thread, r4 = r1: save returns the stack pointer to use.
    \\ mr 14, 3
    \\ mr 4, 1
    \\ bl %[save]
    \\ nop
    // The stack above r1 + 32 is garbage until restore returns.
    \\ mr 1, 3
    \\ mr 3, 14
    \\ mr 4, 1
    \\ bl %[restore]
    \\ nop
    // The stack is restored: reload the target's registers and return its status in r3.
    \\ lwz 12, 556(1)
    \\ mtvrsave 12
    \\ lwz 12, 552(1)
    \\ mtcrf 0x38, 12
    \\ lfd 0, 544(1)
    \\ mtfsf 0x03, 0
    \\ li 12, 224
    \\ lvx 0, 1, 12
    \\ mtvscr 0
    \\ .irp n, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    \\ li 12, 32 + (\n - 20) * 16
    \\ lvx \n, 1, 12
    \\ .endr
    \\ .irp n, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    \\ lfd \n, (240 + (\n - 14) * 8)(1)
    \\ ld \n, (384 + (\n - 14) * 8)(1)
    \\ .endr
    \\ ld 2, 528(1)
    \\ ld 0, 536(1)
    \\ mtlr 0
    \\ addi 1, 1, %[frame:c]
    \\ blr
;
