//! What a broken invariant does inside the extension: print one line to stderr with the C
//! library's write() and abort(). Zig's default handlers format their messages and print through
//! std.Io, which would link compiler-rt helpers and much of the C library into a module that
//! otherwise needs only a few C functions (and must run with glibc 2.17).

extern "c" fn write(fd: c_int, buffer: [*]const u8, size: usize) isize;
extern "c" fn abort() noreturn;

pub fn call(message: []const u8, _: ?usize) noreturn {
    @branchHint(.cold);
    const prefix = "zgl: fatal: ";
    _ = write(2, prefix, prefix.len);
    _ = write(2, message.ptr, message.len);
    _ = write(2, "\n", 1);
    abort();
}

pub fn sentinelMismatch(_: anytype, _: anytype) noreturn {
    call("sentinel mismatch", null);
}

pub fn unwrapError(_: anyerror) noreturn {
    call("attempt to unwrap error", null);
}

pub fn outOfBounds(_: usize, _: usize) noreturn {
    call("index out of bounds", null);
}

pub fn startGreaterThanEnd(_: usize, _: usize) noreturn {
    call("slice start greater than end", null);
}

pub fn inactiveUnionField(_: anytype, _: anytype) noreturn {
    call("access of inactive union field", null);
}

pub fn sliceCastLenRemainder(_: usize) noreturn {
    call("slice cast length remainder", null);
}

pub fn unexpectedErrorCode(_: anyerror) noreturn {
    call("unexpected error code", null);
}

pub fn reachedUnreachable() noreturn {
    call("reached unreachable", null);
}

pub fn unwrapNull() noreturn {
    call("unwrap null", null);
}

pub fn castToNull() noreturn {
    call("cast to null", null);
}

pub fn incorrectAlignment() noreturn {
    call("incorrect alignment", null);
}

pub fn invalidErrorCode() noreturn {
    call("invalid error code", null);
}

pub fn integerOutOfBounds() noreturn {
    call("integer out of bounds", null);
}

pub fn integerOverflow() noreturn {
    call("integer overflow", null);
}

pub fn shlOverflow() noreturn {
    call("shl overflow", null);
}

pub fn shrOverflow() noreturn {
    call("shr overflow", null);
}

pub fn divideByZero() noreturn {
    call("divide by zero", null);
}

pub fn exactDivisionRemainder() noreturn {
    call("exact division remainder", null);
}

pub fn integerPartOutOfBounds() noreturn {
    call("integer part out of bounds", null);
}

pub fn corruptSwitch() noreturn {
    call("corrupt switch", null);
}

pub fn shiftRhsTooBig() noreturn {
    call("shift rhs too big", null);
}

pub fn invalidEnumValue() noreturn {
    call("invalid enum value", null);
}

pub fn forLenMismatch() noreturn {
    call("for len mismatch", null);
}

pub fn copyLenMismatch() noreturn {
    call("copy len mismatch", null);
}

pub fn memcpyAlias() noreturn {
    call("memcpy alias", null);
}

pub fn noreturnReturned() noreturn {
    call("noreturn returned", null);
}

pub fn loadUninstantiableType() noreturn {
    call("load uninstantiable type", null);
}
