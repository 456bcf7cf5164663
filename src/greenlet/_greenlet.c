/*
 * _greenlet.c: the greenlet type and module for CPython, on top of the Zig stack-slicing core
 * (zsrc/zgl.h). One translation unit made of parts, each with one concern; the map is in
 * docs/internals/architecture.md. Everything that depends on the CPython version or uses the
 * interpreter's internals is in the _pystate*.h headers.
 */
#include "_greenlet.h"

#include "_threads.c"
#include "_interp.c"
#include "_tracing.c"
#include "_switch.c"
#include "_lifecycle.c"
#include "_attributes.c"
#include "_type.c"
#include "_capi.c"
#include "_module.c"
