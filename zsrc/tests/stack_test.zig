//! Stack-slicing tests: seeded random switch sequences among many greenlets of varied depths,
//! with checksums of every frame's locals, and allocation failures injected into switches.

const std = @import("std");
const zgl = @import("../root.zig");
const harness = @import("harness.zig");
const Green = harness.Green;
const World = harness.World;

const Plan = struct {
    random: std.Random,
    greens: []Green,
    rounds_left: []u32,
    checked_frames: u64 = 0,
    corrupted_frames: u64 = 0,
    failures_seen: u64 = 0,
};

fn mix(identity: u32, depth: u32, round: u32, index: usize) u64 {
    var value: u64 = (@as(u64, identity) << 40) ^ (@as(u64, depth) << 20) ^ round;
    value = value *% 0x9E3779B97F4A7C15 +% index;
    return value ^ (value >> 29);
}

fn planOf(green: *Green) *Plan {
    return @ptrCast(@alignCast(green.context.?));
}

/// Switches to a random live greenlet (or main), retrying when the allocator refuses.
fn yieldSomewhere(green: *Green) void {
    const plan = planOf(green);
    const world = green.world;
    while (true) {
        const choice = plan.random.uintLessThan(usize, plan.greens.len + 1);
        const target = if (choice == plan.greens.len) &world.main else &plan.greens[choice];
        if (target == green or target.dead()) continue;
        world.switchTo(target) catch {
            plan.failures_seen += 1;
            continue;
        };
        return;
    }
}

fn diveSmall(green: *Green, depth: u32, round: u32) void {
    var locals: [6]u64 = undefined;
    for (&locals, 0..) |*value, index| value.* = mix(green.identity, depth, round, index);
    const view: *volatile [6]u64 = &locals;
    if (depth == 0) yieldSomewhere(green) else diveLarge(green, depth - 1, round);
    checkFrame(green, view, depth, round);
}

fn diveLarge(green: *Green, depth: u32, round: u32) void {
    var locals: [300]u64 = undefined;
    for (&locals, 0..) |*value, index| value.* = mix(green.identity, depth, round, index);
    const view: *volatile [300]u64 = &locals;
    if (depth == 0) yieldSomewhere(green) else diveSmall(green, depth - 1, round);
    checkFrame(green, view, depth, round);
}

fn checkFrame(green: *Green, view: anytype, depth: u32, round: u32) void {
    const plan = planOf(green);
    plan.checked_frames += 1;
    for (view, 0..) |value, index| {
        if (value != mix(green.identity, depth, round, index)) {
            plan.corrupted_frames += 1;
            return;
        }
    }
}

fn wander(green: *Green) void {
    const plan = planOf(green);
    const index = green.identity - 1;
    var round: u32 = 0;
    while (plan.rounds_left[index] > 0) : (round += 1) {
        plan.rounds_left[index] -= 1;
        const depth = plan.random.uintLessThan(u32, 40);
        if (round % 2 == 0) diveSmall(green, depth, round) else diveLarge(green, depth, round);
    }
}

fn runPlan(seed: u64, greens_count: u32, rounds: u32, allocator: *const zgl.alloc.Allocator) !Plan {
    return runPlanLending(seed, greens_count, rounds, allocator, false);
}

/// With `lending`, every other greenlet (and main) is lent a buffer of a random size, from
/// nothing to more than its deepest stack, each time it switches away.
fn runPlanLending(seed: u64, greens_count: u32, rounds: u32, allocator: *const zgl.alloc.Allocator, lending: bool) !Plan {
    var prng = std.Random.DefaultPrng.init(seed);
    var world: World = undefined;
    world.init(allocator);
    const greens = try std.testing.allocator.alloc(Green, greens_count);
    defer std.testing.allocator.free(greens);
    const rounds_left = try std.testing.allocator.alloc(u32, greens_count);
    defer std.testing.allocator.free(rounds_left);
    var plan: Plan = .{ .random = prng.random(), .greens = greens, .rounds_left = rounds_left };
    for (greens, rounds_left, 1..) |*green, *left, identity| {
        green.* = world.green(@intCast(identity), wander);
        green.context = &plan;
        left.* = 1 + plan.random.uintLessThan(u32, rounds);
    }
    world.main.context = &plan;
    const loans = try std.testing.allocator.alloc([]u8, greens_count + 1);
    defer std.testing.allocator.free(loans);
    for (loans) |*loan| loan.* = &.{};
    defer for (loans) |loan| std.testing.allocator.free(loan);
    if (lending) {
        for (loans, 0..) |*loan, index| {
            if (index % 2 == 1) continue;
            loan.* = try std.testing.allocator.alloc(u8, plan.random.uintLessThan(usize, 48 * 1024));
            if (index == greens_count) world.main.loan = loan.* else greens[index].loan = loan.*;
        }
    }
    var steps: u32 = 0;
    while (true) : (steps += 1) {
        var live: u32 = 0;
        for (greens) |*green| live += @intFromBool(!green.dead());
        if (live == 0) break;
        if (steps > 1_000_000) return error.NoProgress;
        // main sits at a varying depth of its own when it switches away
        diveSmall(&world.main, plan.random.uintLessThan(u32, 8), steps);
    }
    for (greens) |*green| {
        try std.testing.expectEqual(@as(usize, 0), green.stack.copy_bytes);
        green.stack.freeCopy(allocator);
    }
    world.main.stack.freeCopy(allocator);
    return plan;
}

test "random switch sequences keep every frame's locals intact" {
    var seeds: [5]u64 = .{ 1, 2, 3, 0xC0FFEE, 0 };
    seeds[4] = std.testing.random_seed;
    for (seeds) |seed| {
        errdefer std.debug.print("random switch test failed with seed {d}\n", .{seed});
        const plan = try runPlan(seed, 24, 12, &zgl.alloc.testing_allocator);
        try std.testing.expect(plan.checked_frames > 1000);
        try std.testing.expectEqual(@as(u64, 0), plan.corrupted_frames);
    }
}

test "random switch sequences with lent copy buffers keep every frame's locals intact" {
    var seeds: [4]u64 = .{ 7, 8, 0xBEEF, 0 };
    seeds[3] = std.testing.random_seed;
    for (seeds) |seed| {
        errdefer std.debug.print("lending switch test failed with seed {d}\n", .{seed});
        const plan = try runPlanLending(seed, 24, 12, &zgl.alloc.testing_allocator, true);
        try std.testing.expect(plan.checked_frames > 1000);
        try std.testing.expectEqual(@as(u64, 0), plan.corrupted_frames);
    }
    for ([_]u32{ 0, 1, 2, 3, 5, 8 }) |budget| {
        errdefer std.debug.print("lending allocation failure test failed with budget {d}\n", .{budget});
        var failing: zgl.alloc.FailingAllocator = .{ .allocations_left = budget, .period = 2 + budget };
        const allocator = failing.allocator();
        const plan = try runPlanLending(budget + 100, 8, 6, &allocator, true);
        try std.testing.expectEqual(@as(u64, 0), plan.corrupted_frames);
        try std.testing.expect(plan.checked_frames > 50);
    }
}

test "an allocator that fails leaves both stacks consistent" {
    for ([_]u32{ 0, 1, 2, 3, 5, 8 }) |budget| {
        errdefer std.debug.print("allocation failure test failed with budget {d}\n", .{budget});
        var failing: zgl.alloc.FailingAllocator = .{ .allocations_left = budget, .period = 2 + budget };
        const allocator = failing.allocator();
        const plan = try runPlan(budget, 8, 6, &allocator);
        try std.testing.expectEqual(@as(u64, 0), plan.corrupted_frames);
        try std.testing.expect(plan.checked_frames > 50);
        try std.testing.expect(failing.failures > 0);
        try std.testing.expect(plan.failures_seen > 0);
        try std.testing.expect(failing.failures >= plan.failures_seen);
    }
}

test "switching to a pending greenlet starts it and its return comes back to main" {
    const Body = struct {
        fn run(green: *Green) void {
            const counter: *u32 = @ptrCast(@alignCast(green.context.?));
            counter.* += 1;
            green.world.switchTo(&green.world.main) catch unreachable;
            counter.* += 10;
        }
    };
    var world: World = undefined;
    world.init(&zgl.alloc.testing_allocator);
    var counter: u32 = 0;
    var green = world.green(1, Body.run);
    green.context = &counter;
    try world.switchTo(&green);
    try std.testing.expectEqual(@as(u32, 1), counter);
    try std.testing.expectEqual(zgl.stack.State.suspended, green.stack.state);
    try world.switchTo(&green);
    try std.testing.expectEqual(@as(u32, 11), counter);
    try std.testing.expect(green.dead());
    try std.testing.expectEqual(&world.main, world.current());
    green.stack.freeCopy(&zgl.alloc.testing_allocator);
    world.main.stack.freeCopy(&zgl.alloc.testing_allocator);
}
