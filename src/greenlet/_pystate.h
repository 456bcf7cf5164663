/*
 * _pystate.h: everything about the interpreter's per-thread state that depends on the CPython
 * version. Each greenlet keeps its own copy of the fields below; a switch saves the outgoing
 * greenlet's copy from the thread state and loads the incoming one's.
 *
 * Included once, by _greenlet.c, after Python.h.
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

/* Root chunks of the interpreter's data stack (the memory Python frames live in, 3.11 and
 * newer) for the greenlets a thread starts. CPython would map a fresh 16 KiB chunk for each new
 * greenlet at its first call, and unmap it when the greenlet ends; here the chunks are carved
 * from larger mappings and finished greenlets' chunks are kept for the next ones, so starting a
 * greenlet makes no system call. Chunks beyond the kept ones are unmapped one by one.
 * Windows releases only whole allocations (VirtualFree), so there each mapping is one chunk,
 * taken from the interpreter's arena allocator (VirtualAlloc, as for its own chunks). */
#define PYSTATE_CHUNK_BYTES (16 * 1024)
#define PYSTATE_CHUNKS_KEPT 16
#if GREENLET_PY311 && defined(_WIN32)
#  define PYSTATE_CHUNKS_PER_MAP 1
static void *
pystate_map(size_t bytes)
{
    PyObjectArenaAllocator allocator;
    PyObject_GetArenaAllocator(&allocator);
    return allocator.alloc(allocator.ctx, bytes);
}
static void
pystate_unmap(void *memory, size_t bytes)
{
    PyObjectArenaAllocator allocator;
    PyObject_GetArenaAllocator(&allocator);
    allocator.free(allocator.ctx, memory, bytes);
}
#elif GREENLET_PY311
#  include <sys/mman.h>
#  define PYSTATE_CHUNKS_PER_MAP 64
static void *
pystate_map(size_t bytes)
{
    void *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return memory == MAP_FAILED ? NULL : memory;
}
static void
pystate_unmap(void *memory, size_t bytes)
{
    munmap(memory, bytes);
}
#endif
typedef struct pystate_chunks {
#if GREENLET_PY311
    _PyStackChunk *free[PYSTATE_CHUNKS_KEPT];
    char *fresh;                        /* the never used rest of the latest mapping */
    size_t fresh_count;                 /* chunks there */
#endif
    int count;
} pystate_chunks;

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

#if GREENLET_PY311
/* A chunk the interpreter allocated (with its arena allocator, as it frees its own). */
static void
pystate_free_interpreter_chunk(_PyStackChunk *chunk)
{
    PyObjectArenaAllocator allocator;
    PyObject_GetArenaAllocator(&allocator);
    if (allocator.free != NULL) {
        allocator.free(allocator.ctx, chunk, chunk->size);
    }
}

/* Gives back one of our root chunks: kept for the next greenlet, or unmapped. `chunks` is the
 * cache of the thread it belongs to, or NULL from another thread or after that thread ended. */
static void
pystate_chunk_give(pystate_chunks *chunks, _PyStackChunk *chunk)
{
    if (chunks != NULL && chunks->count < PYSTATE_CHUNKS_KEPT) {
        chunks->free[chunks->count++] = chunk;
    }
    else {
        pystate_unmap(chunk, PYSTATE_CHUNK_BYTES);
    }
}

/* One of our root chunks, or NULL when no memory can be mapped. */
static _PyStackChunk *
pystate_chunk_take(pystate_chunks *chunks)
{
    if (chunks->count > 0) {
        return chunks->free[--chunks->count];
    }
    if (chunks->fresh_count == 0) {
        void *memory = pystate_map((size_t)PYSTATE_CHUNK_BYTES * PYSTATE_CHUNKS_PER_MAP);
        if (memory == NULL) {
            return NULL;
        }
        chunks->fresh = memory;
        chunks->fresh_count = PYSTATE_CHUNKS_PER_MAP;
    }
    _PyStackChunk *chunk = (_PyStackChunk *)chunks->fresh;
    chunks->fresh += PYSTATE_CHUNK_BYTES;
    chunks->fresh_count--;
    return chunk;
}

/* Frees a greenlet's chain of chunks: `root` is ours, the others the interpreter's. */
static void
pystate_release_chunks(_PyStackChunk *chunk, _PyStackChunk *root, pystate_chunks *chunks)
{
    while (chunk != NULL) {
        _PyStackChunk *previous = chunk->previous;
        if (chunk == root) {
            pystate_chunk_give(chunks, chunk);
        }
        else {
            pystate_free_interpreter_chunk(chunk);
        }
        chunk = previous;
    }
}
#endif

static void
pystate_chunks_clear(pystate_chunks *chunks)
{
#if GREENLET_PY311
    while (chunks->count > 0) {
        pystate_unmap(chunks->free[--chunks->count], PYSTATE_CHUNK_BYTES);
    }
    if (chunks->fresh_count > 0) {
        pystate_unmap(chunks->fresh, (size_t)PYSTATE_CHUNK_BYTES * chunks->fresh_count);
        chunks->fresh = NULL;
        chunks->fresh_count = 0;
    }
#else
    (void)chunks;
#endif
}

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

/* ---- a greenlet that will never resume ------------------------------------------------ */

#if GREENLET_PY311
#  if GREENLET_PY314
#    define pystate_frame_code_clear(frame) PyStackRef_CLEAR((frame)->f_executable)
#    define pystate_frame_func_clear(frame) PyStackRef_CLEAR((frame)->f_funcobj)
#    define pystate_frame_stack_size(frame) ((int)((frame)->stackpointer - (frame)->localsplus))
#    define pystate_frame_slot_clear(frame, index) PyStackRef_CLEAR((frame)->localsplus[index])
#    define pystate_frame_stack_reset(frame) ((frame)->stackpointer = (frame)->localsplus)
#  else
#    if GREENLET_PY313
#      define pystate_frame_code_clear(frame) Py_CLEAR((frame)->f_executable)
#    else
#      define pystate_frame_code_clear(frame) Py_CLEAR((frame)->f_code)
#    endif
#    if GREENLET_PY312
#      define pystate_frame_func_clear(frame) Py_CLEAR((frame)->f_funcobj)
#    else
#      define pystate_frame_func_clear(frame) Py_CLEAR((frame)->f_func)
#    endif
/* Before 3.14 the interpreter does not store the evaluation stack depth of a running frame at
 * every call, so only the fast locals (always valid) are released; the evaluation stack of a
 * frame suspended in a call is left as it is. */
#    if GREENLET_PY313
#      define pystate_frame_stack_size(frame)                                                \
           (PyCode_Check((frame)->f_executable)                                              \
                ? ((PyCodeObject *)(frame)->f_executable)->co_nlocalsplus : 0)
#    else
#      define pystate_frame_stack_size(frame) ((frame)->f_code->co_nlocalsplus)
#    endif
#    define pystate_frame_slot_clear(frame, index) Py_CLEAR((frame)->localsplus[index])
#    define pystate_frame_stack_reset(frame) ((void)0)
#  endif

/* Releases what the interpreter frames of a suspended greenlet that will never resume hold
 * (locals, evaluation stack, function, code), as returning from them would have. A frame whose
 * frame object is referenced from elsewhere keeps everything, and then so does the greenlet's
 * data-stack memory, which that object still points into (it is never freed). Only frames in
 * the data stack are touched; the C stack they ran on may be gone. */
static void
pystate_clear_frames(pystate *state)
{
    int releasable = 1;
    for (struct _PyInterpreterFrame *frame = state->current_frame; frame != NULL;
         frame = frame->previous) {
        if (frame->owner != FRAME_OWNED_BY_THREAD) {
            continue; /* a generator's frame belongs to the generator */
        }
        if (frame->frame_obj != NULL && Py_REFCNT(frame->frame_obj) > 1) {
            releasable = 0;
            continue;
        }
        int size = pystate_frame_stack_size(frame);
        for (int index = 0; index < size; index++) {
            pystate_frame_slot_clear(frame, index);
        }
        pystate_frame_stack_reset(frame);
        Py_CLEAR(frame->f_locals);
        Py_CLEAR(frame->frame_obj);
        pystate_frame_func_clear(frame);
        pystate_frame_code_clear(frame);
    }
    state->current_frame = NULL;
    state->links_count = 0;
    if (!releasable) {
        state->datastack_chunk = NULL;
        state->root_chunk = NULL;
    }
}
#else
/* Before 3.11 each frame object is also referenced by the C call that evaluates it
 * (_PyEval_Vector), which releases that reference, and lets the collector see the frame, when
 * the call returns. The C stack of a greenlet that will never resume never returns: release
 * those references here, from the top frame down, or every frame of the greenlet stays in
 * memory. A generator's frame is referenced by its generator only, not by the call running it. */
static void
pystate_clear_frames(pystate *state)
{
    PyFrameObject *frame = (PyFrameObject *)state->top_frame; /* our reference */
    state->top_frame = NULL;
    while (frame != NULL) {
        PyFrameObject *back = frame->f_back;
        Py_XINCREF(back); /* kept while the frame above lets go of it */
        if (!(frame->f_code->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR))) {
            if (!PyObject_GC_IsTracked((PyObject *)frame)) {
                PyObject_GC_Track(frame); /* as _PyEval_Vector does for a frame kept alive */
            }
            Py_DECREF(frame); /* the reference of the call that will never return */
        }
        Py_DECREF(frame);
        frame = back;
    }
}
#endif

/* A suspended greenlet will never run again: drop what it held. `chunks` is the cache of the
 * thread it ran on, or NULL when that thread has ended. */
static void
pystate_discard(pystate *state, pystate_chunks *chunks)
{
#if GREENLET_PY311
    _PyStackChunk *chunk = state->datastack_chunk;
    state->datastack_chunk = NULL;
    state->current_frame = NULL;
    pystate_release_chunks(chunk, state->root_chunk, chunks);
    state->root_chunk = NULL;
#else
    (void)chunks;
    pystate_clear_frames(state);
#endif
    state->links_count = 0;
    Py_CLEAR(state->context);
#if GREENLET_PY311
    Py_CLEAR(state->exc_state.exc_value);
#else
    Py_CLEAR(state->exc_state.exc_type);
    Py_CLEAR(state->exc_state.exc_value);
    Py_CLEAR(state->exc_state.exc_traceback);
#endif
    state->exc_info = NULL;
}

static void
pystate_free(pystate *state)
{
    if (state->links != &state->links_first) {
        PyMem_Free(state->links);
    }
    state->links = NULL;
    state->links_capacity = 0;
}

/* ---- what the frames of a suspended greenlet refer to, for the collector ---------------- */

/* Visits the references the interpreter frames of a suspended greenlet own, as the collector
 * visits those of a suspended generator: the frame object, the locals mapping, the function,
 * the code and the fast locals (cells included), and the evaluation stack up to its top where
 * the interpreter recorded that top. Globals and builtins are borrowed by the frame from its
 * function (visited here): visiting them again would count a reference nobody holds. Only
 * frames in the greenlet's own frame memory are read (see pystate_hide_frames); a generator's
 * frame is its generator's to visit. Visiting fewer references than a frame holds is safe (the
 * collector then sees what they refer to as referenced from outside and keeps it), visiting one
 * it does not hold is not: where the top of the evaluation stack is not known, only the fast
 * locals are visited. */
#if GREENLET_PY315
/* The interpreter's own walk: it knows which stack references own a reference. */
#  define pystate_visit_ref(ref)                                                             \
       do {                                                                                  \
           int pystate_visit_result_ = _PyGC_VisitStackRef(&(ref), visit, arg);              \
           if (pystate_visit_result_ != 0) {                                                 \
               return pystate_visit_result_;                                                 \
           }                                                                                 \
       } while (0)
#elif GREENLET_PY314
/* A stack reference owns a reference unless it is tagged: NULL, a small int, an immortal object
 * or a borrowed reference (the collector skips those too). */
#  define pystate_visit_ref(ref)                                                             \
       do {                                                                                  \
           if (PyStackRef_RefcountOnObject(ref)) {                                           \
               Py_VISIT(PyStackRef_AsPyObjectBorrow(ref));                                   \
           }                                                                                 \
       } while (0)
#endif

#if GREENLET_PY311
static int
pystate_visit_frame(struct _PyInterpreterFrame *frame, visitproc visit, void *arg)
{
    Py_VISIT(frame->frame_obj);
    Py_VISIT(frame->f_locals);
#  if GREENLET_PY314
    pystate_visit_ref(frame->f_funcobj);
    pystate_visit_ref(frame->f_executable);
#    if GREENLET_PY315
    return _PyGC_VisitFrameStack(frame, visit, arg);
#    else
    /* From 3.14 the interpreter stores the top of the evaluation stack at every call. */
    for (_PyStackRef *ref = frame->localsplus; ref < frame->stackpointer; ref++) {
        pystate_visit_ref(*ref);
    }
    return 0;
#    endif
#  else
#    if GREENLET_PY313
    Py_VISIT(frame->f_funcobj);
    Py_VISIT(frame->f_executable);
    if (!PyCode_Check(frame->f_executable)) {
        return 0;
    }
    PyCodeObject *code = (PyCodeObject *)frame->f_executable;
#    elif GREENLET_PY312
    Py_VISIT(frame->f_funcobj);
    Py_VISIT(frame->f_code);
    PyCodeObject *code = frame->f_code;
#    else
    Py_VISIT(frame->f_func);
    Py_VISIT(frame->f_code);
    PyCodeObject *code = frame->f_code;
#    endif
    int slots = code->co_nlocalsplus;
#    if GREENLET_PY312
    /* 3.12 and 3.13 set stacktop to -1 whenever a frame resumes, and record its evaluation
     * stack's top in it when the frame calls a Python function directly: then (and only then)
     * the stack below it is valid. A frame waiting in a call to C code, such as switch(), has
     * only its fast locals visited. 3.11 leaves a stale stacktop behind and is never trusted. */
    if (frame->stacktop > slots && frame->stacktop <= slots + code->co_stacksize) {
        slots = frame->stacktop;
    }
#    endif
    for (int index = 0; index < slots; index++) {
        Py_VISIT(frame->localsplus[index]);
    }
    return 0;
#  endif
}
#endif

/* The frames of a suspended greenlet of the calling thread (the only ones whose frames the
 * collector may see: see docs/gc.md). */
static int
pystate_traverse_frames(pystate *state, visitproc visit, void *arg)
{
#if GREENLET_PY311
    for (struct _PyInterpreterFrame *frame = state->current_frame; frame != NULL;
         frame = frame->previous) {
        if (frame->owner != FRAME_OWNED_BY_THREAD) {
            continue;
        }
        int result = pystate_visit_frame(frame, visit, arg);
        if (result != 0) {
            return result;
        }
    }
#else
    /* 3.10: each frame is also referenced from the C stack of the call running it, which the
     * collector cannot see, so a suspended greenlet's frames are never garbage; nothing here
     * would change that. */
    (void)state;
    (void)visit;
    (void)arg;
#endif
    return 0;
}

/* Whether a tp_finalize running now was called by the collector for unreachable garbage, rather
 * than by PyObject_CallFinalizerFromDealloc (a subclass's dealloc). Every CPython from 3.10 to
 * 3.15, with or without the GIL, marks the object finalized before the collector calls the
 * finalizer, and only after the finalizer returns on the dealloc path. */
static inline int
pystate_finalizer_called_by_collector(PyObject *op)
{
    return PyObject_GC_IsFinalized(op);
}

static int
pystate_traverse(pystate *state, visitproc visit, void *arg)
{
    Py_VISIT(state->context);
#if GREENLET_PY311
    Py_VISIT(state->exc_state.exc_value);
#else
    Py_VISIT(state->exc_state.exc_type);
    Py_VISIT(state->exc_state.exc_value);
    Py_VISIT(state->exc_state.exc_traceback);
#endif
    return 0;
}

#endif /* GREENLET_PYSTATE_H */
