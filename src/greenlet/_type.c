/*
 * _type.c (part of _greenlet.c): the greenlet type: creation and initialization, calling the
 * type, repr and truth value, the method table and the type object.
 */

/* ==== type slots =========================================================================== */

static PyObject *
Greenlet_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    thread_state *ts = thread_state_get();
    if (ts == NULL) {
        return NULL;
    }
    /* object.__new__ allocates, and refuses abstract classes (abc.ABCMeta subclasses). */
    PyGreenlet *self = (PyGreenlet *)PyBaseObject_Type.tp_new(type, ts->mod->empty_tuple, NULL);
    if (self == NULL) {
        return NULL;
    }
    greenlet_impl *impl = impl_new();
    if (impl == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    impl->parent = (PyGreenlet *)Py_NewRef(ts->current);
    self->pimpl = impl;
    return (PyObject *)self;
}

static int greenlet_set_parent(PyGreenlet *self, PyObject *value, void *closure);
static int greenlet_set_run(PyGreenlet *self, PyObject *value, void *closure);

/* __init__(run=None, parent=None) once the arguments are known (either may be NULL). */
static int
greenlet_init_with(PyGreenlet *self, PyObject *run, PyObject *parent)
{
    if (run != NULL && greenlet_set_run(self, run, NULL) < 0) {
        return -1;
    }
    if (parent != NULL && parent != Py_None) {
        if (greenlet_set_parent(self, parent, NULL) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
Greenlet_init(PyGreenlet *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"run", "parent", NULL};
    PyObject *run = NULL, *parent = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:green", keywords, &run, &parent)) {
        return -1;
    }
    return greenlet_init_with(self, run, parent);
}

/* Calling the greenlet type itself, greenlet(run, parent), through vectorcall: the same steps
 * as type.__call__ (tp_new, then tp_init), without building an argument tuple when there are at
 * most two positional arguments. Subclasses do not inherit this. */
static PyObject *
Greenlet_vectorcall(PyObject *type, PyObject *const *items, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (UNLIKELY(nargs > 2 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0))) {
        PyObject *args = tuple_from_array(items, nargs);
        if (args == NULL) {
            return NULL;
        }
        PyObject *kwargs = NULL;
        if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
            kwargs = pystate_kwargs_dict(items + nargs, kwnames);
            if (kwargs == NULL) {
                Py_DECREF(args);
                return NULL;
            }
        }
        PyObject *result = PyType_Type.tp_call(type, args, kwargs);
        Py_DECREF(args);
        Py_XDECREF(kwargs);
        return result;
    }
    PyObject *self = Greenlet_new((PyTypeObject *)type, NULL, NULL);
    if (self == NULL) {
        return NULL;
    }
    if (greenlet_init_with((PyGreenlet *)self, nargs > 0 ? items[0] : NULL,
                           nargs > 1 ? items[1] : NULL) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return self;
}

static PyObject *
Greenlet_repr(PyGreenlet *self)
{
    greenlet_impl *impl = IMPL(self);
    thread_state *ts = thread_state_current();
    thread_state *owner = impl->is_main ? main_thread_of(self) : g_thread(self);
    int started = g_started(self);
    int ended = started && owner == NULL;
    int dead = g_dead_observed(self);
    const char *tp_name = Py_TYPE(self)->tp_name;
    if (dead) {
        return PyUnicode_FromFormat("<%s object at %p (otid=%p)%s dead>", tp_name, self,
                                    (void *)owner, ended ? " (thread exited)" : "");
    }
    const char *where = "";
    if (ts != NULL && ts->current == self) {
        where = " current";
    }
    else if (started) {
        where = " suspended";
    }
    return PyUnicode_FromFormat("<%s object at %p (otid=%p)%s%s%s%s>", tp_name, self,
                                (void *)owner, where, g_active(self) ? " active" : "",
                                started ? " started" : " pending", impl->is_main ? " main" : "");
}

static int
Greenlet_bool(PyGreenlet *self)
{
    return g_active(self) && g_thread(self) != NULL;
}

static PyObject *
greenlet_getstate(PyGreenlet *self, PyObject *unused)
{
    PyErr_Format(PyExc_TypeError, "cannot serialize '%s' object", Py_TYPE(self)->tp_name);
    return NULL;
}

PyDoc_STRVAR(switch_doc,
    "switch(*args, **kwargs)\n\n"
    "Switch execution to this greenlet, sending it args and kwargs.\n"
    "If it has not started, it starts by calling run(*args, **kwargs); if it is\n"
    "suspended, its pending switch() call returns them (one argument as itself,\n"
    "several as a tuple, keywords as a dict, both as (args, kwargs)). Returns\n"
    "what is sent back when something switches to the caller again.");

PyDoc_STRVAR(throw_doc,
    "throw(typ=GreenletExit, val=None, tb=None)\n\n"
    "Switch to this greenlet and raise the given exception at its suspension\n"
    "point (or at the start of run, which is then not called). GreenletExit\n"
    "kills the greenlet and comes back to its parent as a value.");

static PyMethodDef Greenlet_methods[] = {
    {"switch", (PyCFunction)(void (*)(void))greenlet_switch, METH_FASTCALL | METH_KEYWORDS,
     switch_doc},
    {"throw", (PyCFunction)(void (*)(void))greenlet_throw, METH_FASTCALL, throw_doc},
    {"__getstate__", (PyCFunction)greenlet_getstate, METH_NOARGS,
     "Refuses: greenlets cannot be pickled."},
    {NULL}
};

static PyNumberMethods Greenlet_as_number = {
    .nb_bool = (inquiry)Greenlet_bool,
};

PyDoc_STRVAR(Greenlet_doc,
    "greenlet(run=None, parent=None) -> greenlet\n\n"
    "A lightweight coroutine. Switching to it the first time calls run(*args,\n"
    "**kwargs); when run returns, its value goes to the parent greenlet (by\n"
    "default the greenlet that created it).");

/* The type, in two forms with the same slots. The main interpreter uses the static one: CPython
 * lets a static type (gevent's compiled Greenlet) derive only from a static type. Any other
 * interpreter, which may have a GIL of its own and then must share no mutable object with the
 * others, makes a heap type of its own from the spec. */
static PyTypeObject PyGreenlet_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "greenlet.greenlet",
    .tp_basicsize = sizeof(PyGreenlet),
    .tp_dealloc = (destructor)Greenlet_dealloc,
    .tp_repr = (reprfunc)Greenlet_repr,
    .tp_as_number = &Greenlet_as_number,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = Greenlet_doc,
    .tp_traverse = (traverseproc)Greenlet_traverse,
    .tp_clear = (inquiry)Greenlet_clear,
    .tp_weaklistoffset = offsetof(PyGreenlet, weakreflist),
    .tp_methods = Greenlet_methods,
    .tp_getset = Greenlet_getset,
    .tp_dictoffset = offsetof(PyGreenlet, dict),
    .tp_init = (initproc)Greenlet_init,
    .tp_alloc = PyType_GenericAlloc,
    .tp_new = Greenlet_new,
    .tp_free = PyObject_GC_Del,
    .tp_vectorcall = Greenlet_vectorcall,
    .tp_finalize = (destructor)Greenlet_finalize,
};

static PyMemberDef Greenlet_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(PyGreenlet, weakreflist), READONLY},
    {"__dictoffset__", T_PYSSIZET, offsetof(PyGreenlet, dict), READONLY},
    {NULL}
};

static PyType_Slot Greenlet_slots[] = {
    {Py_tp_dealloc, Greenlet_dealloc},
    {Py_tp_repr, Greenlet_repr},
    {Py_nb_bool, Greenlet_bool},
    {Py_tp_doc, (void *)Greenlet_doc},
    {Py_tp_traverse, Greenlet_traverse},
    {Py_tp_clear, Greenlet_clear},
    {Py_tp_methods, Greenlet_methods},
    {Py_tp_members, Greenlet_members},
    {Py_tp_getset, Greenlet_getset},
    {Py_tp_init, Greenlet_init},
    {Py_tp_new, Greenlet_new},
    {Py_tp_finalize, Greenlet_finalize},
    {0, NULL}
};

static PyType_Spec Greenlet_spec = {
    .name = "greenlet.greenlet",
    .basicsize = sizeof(PyGreenlet),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Greenlet_slots,
};
