/*
 * _attributes.c (part of _greenlet.c): the greenlet's attributes (__dict__, run, parent, dead,
 * gr_frame, gr_context, _stack_saved), their getters and setters.
 */

/* ==== attributes =========================================================================== */

static PyObject *
greenlet_get_dict(PyGreenlet *self, void *closure)
{
    PyObject *dict = g_read_locked(self, &self->dict);
    if (dict == NULL) {
        PyObject *fresh = PyDict_New();
        if (fresh == NULL) {
            return NULL;
        }
        Py_BEGIN_CRITICAL_SECTION(self);
        if (self->dict == NULL) {
            self->dict = Py_NewRef(fresh);
        }
        dict = Py_NewRef(self->dict);
        Py_END_CRITICAL_SECTION();
        Py_DECREF(fresh);
    }
    return dict;
}

static int
greenlet_set_dict(PyGreenlet *self, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "__dict__ may not be deleted");
        return -1;
    }
    if (!PyDict_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "__dict__ must be a dictionary");
        return -1;
    }
    g_replace_locked(self, &self->dict, Py_NewRef(value));
    return 0;
}

static PyObject *
greenlet_get_run(PyGreenlet *self, void *closure)
{
    greenlet_impl *impl = IMPL(self);
    if (impl->is_main) {
        PyErr_SetString(PyExc_AttributeError, "Main greenlets do not have a run attribute.");
        return NULL;
    }
    PyObject *run = g_state(self) == ZGL_PENDING ? g_read_locked(self, &impl->run) : NULL;
    if (run == NULL) {
        PyErr_SetString(PyExc_AttributeError, "run");
    }
    return run;
}

static int
greenlet_set_run(PyGreenlet *self, PyObject *value, void *closure)
{
    greenlet_impl *impl = IMPL(self);
    if (impl->is_main) {
        PyErr_SetString(PyExc_AttributeError, "Main greenlets do not have a run attribute.");
        return -1;
    }
    if (g_state(self) != ZGL_PENDING) {
        PyErr_SetString(PyExc_AttributeError, "run cannot be set after the start of the greenlet");
        return -1;
    }
    g_replace_locked(self, &impl->run, Py_XNewRef(value));
    return 0;
}

static PyObject *
greenlet_get_parent(PyGreenlet *self, void *closure)
{
    PyObject *parent = g_read_locked(self, (PyObject **)&IMPL(self)->parent);
    return parent ? parent : Py_NewRef(Py_None);
}

static int
greenlet_set_parent(PyGreenlet *self, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "can't delete attribute");
        return -1;
    }
    if (IMPL(self)->is_main) {
        PyErr_SetString(PyExc_AttributeError, "cannot set the parent of a main greenlet");
        return -1;
    }
    if (!greenlet_check(value)) {
        PyErr_Format(PyExc_TypeError, "GreenletChecker: Expected any type of greenlet, not %s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    PyGreenlet *parent = (PyGreenlet *)value;
    /* (other threads may replace parents along the chain meanwhile: hold each step) */
    PyGreenlet *walk = (PyGreenlet *)Py_NewRef(parent);
    while (walk != NULL) {
        if (walk == self) {
            Py_DECREF(walk);
            PyErr_SetString(PyExc_ValueError, "cyclic parent chain");
            return -1;
        }
        PyGreenlet *next = (PyGreenlet *)g_read_locked(walk, (PyObject **)&IMPL(walk)->parent);
        Py_DECREF(walk);
        walk = next;
    }
    PyGreenlet *main = g_find_main(parent);
    if (main == NULL) {
        PyErr_SetString(PyExc_ValueError, "parent must not be garbage collected");
        return -1;
    }
    Py_DECREF(main);  /* compared by identity below; the parent keeps it */
    if (g_started(self) && IMPL(self)->main_greenlet != main) {
        PyErr_SetString(PyExc_ValueError, "parent cannot be on a different thread");
        return -1;
    }
    g_replace_locked(self, (PyObject **)&IMPL(self)->parent, Py_NewRef(parent));
    return 0;
}

/* A started greenlet whose thread ended can never run again. Once that is observed (through
 * `dead` or repr), it lets go of its frame and stack copy. Returns whether it is dead. */
static int
g_dead_observed(PyGreenlet *self)
{
    if (g_state(self) == ZGL_DEAD) {
        return 1;
    }
    if (!g_started(self) || g_thread(self) != NULL) {
        return 0;
    }
    g_forget_ended(self);
    return 1;
}

static PyObject *
greenlet_get_dead(PyGreenlet *self, void *closure)
{
    return PyBool_FromLong(g_dead_observed(self));
}

static PyObject *
greenlet_get_frame(PyGreenlet *self, void *closure)
{
    greenlet_impl *impl = IMPL(self);
    if (g_state(self) == ZGL_SUSPENDED) {
        PyObject *frame = pystate_frame(&impl->py);
        if (frame != NULL) {
            return frame;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
greenlet_get_context(PyGreenlet *self, void *closure)
{
    thread_state *owner = g_thread(self);
    PyObject *context;
    if (g_state(self) == ZGL_RUNNING && owner != NULL) {
        if (owner != thread_state_current()) {
            PyErr_SetString(PyExc_ValueError,
                            "cannot get context of a greenlet that is running in a different thread");
            return NULL;
        }
        context = PyThreadState_Get()->context;
    }
    else {
        context = g_read_locked(self, &IMPL(self)->py.context);
        return context ? context : Py_NewRef(Py_None);
    }
    return Py_NewRef(context ? context : Py_None);
}

static int
greenlet_set_context(PyGreenlet *self, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "can't delete context attribute");
        return -1;
    }
    if (value == Py_None) {
        value = NULL;
    }
    else if (!PyContext_CheckExact(value)) {
        PyErr_SetString(PyExc_TypeError, "greenlet context must be a contextvars.Context or None");
        return -1;
    }
    thread_state *owner = g_thread(self);
    if (g_state(self) == ZGL_RUNNING && owner != NULL) {
        if (owner != thread_state_current()) {
            PyErr_SetString(PyExc_ValueError,
                            "cannot set context of a greenlet that is running in a different thread");
            return -1;
        }
        PyThreadState *tstate = PyThreadState_Get();
        pystate_set_running_context(tstate, Py_XNewRef(value));
        return 0;
    }
    g_replace_locked(self, &IMPL(self)->py.context, Py_XNewRef(value));
    return 0;
}

static PyObject *
greenlet_get_stack_saved(PyGreenlet *self, void *closure)
{
    return PyLong_FromSize_t(zgl_stack_saved_bytes(&IMPL(self)->stack));
}

static PyGetSetDef Greenlet_getset[] = {
    {"__dict__", (getter)greenlet_get_dict, (setter)greenlet_set_dict, NULL, NULL},
    {"run", (getter)greenlet_get_run, (setter)greenlet_set_run, "The callable the greenlet calls when it is first switched to. Readable and writable only until the greenlet starts; afterwards reading it raises AttributeError and so does setting it. Main greenlets have no run.", NULL},
    {"parent", (getter)greenlet_get_parent, (setter)greenlet_set_parent, "The greenlet that receives control, and the return value or exception, when this one finishes. None for a thread's main greenlet. Writable with another greenlet of the same thread; a cycle raises ValueError.", NULL},
    {"dead", (getter)greenlet_get_dead, NULL, "True once the greenlet has finished (returned, raised, or been killed), or once the thread it belongs to has exited.", NULL},
    {"gr_frame", (getter)greenlet_get_frame, NULL, "The frame in which a suspended greenlet will resume, that is the frame that called switch(); None if the greenlet is running, has not started, or is dead.", NULL},
    {"gr_context", (getter)greenlet_get_context, (setter)greenlet_set_context, "The contextvars.Context the greenlet runs in, or None for an empty one. Writable with a Context or None.", NULL},
    {"_stack_saved", (getter)greenlet_get_stack_saved, NULL, "How many bytes of this greenlet's C stack are currently kept in a heap copy (0 while it runs, before it starts and after it dies).", NULL},
    {NULL}
};
