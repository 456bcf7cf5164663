//! A tiny green-thread runtime over the core, for tests: greenlets with a body, a parent and
//! switches by hand, on one OS thread.

const std = @import("std");
const zgl = @import("../root.zig");
const Stack = zgl.stack.Stack;
const Thread = zgl.transfer.Thread;
const Status = zgl.transfer.Status;

pub const Green = struct {
    stack: Stack = undefined,
    world: *World,
    body: *const fn (*Green) void,
    identity: u32,
    context: ?*anyopaque = null,
    /// Memory lent to the stack each time it switches away (see Stack.lend), if any.
    loan: ?[]u8 = null,

    pub fn dead(green: *const Green) bool {
        return green.stack.state == .dead;
    }
};

pub const World = struct {
    thread: Thread = undefined,
    main: Green,

    pub fn init(world: *World, allocator: *const zgl.alloc.Allocator) void {
        world.main = .{ .world = world, .body = undefined, .identity = 0 };
        world.thread.init(&world.main.stack, allocator);
    }

    pub fn green(world: *World, identity: u32, body: *const fn (*Green) void) Green {
        var result: Green = .{ .world = world, .body = body, .identity = identity };
        result.stack.init();
        return result;
    }

    pub fn current(world: *World) *Green {
        return @fieldParentPtr("stack", world.thread.current);
    }

    /// Switches to `target`, starting it if needed. Returns when something switches back, or
    /// error.OutOfMemory if the switch could not save the stacks in its way. Never inlined:
    /// the start marker must lie below every caller's frame, whose memory the new stack may
    /// otherwise share with the records it updates.
    pub noinline fn switchTo(world: *World, target: *Green) error{OutOfMemory}!void {
        const origin = world.current();
        if (origin.loan) |loan| origin.stack.lend(loan.ptr, loan.len);
        if (target.stack.state == .pending) {
            var marker: u8 = 0;
            std.mem.doNotOptimizeAway(&marker);
            return startBelow(world, target, &marker);
        }
        switch (world.thread.switchTo(&target.stack)) {
            .ok => {},
            .err_nomem => return error.OutOfMemory,
            .started => unreachable,
        }
    }
};

noinline fn startBelow(world: *World, target: *Green, marker: *u8) error{OutOfMemory}!void {
    switch (world.thread.start(&target.stack, @intFromPtr(marker))) {
        .ok => return,
        .err_nomem => return error.OutOfMemory,
        .started => {
            target.body(target);
            var finish_marker: u8 = 0;
            std.mem.doNotOptimizeAway(&finish_marker);
            // A refused allocation leaves this stack running; the tests' allocators recover.
            var attempts: u32 = 0;
            while (attempts < 1000) : (attempts += 1) {
                _ = world.thread.finish(&world.main.stack, @intFromPtr(&finish_marker));
            }
            std.debug.panic("a finished greenlet could not switch to main", .{});
        },
    }
}
