/*
 * _capi_test: a CPython extension that reaches every entry of greenlet's C API through the
 * "greenlet._C_API" capsule (PyGreenlet_Import() in greenlet.h), for tests/test_capi.py.
 *
 * Python cannot pass a C NULL, so an omitted optional argument of the wrappers below means
 * NULL. Functions whose C result can be NULL (or -1) without that being an error return a pair
 * (result, exception) so the tests can tell "NULL, no exception" from "NULL, exception set".
 *
 * It also defines SubGreenlet, a static C type whose base is PyGreenlet_Type and which keeps
 * its own fields after the PyGreenlet struct, the way Cython lays out gevent's Greenlet.
 */
#define PY_SSIZE_T_CLEAN
/* the interpreter's pyconfig.h corrected for the target, so that this builds for any target */
#include "_target.h"
#include <Python.h>
#include <stddef.h>
#include <structmember.h>

#include "greenlet.h"

/* The layout every consumer compiles against: PyObject_HEAD followed by three pointers
 * (weakreflist, dict, pimpl), nothing else. */
_Static_assert(sizeof(PyGreenlet) == sizeof(PyObject) + 3 * sizeof(void *),
               "PyGreenlet must be PyObject_HEAD plus three pointers, like upstream greenlet");
_Static_assert(offsetof(PyGreenlet, weakreflist) == sizeof(PyObject),
               "PyGreenlet.weakreflist must directly follow PyObject_HEAD");
_Static_assert(offsetof(PyGreenlet, dict) == sizeof(PyObject) + sizeof(void *),
               "PyGreenlet.dict must be the second field");
_Static_assert(offsetof(PyGreenlet, pimpl) == sizeof(PyObject) + 2 * sizeof(void *),
               "PyGreenlet.pimpl must be the third field");

/* ---- helpers ------------------------------------------------------------------------------ */

/* Takes the pending exception as one (normalized) instance. */
static PyObject *
raised_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL && value != NULL) {
        PyException_SetTraceback(value, traceback);
    }
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    return value;
#endif
}

/* (result, None) when result is set; (None, exception) when an exception is pending;
 * (None, None) for NULL without an exception. Steals `result`. */
static PyObject *
pair_from(PyObject *result)
{
    if (result != NULL) {
        return Py_BuildValue("(NO)", result, Py_None);
    }
    if (!PyErr_Occurred()) {
        return Py_BuildValue("(OO)", Py_None, Py_None);
    }
    PyObject *exc = raised_exception();
    return Py_BuildValue("(ON)", Py_None, exc);
}

/* ---- module functions --------------------------------------------------------------------- */

static PyObject *
capi_type(PyObject *module, PyObject *unused)
{
    return Py_NewRef((PyObject *)&PyGreenlet_Type);
}

static PyObject *
capi_error(PyObject *module, PyObject *unused)
{
    return Py_NewRef(PyExc_GreenletError);
}

static PyObject *
capi_exit(PyObject *module, PyObject *unused)
{
    return Py_NewRef(PyExc_GreenletExit);
}

/* Number of non-NULL slots in the capsule's table (reads exactly PyGreenlet_API_pointers). */
static PyObject *
capi_filled_slots(PyObject *module, PyObject *unused)
{
    Py_ssize_t filled = 0;
    for (int i = 0; i < PyGreenlet_API_pointers; i++) {
        if (_PyGreenlet_API[i] != NULL) {
            filled++;
        }
    }
    return PyLong_FromSsize_t(filled);
}

static PyObject *
capi_version(PyObject *module, PyObject *unused)
{
    return PyUnicode_FromString(GREENLET_VERSION);
}

static PyObject *capi_layout(PyObject *module, PyObject *unused);

/* new(run=<NULL>, parent=<NULL>) -> PyGreenlet_New(run, parent) */
static PyObject *
capi_new(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"run", "parent", NULL};
    PyObject *run = NULL, *parent = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:new", keywords, &run, &parent)) {
        return NULL;
    }
    return (PyObject *)PyGreenlet_New(run, (PyGreenlet *)parent);
}

static PyObject *
capi_getcurrent(PyObject *module, PyObject *unused)
{
    return (PyObject *)PyGreenlet_GetCurrent();
}

/* Checks from C what the current greenlet looks like through the other entries. */
static PyObject *
capi_getcurrent_checked(PyObject *module, PyObject *unused)
{
    PyGreenlet *current = PyGreenlet_GetCurrent();
    if (current == NULL) {
        return NULL;
    }
    if (!PyGreenlet_Check(current)) {
        Py_DECREF(current);
        PyErr_SetString(PyExc_AssertionError, "PyGreenlet_GetCurrent: not a greenlet");
        return NULL;
    }
    int active = PyGreenlet_ACTIVE(current);
    int started = PyGreenlet_STARTED(current);
    if (active != 1 || started != 1) {
        Py_DECREF(current);
        PyErr_Format(PyExc_AssertionError,
                     "current greenlet: ACTIVE=%d STARTED=%d, expected 1 and 1", active, started);
        return NULL;
    }
    return (PyObject *)current;
}

/* switch(g, args=<NULL>, kwargs=<NULL>) -> PyGreenlet_Switch(g, args, kwargs) */
static PyObject *
capi_switch(PyObject *module, PyObject *args)
{
    PyObject *g, *sargs = NULL, *skwargs = NULL;
    if (!PyArg_ParseTuple(args, "O|OO:switch", &g, &sargs, &skwargs)) {
        return NULL;
    }
    return PyGreenlet_Switch((PyGreenlet *)g, sargs, skwargs);
}

/* throw(g, typ, val=<NULL>, tb=<NULL>) -> PyGreenlet_Throw(g, typ, val, tb) */
static PyObject *
capi_throw(PyObject *module, PyObject *args)
{
    PyObject *g, *typ, *val = NULL, *tb = NULL;
    if (!PyArg_ParseTuple(args, "OO|OO:throw", &g, &typ, &val, &tb)) {
        return NULL;
    }
    return PyGreenlet_Throw((PyGreenlet *)g, typ, val, tb);
}

/* setparent(g, parent=<NULL>) -> PyGreenlet_SetParent(g, parent); returns None */
static PyObject *
capi_setparent(PyObject *module, PyObject *args)
{
    PyObject *g, *parent = NULL;
    if (!PyArg_ParseTuple(args, "O|O:setparent", &g, &parent)) {
        return NULL;
    }
    int rc = PyGreenlet_SetParent((PyGreenlet *)g, (PyGreenlet *)parent);
    if (rc == 0) {
        if (PyErr_Occurred()) {
            return NULL; /* reported by Python as SystemError: result with an exception set */
        }
        Py_RETURN_NONE;
    }
    if (rc != -1) {
        PyErr_Format(PyExc_AssertionError, "PyGreenlet_SetParent returned %d", rc);
        return NULL;
    }
    if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_AssertionError, "PyGreenlet_SetParent returned -1 without an exception");
    }
    return NULL;
}

/* (int result, exception or None) of an int-returning predicate */
static PyObject *
int_pair(int rc)
{
    PyObject *exc = Py_None;
    if (PyErr_Occurred()) {
        exc = raised_exception();
        return Py_BuildValue("(iN)", rc, exc);
    }
    return Py_BuildValue("(iO)", rc, exc);
}

static PyObject *
capi_main(PyObject *module, PyObject *g)
{
    return int_pair(PyGreenlet_MAIN((PyGreenlet *)g));
}

static PyObject *
capi_started(PyObject *module, PyObject *g)
{
    return int_pair(PyGreenlet_STARTED((PyGreenlet *)g));
}

static PyObject *
capi_active(PyObject *module, PyObject *g)
{
    return int_pair(PyGreenlet_ACTIVE((PyGreenlet *)g));
}

/* get_parent(g) -> (parent, None) | (None, None) for NULL without exception | (None, exc) */
static PyObject *
capi_get_parent(PyObject *module, PyObject *g)
{
    return pair_from((PyObject *)PyGreenlet_GetParent((PyGreenlet *)g));
}

/* The PyGreenlet_GET_PARENT spelling of the same slot. */
static PyObject *
capi_get_parent_alias(PyObject *module, PyObject *g)
{
    return pair_from((PyObject *)PyGreenlet_GET_PARENT((PyGreenlet *)g));
}

/* getcurrent_pair() -> (current, None) or (None, exception); for use during finalization */
static PyObject *
capi_getcurrent_pair(PyObject *module, PyObject *unused)
{
    return pair_from((PyObject *)PyGreenlet_GetCurrent());
}

static PyObject *
capi_check(PyObject *module, PyObject *obj)
{
    return PyBool_FromLong(PyGreenlet_Check(obj));
}

static PyObject *
capi_check_null(PyObject *module, PyObject *unused)
{
    PyObject *nothing = NULL;
    return PyBool_FromLong(PyGreenlet_Check(nothing));
}

/* Raises greenlet.error / GreenletExit through the exported exception pointers. */
static PyObject *
capi_raise_error(PyObject *module, PyObject *message)
{
    PyErr_SetObject(PyExc_GreenletError, message);
    return NULL;
}

static PyObject *
capi_raise_exit(PyObject *module, PyObject *message)
{
    PyErr_SetObject(PyExc_GreenletExit, message);
    return NULL;
}

/* ---- SubGreenlet: a C subclass with its own fields after PyGreenlet ------------------------ */

typedef struct {
    PyGreenlet base;
    PyObject *payload;
    long counter;
    double marker;
} SubGreenlet;

static int
SubGreenlet_traverse(SubGreenlet *self, visitproc visit, void *arg)
{
    Py_VISIT(self->payload);
    return PyGreenlet_Type.tp_traverse((PyObject *)self, visit, arg);
}

static int
SubGreenlet_clear(SubGreenlet *self)
{
    Py_CLEAR(self->payload);
    return PyGreenlet_Type.tp_clear ? PyGreenlet_Type.tp_clear((PyObject *)self) : 0;
}

static void
SubGreenlet_dealloc(SubGreenlet *self)
{
    /* The base's dealloc may still run Python code in the greenlet (to kill it), which may look
     * at payload; so the base goes first and payload is dropped afterwards, by hand. */
    PyObject *payload = self->payload;
    self->payload = NULL;
    PyGreenlet_Type.tp_dealloc((PyObject *)self);
    Py_XDECREF(payload);
}

/* run(*args): counts, keeps args in payload, hands ("sub", counter, marker) to the parent
 * through PyGreenlet_Switch, and returns whatever it is switched back with plus payload. */
static PyObject *
SubGreenlet_run(SubGreenlet *self, PyObject *args)
{
    self->counter += 1;
    Py_XSETREF(self->payload, Py_NewRef(args));
    PyGreenlet *parent = PyGreenlet_GetParent((PyGreenlet *)self);
    if (parent == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_AssertionError, "SubGreenlet without a parent");
        }
        return NULL;
    }
    PyObject *out = Py_BuildValue("(sld)", "sub", self->counter, self->marker);
    if (out == NULL) {
        Py_DECREF(parent);
        return NULL;
    }
    PyObject *packed = PyTuple_Pack(1, out);
    Py_DECREF(out);
    if (packed == NULL) {
        Py_DECREF(parent);
        return NULL;
    }
    PyObject *back = PyGreenlet_Switch(parent, packed, NULL);
    Py_DECREF(packed);
    Py_DECREF(parent);
    if (back == NULL) {
        return NULL;
    }
    self->counter += 1;
    return Py_BuildValue("(NOl)", back, self->payload ? self->payload : Py_None, self->counter);
}

static PyObject *
SubGreenlet_bump(SubGreenlet *self, PyObject *unused)
{
    self->counter += 1;
    return PyLong_FromLong(self->counter);
}

static PyMethodDef SubGreenlet_methods[] = {
    {"run", (PyCFunction)SubGreenlet_run, METH_VARARGS, "Switch to the parent, then return."},
    {"bump", (PyCFunction)SubGreenlet_bump, METH_NOARGS, "Increment counter."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef SubGreenlet_members[] = {
    {"payload", T_OBJECT, offsetof(SubGreenlet, payload), 0, "object field after PyGreenlet"},
    {"counter", T_LONG, offsetof(SubGreenlet, counter), 0, "long field"},
    {"marker", T_DOUBLE, offsetof(SubGreenlet, marker), 0, "double field"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject SubGreenlet_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_capi_test.SubGreenlet",
    .tp_basicsize = sizeof(SubGreenlet),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A C subclass of greenlet with fields after PyGreenlet.",
    .tp_traverse = (traverseproc)SubGreenlet_traverse,
    .tp_clear = (inquiry)SubGreenlet_clear,
    .tp_dealloc = (destructor)SubGreenlet_dealloc,
    .tp_methods = SubGreenlet_methods,
    .tp_members = SubGreenlet_members,
    /* tp_base is the capsule's type; set before PyType_Ready. tp_new/tp_init are inherited. */
};

static PyObject *
capi_layout(PyObject *module, PyObject *unused)
{
    return Py_BuildValue(
        "{s:n,s:n,s:n,s:n,s:n,s:n,s:n,s:n}",
        "sizeof", (Py_ssize_t)sizeof(PyGreenlet),
        "expected", (Py_ssize_t)(sizeof(PyObject) + 3 * sizeof(void *)),
        "sizeof_pyobject", (Py_ssize_t)sizeof(PyObject),
        "weakreflist", (Py_ssize_t)offsetof(PyGreenlet, weakreflist),
        "dict", (Py_ssize_t)offsetof(PyGreenlet, dict),
        "pimpl", (Py_ssize_t)offsetof(PyGreenlet, pimpl),
        "sub_sizeof", (Py_ssize_t)sizeof(SubGreenlet),
        "sub_payload", (Py_ssize_t)offsetof(SubGreenlet, payload));
}

/* sub_fields(obj) -> (payload, counter, marker) read straight from the C struct */
static PyObject *
capi_sub_fields(PyObject *module, PyObject *obj)
{
    if (!PyObject_TypeCheck(obj, &SubGreenlet_Type)) {
        PyErr_SetString(PyExc_TypeError, "expected a SubGreenlet");
        return NULL;
    }
    SubGreenlet *s = (SubGreenlet *)obj;
    return Py_BuildValue("(Old)", s->payload ? s->payload : Py_None, s->counter, s->marker);
}

/* ---- module ------------------------------------------------------------------------------- */

static PyMethodDef module_methods[] = {
    {"api_type", capi_type, METH_NOARGS, "PyGreenlet_Type"},
    {"api_error", capi_error, METH_NOARGS, "PyExc_GreenletError"},
    {"api_exit", capi_exit, METH_NOARGS, "PyExc_GreenletExit"},
    {"filled_slots", capi_filled_slots, METH_NOARGS, "non-NULL entries of the table"},
    {"version", capi_version, METH_NOARGS, "GREENLET_VERSION"},
    {"layout", capi_layout, METH_NOARGS, "struct sizes and offsets"},
    {"new", (PyCFunction)(void (*)(void))capi_new, METH_VARARGS | METH_KEYWORDS, "PyGreenlet_New"},
    {"getcurrent", capi_getcurrent, METH_NOARGS, "PyGreenlet_GetCurrent"},
    {"getcurrent_checked", capi_getcurrent_checked, METH_NOARGS,
     "PyGreenlet_GetCurrent, checked with PyGreenlet_Check/ACTIVE/STARTED"},
    {"getcurrent_pair", capi_getcurrent_pair, METH_NOARGS, "PyGreenlet_GetCurrent as a pair"},
    {"switch", capi_switch, METH_VARARGS, "PyGreenlet_Switch"},
    {"throw", capi_throw, METH_VARARGS, "PyGreenlet_Throw"},
    {"setparent", capi_setparent, METH_VARARGS, "PyGreenlet_SetParent"},
    {"main", capi_main, METH_O, "PyGreenlet_MAIN"},
    {"started", capi_started, METH_O, "PyGreenlet_STARTED"},
    {"active", capi_active, METH_O, "PyGreenlet_ACTIVE"},
    {"get_parent", capi_get_parent, METH_O, "PyGreenlet_GetParent"},
    {"get_parent_alias", capi_get_parent_alias, METH_O, "PyGreenlet_GET_PARENT"},
    {"check", capi_check, METH_O, "PyGreenlet_Check"},
    {"check_null", capi_check_null, METH_NOARGS, "PyGreenlet_Check(NULL)"},
    {"raise_error", capi_raise_error, METH_O, "raise PyExc_GreenletError"},
    {"raise_exit", capi_raise_exit, METH_O, "raise PyExc_GreenletExit"},
    {"sub_fields", capi_sub_fields, METH_O, "SubGreenlet's C fields"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_capi_test",
    .m_doc = "Calls every entry of greenlet's C API.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__capi_test(void)
{
    PyGreenlet_Import();
    if (_PyGreenlet_API == NULL) {
        return NULL;
    }
    SubGreenlet_Type.tp_base = &PyGreenlet_Type;
    if (PyType_Ready(&SubGreenlet_Type) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&SubGreenlet_Type);
    if (PyModule_AddObject(module, "SubGreenlet", (PyObject *)&SubGreenlet_Type) < 0) {
        Py_DECREF(&SubGreenlet_Type);
        Py_DECREF(module);
        return NULL;
    }
    if (PyModule_AddIntConstant(module, "API_POINTERS", PyGreenlet_API_pointers) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
