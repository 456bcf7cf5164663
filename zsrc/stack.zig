//! Stack slicing: one record per greenlet, describing which part of the shared OS thread stack
//! it owns and which of those bytes currently live in a heap copy.
//!
//! Vocabulary: `stack_near` is the end of a stack's live range nearest to the stack pointer (the
//! lowest address on every supported target, stacks grow down); `stack_far` is the other end,
//! fixed when the stack starts. A suspended stack's bytes are [stack_near, stack_far); the first
//! `copy_bytes` of them are in `copy`, the rest are still in place.
//!
//! `copy` is a heap buffer of the stack's own, or memory the caller lent the stack for the time
//! it is suspended (`flags` says which; see `lend`): the CPython glue lends the unused end of the
//! greenlet's interpreter data-stack chunk, which nothing touches while the greenlet is
//! suspended, so that most suspended greenlets need no heap copy at all.

const std = @import("std");
const assert = std.debug.assert;
const alloc = @import("alloc.zig");

pub const State = enum(u32) {
    pending = 0,
    running = 1,
    suspended = 2,
    dead = 3,
};

/// Must match `zgl_stack` in zgl.h (checked by header_test.zig).
pub const Stack = extern struct {
    stack_near: usize,
    stack_far: usize,
    copy: ?[*]u8,
    copy_bytes: usize,
    copy_capacity_bytes: usize,
    previous: ?*Stack,
    state: State,
    flags: u32,

    /// The `stack_far` of a thread's main stack: it spans every address above.
    pub const far_end: usize = std.math.maxInt(usize);

    /// Heap copies up to this size are kept for reuse when a stack is restored.
    pub const copy_kept_bytes_max: usize = 64 * 1024;

    /// `flags`: `copy` is lent memory, not a heap buffer of the stack's own.
    pub const flag_copy_lent: u32 = 1;
    /// `flags`: bits 8 to 15 hold `copy`'s offset from the start of its buffer (`placeCopy`).
    const flag_shift_first_bit = 8;

    /// A copy starts at an address that is congruent to `stack_near` modulo this many bytes.
    /// Copies between places whose distance is not a multiple of a cache line are slower on
    /// every x86_64 the glue was measured on, by 5 to 25%, and when the two addresses are only a
    /// few bytes apart modulo 4 KiB, several times slower (the memory system takes the stores
    /// for writes to what the loads read). Lined up like this, neither happens.
    pub const copy_align_bytes: usize = 64;

    pub fn init(stack: *Stack) void {
        stack.* = .{
            .stack_near = 0,
            .stack_far = 0,
            .copy = null,
            .copy_bytes = 0,
            .copy_capacity_bytes = 0,
            .previous = null,
            .state = .pending,
            .flags = 0,
        };
    }

    /// Lends the running stack `size_bytes` of memory at `memory` that nothing else uses until
    /// the stack runs again: its bytes are saved there when they fit. Ignored when the stack
    /// already has a heap buffer. The loan ends when the stack resumes, or when its switch fails.
    pub fn lend(stack: *Stack, memory: [*]u8, size_bytes: usize) void {
        assert(stack.state == .running);
        if (stack.copy == null) {
            stack.copy = memory;
            stack.copy_capacity_bytes = size_bytes;
            stack.flags = flag_copy_lent;
        }
    }

    /// Forgets lent memory (the stack is running again, or its loan is over).
    pub fn endLoan(stack: *Stack) void {
        if (stack.flags & flag_copy_lent != 0) {
            stack.copy = null;
            stack.copy_bytes = 0;
            stack.copy_capacity_bytes = 0;
            stack.flags = 0;
        }
    }

    fn copyShift(stack: *const Stack) usize {
        return (stack.flags >> flag_shift_first_bit) & 0xff;
    }

    /// The buffer `copy` lies in: its start and its size.
    fn copyBuffer(stack: *const Stack) struct { start: ?[*]u8, size_bytes: usize } {
        const shift = stack.copyShift();
        return .{
            .start = if (stack.copy) |copy| copy - shift else null,
            .size_bytes = stack.copy_capacity_bytes + shift,
        };
    }

    /// Points `copy` into the buffer at `start` (of `size_bytes`), at the first place lined up
    /// with `stack_near`.
    fn placeCopy(stack: *Stack, start: [*]u8, size_bytes: usize, lent: bool) void {
        const shift = (stack.stack_near -% @intFromPtr(start)) & (copy_align_bytes - 1);
        stack.copy = start + shift;
        stack.copy_capacity_bytes = size_bytes -| shift;
        stack.flags = @as(u32, @intCast(shift)) << flag_shift_first_bit |
            (if (lent) flag_copy_lent else 0);
    }

    /// Moves to the heap (or the lent memory) the bytes of [stack_near, limit) that are not
    /// there yet.
    pub fn saveUpTo(stack: *Stack, limit: usize, allocator: *const alloc.Allocator) error{OutOfMemory}!void {
        assert(stack.state == .suspended);
        assert(stack.stack_near != 0);
        assert(limit <= stack.stack_far);
        if (limit <= stack.stack_near) return;
        const wanted_bytes = limit - stack.stack_near;
        if (wanted_bytes <= stack.copy_bytes) return;
        const lent = stack.flags & flag_copy_lent != 0;
        if (stack.copy_bytes == 0 and stack.copy != null) {
            // The first bytes of this suspension: line the copy up with where the stack is now.
            const buffer = stack.copyBuffer();
            stack.placeCopy(buffer.start.?, buffer.size_bytes, lent);
        }
        if (wanted_bytes > stack.copy_capacity_bytes) {
            // A heap buffer of its own, big enough for what is wanted wherever it lands.
            const size_bytes = std.mem.alignForward(usize, wanted_bytes + copy_align_bytes, copy_align_bytes);
            const buffer = try allocator.reallocate(null, size_bytes);
            const old_copy = stack.copy;
            const old_buffer = stack.copyBuffer();
            stack.placeCopy(buffer, size_bytes, false);
            if (stack.copy_bytes > 0) {
                @memcpy(stack.copy.?[0..stack.copy_bytes], old_copy.?[0..stack.copy_bytes]);
            }
            if (!lent) allocator.release(old_buffer.start);
        }
        const source: [*]const u8 = @ptrFromInt(stack.stack_near);
        @memcpy(stack.copy.?[stack.copy_bytes..wanted_bytes], source[stack.copy_bytes..wanted_bytes]);
        stack.copy_bytes = wanted_bytes;
        assert(stack.copy_bytes <= stack.copy_capacity_bytes);
        assert((@intFromPtr(stack.copy.?) -% stack.stack_near) % copy_align_bytes == 0);
    }

    /// Copies the saved part back into place. The caller's frame must lie below `stack_near`.
    pub fn restore(stack: *Stack, allocator: *const alloc.Allocator) void {
        assert(stack.state == .suspended);
        assert(stack.copy_bytes <= stack.copy_capacity_bytes);
        if (stack.copy_bytes > 0) {
            const target: [*]u8 = @ptrFromInt(stack.stack_near);
            @memcpy(target[0..stack.copy_bytes], stack.copy.?[0..stack.copy_bytes]);
            stack.copy_bytes = 0;
        }
        if (stack.flags & flag_copy_lent != 0) {
            stack.endLoan();
        } else if (stack.copyBuffer().size_bytes > copy_kept_bytes_max) {
            stack.freeCopy(allocator);
        }
    }

    pub fn freeCopy(stack: *Stack, allocator: *const alloc.Allocator) void {
        if (stack.flags & flag_copy_lent == 0) allocator.release(stack.copyBuffer().start);
        stack.flags = 0;
        stack.copy = null;
        stack.copy_bytes = 0;
        stack.copy_capacity_bytes = 0;
    }

    /// Reads memory of a suspended stack, taking what was moved to the heap from the heap copy.
    pub fn read(stack: *const Stack, target: []u8, source: usize) void {
        assert(source + target.len >= source);
        for (target, 0..) |*byte, index| {
            const address = source + index;
            if (stack.state == .suspended and address >= stack.stack_near and
                address < stack.stack_near + stack.copy_bytes)
            {
                byte.* = stack.copy.?[address - stack.stack_near];
            } else {
                byte.* = @as(*const u8, @ptrFromInt(address)).*;
            }
        }
    }
};

test "saveUpTo copies only what is new, and restore puts it back" {
    var memory: [64]u8 = undefined;
    for (&memory, 0..) |*byte, index| byte.* = @intCast(index);
    var stack: Stack = undefined;
    stack.init();
    stack.stack_near = @intFromPtr(&memory);
    stack.stack_far = @intFromPtr(&memory) + memory.len;
    stack.state = .suspended;
    const allocator = &alloc.testing_allocator;

    try stack.saveUpTo(stack.stack_near + 16, allocator);
    try std.testing.expectEqual(@as(usize, 16), stack.copy_bytes);
    try stack.saveUpTo(stack.stack_near + 8, allocator);
    try std.testing.expectEqual(@as(usize, 16), stack.copy_bytes);
    try stack.saveUpTo(stack.stack_far, allocator);
    try std.testing.expectEqual(@as(usize, 64), stack.copy_bytes);

    var read_back: [8]u8 = undefined;
    @memset(&memory, 0xAA);
    stack.read(&read_back, stack.stack_near + 4);
    try std.testing.expectEqualSlices(u8, &.{ 4, 5, 6, 7, 8, 9, 10, 11 }, &read_back);

    stack.restore(allocator);
    for (memory, 0..) |byte, index| try std.testing.expectEqual(@as(u8, @intCast(index)), byte);
    stack.freeCopy(allocator);
}

test "a lent buffer holds the copy until it is outgrown, and is never freed" {
    var memory: [256]u8 = undefined;
    for (&memory, 0..) |*byte, index| byte.* = @intCast(index);
    var loan: [24 + Stack.copy_align_bytes]u8 = undefined;
    var stack: Stack = undefined;
    stack.init();
    stack.stack_near = @intFromPtr(&memory);
    stack.stack_far = @intFromPtr(&memory) + memory.len;
    stack.state = .running;
    stack.lend(&loan, loan.len);
    stack.state = .suspended;
    const allocator = &alloc.testing_allocator;

    try stack.saveUpTo(stack.stack_near + 16, allocator);
    const in_loan = @intFromPtr(stack.copy.?) - @intFromPtr(&loan);
    try std.testing.expect(in_loan < Stack.copy_align_bytes);
    try std.testing.expectEqualSlices(u8, memory[0..16], stack.copy.?[0..16]);
    try stack.saveUpTo(stack.stack_far, allocator);
    try std.testing.expect(@intFromPtr(stack.copy.?) -% @intFromPtr(&loan) >= loan.len);
    try std.testing.expectEqual(@as(u32, 0), stack.flags & Stack.flag_copy_lent);
    try std.testing.expectEqual(@as(usize, 0), (@intFromPtr(stack.copy.?) -% stack.stack_near) % Stack.copy_align_bytes);
    try std.testing.expectEqual(@as(usize, 256), stack.copy_bytes);

    @memset(&memory, 0xAA);
    stack.restore(allocator);
    for (memory, 0..) |byte, index| try std.testing.expectEqual(@as(u8, @intCast(index)), byte);
    stack.freeCopy(allocator);

    // Restoring from a loan ends it; a heap buffer kept from before wins over a new loan.
    stack.state = .running;
    stack.lend(&loan, loan.len);
    stack.state = .suspended;
    try stack.saveUpTo(stack.stack_near + 8, allocator);
    stack.restore(allocator);
    try std.testing.expectEqual(@as(?[*]u8, null), stack.copy);
    try std.testing.expectEqual(@as(u32, 0), stack.flags);
}
