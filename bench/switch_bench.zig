//! The core's stack switch timed alone, without Python: `zig build bench -Doptimize=fast`
//! (or `python -m ziglang build bench -Doptimize=fast`). Prints one JSON line per benchmark:
//!
//!   switch            ping-pong between the main stack and a started stack; ns per switch
//!                     (each switch to main saves the few hundred bytes the started stack uses,
//!                     each switch back restores them, as stack slicing does)
//!   start_finish      start a pending stack whose body returns at once, finish back to main;
//!                     ns per start + finish
//!   switch_held_16k   ping-pong between two stacks that each hold a 16 KiB frame below their
//!                     start, so every switch saves and restores about 16 KiB
//!   switch_held_64k   the same with 64 KiB (slightly over 64 KiB of stack with the frames
//!                     around it): the size of bench_greenlet.py's switch_deep_c64k
//!
//! Each benchmark calibrates a loop count to about 20 ms, warms up once and reports the min and
//! median of 11 repetitions. The records live in globals, never on a stack being switched.

const std = @import("std");
const zgl = @import("zgl");
const Stack = zgl.stack.Stack;
const Thread = zgl.transfer.Thread;

// Built without compiler-rt so that memcpy is the C library's, as in the extension: a panic
// writes its message and aborts instead of formatting through std.Io, and `main` is the C one.
pub const panic = std.debug.FullPanic(struct {
    fn call(message: []const u8, _: ?usize) noreturn {
        @branchHint(.cold);
        _ = std.c.write(2, message.ptr, message.len);
        _ = std.c.write(2, "\n", 1);
        std.c.abort();
    }
}.call);

var thread: Thread = undefined;
var main_stack: Stack = undefined;
var first: Stack = undefined;
var second: Stack = undefined;

/// What the started stacks do, set before each start.
var loops_left: u64 = 0;
var stop = false;

// ------------------------------------------------------------------ starting stacks

/// Starts `target` running `body`; returns when something switches back to the caller. Never
/// inlined: the start marker must lie below every caller's frame.
noinline fn start(target: *Stack, body: *const fn () void) void {
    var marker: u8 = 0;
    std.mem.doNotOptimizeAway(&marker);
    startBelow(target, body, &marker);
}

noinline fn startBelow(target: *Stack, body: *const fn () void, marker: *u8) void {
    switch (thread.start(target, @intFromPtr(marker))) {
        .ok => return,
        .err_nomem => @panic("out of memory starting a stack"),
        .started => {
            body();
            var finish_marker: u8 = 0;
            std.mem.doNotOptimizeAway(&finish_marker);
            _ = thread.finish(&main_stack, @intFromPtr(&finish_marker));
            @panic("a finished stack could not switch to main");
        },
    }
}

/// Starts `target` 4 KiB below the caller's frame: the frames main switches from later
/// (measure, timeLoop, loopSwitch) then lie above the started stack, so main has nothing of its
/// own to save when it switches there, as a greenlet's starter usually has not.
noinline fn startBelowPad(target: *Stack, body: *const fn () void) void {
    var pad: [4096]u8 = undefined;
    std.mem.doNotOptimizeAway(&pad);
    start(target, body);
    std.mem.doNotOptimizeAway(&pad);
}

fn switchTo(target: *Stack) void {
    switch (thread.switchTo(target)) {
        .ok => {},
        .err_nomem => @panic("out of memory in a switch"),
        .started => unreachable,
    }
}

// ------------------------------------------------------------------ bodies

/// Answers every switch from main by switching back, until `stop`.
fn echoMain() void {
    while (!stop) switchTo(&main_stack);
}

fn returnAtOnce() void {}

/// Holds `held_bytes` of live stack, waits for main, then runs `loops_left` round trips to the
/// second stack and returns to main; repeats until `stop`.
fn holdThenLead(comptime held_bytes: usize) fn () void {
    return struct {
        fn body() void {
            var held: [held_bytes]u8 = undefined;
            @memset(&held, 0x5A);
            std.mem.doNotOptimizeAway(&held);
            switchTo(&main_stack);
            while (!stop) {
                var left = loops_left;
                while (left > 0) : (left -= 1) switchTo(&second);
                switchTo(&main_stack);
            }
            std.mem.doNotOptimizeAway(&held);
        }
    }.body;
}

/// Holds `held_bytes` of live stack and answers every switch from the first stack.
fn holdThenFollow(comptime held_bytes: usize) fn () void {
    return struct {
        fn body() void {
            var held: [held_bytes]u8 = undefined;
            @memset(&held, 0xA5);
            std.mem.doNotOptimizeAway(&held);
            switchTo(&main_stack);
            while (!stop) switchTo(&first);
            std.mem.doNotOptimizeAway(&held);
        }
    }.body;
}

// ------------------------------------------------------------------ timing

fn nowNs() u64 {
    var ts: std.c.timespec = undefined;
    _ = std.c.clock_gettime(std.c.CLOCK.MONOTONIC, &ts);
    return @as(u64, @intCast(ts.sec)) * std.time.ns_per_s + @as(u64, @intCast(ts.nsec));
}

const Loop = *const fn (n: u64) void;

fn loopSwitch(n: u64) void {
    var left = n;
    while (left > 0) : (left -= 1) switchTo(&first);
}

fn loopStartFinish(n: u64) void {
    var left = n;
    while (left > 0) : (left -= 1) {
        first.init();
        start(&first, returnAtOnce);
    }
}

fn loopHeld(n: u64) void {
    loops_left = n;
    switchTo(&first);
}

fn timeLoop(loop: Loop, n: u64) u64 {
    const begin = nowNs();
    loop(n);
    return nowNs() - begin;
}

fn measure(name: []const u8, unit: []const u8, loop: Loop, ops_per_loop: u64) void {
    const target_ns: u64 = 20 * std.time.ns_per_ms;
    var n: u64 = 16;
    while (true) {
        const elapsed = timeLoop(loop, n);
        if (elapsed >= target_ns or n >= 1 << 32) break;
        n *= @max(2, @min(100, target_ns / @max(elapsed, 1) + 1));
    }
    _ = timeLoop(loop, n);
    var samples: [11]f64 = undefined;
    for (&samples) |*sample| {
        const elapsed = timeLoop(loop, n);
        sample.* = @as(f64, @floatFromInt(elapsed)) / @as(f64, @floatFromInt(n * ops_per_loop));
    }
    std.mem.sort(f64, &samples, {}, std.sort.asc(f64));
    // Hundredths as integers: formatting floats would need 128-bit helpers of compiler-rt.
    const min: u64 = @intFromFloat(samples[0] * 100);
    const median: u64 = @intFromFloat(samples[samples.len / 2] * 100);
    var buffer: [512]u8 = undefined;
    const line = std.fmt.bufPrint(
        &buffer,
        "{{\"benchmark\": \"{s}\", \"unit\": \"{s}\", \"min\": {d}.{d:0>2}, " ++
            "\"median\": {d}.{d:0>2}, \"loops\": {d}, \"switch\": \"{s}\"}}\n",
        .{ name, unit, min / 100, min % 100, median / 100, median % 100, n, zgl.arch.name },
    ) catch unreachable;
    _ = std.c.write(1, line.ptr, line.len);
}

fn measureHeld(comptime held_bytes: usize, name: []const u8) void {
    stop = false;
    first.init();
    second.init();
    start(&second, holdThenFollow(held_bytes));
    start(&first, holdThenLead(held_bytes));
    measure(name, "ns/switch", loopHeld, 2);
    stop = true;
    switchTo(&first); // the first returns to main
    switchTo(&second); // the second returns to main
    thread.release(&first);
    thread.release(&second);
}

pub export fn main() callconv(.c) c_int {
    thread.init(&main_stack, &zgl.alloc.testing_allocator);

    stop = false;
    first.init();
    startBelowPad(&first, echoMain);
    measure("switch", "ns/switch", loopSwitch, 2);
    stop = true;
    switchTo(&first);
    thread.release(&first);

    measure("start_finish", "ns/start+finish", loopStartFinish, 1);

    measureHeld(16 * 1024, "switch_held_16k");
    measureHeld(64 * 1024, "switch_held_64k");
    return 0;
}
