/*
 * _tracing.c (part of _greenlet.c): greenlet.settrace() and greenlet.gettrace(), and the call
 * of the thread's trace function on every switch and throw.
 */

static PyObject *
module_settrace(PyObject *module, PyObject *trace)
{
    thread_state *ts = thread_state_get();
    if (ts == NULL) {
        return NULL;
    }
    PyObject *previous = ts->trace;
    ts->trace = trace == Py_None ? NULL : Py_NewRef(trace);
    return previous ? previous : Py_NewRef(Py_None);
}

static PyObject *
module_gettrace(PyObject *module, PyObject *unused)
{
    thread_state *ts = thread_state_get();
    if (ts == NULL) {
        return NULL;
    }
    return Py_NewRef(ts->trace ? ts->trace : Py_None);
}

static int
g_call_trace(thread_state *ts, PyObject *event, PyGreenlet *origin, PyGreenlet *target)
{
    PyObject *trace = Py_NewRef(ts->trace);
    PyObject *saved_type, *saved_value, *saved_traceback;
    PyErr_Fetch(&saved_type, &saved_value, &saved_traceback);
    PyThreadState *tstate = PyThreadState_Get();
    pystate_enter_tracing(tstate);
    PyObject *result = PyObject_CallFunction(trace, "O(OO)", event, origin, target);
    pystate_leave_tracing(tstate);
    Py_DECREF(trace);
    if (result == NULL) {
        Py_CLEAR(ts->trace);
        Py_XDECREF(saved_type);
        Py_XDECREF(saved_value);
        Py_XDECREF(saved_traceback);
        return -1;
    }
    Py_DECREF(result);
    PyErr_Restore(saved_type, saved_value, saved_traceback);
    return 0;
}
