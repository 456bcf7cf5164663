/* The building interpreter's pyconfig.h, corrected for the target being compiled for.
 *
 * Include this before <Python.h>. The CPython headers are the same for every architecture
 * except pyconfig.h, whose type sizes, alignments and byte order were measured by configure
 * on the machine that built the interpreter. When Zig cross-compiles (an x86_64 host building
 * for arm or s390x), those measurements describe the wrong machine. Every value of that kind
 * that the CPython headers read is set again here from the compiler's own description of the
 * target (its predefined __SIZEOF_*__ and byte-order macros), the way CPython's pymacconfig.h
 * does for macOS universal builds. For a native build the values are the ones configure found.
 *
 * Values the compiler does not predefine (alignments, time_t, pthread_t) follow from the
 * Linux ABIs we build for; _greenlet.c checks them against the real C types with
 * _Static_assert, so a target where a rule does not hold fails to compile instead of
 * producing a module with the wrong layout.
 */
#ifndef GREENLET_TARGET_H
#define GREENLET_TARGET_H

#include <pyconfig.h>

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
#define ALIGNOF_LONG __SIZEOF_LONG__
#define ALIGNOF_SIZE_T __SIZEOF_SIZE_T__
/* GCC's max_align_t (which built the interpreter) where clang's differs (8 for x86, not 16);
 * no CPython header lays anything out by it. */
#define ALIGNOF_MAX_ALIGN_T __BIGGEST_ALIGNMENT__

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define WORDS_BIGENDIAN 1
#define DOUBLE_IS_BIG_ENDIAN_IEEE754 1
#else
#define DOUBLE_IS_LITTLE_ENDIAN_IEEE754 1
#endif

#if defined(__x86_64__) || defined(__i386__)
#define HAVE_GCC_ASM_FOR_X87 1
#endif
#if defined(__x86_64__)
#define HAVE_GCC_ASM_FOR_X64 1
#endif
#if defined(__SIZEOF_INT128__)
#define HAVE_GCC_UINT128_T 1
#define HAVE___UINT128_T 1
#endif

#endif /* GREENLET_TARGET_H */
