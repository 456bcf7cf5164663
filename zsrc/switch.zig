//! One switch between two stacks of a thread: the save and restore callbacks that the per-target
//! assembly in arch/ calls, and the three ways C asks for a switch (start, switch, finish).
//!
//! The assembly spills the callee-saved registers below the caller's frame, hands its stack
//! pointer to `switchStackSave`, moves the stack pointer to whatever that returns, calls
//! `switchStackRestore`, reloads the registers from the (possibly new) stack and returns the
//! restore result. Everything that must survive the move of the stack pointer lives in the
//! `Thread` record, which is never on the stack being switched.

const std = @import("std");
const assert = std.debug.assert;
const arch = @import("arch.zig");
const alloc = @import("alloc.zig");
const Stack = @import("stack.zig").Stack;

pub const Status = enum(u32) {
    ok = 0,
    started = 1,
    err_nomem = 2,
};

/// Must match `zgl_thread` in zgl.h.
pub const Thread = extern struct {
    current: *Stack,
    target: ?*Stack,
    allocator: *const alloc.Allocator,
    status: Status,
    /// Windows x86: the outer end of the thread's SEH chain, where each new stack's chain
    /// begins (arch/x86.zig); 0 elsewhere.
    outer_exception_record: u32,

    pub fn init(thread: *Thread, main_stack: *Stack, allocator: *const alloc.Allocator) void {
        main_stack.init();
        main_stack.stack_far = Stack.far_end;
        main_stack.state = .running;
        thread.* = .{
            .current = main_stack,
            .target = null,
            .allocator = allocator,
            .status = .ok,
            .outer_exception_record = arch.outerExceptionRecord(),
        };
    }

    /// Starts `target`; its frames will lie below `stack_far_marker`.
    pub fn start(thread: *Thread, target: *Stack, stack_far_marker: usize) Status {
        assert(target.state == .pending);
        assert(thread.current.state == .running);
        assert(stack_far_marker < thread.current.stack_far);
        target.stack_far = stack_far_marker;
        target.previous = thread.current;
        const status = transfer(thread, target);
        // running on the new stack, whose exception chain must not lead into the starter's frames
        if (status == .started) arch.setExceptionChain(thread.outer_exception_record);
        if (status == .err_nomem) {
            target.stack_far = 0;
            target.previous = null;
        }
        return status;
    }

    pub fn switchTo(thread: *Thread, target: *Stack) Status {
        assert(target.state == .suspended);
        assert(thread.current.state == .running);
        return transfer(thread, target);
    }

    /// The running stack has finished: it becomes dead, and its bytes are not saved. Returns
    /// `.started` running as a pending `target`, or `.err_nomem` still running as before.
    pub fn finish(thread: *Thread, target: *Stack, stack_far_marker: usize) Status {
        const current = thread.current;
        assert(current.state == .running);
        assert(current.stack_far != Stack.far_end);
        current.state = .dead;
        if (target.state == .pending) {
            target.stack_far = stack_far_marker;
            target.previous = current.previous;
        }
        const status = transfer(thread, target);
        // Only a refused allocation, or the first entry into a pending target, returns here.
        if (status == .started) {
            arch.setExceptionChain(thread.outer_exception_record);
            return status;
        }
        assert(status == .err_nomem);
        if (target.state == .pending) {
            target.stack_far = 0;
            target.previous = null;
        }
        current.state = .running;
        return status;
    }

    /// Forgets a stack that will never run again: unlinks it from this thread's running chain
    /// and frees its heap copy.
    pub fn release(thread: *Thread, stack: *Stack) void {
        assert(stack.state != .running);
        var link: *Stack = thread.current;
        var steps: u32 = 0;
        while (link.previous) |previous| : (steps += 1) {
            assert(steps < chain_length_max);
            if (previous == stack) {
                link.previous = stack.previous;
                break;
            }
            link = previous;
        }
        releaseOrphan(stack, thread.allocator);
    }
};

/// Forgets a stack whose thread has ended: its bytes on that thread's stack are gone.
pub fn releaseOrphan(stack: *Stack, allocator: *const alloc.Allocator) void {
    assert(stack.copy_bytes <= stack.copy_capacity_bytes);
    stack.freeCopy(allocator);
    stack.state = .dead;
    stack.stack_near = 0;
    stack.previous = null;
}

/// No thread has this many stacks sitting on one another; a longer walk is a corrupted chain.
pub const chain_length_max: u32 = 1 << 24;

/// The target's naked switch (arch/), calling back into `switchStackSave` and
/// `switchStackRestore`.
pub const switchStack = arch.SwitchStack(switchStackSave, switchStackRestore).switchStack;

fn transfer(thread: *Thread, target: *Stack) Status {
    assert(target != thread.current);
    thread.target = target;
    thread.status = .ok;
    const switch_stack: *const fn (*Thread) callconv(.c) Status = @ptrCast(&switchStack);
    return switch_stack(thread);
}

/// Called by the assembly with the stack pointer after the registers are spilled. Saves what
/// the target will overwrite and returns the stack pointer to switch to: the target's, or the
/// same one when nothing moves (a first start, or an error).
pub fn switchStackSave(thread: *Thread, stack_pointer: usize) callconv(.c) usize {
    assert(stack_pointer % arch.stack_align_bytes == 0);
    const current = thread.current;
    const target = thread.target.?;
    var owner: ?*Stack = current;
    if (current.state == .running) {
        current.stack_near = stack_pointer + arch.near_offset_bytes;
        current.state = .suspended;
        assert(current.copy_bytes == 0);
    } else {
        assert(current.state == .dead);
        owner = current.previous;
    }
    saveChain(owner, target, thread.allocator) catch {
        if (current.state == .suspended) {
            current.state = .running;
            current.copy_bytes = 0;
            current.endLoan();
        }
        thread.status = .err_nomem;
        return stack_pointer;
    };
    if (target.state == .pending) {
        thread.status = .started;
        return stack_pointer;
    }
    assert(target.state == .suspended);
    thread.status = .ok;
    return target.stack_near - arch.near_offset_bytes;
}

/// Saves every stack of the chain that lies below the target's far end: whole stacks first,
/// then the part of the last one that the target will overwrite.
fn saveChain(first: ?*Stack, target: *Stack, allocator: *const alloc.Allocator) error{OutOfMemory}!void {
    var owner = first;
    var steps: u32 = 0;
    while (owner) |stack| : (steps += 1) {
        assert(steps < chain_length_max);
        if (stack == target) return;
        if (stack.stack_far < target.stack_far) {
            try stack.saveUpTo(stack.stack_far, allocator);
            owner = stack.previous;
        } else {
            try stack.saveUpTo(target.stack_far, allocator);
            return;
        }
    }
    unreachable; // The main stack ends every chain and lies beyond every target.
}

/// Called by the assembly after the stack pointer moved. Copies the target's saved bytes back
/// (the stack above the stack pointer is garbage until this returns) and records the target as
/// the running stack. Returns the status of the whole switch.
pub fn switchStackRestore(thread: *Thread, stack_pointer: usize) callconv(.c) Status {
    const status = thread.status;
    if (status == .err_nomem) return status;
    const origin = thread.current;
    const target = thread.target.?;
    if (status == .ok) {
        if (stack_pointer + arch.near_offset_bytes != target.stack_near) {
            @panic("zgl: restored stack pointer does not match the target's saved one");
        }
        target.restore(thread.allocator);
        target.previous = nearestBeyond(origin, target.stack_far);
    } else {
        assert(status == .started);
        assert(target.previous != null);
    }
    // The stack is restored.
    target.stack_near = 0;
    target.state = .running;
    thread.current = target;
    thread.target = null;
    return status;
}

/// The first live stack of `origin`'s chain whose far end lies beyond `stack_far`.
fn nearestBeyond(origin: *Stack, stack_far: usize) ?*Stack {
    var owner: ?*Stack = if (origin.state == .dead) origin.previous else origin;
    var steps: u32 = 0;
    while (owner) |stack| : (steps += 1) {
        assert(steps < chain_length_max);
        if (stack.stack_far > stack_far) return stack;
        owner = stack.previous;
    }
    return null;
}
