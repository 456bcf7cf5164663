/*
 * _pystate_frames.h (part of _pystate.h): the frames of a suspended greenlet after the switch:
 * releasing what they hold when the greenlet will never resume, and showing what they refer
 * to to the cyclic garbage collector.
 */
#ifndef GREENLET_PYSTATE_FRAMES_H
#define GREENLET_PYSTATE_FRAMES_H

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

#endif /* GREENLET_PYSTATE_FRAMES_H */
