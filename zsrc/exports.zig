//! The C ABI of the core: every `zgl_*` symbol declared in zgl.h, and nothing else.
//! Thin wrappers: C types in, Zig calls, status codes out.

const std = @import("std");
const builtin = @import("builtin");
const assert = std.debug.assert;
const arch = @import("arch.zig");
const alloc = @import("alloc.zig");
const stack_module = @import("stack.zig");
const transfer = @import("switch.zig");
const Stack = stack_module.Stack;
const Thread = transfer.Thread;
const Status = transfer.Status;

pub const panic = @import("panic.zig");

export fn zgl_thread_init(thread: *Thread, main_stack: *Stack, allocator: *const alloc.Allocator) void {
    thread.init(main_stack, allocator);
}

export fn zgl_stack_init(stack: *Stack) void {
    stack.init();
}

export fn zgl_start(thread: *Thread, target: *Stack, stack_far_marker: *anyopaque) Status {
    return thread.start(target, @intFromPtr(stack_far_marker));
}

export fn zgl_switch(thread: *Thread, target: *Stack) Status {
    return thread.switchTo(target);
}

export fn zgl_finish(thread: *Thread, target: *Stack, stack_far_marker: *anyopaque) Status {
    return thread.finish(target, @intFromPtr(stack_far_marker));
}

export fn zgl_stack_release(stack: *Stack, allocator: *const alloc.Allocator, thread: ?*Thread) void {
    if (thread) |owner| {
        assert(owner.allocator == allocator);
        owner.release(stack);
    } else {
        transfer.releaseOrphan(stack, allocator);
    }
}

export fn zgl_stack_saved_bytes(stack: *const Stack) usize {
    return if (stack.state == .suspended) stack.copy_bytes else 0;
}

export fn zgl_stack_read(stack: *const Stack, target: [*]u8, source: *const anyopaque, size_bytes: usize) void {
    stack.read(target[0..size_bytes], @intFromPtr(source));
}

export fn zgl_switch_name() [*:0]const u8 {
    return arch.name;
}

export fn zgl_build_info() [*:0]const u8 {
    return build_info;
}

/// "target=<zig triple> cpu=<model> optimize=<mode> zig=<version>", fixed when compiled; the
/// triple carries the glibc version the build links against, as GREENLET_ZIG_TARGET spells it.
const build_info = blk: {
    const target = builtin.target;
    const libc = if (target.os.versionRange().gnuLibCVersion()) |v|
        if (target.abi.isGnu()) std.fmt.comptimePrint(".{d}.{d}", .{ v.major, v.minor }) else ""
    else
        "";
    break :blk std.fmt.comptimePrint("target={s}-{s}-{s}{s} cpu={s} optimize={s} zig={s}", .{
        @tagName(target.cpu.arch),
        @tagName(target.os.tag),
        @tagName(target.abi),
        libc,
        target.cpu.model.name,
        @tagName(builtin.mode),
        builtin.zig_version_string,
    });
};
