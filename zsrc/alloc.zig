//! Heap memory for stack copies. The C side installs its allocator (PyMem_Raw* under CPython);
//! tests use the C allocator or one that fails on demand.

const std = @import("std");
const assert = std.debug.assert;

/// Must match `zgl_allocator` in zgl.h.
pub const Allocator = extern struct {
    realloc: *const fn (context: ?*anyopaque, memory: ?*anyopaque, size_bytes: usize) callconv(.c) ?*anyopaque,
    free: *const fn (context: ?*anyopaque, memory: ?*anyopaque) callconv(.c) void,
    context: ?*anyopaque,

    pub fn reallocate(allocator: *const Allocator, memory: ?[*]u8, size_bytes: usize) error{OutOfMemory}![*]u8 {
        assert(size_bytes > 0);
        const result = allocator.realloc(allocator.context, memory, size_bytes) orelse
            return error.OutOfMemory;
        return @ptrCast(result);
    }

    pub fn release(allocator: *const Allocator, memory: ?[*]u8) void {
        if (memory) |pointer| allocator.free(allocator.context, pointer);
    }
};

fn cRealloc(context: ?*anyopaque, memory: ?*anyopaque, size_bytes: usize) callconv(.c) ?*anyopaque {
    _ = context;
    return std.c.realloc(memory, size_bytes);
}

fn cFree(context: ?*anyopaque, memory: ?*anyopaque) callconv(.c) void {
    _ = context;
    std.c.free(memory);
}

/// The C library's allocator, for tests.
pub const testing_allocator: Allocator = .{ .realloc = cRealloc, .free = cFree, .context = null };

/// Fails an allocation once `allocations_left` reaches zero, then lets `period` more succeed
/// before failing again (a period of zero fails every allocation from then on). For tests.
pub const FailingAllocator = struct {
    allocations_left: u32,
    period: u32 = 0,
    failures: u32 = 0,

    pub fn allocator(failing: *FailingAllocator) Allocator {
        return .{ .realloc = failingRealloc, .free = cFree, .context = failing };
    }

    fn failingRealloc(context: ?*anyopaque, memory: ?*anyopaque, size_bytes: usize) callconv(.c) ?*anyopaque {
        const failing: *FailingAllocator = @ptrCast(@alignCast(context.?));
        if (failing.allocations_left == 0) {
            failing.failures += 1;
            failing.allocations_left = failing.period;
            return null;
        }
        failing.allocations_left -= 1;
        return std.c.realloc(memory, size_bytes);
    }
};
