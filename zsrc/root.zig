//! The stack-slicing core. `exports.zig` is the C boundary (zgl.h); the rest is plain Zig.

pub const alloc = @import("alloc.zig");
pub const arch = @import("arch.zig");
pub const stack = @import("stack.zig");
pub const transfer = @import("switch.zig");

comptime {
    _ = @import("exports.zig");
}

test {
    _ = @import("stack.zig");
    _ = @import("header_test.zig");
    _ = @import("tests/stack_test.zig");
    _ = @import("tests/arch_test.zig");
}
