/*
 * _pystate.h: everything about the interpreter's per-thread state that depends on the CPython
 * version. Each greenlet keeps its own copy of the fields below; a switch saves the outgoing
 * greenlet's copy from the thread state and loads the incoming one's.
 *
 * Included once, by _greenlet.h, after Python.h. Every CPython-version gate and every use of the
 * interpreter's internals is here or in the two headers it includes (_pystate_chunks.h,
 * _pystate_frames.h).
 */
#ifndef GREENLET_PYSTATE_H
#define GREENLET_PYSTATE_H

#if PY_VERSION_HEX < 0x030A0000
#  error "greenlet needs CPython 3.10 or newer"
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define LIKELY(x) __builtin_expect(!!(x), 1)
#  define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define LIKELY(x) (x)
#  define UNLIKELY(x) (x)
#endif

#define GREENLET_PY311 (PY_VERSION_HEX >= 0x030B0000)
#define GREENLET_PY312 (PY_VERSION_HEX >= 0x030C0000)
#define GREENLET_PY313 (PY_VERSION_HEX >= 0x030D0000)
#define GREENLET_PY314 (PY_VERSION_HEX >= 0x030E0000)
#define GREENLET_PY315 (PY_VERSION_HEX >= 0x030F0000)
#if defined(Py_GIL_DISABLED) && GREENLET_PY314
/* From 3.14 the free-threaded interpreter keeps a list of references held by C code on the
 * thread's C stack (_PyCStackRef), walked by the collector. Each greenlet would need its own
 * list, and the collector would have to read a suspended greenlet's entries from wherever its
 * stack is saved. Until that is done, refuse to build rather than let the collector follow a
 * list into another greenlet's stack. */
#  error "greenlet: the free-threaded build of CPython 3.14 and newer is not supported yet (free-threaded 3.13 and every build with the GIL are)"
#endif
#define GREENLET_USE_CFRAME (!GREENLET_PY313)
/* 3.12 and 3.13 count C recursion; 3.14 measures the C stack pointer instead. All greenlets of a
 * thread share its C stack, so the 3.14 stack limits stay valid across switches. */
#define GREENLET_C_RECURSION (GREENLET_PY312 && !GREENLET_PY314)

#if !GREENLET_PY311
#  include <frameobject.h> /* the frame object's fields (f_back, f_code) */
typedef CFrame _PyCFrame; /* the 3.10 name of the C frame record */
#endif

#if GREENLET_PY311
#  ifndef Py_BUILD_CORE
#    define Py_BUILD_CORE 1
#  endif
#  include "internal/pycore_frame.h"
#  if GREENLET_PY314
#    include "internal/pycore_interpframe_structs.h"
#    include "internal/pycore_stackref.h"
#  endif
#  if GREENLET_PY315
#    include "internal/pycore_gc.h" /* _PyGC_VisitFrameStack, exported from 3.15 */
#  endif
#endif

#include "_pystate_chunks.h"

/* A link of the interpreter's frame chain rewritten while its greenlet is suspended. */
typedef struct frame_link {
    void *frame;
    void *previous;
} frame_link;

typedef struct pystate {
    PyObject *context;                  /* strong; NULL means an empty context */
#if !GREENLET_PY311
    PyObject *top_frame;                /* strong; the frame the greenlet resumes in */
#endif
    _PyErr_StackItem *exc_info;         /* NULL means the thread's own exc_state */
    _PyErr_StackItem exc_state;         /* the greenlet's outermost handled exception */
    int recursion_depth;
#if GREENLET_C_RECURSION
    int c_recursion_remaining;
#endif
#if GREENLET_PY314
    PyObject *current_executor;
#endif
#if GREENLET_USE_CFRAME
    _PyCFrame *cframe;
#  if !GREENLET_PY312
    int use_tracing;
#  endif
#endif
#if GREENLET_PY311
    struct _PyInterpreterFrame *current_frame;
    _PyStackChunk *datastack_chunk;
    PyObject **datastack_top;
    PyObject **datastack_limit;
    _PyStackChunk *root_chunk;          /* ours (pystate_chunks), or NULL: CPython's */
#endif
#if GREENLET_PY313
    PyObject *delete_later;
    uintptr_t critical_section;
#else
    int trash_delete_nesting;
#endif
    frame_link *links;                  /* rewritten frame links, restored at switch-in: */
    Py_ssize_t links_count;             /* links_first, or a PyMem block beyond one link */
    Py_ssize_t links_capacity;
    frame_link links_first;
} pystate;

/* ---- field access per version ---------------------------------------------------------- */

static inline int
pystate_recursion_depth(PyThreadState *tstate)
{
#if GREENLET_PY312
    return tstate->py_recursion_limit - tstate->py_recursion_remaining;
#elif GREENLET_PY311
    return tstate->recursion_limit - tstate->recursion_remaining;
#else
    return tstate->recursion_depth;
#endif
}

static inline void
pystate_set_recursion_depth(PyThreadState *tstate, int depth)
{
#if GREENLET_PY312
    tstate->py_recursion_remaining = tstate->py_recursion_limit - depth;
#elif GREENLET_PY311
    tstate->recursion_remaining = tstate->recursion_limit - depth;
#else
    tstate->recursion_depth = depth;
#endif
}

#if GREENLET_PY311
static inline struct _PyInterpreterFrame *
pystate_current_frame(PyThreadState *tstate)
{
#  if GREENLET_PY313
    return tstate->current_frame;
#  else
    return tstate->cframe->current_frame;
#  endif
}

static inline void
pystate_set_current_frame(PyThreadState *tstate, struct _PyInterpreterFrame *frame)
{
#  if GREENLET_PY313
    tstate->current_frame = frame;
#  else
    tstate->cframe->current_frame = frame;
#  endif
}
#endif

/* ---- frames of a suspended greenlet ---------------------------------------------------- */

#if GREENLET_PY314
#  define pystate_frame_on_c_stack(frame) ((frame)->owner >= FRAME_OWNED_BY_INTERPRETER)
#elif GREENLET_PY312
#  define pystate_frame_on_c_stack(frame) ((frame)->owner == FRAME_OWNED_BY_CSTACK)
#endif

#if GREENLET_PY312
static void pystate_unhide_frames(pystate *state);

/* Interpreter frames owned by the C stack (entry frames) live in memory that other greenlets
 * reuse while this one is suspended. Skip them in the chain, so that walking f_back from a
 * suspended greenlet's frames never reads the C stack; pystate_unhide_frames undoes it. */
static int
pystate_hide_frames(pystate *state, PyThreadState *tstate)
{
    state->links_count = 0;
    for (struct _PyInterpreterFrame *frame = pystate_current_frame(tstate); frame != NULL;
         frame = frame->previous) {
        struct _PyInterpreterFrame *previous = frame->previous;
        if (previous == NULL || !pystate_frame_on_c_stack(previous)) {
            continue;
        }
        struct _PyInterpreterFrame *beyond = previous;
        while (beyond != NULL && pystate_frame_on_c_stack(beyond)) {
            beyond = beyond->previous;
        }
        if (state->links_count == state->links_capacity) {
            /* Most greenlets have one such link (below their first frame): it fits in the
             * record itself. */
            if (state->links_capacity == 0) {
                state->links = &state->links_first;
                state->links_capacity = 1;
            }
            else {
                Py_ssize_t capacity = state->links_capacity * 4;
                int inline_links = state->links == &state->links_first;
                frame_link *links = PyMem_Realloc(inline_links ? NULL : state->links,
                                                  capacity * sizeof(frame_link));
                if (links == NULL) {
                    pystate_unhide_frames(state); /* the greenlet keeps running as it was */
                    return -1;
                }
                if (inline_links) {
                    links[0] = state->links_first;
                }
                state->links = links;
                state->links_capacity = capacity;
            }
        }
        state->links[state->links_count].frame = frame;
        state->links[state->links_count].previous = previous;
        state->links_count++;
        frame->previous = beyond;
        frame = previous; /* continue the walk through the original chain */
    }
    return 0;
}

static void
pystate_unhide_frames(pystate *state)
{
    for (Py_ssize_t index = state->links_count - 1; index >= 0; index--) {
        struct _PyInterpreterFrame *frame = state->links[index].frame;
        frame->previous = state->links[index].previous;
    }
    state->links_count = 0;
}
#else
static int
pystate_hide_frames(pystate *state, PyThreadState *tstate)
{
    (void)state;
    (void)tstate;
    return 0;
}

static void
pystate_unhide_frames(pystate *state)
{
    (void)state;
}
#endif

/* ---- what the rest of the glue asks of the interpreter ----------------------------------- */

/* Whether the interpreter is shutting down (public API from 3.13). */
#if GREENLET_PY313
#  define pystate_is_finalizing() Py_IsFinalizing()
#else
#  define pystate_is_finalizing() _Py_IsFinalizing()
#endif

/* The keyword arguments of a vectorcall as a new dict. */
#define pystate_kwargs_dict(values, kwnames) _PyStack_AsDict((values), (kwnames))

/* Tracing and profiling are off while a greenlet trace function runs, as while a sys.settrace
 * function runs. */
static inline void
pystate_enter_tracing(PyThreadState *tstate)
{
#if GREENLET_PY311
    PyThreadState_EnterTracing(tstate);
#else
    tstate->tracing++;
    tstate->cframe->use_tracing = 0;
#endif
}

static inline void
pystate_leave_tracing(PyThreadState *tstate)
{
#if GREENLET_PY311
    PyThreadState_LeaveTracing(tstate);
#else
    tstate->tracing--;
    tstate->cframe->use_tracing = (tstate->tracing <= 0 &&
                                   (tstate->c_tracefunc != NULL || tstate->c_profilefunc != NULL));
#endif
}

/* Replaces the running greenlet's context with `context` (a new reference, or NULL). */
static inline void
pystate_set_running_context(PyThreadState *tstate, PyObject *context)
{
    Py_XSETREF(tstate->context, context);
    tstate->context_ver++;
}

/* A finishing greenlet keeps its context (gr_context stays readable): it moves from the thread
 * state to the greenlet's state, and back if the switch out fails. */
static inline void
pystate_keep_context(pystate *state, PyThreadState *tstate)
{
    Py_XSETREF(state->context, tstate->context);
    tstate->context = NULL;
    tstate->context_ver++;
}

static inline void
pystate_return_context(pystate *state, PyThreadState *tstate)
{
    tstate->context = state->context;
    state->context = NULL;
}

/* The thread state's trashcan nesting, for tests (before 3.13; later versions keep it
 * elsewhere). */
#if !GREENLET_PY313
#  define PYSTATE_HAS_TRASH_DELETE_NESTING 1
static inline long
pystate_trash_delete_nesting(PyThreadState *tstate)
{
#  if GREENLET_PY312
    return tstate->trash.delete_nesting;
#  else
    return tstate->trash_delete_nesting;
#  endif
}
#endif

/* ---- the switch --------------------------------------------------------------------------- */

/* Prepares the outgoing greenlet; may fail (and then nothing was changed). Creates no Python
 * object: from 3.11 on, the frame object of a suspended greenlet's top frame is made only when
 * gr_frame asks for it (pystate_frame). */
static inline int
pystate_prepare_save(pystate *state, PyThreadState *tstate)
{
#if !GREENLET_PY311
    state->top_frame = (PyObject *)tstate->frame;
    Py_XINCREF(state->top_frame);
#endif
    if (UNLIKELY(pystate_hide_frames(state, tstate) < 0)) {
#if !GREENLET_PY311
        Py_CLEAR(state->top_frame);
#endif
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* The frame a suspended greenlet resumes in, as a frame object (a new reference), or NULL. */
static PyObject *
pystate_frame(pystate *state)
{
#if GREENLET_PY311
    if (state->current_frame == NULL) {
        return NULL;
    }
    /* The interpreter makes frame objects for the thread state's current frame: point it at the
     * suspended greenlet's frames for the moment. The collector is paused, so that no Python
     * code runs while the thread state shows frames that are not running. */
    PyThreadState *tstate = PyThreadState_Get();
    struct _PyInterpreterFrame *running = pystate_current_frame(tstate);
    int was_enabled = PyGC_Disable();
    pystate_set_current_frame(tstate, state->current_frame);
    PyFrameObject *frame = PyThreadState_GetFrame(tstate);
    pystate_set_current_frame(tstate, running);
    if (was_enabled) {
        PyGC_Enable();
    }
    return (PyObject *)frame;
#else
    return Py_XNewRef(state->top_frame);
#endif
}

/* The unused end of the running greenlet's frame memory (its current data-stack chunk): nothing
 * writes there until the greenlet runs again. NULL when there is none (before 3.11). */
static inline void *
pystate_spare(PyThreadState *tstate, size_t *size_bytes)
{
#if GREENLET_PY311
    PyObject **top = tstate->datastack_top;
    *size_bytes = top ? (size_t)((char *)tstate->datastack_limit - (char *)top) : 0;
    return top;
#else
    (void)tstate;
    *size_bytes = 0;
    return NULL;
#endif
}

/* Moves the thread state's values into `state`. Cannot fail. */
static void
pystate_save(pystate *state, PyThreadState *tstate)
{
    state->context = tstate->context;
    tstate->context = NULL;
    state->exc_info = tstate->exc_info;
    state->exc_state = tstate->exc_state;
    state->recursion_depth = pystate_recursion_depth(tstate);
#if GREENLET_C_RECURSION
    state->c_recursion_remaining = tstate->c_recursion_remaining;
#endif
#if GREENLET_PY314
    state->current_executor = tstate->current_executor;
#endif
#if GREENLET_USE_CFRAME
    state->cframe = tstate->cframe;
#  if !GREENLET_PY312
    state->use_tracing = tstate->cframe->use_tracing;
#  endif
#endif
#if GREENLET_PY311
    state->current_frame = pystate_current_frame(tstate);
    state->datastack_chunk = tstate->datastack_chunk;
    state->datastack_top = tstate->datastack_top;
    state->datastack_limit = tstate->datastack_limit;
#endif
#if GREENLET_PY313
    state->delete_later = tstate->delete_later;
    state->critical_section = tstate->critical_section;
#elif GREENLET_PY312
    state->trash_delete_nesting = tstate->trash.delete_nesting;
#else
    state->trash_delete_nesting = tstate->trash_delete_nesting;
#endif
}

/* Loads `state` into the thread state after the stack switch. `use_tracing` carries the
 * tracing flag of the greenlet that switched here (3.10 and 3.11 keep it per C frame). */
static void
pystate_restore(pystate *state, PyThreadState *tstate, int use_tracing)
{
    Py_XSETREF(tstate->context, state->context);
    state->context = NULL;
    tstate->context_ver++;
    tstate->exc_state = state->exc_state;
    tstate->exc_info = state->exc_info ? state->exc_info : &tstate->exc_state;
    memset(&state->exc_state, 0, sizeof(state->exc_state));
    state->exc_info = NULL;
    pystate_set_recursion_depth(tstate, state->recursion_depth);
#if GREENLET_C_RECURSION
    tstate->c_recursion_remaining = state->c_recursion_remaining;
#endif
#if GREENLET_PY314
    tstate->current_executor = state->current_executor;
#endif
#if GREENLET_USE_CFRAME
    tstate->cframe = state->cframe;
#  if !GREENLET_PY312
    tstate->cframe->use_tracing = use_tracing;
#  endif
#endif
    (void)use_tracing;
#if GREENLET_PY311
    pystate_set_current_frame(tstate, state->current_frame);
    tstate->datastack_chunk = state->datastack_chunk;
    tstate->datastack_top = state->datastack_top;
    tstate->datastack_limit = state->datastack_limit;
    state->current_frame = NULL;
    state->datastack_chunk = NULL;
#else
    tstate->frame = (PyFrameObject *)state->top_frame;
#endif
#if GREENLET_PY313
    tstate->delete_later = state->delete_later;
    tstate->critical_section = state->critical_section;
    state->delete_later = NULL;
#elif GREENLET_PY312
    tstate->trash.delete_nesting = state->trash_delete_nesting;
#else
    tstate->trash_delete_nesting = state->trash_delete_nesting;
#endif
    pystate_unhide_frames(state);
#if !GREENLET_PY311
    Py_CLEAR(state->top_frame);
#endif
}

static inline int
pystate_use_tracing(PyThreadState *tstate)
{
#if GREENLET_USE_CFRAME && !GREENLET_PY312
    return tstate->cframe->use_tracing;
#else
    (void)tstate;
    return 0;
#endif
}

/* The C frame record a new greenlet starts with (3.10-3.12); it lives in the greenlet's
 * outermost C frame. */
#if GREENLET_USE_CFRAME
typedef _PyCFrame pystate_cframe;
#else
typedef char pystate_cframe;
#endif

/* Before a greenlet starts: takes the root chunk its frames will live in. -1 with MemoryError
 * set when there is no memory. */
static int
pystate_prepare_start(pystate *state, pystate_chunks *chunks)
{
#if GREENLET_PY311
    _PyStackChunk *chunk = pystate_chunk_take(chunks);
    if (chunk == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    chunk->previous = NULL;
    chunk->size = PYSTATE_CHUNK_BYTES;
    chunk->top = 0;
    state->root_chunk = chunk;
#else
    (void)state;
    (void)chunks;
#endif
    return 0;
}

/* The start prepared by pystate_prepare_start did not happen. */
static void
pystate_cancel_start(pystate *state, pystate_chunks *chunks)
{
#if GREENLET_PY311
    if (state->root_chunk != NULL) {
        pystate_chunk_give(chunks, state->root_chunk);
        state->root_chunk = NULL;
    }
#else
    (void)state;
    (void)chunks;
#endif
}

/* Sets up the thread state for a greenlet that starts running now, on top of whatever the
 * greenlet that started it left there (already saved). */
static void
pystate_start(PyThreadState *tstate, pystate *state, pystate_cframe *cframe, PyObject *context)
{
    Py_XSETREF(tstate->context, Py_XNewRef(context));
    tstate->context_ver++;
    memset(&tstate->exc_state, 0, sizeof(tstate->exc_state));
    tstate->exc_info = &tstate->exc_state;
#if GREENLET_USE_CFRAME
    *cframe = *tstate->cframe;
    cframe->previous = &tstate->root_cframe;
    tstate->cframe = cframe;
#else
    (void)cframe;
#endif
#if GREENLET_PY311
    pystate_set_current_frame(tstate, NULL);
    /* As CPython's first frame push would: the first slot is skipped so that popping frames
     * never frees the root. */
    _PyStackChunk *chunk = state->root_chunk;
    tstate->datastack_chunk = chunk;
    tstate->datastack_top = &chunk->data[1];
    tstate->datastack_limit = (PyObject **)((char *)chunk + PYSTATE_CHUNK_BYTES);
#else
    (void)state;
    tstate->frame = NULL;
#endif
#if GREENLET_PY313
    tstate->delete_later = NULL;
    tstate->critical_section = 0;
#elif GREENLET_PY312
    tstate->trash.delete_nesting = 0;
#else
    tstate->trash_delete_nesting = 0;
#endif
}

/* The running greenlet has finished: release the interpreter memory it used for frames. */
static void
pystate_finish(PyThreadState *tstate, pystate *state, pystate_chunks *chunks)
{
#if GREENLET_PY311
    _PyStackChunk *chunk = tstate->datastack_chunk;
    tstate->datastack_chunk = NULL;
    tstate->datastack_top = NULL;
    tstate->datastack_limit = NULL;
    pystate_release_chunks(chunk, state->root_chunk, chunks);
    state->root_chunk = NULL;
#else
    (void)tstate;
    (void)state;
    (void)chunks;
#endif
}

#include "_pystate_frames.h"

#endif /* GREENLET_PYSTATE_H */
