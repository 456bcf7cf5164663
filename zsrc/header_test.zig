//! zgl.h and the Zig definitions agree on every size, alignment, offset and enum value.

const std = @import("std");
const zgl = @import("root.zig");
const c = @import("zgl_h");

fn expectSameLayout(comptime C: type, comptime Z: type) !void {
    try std.testing.expectEqual(@sizeOf(C), @sizeOf(Z));
    try std.testing.expectEqual(@alignOf(C), @alignOf(Z));
    inline for (@typeInfo(C).@"struct".field_names) |name| {
        try std.testing.expectEqual(@offsetOf(C, name), @offsetOf(Z, name));
    }
}

test "zgl.h matches the Zig records" {
    try expectSameLayout(c.zgl_stack, zgl.stack.Stack);
    try expectSameLayout(c.zgl_thread, zgl.transfer.Thread);
    try expectSameLayout(c.zgl_allocator, zgl.alloc.Allocator);
}

test "zgl.h enum values match" {
    try std.testing.expectEqual(c.ZGL_OK, @backingInt(zgl.transfer.Status.ok));
    try std.testing.expectEqual(c.ZGL_STARTED, @backingInt(zgl.transfer.Status.started));
    try std.testing.expectEqual(c.ZGL_ERR_NOMEM, @backingInt(zgl.transfer.Status.err_nomem));
    try std.testing.expectEqual(c.ZGL_PENDING, @backingInt(zgl.stack.State.pending));
    try std.testing.expectEqual(c.ZGL_RUNNING, @backingInt(zgl.stack.State.running));
    try std.testing.expectEqual(c.ZGL_SUSPENDED, @backingInt(zgl.stack.State.suspended));
    try std.testing.expectEqual(c.ZGL_DEAD, @backingInt(zgl.stack.State.dead));
    try std.testing.expectEqual(c.ZGL_COPY_LENT, zgl.stack.Stack.flag_copy_lent);
}
