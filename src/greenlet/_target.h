/* The pyconfig.h facts of the target being compiled for.
 *
 * Include this before <Python.h>. The CPython headers are the same for every platform except
 * pyconfig.h, which describes the machine and system the interpreter was built for.
 *
 * Linux: the building interpreter's pyconfig.h, corrected. Its type sizes, alignments and byte
 * order were measured by configure on the machine that built the interpreter. When Zig
 * cross-compiles (an x86_64 host building for arm or s390x), those measurements describe the
 * wrong machine. Every value of that kind that the CPython headers read is set again here from
 * the compiler's own description of the target (its predefined __SIZEOF_*__ and byte-order
 * macros), the way CPython's pymacconfig.h does for macOS universal builds. For a native build
 * the values are the ones configure found. Values the compiler does not predefine (alignments,
 * time_t, pthread_t) follow from the Linux ABIs we build for.
 *
 * Windows: the project's own facts, the ones CPython's PC/pyconfig.h gives an extension built
 * against the python3X.dll of a python.org CPython (one configuration for every version
 * 3.10-3.15 with the GIL). They replace any pyconfig.h entirely: the include guards of both
 * kinds of pyconfig.h (Linux's Py_PYCONFIG_H, Windows' Py_CONFIG_H) are defined here, so the
 * `#include "pyconfig.h"` in Python.h adds nothing, whichever interpreter's headers are used.
 *
 * _greenlet.h checks the sizes against the real C types with _Static_assert, so a target where
 * a rule does not hold fails to compile instead of producing a module with the wrong layout.
 */
#ifndef GREENLET_TARGET_H
#define GREENLET_TARGET_H

#if defined(_WIN32)
#define Py_PYCONFIG_H
#define Py_CONFIG_H
#define MS_WIN32
#define MS_WINDOWS
#if defined(_WIN64)
#define MS_WIN64
#endif
#define NT_THREADS
#define WITH_THREAD
#define Py_ENABLE_SHARED 1 /* the interpreter is python3X.dll: import its symbols */
#define HAVE_DECLSPEC_DLL
#define PLATFORM "win32"
#define WITH_PYMALLOC 1
#define WITH_DOC_STRINGS 1
#define LONG_BIT 32
#define WORD_BIT 32
#define SIZEOF_OFF_T 4
#define SIZEOF_FPOS_T 8
#define SIZEOF_HKEY __SIZEOF_POINTER__
#define SIZEOF__BOOL 1
#define SIZEOF_PID_T 4
#define HAVE_LARGEFILE_SUPPORT
#define HAVE_UINTPTR_T 1
#define HAVE_INTPTR_T 1
#define HAVE_ERRNO_H 1
#define HAVE_FCNTL_H 1
#define HAVE_PROCESS_H 1
#define HAVE_SIGNAL_H 1
#define HAVE_STDDEF_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_WCHAR_H 1
#define HAVE_DYNAMIC_LOADING
#define STDC_HEADERS 1
#define DOUBLE_IS_LITTLE_ENDIAN_IEEE754 1
#define PY_UINT32_T uint32_t
#define PY_UINT64_T uint64_t
#define PY_INT32_T int32_t
#define PY_INT64_T int64_t
#define PY_LONG_LONG long long
#define PY_LLONG_MIN LLONG_MIN
#define PY_LLONG_MAX LLONG_MAX
#define PY_ULLONG_MAX ULLONG_MAX
/* Py_ssize_t as PC/pyconfig.h defines it (a plain typedef, not ssize_t) */
#include <stdint.h>
#include <limits.h>
typedef intptr_t Py_ssize_t;
#define HAVE_PY_SSIZE_T 1
#define PY_SSIZE_T_MAX INTPTR_MAX
#else
#include <pyconfig.h>
#endif

#undef SIZEOF_SHORT
#undef SIZEOF_INT
#undef SIZEOF_LONG
#undef SIZEOF_LONG_LONG
#undef SIZEOF_FLOAT
#undef SIZEOF_DOUBLE
#undef SIZEOF_LONG_DOUBLE
#undef SIZEOF_VOID_P
#undef SIZEOF_SIZE_T
#undef SIZEOF_UINTPTR_T
#undef SIZEOF_WCHAR_T
#undef SIZEOF_PTHREAD_T
#undef SIZEOF_TIME_T
#undef ALIGNOF_LONG
#undef ALIGNOF_SIZE_T
#undef ALIGNOF_MAX_ALIGN_T
#undef WORDS_BIGENDIAN
#undef DOUBLE_IS_LITTLE_ENDIAN_IEEE754
#undef DOUBLE_IS_BIG_ENDIAN_IEEE754
#undef DOUBLE_IS_ARM_MIXED_ENDIAN_IEEE754
#undef HAVE_GCC_ASM_FOR_X87
#undef HAVE_GCC_ASM_FOR_X64
#undef HAVE_GCC_ASM_FOR_MC68881
#undef HAVE_GCC_UINT128_T
#undef HAVE___UINT128_T

#define SIZEOF_SHORT __SIZEOF_SHORT__
#define SIZEOF_INT __SIZEOF_INT__
#define SIZEOF_LONG __SIZEOF_LONG__
#define SIZEOF_LONG_LONG __SIZEOF_LONG_LONG__
#define SIZEOF_FLOAT __SIZEOF_FLOAT__
#define SIZEOF_DOUBLE __SIZEOF_DOUBLE__
#define SIZEOF_LONG_DOUBLE __SIZEOF_LONG_DOUBLE__
#define SIZEOF_VOID_P __SIZEOF_POINTER__
#define SIZEOF_SIZE_T __SIZEOF_SIZE_T__
#define SIZEOF_UINTPTR_T __SIZEOF_POINTER__
#define SIZEOF_WCHAR_T __SIZEOF_WCHAR_T__
#define ALIGNOF_LONG __SIZEOF_LONG__
#define ALIGNOF_SIZE_T __SIZEOF_SIZE_T__
#if !defined(_WIN32)
/* glibc: unsigned long; musl: a pointer. Same size on every Linux target. */
#define SIZEOF_PTHREAD_T __SIZEOF_LONG__
/* 64-bit targets and musl (1.2 on) have a 64-bit time_t; 32-bit glibc has a long unless
 * _TIME_BITS=64. <features.h> defines __GLIBC__ on glibc; musl has no macro of its own. */
#if defined(__linux__)
#include <features.h>
#endif
#if __SIZEOF_POINTER__ == 8 || !defined(__GLIBC__) || (defined(_TIME_BITS) && _TIME_BITS == 64)
#define SIZEOF_TIME_T 8
#else
#define SIZEOF_TIME_T 4
#endif
/* GCC's max_align_t (which built the interpreter) where clang's differs (8 for x86, not 16);
 * no CPython header lays anything out by it. */
#define ALIGNOF_MAX_ALIGN_T __BIGGEST_ALIGNMENT__
#else
#define SIZEOF_TIME_T 8 /* the UCRT's */
#define ALIGNOF_MAX_ALIGN_T 8
#endif

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define WORDS_BIGENDIAN 1
#define DOUBLE_IS_BIG_ENDIAN_IEEE754 1
#else
#define DOUBLE_IS_LITTLE_ENDIAN_IEEE754 1
#endif

#if (defined(__x86_64__) || defined(__i386__)) && !defined(_WIN32)
#define HAVE_GCC_ASM_FOR_X87 1
#endif
#if defined(__x86_64__) && !defined(_WIN32)
#define HAVE_GCC_ASM_FOR_X64 1
#endif
#if defined(__SIZEOF_INT128__)
#define HAVE_GCC_UINT128_T 1
#define HAVE___UINT128_T 1
#endif

#endif /* GREENLET_TARGET_H */
