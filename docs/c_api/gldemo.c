/*
 * gldemo.c: a small CPython extension that uses greenlet's C API.
 *
 * Build it (Linux) with the Zig that ships on PyPI as `ziglang`:
 *
 *   python -m ziglang cc -shared -fPIC -O2 \
 *       -I"$(python -c 'import greenlet, os; print(os.path.dirname(greenlet.__file__))')" \
 *       -I"$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
 *       gldemo.c -o "gldemo$(python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
 */
#include <Python.h>
#include "greenlet.h"

/* call_in_greenlet(function, *args): run function(*args) in a new greenlet whose parent is the
 * caller, and return what it returns (or whatever it switches back with first). */
static PyObject *
call_in_greenlet(PyObject *module, PyObject *args)
{
    if (PyTuple_GET_SIZE(args) < 1) {
        PyErr_SetString(PyExc_TypeError, "call_in_greenlet() needs a function");
        return NULL;
    }
    PyObject *function = PyTuple_GET_ITEM(args, 0);
    PyObject *function_args = PyTuple_GetSlice(args, 1, PyTuple_GET_SIZE(args));
    if (function_args == NULL) {
        return NULL;
    }
    PyGreenlet *child = PyGreenlet_New(function, NULL);
    if (child == NULL) {
        Py_DECREF(function_args);
        return NULL;
    }
    PyObject *result = PyGreenlet_Switch(child, function_args, NULL);
    Py_DECREF(function_args);
    Py_DECREF(child);
    return result;
}

/* yield_to_parent(value): switch from the running greenlet to its parent, sending `value`;
 * return what is sent back when something switches to this greenlet again. */
static PyObject *
yield_to_parent(PyObject *module, PyObject *value)
{
    PyGreenlet *current = PyGreenlet_GetCurrent();
    if (current == NULL) {
        return NULL;
    }
    PyGreenlet *parent = PyGreenlet_GetParent(current);
    Py_DECREF(current);
    if (parent == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_GreenletError, "a main greenlet has no parent to yield to");
        }
        return NULL;
    }
    PyObject *switch_args = PyTuple_Pack(1, value);
    if (switch_args == NULL) {
        Py_DECREF(parent);
        return NULL;
    }
    PyObject *result = PyGreenlet_Switch(parent, switch_args, NULL);
    Py_DECREF(switch_args);
    Py_DECREF(parent);
    return result;
}

/* state(g): "main", "not started", "active" or "dead". */
static PyObject *
state(PyObject *module, PyObject *object)
{
    if (!PyGreenlet_Check(object)) {
        PyErr_SetString(PyExc_TypeError, "state() needs a greenlet");
        return NULL;
    }
    PyGreenlet *g = (PyGreenlet *)object;
    if (PyGreenlet_MAIN(g)) {
        return PyUnicode_FromString("main");
    }
    if (!PyGreenlet_STARTED(g)) {
        return PyUnicode_FromString("not started");
    }
    return PyUnicode_FromString(PyGreenlet_ACTIVE(g) ? "active" : "dead");
}

/* adopt(g): make the running greenlet the parent of `g`. */
static PyObject *
adopt(PyObject *module, PyObject *object)
{
    if (!PyGreenlet_Check(object)) {
        PyErr_SetString(PyExc_TypeError, "adopt() needs a greenlet");
        return NULL;
    }
    PyGreenlet *current = PyGreenlet_GetCurrent();
    if (current == NULL) {
        return NULL;
    }
    int status = PyGreenlet_SetParent((PyGreenlet *)object, current);
    Py_DECREF(current);
    if (status < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* cancel(g): throw GreenletExit into `g`; return what comes back to the caller. */
static PyObject *
cancel(PyObject *module, PyObject *object)
{
    if (!PyGreenlet_Check(object)) {
        PyErr_SetString(PyExc_TypeError, "cancel() needs a greenlet");
        return NULL;
    }
    return PyGreenlet_Throw((PyGreenlet *)object, PyExc_GreenletExit, NULL, NULL);
}

static PyMethodDef gldemo_methods[] = {
    {"call_in_greenlet", call_in_greenlet, METH_VARARGS,
     "Run function(*args) in a new greenlet."},
    {"yield_to_parent", yield_to_parent, METH_O, "Switch to the parent, sending a value."},
    {"state", state, METH_O, "Describe a greenlet's state."},
    {"adopt", adopt, METH_O, "Make the running greenlet the parent of a greenlet."},
    {"cancel", cancel, METH_O, "Throw GreenletExit into a greenlet."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef gldemo_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gldemo",
    .m_doc = "Uses greenlet's C API.",
    .m_size = -1,
    .m_methods = gldemo_methods,
};

PyMODINIT_FUNC
PyInit_gldemo(void)
{
    /* Imports greenlet and fills this file's table of C API pointers. */
    PyGreenlet_Import();
    if (_PyGreenlet_API == NULL) {
        return NULL;
    }
    return PyModule_Create(&gldemo_module);
}
