/*
 * _lifecycle.c (part of _greenlet.c): how greenlets end and go away. Killing a suspended
 * greenlet (GreenletExit), releasing what a greenlet that can never run again holds, and the
 * collector's slots: traverse, finalize, clear and dealloc.
 */

/* ==== killing and releasing ================================================================ */

/* Throws GreenletExit into a suspended greenlet of this thread so its finally blocks run, with
 * the running greenlet as its parent meanwhile. */
static void
g_kill(thread_state *ts, PyGreenlet *self)
{
    PyObject *saved_type, *saved_value, *saved_traceback;
    PyErr_Fetch(&saved_type, &saved_value, &saved_traceback);
    greenlet_impl *impl = IMPL(self);
    PyGreenlet *old_parent;
    Py_BEGIN_CRITICAL_SECTION(self);
    old_parent = impl->parent;
    impl->parent = (PyGreenlet *)Py_NewRef(ts->current);
    Py_END_CRITICAL_SECTION();
    PyErr_SetString(ts->mod->exit,
                    "Killing the greenlet because all references have vanished.");
    PyObject *result = g_switch(ts, self, NULL, NULL, NULL, 0);
    g_replace_locked(self, (PyObject **)&impl->parent, (PyObject *)old_parent);
    if (result == NULL) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    else {
        Py_DECREF(result);
    }
    PyErr_Restore(saved_type, saved_value, saved_traceback);
}

/* Frees what a greenlet that will never run again holds of its stack and interpreter state. */
static void
g_discard_stack(PyGreenlet *self)
{
    greenlet_impl *impl = IMPL(self);
    if (zgl_stack_state(&impl->stack) == ZGL_PENDING || zgl_stack_state(&impl->stack) == ZGL_DEAD) {
        zgl_stack_release(&impl->stack, &stack_allocator, NULL);
        return;
    }
    thread_state *owner = impl->is_main ? main_thread_of(self) : g_thread(self);
    int ours = owner != NULL && owner == thread_state_current();
    if (ours) {
        pystate_discard(&impl->py, &owner->chunks);
    }
    zgl_stack_release(&impl->stack, &stack_allocator, ours ? &owner->zthread : NULL);
}

/* A started greenlet whose thread ended can never run again: release its frames' contents
 * and its stack copy. */
static void
g_forget_ended(PyGreenlet *self)
{
    greenlet_impl *impl = IMPL(self);
    zgl_state state = zgl_stack_state(&impl->stack);
    if (impl->is_main || state == ZGL_PENDING || state == ZGL_DEAD || g_thread(self) != NULL) {
        return;
    }
    pystate_clear_frames(&impl->py);
    g_release_call(impl);
    zgl_stack_release(&impl->stack, &stack_allocator, NULL);
}

/* Returns 1 when the object must stay alive (it was resurrected, handed to its thread, or
 * could not be killed). */
static int
g_dealloc_kill(PyGreenlet *self)
{
    greenlet_impl *impl = IMPL(self);
    if (impl == NULL || impl->is_main || zgl_stack_state(&impl->stack) != ZGL_SUSPENDED) {
        return 0;
    }
    thread_state *owner = g_thread(self);
    if (owner == NULL || pystate_is_finalizing()) {
        return 0;
    }
    Py_SET_REFCNT(self, 1);
    thread_state *ts = thread_state_current();
    if (owner != ts) {
        /* Another thread's greenlet: that thread kills it at its next switch. */
        int queued = thread_state_queue_kill(owner, self) == 0;
        Py_SET_REFCNT(self, Py_REFCNT(self) - 1);
        return queued;
    }
    g_kill(ts, self);
    Py_SET_REFCNT(self, Py_REFCNT(self) - 1);
    if (Py_REFCNT(self) > 0) {
        return 1;
    }
    if (zgl_stack_state(&impl->stack) != ZGL_DEAD) {
        PyObject *repr = PyObject_Repr((PyObject *)self);
        PySys_WriteStderr("GreenletExit did not kill %s\n", repr ? PyUnicode_AsUTF8(repr) : "?");
        Py_XDECREF(repr);
        PyErr_Clear();
        Py_SET_REFCNT(self, 1); /* leaked on purpose: its stack may still be in use */
        return 1;
    }
    return 0;
}

static int
Greenlet_traverse(PyGreenlet *self, visitproc visit, void *arg)
{
    greenlet_impl *impl = IMPL(self);
    if (g_owns_type_ref(self)) {
        Py_VISIT(Py_TYPE(self));
    }
    Py_VISIT(self->dict);
    if (impl == NULL) {
        return 0;
    }
    Py_VISIT(impl->parent);
    Py_VISIT(impl->final_target);
    Py_VISIT(impl->main_greenlet);
    Py_VISIT(impl->run);
    Py_VISIT(impl->call_run);
    Py_VISIT(impl->call_args);
    Py_VISIT(impl->call_kwargs);
    thread_state *own = thread_state_current();
    if (impl->is_main) {
        thread_state *ts = main_thread_of(self);
        if (ts != NULL && ts == own) {
            Py_VISIT(ts->current);
            Py_VISIT(ts->trace);
        }
    }
    else if (zgl_stack_state(&impl->stack) == ZGL_SUSPENDED && own != NULL &&
             g_thread(self) == own) {
        /* Only here does the collector see what the frames refer to: a suspended greenlet of
         * another thread could not be ended by this one, so what its frames refer to stays
         * referenced from outside (docs/gc.md). */
        int result = pystate_traverse_frames(&impl->py, visit, arg);
        if (result != 0) {
            return result;
        }
    }
    return pystate_traverse(&impl->py, visit, arg);
}

/* Ends the greenlets Greenlet_finalize queued in this thread. Registered in gc.callbacks, so it
 * runs as each collection finishes, in the thread that collected. */
static PyObject *
greenlet_end_found(PyObject *module, PyObject *const *items, Py_ssize_t nargs)
{
    (void)module;
    (void)items;
    (void)nargs;
    thread_state *ts = thread_state_current();
    while (ts != NULL && ts->found_list != NULL) {
        PyObject *list = ts->found_list;
        ts->found_list = NULL;
        for (Py_ssize_t index = 0; index < PyList_GET_SIZE(list); index++) {
            PyGreenlet *found = (PyGreenlet *)PyList_GET_ITEM(list, index);
            if (zgl_stack_state(&IMPL(found)->stack) == ZGL_SUSPENDED &&
                g_thread(found) == ts && !pystate_is_finalizing()) {
                g_kill(ts, found);
            }
        }
        Py_DECREF(list);
        ts = thread_state_current();
    }
    Py_RETURN_NONE;
}

/* Puts the module's entry (mod->end_found_callback, which calls greenlet_end_found) in
 * gc.callbacks if it is not there, also after code removed it. */
static int
gc_callback_register(module_state *mod)
{
    PyObject *gc_module = PyImport_ImportModule("gc");
    PyObject *callbacks = gc_module ? PyObject_GetAttrString(gc_module, "callbacks") : NULL;
    Py_XDECREF(gc_module);
    int result = -1;
    if (callbacks != NULL && PyList_Check(callbacks)) {
        int present = PySequence_Contains(callbacks, mod->end_found_callback);
        result = present != 0 ? present : PyList_Append(callbacks, mod->end_found_callback);
        result = result < 0 ? -1 : 0;
    }
    else if (callbacks != NULL) {
        PyErr_SetString(PyExc_TypeError, "gc.callbacks is not a list");
    }
    Py_XDECREF(callbacks);
    return result;
}

/* The collector found the greenlet in unreachable garbage (tp_finalize, PEP 442). A suspended
 * greenlet of this thread must end, with its finally blocks run while everything they use is
 * intact, but not now: the collector keeps its lists of garbage in its own C frames, which a
 * switch would move out of the way while objects freed by the greenlet unlink themselves from
 * those lists. So the greenlet is queued (which makes it, and the whole cycle, reachable again,
 * so that nothing is cleared) and ended by greenlet_end_found when the collection is over. A
 * freed greenlet is ended by Greenlet_dealloc instead (each time it is freed, not once per
 * object as a finalizer is): a subclass's dealloc that calls the finalizer first finds it does
 * nothing there. */
static void
Greenlet_finalize(PyGreenlet *self)
{
    greenlet_impl *impl = IMPL(self);
    thread_state *ts = thread_state_current();
    if (impl == NULL || impl->is_main || zgl_stack_state(&impl->stack) != ZGL_SUSPENDED ||
        ts == NULL || g_thread(self) != ts || pystate_is_finalizing() ||
        !pystate_finalizer_called_by_collector((PyObject *)self)) {
        return;
    }
    PyObject *saved_type, *saved_value, *saved_traceback;
    PyErr_Fetch(&saved_type, &saved_value, &saved_traceback);
    /* The first greenlet found in a collection makes sure the callback is registered. */
    int first = ts->found_list == NULL;
    if (first) {
        ts->found_list = PyList_New(0);
    }
    if (ts->found_list == NULL || PyList_Append(ts->found_list, (PyObject *)self) < 0 ||
        (first && gc_callback_register(ts->mod) < 0)) {
        PyErr_Clear(); /* not queued or not ended: it stays in memory, as before 3.11 */
    }
    PyErr_Restore(saved_type, saved_value, saved_traceback);
}


/* Drops what the greenlet refers to, for the collector or when it is freed. A greenlet still
 * suspended in a live thread (of another thread, or one that refused to end) may run again and
 * keeps everything: the rest of the garbage breaks the cycle, or the cycle stays. */
static int
Greenlet_clear(PyGreenlet *self)
{
    greenlet_impl *impl = IMPL(self);
    if (impl != NULL && !impl->is_main && zgl_stack_state(&impl->stack) == ZGL_SUSPENDED &&
        g_thread(self) != NULL) {
        return 0;
    }
    Py_CLEAR(self->dict);
    if (impl != NULL) {
        Py_CLEAR(impl->run);
        Py_CLEAR(impl->parent);
        Py_CLEAR(impl->final_target);
        Py_CLEAR(impl->main_greenlet);
        Py_CLEAR(impl->py.context);
    }
    return 0;
}

static void
Greenlet_dealloc(PyGreenlet *self)
{
    PyObject_GC_UnTrack(self);
    if (g_dealloc_kill(self)) {
        /* The object lives on. A heap subclass's dealloc that drops the type reference after
         * ours returns (below a static C subclass) would leave the living object without it. */
        if (PyType_HasFeature(Py_TYPE(self), Py_TPFLAGS_HEAPTYPE) && !g_owns_type_ref(self)) {
            Py_INCREF(Py_TYPE(self));
        }
        PyObject_GC_Track(self);
        return;
    }
    if (self->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)self);
    }
    greenlet_impl *impl = IMPL(self);
    if (impl != NULL) {
        g_forget_ended(self);
        g_discard_stack(self);
        pystate_discard(&impl->py, NULL);
        pystate_free(&impl->py);
        if (impl->is_main) {
            atomic_fetch_sub(&total_main_greenlets, 1);
        }
    }
    Greenlet_clear(self);
    PyMem_Free(impl);
    self->pimpl = NULL;
    PyTypeObject *type = Py_TYPE(self);
    int owns_type_ref = g_owns_type_ref(self);
    type->tp_free((PyObject *)self);
    if (owns_type_ref) {
        Py_DECREF(type);
    }
}
