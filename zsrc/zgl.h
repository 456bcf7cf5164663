/*
 * zgl.h: the boundary between the Zig stack-slicing core and its C callers.
 *
 * The core knows nothing about Python. It keeps the stacks of many greenlets
 * that share one OS thread stack: on a switch it copies to the heap the part of
 * the running stack the target is about to overwrite, and copies the target's
 * saved part back. All state lives in records the caller owns (zgl_thread per
 * OS thread, zgl_stack per greenlet); the core has no globals.
 *
 * Every fallible call returns a zgl_status. Misuse (a wrong state, a switch to
 * the running stack) is a bug and stops the process with a message.
 * The full contract: docs/internals/c_boundary.md.
 */
#ifndef ZGL_H
#define ZGL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Results. The values are stable. */
typedef enum zgl_status {
    ZGL_OK = 0,           /* resumed: someone switched back to this stack */
    ZGL_STARTED = 1,      /* first entry: now running as the new stack */
    ZGL_ERR_NOMEM = 2,    /* no switch happened; every record is as before */
} zgl_status;

/* What a stack record is doing. The values are stable. */
typedef enum zgl_state {
    ZGL_PENDING = 0,      /* never run */
    ZGL_RUNNING = 1,      /* the thread's current stack */
    ZGL_SUSPENDED = 2,    /* switched away; may be resumed */
    ZGL_DEAD = 3,         /* finished or released; never runs again */
} zgl_state;

/* Where heap copies come from. realloc(NULL, n) allocates; free(NULL) is a no-op. */
typedef struct zgl_allocator {
    void *(*realloc)(void *context, void *memory, size_t size_bytes);
    void (*free)(void *context, void *memory);
    void *context;
} zgl_allocator;

/* One greenlet's stack. Embed it by value; only zgl_* functions write it (some of them are the
 * inline functions below). */
typedef struct zgl_stack {
    uintptr_t stack_near;           /* lowest live address while suspended */
    uintptr_t stack_far;            /* end of this stack's range (exclusive) */
    unsigned char *copy;            /* copy of [stack_near, stack_near + copy_bytes) */
    size_t copy_bytes;
    size_t copy_capacity_bytes;
    struct zgl_stack *previous;     /* the stack whose bytes lie just beyond stack_far */
    uint32_t state;                 /* a zgl_state */
    uint32_t flags;                 /* ZGL_COPY_LENT: `copy` is lent memory, not a heap buffer */
} zgl_stack;

#define ZGL_COPY_LENT 1u

/* One OS thread. Embed it in memory that is not on the thread's own stack. */
typedef struct zgl_thread {
    zgl_stack *current;             /* the running stack */
    zgl_stack *target;              /* the stack being switched to, during a switch */
    const zgl_allocator *allocator;
    uint32_t status;                /* result of the switch in progress */
    uint32_t outer_exception_record; /* Windows x86: the SEH chain's outer end; 0 elsewhere */
} zgl_thread;

/* Set up a thread whose running stack is `main_stack`, which spans all addresses above. */
void zgl_thread_init(zgl_thread *thread, zgl_stack *main_stack, const zgl_allocator *allocator);
/* Set up a stack record that has never run. */
void zgl_stack_init(zgl_stack *stack);
/* Start `target`, whose frames will live below `stack_far_marker` (an address in the caller's
 * frame). Returns ZGL_STARTED running as `target`, and ZGL_OK later, in the original stack, when
 * something switches back to it. */
zgl_status zgl_start(zgl_thread *thread, zgl_stack *target, void *stack_far_marker);
/* Switch from the running stack to the suspended `target`. Returns in `target`. */
zgl_status zgl_switch(zgl_thread *thread, zgl_stack *target);
/* Like zgl_switch or zgl_start, but the running stack has finished: it becomes dead and its
 * bytes are not saved. Returns ZGL_STARTED running as a pending `target`; otherwise only
 * ZGL_ERR_NOMEM returns, with the finished stack still running. */
zgl_status zgl_finish(zgl_thread *thread, zgl_stack *target, void *stack_far_marker);
/* Free the heap copy of a stack that will never run again and mark it dead. `thread` is the
 * thread the stack ran on, or NULL once that thread has ended. */
void zgl_stack_release(zgl_stack *stack, const zgl_allocator *allocator, zgl_thread *thread);
/* The record's zgl_state. */
static inline zgl_state
zgl_stack_state(const zgl_stack *stack)
{
    return (zgl_state)stack->state;
}
/* Lend the running `stack` `size_bytes` of memory at `memory` that nothing touches until the stack
 * runs again: when it switches away, its bytes are saved there if they fit, instead of in a heap
 * buffer. Ignored when the stack keeps a heap buffer from an earlier switch. The loan ends when
 * the stack resumes or its switch fails; the memory is never freed by the core. */
static inline void
zgl_stack_lend(zgl_stack *stack, void *memory, size_t size_bytes)
{
    if (stack->copy == NULL) {
        stack->copy = (unsigned char *)memory;
        stack->copy_capacity_bytes = size_bytes;
        stack->flags = ZGL_COPY_LENT;
    }
}
/* Bytes of the stack held in its heap copy. */
size_t zgl_stack_saved_bytes(const zgl_stack *stack);
/* Copy `size_bytes` of a suspended stack's memory starting at address `source` into `target`,
 * taking the part that was moved to the heap from the heap copy. */
void zgl_stack_read(const zgl_stack *stack, void *target, const void *source, size_t size_bytes);
/* The name of the switch in use, e.g. "x86_64 System V (naked)". */
const char *zgl_switch_name(void);
/* How the core was built: "target=<Zig triple> cpu=<CPU model> optimize=<mode> zig=<version>". */
const char *zgl_build_info(void);

#ifdef __cplusplus
}
#endif

#endif /* ZGL_H */
