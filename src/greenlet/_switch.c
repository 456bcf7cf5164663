/*
 * _switch.c (part of _greenlet.c): the switch protocol, and the switch() and throw() methods
 * that start it: the thread and target checks, the stack switch with the interpreter state
 * around it, and the start and end of a greenlet's life on its stack.
 *
 * A switch from greenlet A to greenlet B:
 *   1. g_switch checks B's thread, follows dead greenlets to their parents, and stores what is
 *      being sent (one value, arguments, or an exception) in A's thread_state, which lives on
 *      the heap.
 *   2. g_switchstack saves A's interpreter state and calls zgl_switch (or zgl_start for a
 *      greenlet that never ran: g_initialstub). zgl_switch returns in B.
 *   3. B restores its interpreter state, emits the trace event, and takes what was sent.
 * Locals of the frames between g_switch and zgl_* belong to whichever greenlet is running, so
 * everything that crosses a switch goes through the thread_state.
 */

/* From here to the end of the enclosing function, unwinders see no caller: a stack walk stops
 * in this frame. ZGL_DWARF_RETURN_COLUMN, the DWARF number of the register holding a frame's
 * return address, comes from build.zig (the target's file of zsrc/arch/). It is absent where
 * unwinding does not use DWARF CFI: on 32-bit Arm (EHABI), whose tables build.zig leaves out of
 * this file, and on Windows, whose tables cannot say this (as with upstream greenlet, only a
 * debugger's or a crash dump's walk goes on past a greenlet's oldest frame there). */
#if defined(ZGL_DWARF_RETURN_COLUMN) && defined(__GCC_HAVE_DWARF2_CFI_ASM)
#  define CFI_END_OF_STACK() \
    __asm__ volatile(".cfi_undefined " Py_STRINGIFY(ZGL_DWARF_RETURN_COLUMN))
#else
#  define CFI_END_OF_STACK() ((void)0)
#endif

/* ==== the switch =========================================================================== */

/* Moves to `target`: SWITCH_RESUMED back in the original greenlet, SWITCH_STARTED running as
 * the new `target` (only when it was pending), SWITCH_FAILED when nothing moved. */
static NOINLINE switch_result
g_switchstack(thread_state *ts, PyGreenlet *target, void *stack_far_marker, int dying)
{
    PyThreadState *tstate = PyThreadState_Get();
    PyGreenlet *origin = ts->current;
    greenlet_impl *origin_impl = IMPL(origin);
    if (dying) {
        pystate_keep_context(&origin_impl->py, tstate);
    }
    else {
        if (UNLIKELY(pystate_prepare_save(&origin_impl->py, tstate) < 0)) {
            return SWITCH_FAILED;
        }
        pystate_save(&origin_impl->py, tstate);
        /* The unused end of the greenlet's frame memory stays untouched until it runs again:
         * its C stack is saved there when it fits. */
        size_t spare_bytes;
        void *spare = pystate_spare(tstate, &spare_bytes);
        if (spare != NULL && !stack_allocations_hooked()) {
            zgl_stack_lend(&origin_impl->stack, spare, spare_bytes);
        }
    }
    ts->use_tracing = pystate_use_tracing(tstate);
    ts->origin = origin; /* the reference ts->current held */
    ts->current = (PyGreenlet *)Py_NewRef(target);

    zgl_stack *target_stack = &IMPL(target)->stack;
    zgl_status status;
    if (dying) {
        status = zgl_finish(&ts->zthread, target_stack, stack_far_marker);
    }
    else if (zgl_stack_state(target_stack) == ZGL_PENDING) {
        status = zgl_start(&ts->zthread, target_stack, stack_far_marker);
    }
    else {
        status = zgl_switch(&ts->zthread, target_stack);
    }
    /* From here on, this may be another greenlet. Its locals were restored with its stack, and
     * `ts` and `tstate` are the same for every greenlet of this thread. */
    if (status == ZGL_STARTED) {
        return SWITCH_STARTED;
    }
    if (UNLIKELY(status == ZGL_ERR_NOMEM)) {
        Py_SETREF(ts->current, ts->origin);
        ts->origin = NULL;
        if (!dying) {
            pystate_restore(&IMPL(ts->current)->py, tstate, ts->use_tracing);
        }
        else {
            pystate_return_context(&IMPL(ts->current)->py, tstate);
        }
        PyErr_NoMemory();
        return SWITCH_FAILED;
    }
    pystate_restore(&IMPL(ts->current)->py, tstate, ts->use_tracing);
    return SWITCH_RESUMED;
}

/* The greenlet that switched here (a new reference, or NULL), taken from the thread state once
 * the switch has landed. A finished one lets go of the greenlet it switched to (see g_die): the
 * one now running, so this never frees it. */
static inline PyGreenlet *
g_take_origin(thread_state *ts)
{
    PyGreenlet *origin = ts->origin;
    if (origin != NULL) {
        ts->origin = NULL;
        /* (only its last switch: code run on the way there, such as a `run` property of the
         * greenlet being started, may switch elsewhere and back first) */
        if (UNLIKELY(IMPL(origin)->final_target != NULL) && g_state(origin) == ZGL_DEAD) {
            Py_CLEAR(IMPL(origin)->final_target);
        }
    }
    return origin;
}

/* Takes what the switcher sent to the greenlet now running and emits the trace event. On
 * return 0 either *value is set, or *args is the tuple sent (and *kwargs the dict, or NULL), or
 * both are NULL with the thrown exception set; on -1 (the trace function failed) its exception
 * is set and nothing is returned. */
static int
g_take_passed(thread_state *ts, PyObject **value, PyObject **args, PyObject **kwargs)
{
    switch_payload passed = payload_take(&ts->passed);
    PyGreenlet *origin = g_take_origin(ts);
    if (ts->trace != NULL && origin != NULL) {
        PyObject *event = (passed.value != NULL || passed.args != NULL) ? ts->mod->str_switch
                                                                    : ts->mod->str_throw;
        if (g_call_trace(ts, event, origin, ts->current) < 0) {
            Py_XDECREF(origin);
            payload_clear(&passed);
            return -1;
        }
    }
    Py_XDECREF(origin);
    *value = passed.value;
    *args = passed.args;
    *kwargs = passed.kwargs;
    if (passed.value == NULL && passed.args == NULL) {
        Py_CLEAR(*kwargs);
        PyErr_Restore(passed.exc_type, passed.exc_value, passed.exc_traceback);
    }
    return 0;
}

/* What a resumed switch() call returns: a value, or NULL with an exception set. */
static PyObject *
g_receive(thread_state *ts)
{
    if (LIKELY(ts->trace == NULL)) {
        /* Without a trace function, one value, or switch() without arguments, is returned as it
         * is: switch() returns (). */
        PyObject *value = ts->passed.value;
        if (value != NULL) {
            ts->passed.value = NULL;
        }
        else if (ts->passed.args != NULL && PyTuple_GET_SIZE(ts->passed.args) == 0 &&
                 ts->passed.kwargs == NULL) {
            value = ts->passed.args;
            ts->passed.args = NULL;
        }
        if (value != NULL) {
            Py_XDECREF(g_take_origin(ts));
            return value;
        }
    }
    PyObject *value, *args, *kwargs;
    if (g_take_passed(ts, &value, &args, &kwargs) < 0) {
        return NULL;
    }
    if (value != NULL) {
        return value;
    }
    if (args == NULL) {
        return NULL;
    }
    return g_build_value(args, kwargs);
}

static NOINLINE void g_run_and_die(thread_state *ts, PyGreenlet *self, PyObject *run,
                                   pystate_cframe *cframe);
static PyObject *greenlet_get_run(PyGreenlet *self, void *closure);

/* Starts `self`, whose stack will lie below `stack_far_marker` in the caller's frame. Returns
 * SWITCH_RESUMED once something switches back to the original greenlet, SWITCH_ALREADY_STARTED
 * when `self` turned out to be started already, or SWITCH_FAILED. The new
 * greenlet runs inside this function and never returns from it: this function "returns twice"
 * only in the sense that the original greenlet returns from it later. */
static NOINLINE switch_result
g_initialstub(thread_state *ts, PyGreenlet *self, void *stack_far_marker, int dying)
{
    /* Looking up `run` may run Python code, which may switch; keep what is being sent. */
    switch_payload passed = payload_take(&ts->passed);
    /* On the type itself `run` is the getset below (a data descriptor, which an instance
     * __dict__ cannot shadow); a subclass may define it any way it likes. */
    PyObject *run = Py_IS_TYPE(self, ts->mod->greenlet_type)
                        ? greenlet_get_run(self, NULL)
                        : PyObject_GetAttr((PyObject *)self, ts->mod->str_run);
    payload_clear(&ts->passed);
    ts->passed = passed;
    if (run == NULL) {
        payload_clear(&ts->passed);
        return SWITCH_FAILED;
    }
    if (g_state(self) != ZGL_PENDING) {
        Py_DECREF(run);
        return SWITCH_ALREADY_STARTED;
    }
    if (g_check_thread(ts, self) < 0) {
        Py_DECREF(run);
        payload_clear(&ts->passed);
        return SWITCH_FAILED;
    }
    greenlet_impl *impl = IMPL(self);
    /* The new greenlet's frame memory, taken now so that running out of it is an error of this
     * switch() call. */
    if (pystate_prepare_start(&impl->py, &ts->chunks) < 0) {
        Py_DECREF(run);
        payload_clear(&ts->passed);
        return SWITCH_FAILED;
    }
    Py_XSETREF(impl->main_greenlet, (PyGreenlet *)Py_NewRef(ts->main));
    pystate_cframe cframe;
    switch_result result = g_switchstack(ts, self, stack_far_marker, dying);
    if (result == SWITCH_STARTED) {
        g_run_and_die(ts, self, run, &cframe);
        /* not reached */
    }
    if (result == SWITCH_FAILED) {
        pystate_cancel_start(&impl->py, &ts->chunks);
        Py_CLEAR(impl->main_greenlet);
        Py_DECREF(run);
        payload_clear(&ts->passed);
    }
    return result;
}

/* Bytes between the frame that starts a greenlet and the greenlet's own frames. The greenlet
 * that starts it usually switches to it later from about the same depth, a few C frames deeper
 * than this one; with the gap those frames do not reach the new greenlet's stack, so such a
 * switch has nothing of the caller's to save. */
#define GREENLET_START_GAP_BYTES 512

/* Starts the pending `target` (see g_initialstub) below a gap in this frame.
 *
 * This frame is the oldest of the new greenlet's frames: what lies above the gap (this frame's
 * return address and its caller's frames) belongs to the greenlet that started it, and is
 * overwritten as soon as that one runs on. The greenlet itself never returns through it (it
 * ends by switching away), but a stack walk would: glibc's pthread_exit, which CPython 3.13
 * and older call in a daemon thread that tries to run after the interpreter has finished,
 * unwinds the thread's stack through whatever greenlet is running, and would follow the stale
 * return address (a crash on s390x and riscv64). So the unwind tables say the stack ends here. */
static NOINLINE switch_result
g_start(thread_state *ts, PyGreenlet *target, int dying)
{
    char *marker = __builtin_alloca(stack_allocations_hooked() ? 16 : GREENLET_START_GAP_BYTES);
    __asm__ volatile("" : : "r"(marker) : "memory");
    CFI_END_OF_STACK();
    switch_result result = g_initialstub(ts, target, marker, dying);
    /* The gap (and the marker at its low end) stays part of this frame until here. */
    __asm__ volatile("" : : "r"(marker) : "memory");
    return result;
}

/* The running greenlet finished with `result` (NULL: with the exception set). Sends it to the
 * parent chain. Never returns. */
static void
g_die(PyGreenlet *self, PyObject *result)
{
    thread_state *ts = thread_state_current();
    if (result == NULL && PyErr_ExceptionMatches(ts->mod->exit)) {
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        PyErr_NormalizeException(&type, &value, &traceback);
        result = value ? value : Py_NewRef(Py_None);
        Py_XDECREF(type);
        Py_XDECREF(traceback);
    }
    greenlet_impl *impl = IMPL(self);
    pystate_finish(PyThreadState_Get(), &impl->py, &ts->chunks);
    /* A successful switch never comes back to drop a reference: `self` holds the parent (in
     * final_target, as `parent` may be replaced meanwhile, by code run on the way or by another
     * thread), and the thread state holds `self` until the parent has resumed. */
    PyGreenlet *parent = (PyGreenlet *)g_read_locked(self, (PyObject **)&impl->parent);
    for (;;) {
        if (parent == NULL) {
            Py_FatalError("greenlet: a greenlet finished and no parent is left to run");
        }
        Py_XSETREF(impl->final_target, parent);
        PyObject *unexpected = g_switch(ts, parent, result, NULL, NULL, 1);
        result = NULL;
        /* Only a failure returns here: pass it on to the next ancestor. */
        Py_XDECREF(unexpected);
        ts = thread_state_current();
        parent = (PyGreenlet *)g_read_locked(parent, (PyObject **)&IMPL(parent)->parent);
    }
}

static void
g_release_call(greenlet_impl *impl)
{
    Py_CLEAR(impl->call_args);
    Py_CLEAR(impl->call_kwargs);
    Py_CLEAR(impl->call_run);
}

/* The body of a new greenlet: runs `run` (a reference it owns) and passes the result to the
 * parent chain. Never returns. */
static NOINLINE void
g_run_and_die(thread_state *ts, PyGreenlet *self, PyObject *run, pystate_cframe *cframe)
{
    PyThreadState *tstate = PyThreadState_Get();
    greenlet_impl *impl = IMPL(self);
    PyObject *context = impl->py.context;
    impl->py.context = NULL;
    pystate_start(tstate, &impl->py, cframe, context);
    Py_XDECREF(context);

    /* Take what was sent before dropping the stored callable: its __del__ may switch. */
    PyObject *value, *args, *kwargs;
    PyObject *result = NULL;
    int received = g_take_passed(ts, &value, &args, &kwargs);
    if (UNLIKELY(impl->run != NULL && Py_REFCNT(impl->run) == 1)) {
        PyObject *error_type = NULL, *error_value = NULL, *error_traceback = NULL;
        PyErr_Fetch(&error_type, &error_value, &error_traceback);
        Py_CLEAR(impl->run);
        PyErr_Restore(error_type, error_value, error_traceback);
    }
    else {
        Py_CLEAR(impl->run);
    }
    impl->call_run = run;
    if (received == 0) {
        if (value != NULL) {
            impl->call_args = value;
            result = PyObject_CallOneArg(run, value);
        }
        else if (args != NULL) {
            impl->call_args = args;
            impl->call_kwargs = kwargs;
            if (kwargs == NULL && PyTuple_GET_SIZE(args) == 0) {
                result = PyObject_CallNoArgs(run);
            }
            else {
                result = PyObject_Call(run, args, kwargs);
            }
        }
    }
    g_release_call(impl);
    g_die(self, result);
}

/* g_switch, holding in *hold (a strong reference) the ancestor it switches to when `target`
 * has finished. */
static PyObject *
g_switch_holding(thread_state *ts, PyGreenlet *target, PyObject *value, PyObject *args,
                 PyObject *kwargs, int dying, PyGreenlet **hold)
{
    PyObject *exc_type = NULL, *exc_value = NULL, *exc_traceback = NULL;
    if (value == NULL && args == NULL) {
        PyErr_Fetch(&exc_type, &exc_value, &exc_traceback);
    }
    for (;;) {
        if (UNLIKELY(g_check_thread(ts, target) < 0)) {
            goto fail;
        }
        while (UNLIKELY(g_state(target) == ZGL_DEAD)) {
            target = (PyGreenlet *)g_read_locked(target, (PyObject **)&IMPL(target)->parent);
            Py_XSETREF(*hold, target);
            if (UNLIKELY(target == NULL)) {
                PyErr_SetString(ts->mod->error, "cannot switch to a finished main greenlet");
                goto fail;
            }
        }
        if (UNLIKELY(target == ts->current)) {
            if (ts->trace != NULL &&
                g_call_trace(ts, (value || args) ? ts->mod->str_switch : ts->mod->str_throw, target,
                             target) < 0) {
                goto fail;
            }
            if (value != NULL) {
                return value;
            }
            if (args == NULL) {
                PyErr_Restore(exc_type, exc_value, exc_traceback);
                Py_XDECREF(kwargs);
                return NULL;
            }
            return g_build_value(args, kwargs);
        }
        ts->passed = (switch_payload){value, args, kwargs, exc_type, exc_value, exc_traceback};
        switch_result result;
        if (LIKELY(g_state(target) != ZGL_PENDING)) {
            result = g_switchstack(ts, target, NULL, dying);
        }
        else {
            result = g_start(ts, target, dying);
        }
        if (UNLIKELY(result == SWITCH_ALREADY_STARTED)) {
            /* Code run during the start switched into `target` first; switch normally. */
            switch_payload passed = payload_take(&ts->passed);
            value = passed.value;
            args = passed.args;
            kwargs = passed.kwargs;
            exc_type = passed.exc_type;
            exc_value = passed.exc_value;
            exc_traceback = passed.exc_traceback;
            continue;
        }
        if (UNLIKELY(result == SWITCH_FAILED)) {
            payload_clear(&ts->passed);
            return NULL;
        }
        return g_receive(ts);
    }
fail:
    Py_XDECREF(value);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    Py_XDECREF(exc_type);
    Py_XDECREF(exc_value);
    Py_XDECREF(exc_traceback);
    return NULL;
}

/* Switches from the running greenlet to `target` (or, if it finished, its first ancestor alive),
 * sending one value, or args and kwargs (all new references; value and args both NULL means the
 * exception currently set is sent). `dying` means the running greenlet has finished; then this
 * returns only on failure. */
static PyObject *
g_switch(thread_state *ts, PyGreenlet *target, PyObject *value, PyObject *args, PyObject *kwargs,
         int dying)
{
    if (dying) {
        /* the finished greenlet holds the ancestor (see g_die) */
        return g_switch_holding(ts, target, value, args, kwargs, 1,
                                &IMPL(ts->current)->final_target);
    }
    PyGreenlet *held = NULL;
    PyObject *result = g_switch_holding(ts, target, value, args, kwargs, 0, &held);
    Py_XDECREF(held);
    return result;
}

/* ==== methods ============================================================================== */

/* A tuple of `count` new references to the objects at `items`. */
static PyObject *
tuple_from_array(PyObject *const *items, Py_ssize_t count)
{
    if (count == 0) {
        return PyTuple_New(0); /* the interpreter's one empty tuple */
    }
    PyObject *tuple = PyTuple_New(count);
    if (tuple == NULL) {
        return NULL;
    }
    for (Py_ssize_t index = 0; index < count; index++) {
        PyTuple_SET_ITEM(tuple, index, Py_NewRef(items[index]));
    }
    return tuple;
}

/* switch(*args, **kwargs), called through vectorcall: one positional argument travels alone,
 * without a tuple around it. */
static PyObject *
greenlet_switch(PyGreenlet *self, PyObject *const *items, size_t nargsf, PyObject *kwnames)
{
    thread_state *ts = thread_state_get();
    if (UNLIKELY(ts == NULL)) {
        return NULL;
    }
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (LIKELY(kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0)) {
        if (nargs == 1) {
            return g_switch(ts, self, Py_NewRef(items[0]), NULL, NULL, 0);
        }
        PyObject *args = nargs == 0 ? Py_NewRef(ts->mod->empty_tuple)
                                    : tuple_from_array(items, nargs);
        if (args == NULL) {
            return NULL;
        }
        return g_switch(ts, self, NULL, args, NULL, 0);
    }
    PyObject *args = tuple_from_array(items, nargs);
    if (args == NULL) {
        return NULL;
    }
    PyObject *kwargs = pystate_kwargs_dict(items + nargs, kwnames);
    if (kwargs == NULL) {
        Py_DECREF(args);
        return NULL;
    }
    return g_switch(ts, self, NULL, args, kwargs, 0);
}


/* Sends the exception currently set to `self`, as throw() does. */
static PyObject *
g_throw_current(PyGreenlet *self)
{
    thread_state *ts = thread_state_get();
    if (ts == NULL) {
        return NULL;
    }
    if (g_state(self) == ZGL_DEAD) {
        /* Delivered as if `self` had just died with it: GreenletExit becomes a value. */
        if (PyErr_ExceptionMatches(ts->mod->exit)) {
            PyObject *type, *value, *traceback;
            PyErr_Fetch(&type, &value, &traceback);
            PyErr_NormalizeException(&type, &value, &traceback);
            Py_XDECREF(type);
            Py_XDECREF(traceback);
            return g_switch(ts, self, value ? value : Py_NewRef(Py_None), NULL, NULL, 0);
        }
    }
    return g_switch(ts, self, NULL, NULL, NULL, 0);
}

/* Validates throw()'s arguments and sets the exception; -1 with a TypeError when invalid. */
static int
g_set_thrown(PyObject *type, PyObject *value, PyObject *traceback)
{
    if (traceback == Py_None) {
        traceback = NULL;
    }
    if (traceback != NULL && !PyTraceBack_Check(traceback)) {
        PyErr_SetString(PyExc_TypeError, "throw() third argument must be a traceback object");
        return -1;
    }
    Py_INCREF(type);
    Py_XINCREF(value);
    Py_XINCREF(traceback);
    if (PyExceptionClass_Check(type)) {
        PyErr_NormalizeException(&type, &value, &traceback);
    }
    else if (PyExceptionInstance_Check(type)) {
        if (value != NULL && value != Py_None) {
            PyErr_SetString(PyExc_TypeError, "instance exception may not have a separate value");
            goto failed;
        }
        Py_XDECREF(value);
        value = type;
        type = Py_NewRef(PyExceptionInstance_Class(type));
    }
    else {
        PyErr_Format(PyExc_TypeError, "exceptions must be classes, or instances, not %s",
                     Py_TYPE(type)->tp_name);
        goto failed;
    }
    if (traceback != NULL && value != NULL) {
        PyException_SetTraceback(value, traceback);
    }
    PyErr_Restore(type, value, traceback);
    return 0;
failed:
    Py_DECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    return -1;
}

static PyObject *
greenlet_throw(PyGreenlet *self, PyObject *const *items, Py_ssize_t nargs)
{
    if (nargs > 3) {
        PyErr_Format(PyExc_TypeError, "throw() takes at most 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *type = nargs > 0 ? items[0] : NULL;
    if (type == NULL) {
        thread_state *ts = thread_state_get();
        if (ts == NULL) {
            return NULL;
        }
        type = ts->mod->exit;
    }
    PyObject *value = nargs > 1 ? items[1] : NULL;
    PyObject *traceback = nargs > 2 ? items[2] : NULL;
    if (g_set_thrown(type, value, traceback) < 0) {
        return NULL;
    }
    return g_throw_current(self);
}
