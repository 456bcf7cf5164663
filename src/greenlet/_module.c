/*
 * _module.c (part of _greenlet.c): the module. A greenlet type whose switches can be made to
 * fail (for tests), the module functions, the module state and the module's initialization
 * (PEP 489).
 */

/* ==== a greenlet whose switches can be made to fail, for tests ============================ */

typedef struct {
    PyGreenlet base;
    char force_switch_error;
    char force_slp_switch_error;
} PyGreenletUnswitchable;

static PyObject *
unswitchable_switch(PyGreenlet *self, PyObject *const *items, size_t nargsf, PyObject *kwnames)
{
    PyGreenletUnswitchable *unswitchable = (PyGreenletUnswitchable *)self;
    if (unswitchable->force_slp_switch_error) {
        Py_FatalError("greenlet: the stack switch failed (forced by force_slp_switch_error)");
    }
    if (unswitchable->force_switch_error) {
        PyErr_SetString(PyExc_SystemError,
                        g_started(self) ? "Failed to switch stacks into a running greenlet."
                                        : "Failed to switch stacks into a greenlet for the first time.");
        return NULL;
    }
    return greenlet_switch(self, items, nargsf, kwnames);
}

static PyMemberDef Unswitchable_members[] = {
    {"force_switch_error", T_BOOL, offsetof(PyGreenletUnswitchable, force_switch_error), 0,
     "When true, the next switch into this greenlet raises SystemError instead of switching."},
    {"force_slp_switch_error", T_BOOL, offsetof(PyGreenletUnswitchable, force_slp_switch_error), 0,
     "When true, the next switch into this greenlet makes the low-level switch fail, which ends "
     "the process with a fatal error."},
    {NULL}
};

static PyMethodDef Unswitchable_methods[] = {
    {"switch", (PyCFunction)(void (*)(void))unswitchable_switch, METH_FASTCALL | METH_KEYWORDS,
     "Like greenlet.switch, unless a forced failure is set."},
    {NULL}
};

static PyTypeObject PyGreenletUnswitchable_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "greenlet._greenlet.UnswitchableGreenlet",
    .tp_basicsize = sizeof(PyGreenletUnswitchable),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A greenlet whose switches can be made to fail; for tests.",
    .tp_methods = Unswitchable_methods,
    .tp_members = Unswitchable_members,
};

static PyType_Slot Unswitchable_slots[] = {
    {Py_tp_doc, (void *)"A greenlet whose switches can be made to fail; for tests."},
    {Py_tp_methods, Unswitchable_methods},
    {Py_tp_members, Unswitchable_members},
    {Py_tp_traverse, Greenlet_traverse},
    {Py_tp_clear, Greenlet_clear},
    {0, NULL}
};

static PyType_Spec Unswitchable_spec = {
    .name = "greenlet._greenlet.UnswitchableGreenlet",
    .basicsize = sizeof(PyGreenletUnswitchable),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Unswitchable_slots,
};

/* ==== module functions ===================================================================== */

/* getcurrent() through vectorcall, which the interpreter calls more directly than a
 * no-argument function. */
static PyObject *
module_getcurrent(PyObject *module, PyObject *const *items, Py_ssize_t nargs)
{
    if (UNLIKELY(nargs != 0)) {
        PyErr_Format(PyExc_TypeError, "getcurrent() takes no arguments (%zd given)", nargs);
        return NULL;
    }
    thread_state *ts = thread_state_current();
    if (LIKELY(ts != NULL && __atomic_load_n(&ts->kill_list, __ATOMIC_ACQUIRE) == NULL &&
               !pystate_is_finalizing())) {
        return Py_NewRef((PyObject *)ts->current);
    }
    return (PyObject *)capi_getcurrent();
}

static PyObject *
module_enable_optional_cleanup(PyObject *module, PyObject *flag)
{
    int enable = PyObject_IsTrue(flag);
    if (enable < 0) {
        return NULL;
    }
    if (!enable) {
        atomic_store(&optional_cleanup_clocks, -1);
    }
    else {
        long long expected = -1;
        atomic_compare_exchange_strong(&optional_cleanup_clocks, &expected, 0);
    }
    Py_RETURN_NONE;
}

static PyObject *
module_get_clocks_used(PyObject *module, PyObject *unused)
{
    long long clocks = atomic_load(&optional_cleanup_clocks);
    if (clocks < 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLongLong(clocks);
}

static PyObject *
module_get_pending_cleanup_count(PyObject *module, PyObject *unused)
{
    int64_t interp_id = ((module_state *)PyModule_GetState(module))->interp_id;
    gl_mutex_lock(&registry_lock);
    module_state *mod = registry_find_locked(interp_id); /* the first module's, if this is not */
    Py_ssize_t count = mod != NULL ? mod->ended_count : 0;
    gl_mutex_unlock(&registry_lock);
    return PyLong_FromSsize_t(count);
}

static PyObject *
module_get_total_main_greenlets(PyObject *module, PyObject *unused)
{
    return PyLong_FromSsize_t(atomic_load(&total_main_greenlets));
}

static PyObject *
module_set_thread_local(PyObject *module, PyObject *args)
{
    PyObject *key, *value;
    if (!PyArg_ParseTuple(args, "OO:set_thread_local", &key, &value)) {
        return NULL;
    }
    PyObject *dict = PyThreadState_GetDict();
    if (dict == NULL || PyDict_SetItem(dict, key, value) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "no thread state dictionary");
        }
        return NULL;
    }
    Py_RETURN_NONE;
}

#ifdef PYSTATE_HAS_TRASH_DELETE_NESTING
static PyObject *
module_get_tstate_trash_delete_nesting(PyObject *module, PyObject *unused)
{
    return PyLong_FromLong(pystate_trash_delete_nesting(PyThreadState_Get()));
}
#endif

static PyObject *
module_fail_stack_allocations(PyObject *module, PyObject *count)
{
    long long left = PyLong_AsLongLong(count);
    if (left == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (left < -1) {
        PyErr_SetString(PyExc_ValueError, "count must be -1 (never fail) or at least 0");
        return NULL;
    }
    long long previous = atomic_exchange(&stack_allocations_left, left);
    return PyLong_FromLongLong(previous);
}

static PyMethodDef module_methods[] = {
    {"_fail_stack_allocations_after", module_fail_stack_allocations, METH_O,
     "_fail_stack_allocations_after(count) -> previous count\n\nFor tests: let `count` more "
     "stack-copy allocations succeed, then fail every one (the switch that needed it raises "
     "MemoryError); meanwhile every stack copy is a heap allocation. -1 restores normal "
     "allocation."},
    {"getcurrent", (PyCFunction)(void (*)(void))module_getcurrent, METH_FASTCALL,
     "getcurrent() -> greenlet\n\nThe greenlet running in the calling thread."},
    {"settrace", module_settrace, METH_O,
     "settrace(callback) -> previous callback\n\nCall callback(event, (origin, target)) on every "
     "switch in this thread; event is 'switch' or 'throw'. None removes it."},
    {"gettrace", module_gettrace, METH_NOARGS,
     "gettrace() -> callback or None\n\nThe calling thread's switch callback."},
    {"enable_optional_cleanup", module_enable_optional_cleanup, METH_O,
     "enable_optional_cleanup(flag)\n\nTurn the extra cleanup of ended threads on or off."},
    {"get_clocks_used_doing_optional_cleanup", module_get_clocks_used, METH_NOARGS,
     "get_clocks_used_doing_optional_cleanup() -> int or None\n\nProcessor clocks spent in the "
     "optional cleanup, or None when it is off."},
    {"get_pending_cleanup_count", module_get_pending_cleanup_count, METH_NOARGS,
     "get_pending_cleanup_count() -> int\n\nEnded threads whose greenlets are not released yet."},
    {"get_total_main_greenlets", module_get_total_main_greenlets, METH_NOARGS,
     "get_total_main_greenlets() -> int\n\nMain greenlets alive in the process."},
    {"set_thread_local", module_set_thread_local, METH_VARARGS,
     "set_thread_local(key, value)\n\nStore value in the thread state dictionary."},
#ifdef PYSTATE_HAS_TRASH_DELETE_NESTING
    {"get_tstate_trash_delete_nesting", module_get_tstate_trash_delete_nesting, METH_NOARGS,
     "get_tstate_trash_delete_nesting() -> int\n\nThe thread state's trashcan nesting."},
#endif
    {NULL}
};

/* ==== module state and initialization (PEP 489) ============================================ */

static int
module_traverse(PyObject *module, visitproc visit, void *arg)
{
    module_state *mod = PyModule_GetState(module);
    Py_VISIT(mod->greenlet_type);
    Py_VISIT(mod->unswitchable_type);
    Py_VISIT(mod->error);
    Py_VISIT(mod->exit);
    Py_VISIT(mod->end_found_callback);
    return 0;
}

static int
module_clear(PyObject *module)
{
    module_state *mod = PyModule_GetState(module);
    Py_CLEAR(mod->greenlet_type);
    Py_CLEAR(mod->unswitchable_type);
    Py_CLEAR(mod->error);
    Py_CLEAR(mod->exit);
    Py_CLEAR(mod->str_run);
    Py_CLEAR(mod->str_switch);
    Py_CLEAR(mod->str_throw);
    Py_CLEAR(mod->empty_tuple);
    Py_CLEAR(mod->end_found_callback);
    return 0;
}

static void
module_free(void *module)
{
    /* (If the interpreter's end did not come first, through atexit.) */
    interp_release_all(PyModule_GetState(module));
    module_clear(module);
}

/* The interpreter's greenlet types: the static ones, made ready once, in the main interpreter;
 * heap types of its own in any other (see _type.c). */
static int
module_make_types(PyObject *module, module_state *mod)
{
    if (!mod->is_main) {
        mod->greenlet_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &Greenlet_spec, NULL);
        if (mod->greenlet_type == NULL) {
            return -1;
        }
        mod->unswitchable_type = (PyTypeObject *)PyType_FromModuleAndSpec(
            module, &Unswitchable_spec, (PyObject *)mod->greenlet_type);
        if (mod->unswitchable_type == NULL) {
            return -1;
        }
    }
    else {
        if (PyType_Ready(&PyGreenlet_Type) < 0) {
            return -1;
        }
        PyGreenletUnswitchable_Type.tp_base = &PyGreenlet_Type;
        PyGreenletUnswitchable_Type.tp_traverse = PyGreenlet_Type.tp_traverse;
        PyGreenletUnswitchable_Type.tp_clear = PyGreenlet_Type.tp_clear;
        if (PyType_Ready(&PyGreenletUnswitchable_Type) < 0) {
            return -1;
        }
        mod->greenlet_type = (PyTypeObject *)Py_NewRef(&PyGreenlet_Type);
        mod->unswitchable_type = (PyTypeObject *)Py_NewRef(&PyGreenletUnswitchable_Type);
    }
    /* Calling the type goes straight to Greenlet_vectorcall (subclasses do not inherit it). */
    mod->greenlet_type->tp_vectorcall = Greenlet_vectorcall;
    return 0;
}

/* Makes what an interpreter's module owns: types, exceptions, names, the gc callback and the C
 * API table. */
static int
module_state_init(PyObject *module, module_state *mod)
{
    mod->str_run = PyUnicode_InternFromString("run");
    mod->str_switch = PyUnicode_InternFromString("switch");
    mod->str_throw = PyUnicode_InternFromString("throw");
    mod->empty_tuple = PyTuple_New(0);
    if (mod->str_run == NULL || mod->str_switch == NULL || mod->str_throw == NULL ||
        mod->empty_tuple == NULL) {
        return -1;
    }
    if (module_make_types(module, mod) < 0) {
        return -1;
    }
    mod->error = PyErr_NewExceptionWithDoc(
        "greenlet.error",
        "Raised by an operation that greenlets cannot do, above all a switch to a greenlet that "
        "belongs to another thread, to one whose thread has exited, or to one whose parent chain "
        "no longer leads to a main greenlet.",
        NULL, NULL);
    mod->exit = PyErr_NewExceptionWithDoc(
        "greenlet.GreenletExit",
        "Raised inside a greenlet to ask it to finish. It derives from BaseException, so a plain "
        "'except Exception' does not swallow it. If it escapes the greenlet's run, the greenlet "
        "dies and the exception object is given to the parent as the result of its switch() "
        "instead of being raised there.",
        PyExc_BaseException, NULL);
    if (mod->error == NULL || mod->exit == NULL) {
        return -1;
    }
    /* greenlet_end_found runs after every collection (see Greenlet_finalize). */
    static PyMethodDef end_found_def = {
        "_end_found_greenlets", (PyCFunction)(void (*)(void))greenlet_end_found, METH_FASTCALL,
        "gc callback: ends the suspended greenlets the collection found in garbage."};
    mod->end_found_callback = PyCFunction_New(&end_found_def, NULL);
    if (mod->end_found_callback == NULL || gc_callback_register(mod) < 0) {
        return -1;
    }
    void **table = mod->capi_table;
    table[PyGreenlet_Type_NUM] = (void *)mod->greenlet_type;
    table[PyExc_GreenletError_NUM] = (void *)mod->error;
    table[PyExc_GreenletExit_NUM] = (void *)mod->exit;
    table[PyGreenlet_New_NUM] = (void *)capi_new;
    table[PyGreenlet_GetCurrent_NUM] = (void *)capi_getcurrent;
    table[PyGreenlet_Throw_NUM] = (void *)capi_throw;
    table[PyGreenlet_Switch_NUM] = (void *)capi_switch;
    table[PyGreenlet_SetParent_NUM] = (void *)capi_set_parent;
    table[PyGreenlet_MAIN_NUM] = (void *)capi_main;
    table[PyGreenlet_STARTED_NUM] = (void *)capi_started;
    table[PyGreenlet_ACTIVE_NUM] = (void *)capi_active;
    table[PyGreenlet_GET_PARENT_NUM] = (void *)capi_get_parent;
    return 0;
}

/* A second module object in the same interpreter (the module imported again after its removal
 * from sys.modules) shares the first one's objects, as a re-imported single-phase module does. */
static void
module_state_share(module_state *mod, const module_state *first)
{
    mod->greenlet_type = (PyTypeObject *)Py_NewRef(first->greenlet_type);
    mod->unswitchable_type = (PyTypeObject *)Py_NewRef(first->unswitchable_type);
    mod->error = Py_NewRef(first->error);
    mod->exit = Py_NewRef(first->exit);
    mod->str_run = Py_NewRef(first->str_run);
    mod->str_switch = Py_NewRef(first->str_switch);
    mod->str_throw = Py_NewRef(first->str_throw);
    mod->empty_tuple = Py_NewRef(first->empty_tuple);
    mod->end_found_callback = Py_NewRef(first->end_found_callback);
    memcpy(mod->capi_table, first->capi_table, sizeof(mod->capi_table));
}

static int
module_add_constants(PyObject *module)
{
    if (PyModule_AddIntConstant(module, "GREENLET_USE_GC", 1) < 0 ||
        PyModule_AddIntConstant(module, "GREENLET_USE_TRACING", 1) < 0 ||
        PyModule_AddIntConstant(module, "GREENLET_USE_CONTEXT_VARS", 1) < 0 ||
        PyModule_AddIntConstant(module, "GREENLET_USE_STANDARD_THREADING", 1) < 0 ||
        PyModule_AddIntConstant(module, "CLOCKS_PER_SEC", CLOCKS_PER_SEC) < 0) {
        return -1;
    }
    return 0;
}

/* Adds `value` (a new reference, or NULL after a failure) to the module. */
static int
module_add_new(PyObject *module, const char *name, PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    int result = PyModule_AddObjectRef(module, name, value);
    Py_DECREF(value);
    return result;
}

/* The module's attributes. */
static int
module_add_objects(PyObject *module, module_state *mod)
{
    if (module_add_constants(module) < 0 ||
        PyModule_AddObjectRef(module, "greenlet", (PyObject *)mod->greenlet_type) < 0 ||
        PyModule_AddObjectRef(module, "UnswitchableGreenlet",
                              (PyObject *)mod->unswitchable_type) < 0 ||
        PyModule_AddObjectRef(module, "error", mod->error) < 0 ||
        PyModule_AddObjectRef(module, "GreenletExit", mod->exit) < 0 ||
        module_add_new(module, "_C_API",
                       PyCapsule_New(mod->capi_table, "greenlet._C_API", NULL)) < 0 ||
        module_add_new(module, "_switch_name", PyUnicode_FromString(zgl_switch_name())) < 0 ||
        module_add_new(module, "_build_info", PyUnicode_FromString(zgl_build_info())) < 0) {
        return -1;
    }
    return 0;
}

/* The module-level names that the greenlet type also has as class attributes. */
static int
type_add_module_names(PyObject *module, module_state *mod)
{
    static const char *class_names[] = {"getcurrent", "error", "GreenletExit", "settrace",
                                        "gettrace", NULL};
    PyObject *type_dict = mod->greenlet_type->tp_dict;
    for (const char **name = class_names; *name != NULL; name++) {
        PyObject *value = PyObject_GetAttrString(module, *name);
        if (value == NULL || PyDict_SetItemString(type_dict, *name, value) < 0) {
            Py_XDECREF(value);
            return -1;
        }
        Py_DECREF(value);
    }
    PyType_Modified(mod->greenlet_type);
    return 0;
}

/* The thread-exit key is made once per process, by the first interpreter to import greenlet. */
static int
tls_key_make_once(void)
{
    static int made;
    gl_mutex_lock(&registry_lock);
    int result = made ? 0 : gl_exit_key_create(&tls_key, thread_state_ended);
    made = made || result == 0;
    gl_mutex_unlock(&registry_lock);
    return result;
}

/* In an interpreter other than the main one, module_interpreter_ending runs at its end. */
static int
module_register_ending(PyObject *module)
{
    static PyMethodDef ending_def = {
        "_interpreter_ending", module_interpreter_ending, METH_NOARGS,
        "atexit callback: ends the greenlets of the interpreter."};
    PyObject *callback = PyCFunction_New(&ending_def, module);
    PyObject *atexit = PyImport_ImportModule("atexit");
    PyObject *result = callback && atexit
                           ? PyObject_CallMethod(atexit, "register", "O", callback) : NULL;
    Py_XDECREF(callback);
    Py_XDECREF(atexit);
    Py_XDECREF(result);
    return result == NULL ? -1 : 0;
}

static int
module_exec(PyObject *module)
{
    if (tls_key_make_once() != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot create the greenlet thread key");
        return -1;
    }
    module_state *mod = PyModule_GetState(module);
    PyInterpreterState *interp = PyInterpreterState_Get();
    mod->interp_id = PyInterpreterState_GetID(interp);
    mod->is_main = interp == PyInterpreterState_Main();
    module_state *first = registry_find(mod->interp_id);
    if (first != NULL) {
        module_state_share(mod, first);
        return module_add_objects(module, mod);
    }
    if (module_state_init(module, mod) < 0 || module_add_objects(module, mod) < 0 ||
        type_add_module_names(module, mod) < 0) {
        return -1;
    }
    if (mod->is_main) {
        /* Never freed: thread states and greenlets refer to its state until the process ends. */
        Py_INCREF(module);
    }
    else if (module_register_ending(module) < 0) {
        return -1;
    }
    registry_add(mod);
    return 0;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#ifdef Py_mod_multiple_interpreters
    /* Each interpreter has its own module state and thread states, and one with its own GIL its
     * own types (docs/internals/interpreters.md). */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    /* Switching is per thread, and what threads share is locked or atomic. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL}
};

static struct PyModuleDef greenlet_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "greenlet._greenlet",
    .m_doc = "Lightweight coroutines switching on one C stack.",
    .m_size = sizeof(module_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC
PyInit__greenlet(void)
{
    return PyModuleDef_Init(&greenlet_module);
}
