//! Stack slicing: one record per greenlet, describing which part of the shared OS thread stack
//! it owns and which of those bytes currently live in a heap copy.
//!
//! Vocabulary: `stack_near` is the end of a stack's live range nearest to the stack pointer (the
//! lowest address on every supported target, stacks grow down); `stack_far` is the other end,
//! fixed when the stack starts. A suspended stack's bytes are [stack_near, stack_far); the first
//! `copy_bytes` of them are in `copy` on the heap, the rest are still in place.

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
    reserved: u32,

    /// The `stack_far` of a thread's main stack: it spans every address above.
    pub const far_end: usize = std.math.maxInt(usize);

    /// Heap copies up to this size are kept for reuse when a stack is restored.
    pub const copy_kept_bytes_max: usize = 64 * 1024;

    pub fn init(stack: *Stack) void {
        stack.* = .{
            .stack_near = 0,
            .stack_far = 0,
            .copy = null,
            .copy_bytes = 0,
            .copy_capacity_bytes = 0,
            .previous = null,
            .state = .pending,
            .reserved = 0,
        };
    }

    /// Moves to the heap the bytes of [stack_near, limit) that are not there yet.
    pub fn saveUpTo(stack: *Stack, limit: usize, allocator: *const alloc.Allocator) error{OutOfMemory}!void {
        assert(stack.state == .suspended);
        assert(stack.stack_near != 0);
        assert(limit <= stack.stack_far);
        if (limit <= stack.stack_near) return;
        const wanted_bytes = limit - stack.stack_near;
        if (wanted_bytes <= stack.copy_bytes) return;
        if (wanted_bytes > stack.copy_capacity_bytes) {
            const capacity_bytes = std.mem.alignForward(usize, wanted_bytes, 256);
            stack.copy = try allocator.reallocate(stack.copy, capacity_bytes);
            stack.copy_capacity_bytes = capacity_bytes;
        }
        const source: [*]const u8 = @ptrFromInt(stack.stack_near);
        @memcpy(stack.copy.?[stack.copy_bytes..wanted_bytes], source[stack.copy_bytes..wanted_bytes]);
        stack.copy_bytes = wanted_bytes;
        assert(stack.copy_bytes <= stack.copy_capacity_bytes);
    }

    /// Copies the heap part back into place. The caller's frame must lie below `stack_near`.
    pub fn restore(stack: *Stack, allocator: *const alloc.Allocator) void {
        assert(stack.state == .suspended);
        assert(stack.copy_bytes <= stack.copy_capacity_bytes);
        if (stack.copy_bytes > 0) {
            const target: [*]u8 = @ptrFromInt(stack.stack_near);
            @memcpy(target[0..stack.copy_bytes], stack.copy.?[0..stack.copy_bytes]);
            stack.copy_bytes = 0;
        }
        if (stack.copy_capacity_bytes > copy_kept_bytes_max) stack.freeCopy(allocator);
    }

    pub fn freeCopy(stack: *Stack, allocator: *const alloc.Allocator) void {
        allocator.release(stack.copy);
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
