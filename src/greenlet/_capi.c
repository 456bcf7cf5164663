/*
 * _capi.c (part of _greenlet.c): the functions of the C API table that greenlet.h publishes
 * through the capsule greenlet._C_API (one table per interpreter, in its module state).
 */

/* ==== C API ================================================================================ */

static PyGreenlet *
capi_getcurrent(void)
{
    if (pystate_is_finalizing()) {
        PyErr_SetString(PyExc_RuntimeError, "greenlet is being finalized");
        return NULL;
    }
    thread_state *ts = thread_state_get();
    return ts ? (PyGreenlet *)Py_NewRef(ts->current) : NULL;
}

static int
capi_check(PyGreenlet *g)
{
    if (g == NULL || !greenlet_check((PyObject *)g)) {
        PyErr_BadArgument();
        return -1;
    }
    return 0;
}

static PyGreenlet *
capi_new(PyObject *run, PyGreenlet *parent)
{
    thread_state *ts = thread_state_get();
    if (ts == NULL) {
        return NULL;
    }
    PyGreenlet *g = (PyGreenlet *)Greenlet_new(ts->mod->greenlet_type, NULL, NULL);
    if (g == NULL) {
        return NULL;
    }
    if (run != NULL) {
        Py_XSETREF(IMPL(g)->run, Py_NewRef(run));
    }
    /* As in greenlet(run, parent=None): None keeps the current greenlet as the parent. */
    if (parent != NULL && (PyObject *)parent != Py_None &&
        greenlet_set_parent(g, (PyObject *)parent, NULL) < 0) {
        Py_DECREF(g);
        return NULL;
    }
    return g;
}

static PyObject *
capi_switch(PyGreenlet *g, PyObject *args, PyObject *kwargs)
{
    if (capi_check(g) < 0) {
        return NULL;
    }
    thread_state *ts = thread_state_get();
    if (ts == NULL) {
        return NULL;
    }
    if (args == NULL) {
        args = ts->mod->empty_tuple;
    }
    if (kwargs == NULL || !PyDict_Check(kwargs)) {
        kwargs = NULL;
    }
    /* A tuple subclass may run code when measured: hold the objects first. */
    Py_INCREF(args);
    Py_XINCREF(kwargs);
    return g_switch(ts, g, NULL, args, kwargs, 0);
}

static PyObject *
capi_throw(PyGreenlet *g, PyObject *type, PyObject *value, PyObject *traceback)
{
    if (capi_check(g) < 0) {
        return NULL;
    }
    if (g_set_thrown(type, value, traceback) < 0) {
        return NULL;
    }
    return g_throw_current(g);
}

static int
capi_set_parent(PyGreenlet *g, PyGreenlet *parent)
{
    if (g == NULL || !greenlet_check((PyObject *)g)) {
        PyErr_Format(PyExc_TypeError, "GreenletChecker: Expected any type of greenlet, not %s",
                     g ? Py_TYPE(g)->tp_name : "NULL");
        return -1;
    }
    return greenlet_set_parent(g, (PyObject *)parent, NULL);
}

static int
capi_main(PyGreenlet *g)
{
    return capi_check(g) < 0 ? -1 : IMPL(g)->is_main;
}

static int
capi_started(PyGreenlet *g)
{
    return capi_check(g) < 0 ? -1 : g_started(g);
}

static int
capi_active(PyGreenlet *g)
{
    return capi_check(g) < 0 ? -1 : g_active(g);
}

static PyGreenlet *
capi_get_parent(PyGreenlet *g)
{
    if (capi_check(g) < 0) {
        return NULL;
    }
    return (PyGreenlet *)Py_XNewRef(IMPL(g)->parent);
}
