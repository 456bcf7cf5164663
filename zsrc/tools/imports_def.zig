//! Writes the module-definition (.def) file of the CPython symbols that COFF objects import, for
//! `zig dlltool` to turn into the import library of python3X.dll that the extension links
//! against: the library then holds exactly what the module uses, for whichever CPython
//! version's headers it was compiled with.
//!
//!     imports_def <dll name> <output.def> <object.obj>...
//!
//! Every name CPython exports starts with `Py` or `_Py`; an undefined name of that kind is an
//! import, either as `__imp_<name>` (what a `__declspec(dllimport)` reference compiles to) or
//! plainly (the address of an imported function in a static initializer, `tp_alloc =
//! PyType_GenericAlloc`, is taken through the import library's thunk). Other undefined names
//! (the system's and the C library's, `__imp_` or not) are left to their own libraries. No line is marked DATA: data (type and
//! exception objects) is reached only through `__imp_<name>`, and a static initializer that
//! named data plainly would not be valid C for a DLL import in the first place.

const std = @import("std");

const imp_prefix = "__imp_";

pub fn main(init: std.process.Init) !void {
    const gpa = init.gpa;
    const args = try init.minimal.args.toSlice(init.arena.allocator());
    if (args.len < 4) {
        std.debug.print("usage: imports_def <dll name> <output.def> <object.obj>...\n", .{});
        std.process.exit(2);
    }
    var names: std.StringArrayHashMapUnmanaged(void) = .empty;
    defer names.deinit(gpa);
    for (args[3..]) |path| {
        // (the names point into `bytes`: the arena keeps every file until the end)
        const bytes = try std.Io.Dir.cwd().readFileAlloc(init.io, path, init.arena.allocator(), .limited(1 << 30));
        try collectImports(gpa, bytes, &names);
    }
    std.mem.sort([]const u8, names.keys(), {}, lessThan);
    var out: std.Io.Writer.Allocating = .init(gpa);
    defer out.deinit();
    try out.writer.print("LIBRARY {s}\nEXPORTS\n", .{args[1]});
    for (names.keys()) |name| try out.writer.print("    {s}\n", .{name});
    try std.Io.Dir.cwd().writeFile(init.io, .{ .sub_path = args[2], .data = out.written() });
}

fn lessThan(_: void, a: []const u8, b: []const u8) bool {
    return std.mem.lessThan(u8, a, b);
}

const image_file_machine_i386 = 0x14c;
const storage_class_external = 2;

/// Adds the imported names of one COFF object (regular or /bigobj layout) to `names`.
fn collectImports(gpa: std.mem.Allocator, bytes: []const u8, names: *std.StringArrayHashMapUnmanaged(void)) !void {
    const bigobj = bytes.len >= 4 and read(u16, bytes, 0) == 0 and read(u16, bytes, 2) == 0xffff;
    const machine = read(u16, bytes, if (bigobj) 6 else 0);
    const symbols_at: usize = read(u32, bytes, if (bigobj) 44 else 8);
    const symbol_count: usize = read(u32, bytes, if (bigobj) 48 else 12);
    const record_bytes: usize = if (bigobj) 20 else 18;
    const strings_at = symbols_at + symbol_count * record_bytes;
    if (strings_at + 4 > bytes.len) return error.NotACoffObject;
    var index: usize = 0;
    while (index < symbol_count) : (index += 1) {
        const at = symbols_at + index * record_bytes;
        const section: i32 = if (bigobj) read(i32, bytes, at + 12) else read(i16, bytes, at + 12);
        const class = bytes[at + record_bytes - 2];
        const aux = bytes[at + record_bytes - 1];
        defer index += aux;
        if (section != 0 or class != storage_class_external) continue;
        var name = symbolName(bytes, at, strings_at);
        if (std.mem.startsWith(u8, name, imp_prefix)) name = name[imp_prefix.len..];
        // 32-bit x86 decorates C names with a leading underscore; the .def names them plainly
        if (machine == image_file_machine_i386 and name.len > 1 and name[0] == '_') name = name[1..];
        if (std.mem.startsWith(u8, name, "Py") or std.mem.startsWith(u8, name, "_Py")) {
            try names.put(gpa, name, {});
        }
    }
}

fn symbolName(bytes: []const u8, at: usize, strings_at: usize) []const u8 {
    if (read(u32, bytes, at) == 0) {
        const start = strings_at + read(u32, bytes, at + 4);
        return std.mem.sliceTo(bytes[start..], 0);
    }
    return std.mem.sliceTo(bytes[at .. at + 8], 0);
}

fn read(comptime T: type, bytes: []const u8, at: usize) T {
    return std.mem.readInt(T, bytes[at..][0..@sizeOf(T)], .little);
}
