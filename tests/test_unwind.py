"""g_start, the oldest frame of every greenlet, ends stack walks: in the installed module's
.eh_frame, its FDE marks the return address column undefined (CFI_END_OF_STACK in _switch.c,
with the column that build.zig takes from the target's file of zsrc/arch/). The column must be
the one the compiler's own CIE names as the return address register. Read from the module's
ELF file; other binary formats, and 32-bit Arm (EHABI tables instead), are skipped."""
import struct

import pytest

import greenlet._greenlet as ext

EM_ARM = 40
DW_CFA_undefined = 0x07
# Operands of the call frame instructions whose opcode is in the low six bits (DWARF 5, 6.4.2,
# and the GNU and AArch64 extensions): u, s = (un)signed LEB128, b = a LEB128 length and that
# many bytes, a = an address in the FDE's pointer encoding, 1/2/4 = a fixed-size delta.
CFA_OPERANDS = {
    0x00: "", 0x01: "a", 0x02: "1", 0x03: "2", 0x04: "4", 0x05: "uu", 0x06: "u", 0x07: "u",
    0x08: "u", 0x09: "uu", 0x0a: "", 0x0b: "", 0x0c: "uu", 0x0d: "u", 0x0e: "u", 0x0f: "b",
    0x10: "ub", 0x11: "us", 0x12: "us", 0x13: "s", 0x14: "uu", 0x15: "us", 0x16: "ub",
    0x2c: "", 0x2d: "", 0x2e: "u", 0x2f: "uu",
}


def leb128(data, pos, signed=False):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if signed and byte & 0x40:
        value -= 1 << shift
    return value, pos


class Elf:
    """The sections and symbols of an ELF file, 32 or 64 bits, either byte order."""

    def __init__(self, data):
        self.data = data
        self.wide = data[4] == 2
        self.order = "<" if data[5] == 1 else ">"
        self.machine = self.unpack("H", 18)[0]
        if self.wide:
            shoff, = self.unpack("Q", 40)
            shentsize, shnum, shstrndx = self.unpack("HHH", 58)
            layout = "IIQQQQIIQQ"
        else:
            shoff, = self.unpack("I", 32)
            shentsize, shnum, shstrndx = self.unpack("HHH", 46)
            layout = "IIIIIIIIII"
        headers = [self.unpack(layout, shoff + i * shentsize) for i in range(shnum)]
        names = headers[shstrndx][4]
        # name: (address, offset, size, link)
        self.sections = {self.string(names + h[0]): (h[3], h[4], h[5], h[6]) for h in headers}
        self.headers = headers

    def unpack(self, layout, offset):
        return struct.unpack_from(self.order + layout, self.data, offset)

    def string(self, offset):
        return self.data[offset:self.data.index(b"\0", offset)].decode()

    def symbol(self, name):
        """The value of the first symbol called `name` in .symtab, or None."""
        if ".symtab" not in self.sections:
            return None
        _, offset, size, link = self.sections[".symtab"]
        strings = self.headers[link][4]
        layout, entsize, value_at = ("IBBHQQ", 24, 4) if self.wide else ("IIIBBH", 16, 1)
        for at in range(offset, offset + size, entsize):
            fields = self.unpack(layout, at)
            if self.string(strings + fields[0]) == name:
                return fields[value_at]
        return None


def pointer(elf, data, pos, encoding, address):
    """A DW_EH_PE-encoded pointer at `pos` of `data`, whose first byte is at `address`."""
    formats = {0x00: "Q" if elf.wide else "I", 0x02: "H", 0x03: "I", 0x04: "Q",
               0x0A: "h", 0x0B: "i", 0x0C: "q"}
    layout = formats[encoding & 0x0F]
    value, = struct.unpack_from(elf.order + layout, data, pos)
    application = encoding & 0x70
    assert application in (0x00, 0x10), "pointer encoding %#x" % encoding
    if application == 0x10:
        value += address
    return value & ((1 << (64 if elf.wide else 32)) - 1), pos + struct.calcsize(layout)


def frame_entries(elf):
    """(return address register, first address, end address, instructions) per FDE."""
    assert ".eh_frame" in elf.sections, "the module has no .eh_frame"
    address, offset, size, _ = elf.sections[".eh_frame"]
    data = elf.data[offset:offset + size]
    cies = {}
    pos = 0
    while pos < len(data):
        length, = elf.unpack("I", offset + pos)
        if length == 0:
            break
        assert length != 0xFFFFFFFF, "64-bit DWARF .eh_frame"
        start, end = pos + 4, pos + 4 + length
        cie_pointer, = elf.unpack("I", offset + start)
        at = start + 4
        if cie_pointer == 0:
            version = data[at]
            augmentation = data[at + 1:data.index(b"\0", at + 1)].decode()
            at = data.index(b"\0", at + 1) + 1
            _, at = leb128(data, at)
            _, at = leb128(data, at, signed=True)
            if version == 1:
                register, at = data[at], at + 1
            else:
                register, at = leb128(data, at)
            encoding = 0x00
            if augmentation.startswith("z"):
                _, at = leb128(data, at)
                for letter in augmentation[1:]:
                    if letter == "R":
                        encoding, at = data[at], at + 1
                    elif letter == "P":
                        _, at = pointer(elf, data, at + 1, data[at], address + at + 1)
                    elif letter == "L":
                        at += 1
            cies[pos] = (register, encoding, augmentation)
        else:
            register, encoding, augmentation = cies[start - cie_pointer]
            begin, at = pointer(elf, data, at, encoding, address + at)
            extent, at = pointer(elf, data, at, encoding & 0x0F, 0)
            if augmentation.startswith("z"):
                skip, at = leb128(data, at)
                at += skip
            yield register, begin, begin + extent, (data[at:end], encoding, address + at)
        pos = end


def undefined_registers(elf, instructions):
    """The registers that DW_CFA_undefined names in a list of call frame instructions."""
    code, encoding, address = instructions
    registers = []
    pos = 0
    while pos < len(code):
        opcode = code[pos]
        pos += 1
        if opcode & 0xC0 == 0x80:  # DW_CFA_offset: register in the opcode, one operand
            _, pos = leb128(code, pos)
            continue
        if opcode & 0xC0:  # DW_CFA_advance_loc, DW_CFA_restore: no operands
            continue
        assert opcode in CFA_OPERANDS, "call frame instruction %#x" % opcode
        for kind in CFA_OPERANDS[opcode]:
            if kind in "us":
                value, pos = leb128(code, pos, signed=kind == "s")
                if opcode == DW_CFA_undefined:
                    registers.append(value)
            elif kind == "b":
                length, pos = leb128(code, pos)
                pos += length
            elif kind == "a":
                _, pos = pointer(elf, code, pos, encoding, address + pos)
            else:
                pos += int(kind)
    return registers


def test_greenlet_start_marks_the_return_address_undefined():
    with open(ext.__file__, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        pytest.skip("not an ELF module; only ELF unwind data is read here")
    elf = Elf(data)
    if elf.machine == EM_ARM:
        pytest.skip("32-bit Arm unwinds with EHABI tables, which mark no single frame")
    start = elf.symbol("g_start")
    if start is None:
        pytest.skip("the module has no symbol table")
    covering = [(register, instructions)
                for register, begin, end, instructions in frame_entries(elf)
                if begin <= start < end]
    assert len(covering) == 1, "g_start has %d frame description entries" % len(covering)
    register, instructions = covering[0]
    assert undefined_registers(elf, instructions) == [register]
