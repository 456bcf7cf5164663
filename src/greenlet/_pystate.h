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

#define GREENLET_PY311 (PY_VERSION_HEX >= 0x030B0000)
#define GREENLET_PY312 (PY_VERSION_HEX >= 0x030C0000)
#define GREENLET_PY313 (PY_VERSION_HEX >= 0x030D0000)
#define GREENLET_PY314 (PY_VERSION_HEX >= 0x030E0000)
#define GREENLET_PY315 (PY_VERSION_HEX >= 0x030F0000)
#define GREENLET_USE_CFRAME (!GREENLET_PY313)
/* 3.12 and 3.13 count C recursion; 3.14 measures the C stack pointer instead. All greenlets of a
 * thread share its C stack, so the 3.14 stack limits stay valid across switches. */
#define GREENLET_C_RECURSION (GREENLET_PY312 && !GREENLET_PY314)

#if !GREENLET_PY311
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
#endif

/* Interpreter data-stack chunks kept by a thread for the greenlets it starts, so that starting
 * a greenlet maps no memory (CPython would map a fresh 16 KiB root chunk for each). */
#define PYSTATE_CHUNK_BYTES (16 * 1024)
#define PYSTATE_CHUNKS_KEPT 8
typedef struct pystate_chunks {
#if GREENLET_PY311
    _PyStackChunk *free[PYSTATE_CHUNKS_KEPT];
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
    PyObject *top_frame;                /* strong; the frame the greenlet resumes in */
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
#endif
#if GREENLET_PY313
    PyObject *delete_later;
    uintptr_t critical_section;
#else
    int trash_delete_nesting;
#endif
    frame_link *links;                  /* rewritten frame links, restored at switch-in */
    Py_ssize_t links_count;
    Py_ssize_t links_capacity;
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
            Py_ssize_t capacity = state->links_capacity ? state->links_capacity * 2 : 8;
            frame_link *links = PyMem_Realloc(state->links, capacity * sizeof(frame_link));
            if (links == NULL) {
                return -1;
            }
            state->links = links;
            state->links_capacity = capacity;
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

/* Prepares the outgoing greenlet; may fail (and then nothing was changed). Runs Python-level
 * allocation with the collector paused, so no collection can run code in the middle of a
 * switch. */
static int
pystate_prepare_save(pystate *state, PyThreadState *tstate)
{
#if GREENLET_PY311
    int was_enabled = PyGC_Disable();
    PyFrameObject *frame = PyThreadState_GetFrame(tstate);
    if (was_enabled) {
        PyGC_Enable();
    }
    if (frame == NULL && PyErr_Occurred()) {
        return -1;
    }
    state->top_frame = (PyObject *)frame;
#else
    state->top_frame = (PyObject *)tstate->frame;
    Py_XINCREF(state->top_frame);
#endif
    if (pystate_hide_frames(state, tstate) < 0) {
        Py_CLEAR(state->top_frame);
        PyErr_NoMemory();
        return -1;
    }
    return 0;
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
    Py_CLEAR(state->top_frame);
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
static void
pystate_free_chunk(_PyStackChunk *chunk)
{
    PyObjectArenaAllocator allocator;
    PyObject_GetArenaAllocator(&allocator);
    if (allocator.free != NULL) {
        allocator.free(allocator.ctx, chunk, chunk->size);
    }
}

/* Frees a chain of chunks, keeping root chunks of the usual size for reuse. */
static void
pystate_release_chunks(_PyStackChunk *chunk, pystate_chunks *chunks)
{
    while (chunk != NULL) {
        _PyStackChunk *previous = chunk->previous;
        if (previous == NULL && chunk->size == PYSTATE_CHUNK_BYTES && chunks != NULL &&
            chunks->count < PYSTATE_CHUNKS_KEPT) {
            chunks->free[chunks->count++] = chunk;
        }
        else {
            pystate_free_chunk(chunk);
        }
        chunk = previous;
    }
}

/* Gives the thread state a root chunk, as CPython's first frame push would: the first slot
 * is skipped so that popping frames never frees the root. */
static void
pystate_install_root_chunk(PyThreadState *tstate, pystate_chunks *chunks)
{
    _PyStackChunk *chunk = NULL;
    if (chunks->count > 0) {
        chunk = chunks->free[--chunks->count];
    }
    else {
        PyObjectArenaAllocator allocator;
        PyObject_GetArenaAllocator(&allocator);
        if (allocator.alloc != NULL) {
            chunk = allocator.alloc(allocator.ctx, PYSTATE_CHUNK_BYTES);
        }
        if (chunk == NULL) {
            return; /* CPython allocates one at the first call instead */
        }
        chunk->size = PYSTATE_CHUNK_BYTES;
    }
    chunk->previous = NULL;
    chunk->top = 0;
    tstate->datastack_chunk = chunk;
    tstate->datastack_top = &chunk->data[1];
    tstate->datastack_limit = (PyObject **)((char *)chunk + PYSTATE_CHUNK_BYTES);
}
#endif

static void
pystate_chunks_clear(pystate_chunks *chunks)
{
#if GREENLET_PY311
    while (chunks->count > 0) {
        pystate_free_chunk(chunks->free[--chunks->count]);
    }
#else
    (void)chunks;
#endif
}

/* Sets up the thread state for a greenlet that starts running now, on top of whatever the
 * greenlet that started it left there (already saved). */
static void
pystate_start(PyThreadState *tstate, pystate_cframe *cframe, PyObject *context,
              pystate_chunks *chunks)
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
    tstate->datastack_chunk = NULL;
    tstate->datastack_top = NULL;
    tstate->datastack_limit = NULL;
    pystate_install_root_chunk(tstate, chunks);
#else
    (void)chunks;
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
pystate_finish(PyThreadState *tstate, pystate_chunks *chunks)
{
#if GREENLET_PY311
    _PyStackChunk *chunk = tstate->datastack_chunk;
    tstate->datastack_chunk = NULL;
    tstate->datastack_top = NULL;
    tstate->datastack_limit = NULL;
    pystate_release_chunks(chunk, chunks);
#else
    (void)tstate;
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
    Py_CLEAR(state->top_frame);
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
    }
}
#else
static void
pystate_clear_frames(pystate *state)
{
    Py_CLEAR(state->top_frame);
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
    pystate_release_chunks(chunk, chunks);
#else
    (void)chunks;
#endif
    state->links_count = 0;
    Py_CLEAR(state->context);
    Py_CLEAR(state->top_frame);
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
    PyMem_Free(state->links);
    state->links = NULL;
    state->links_capacity = 0;
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
