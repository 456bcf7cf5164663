/*
 * _threads.c (part of _greenlet.c): greenlets and the threads they belong to. The stack
 * allocator's hooks, which thread and main greenlet a greenlet belongs to, the lock that guards
 * a greenlet's attributes, new greenlet records, and the queue of greenlets other threads hand a
 * thread to kill. (Where thread states come from and how they end: _interp.c.)
 */

/* ==== helpers ============================================================================== */

/* Stack-copy allocations left before they start failing; -1 never fails (tests set it). While
 * it is set, every stack copy is a heap allocation (no lent memory, no gap under new greenlets),
 * so that the switches that need memory are the ones tests expect. */
static _Atomic long long stack_allocations_left = -1;

static inline int
stack_allocations_hooked(void)
{
    return UNLIKELY(atomic_load_explicit(&stack_allocations_left, memory_order_relaxed) >= 0);
}

static void *
allocator_realloc(void *context, void *memory, size_t size_bytes)
{
    (void)context;
    long long left = atomic_load_explicit(&stack_allocations_left, memory_order_relaxed);
    if (left >= 0) {
        if (left == 0) {
            return NULL;
        }
        atomic_fetch_sub(&stack_allocations_left, 1);
    }
    return PyMem_RawRealloc(memory, size_bytes);
}

static void
allocator_free(void *context, void *memory)
{
    (void)context;
    PyMem_RawFree(memory);
}

static const zgl_allocator stack_allocator = {
    .realloc = allocator_realloc,
    .free = allocator_free,
};

/* Whether `op` is a greenlet: an instance of an interpreter's greenlet type or a subclass. */
static int
greenlet_check(PyObject *op)
{
    for (PyTypeObject *type = Py_TYPE(op); type != NULL; type = type->tp_base) {
        if (type->tp_dealloc == (destructor)Greenlet_dealloc) {
            return 1;
        }
    }
    return 0;
}

/* Whether this greenlet's dealloc owns the reference its object holds to its type. An instance
 * of a heap type holds one, which the dealloc of the lowest heap type in its chain of dealloc
 * functions releases (as subtype_dealloc does): ours, when the greenlet type is a heap type (in
 * an interpreter other than the main one) and no static type comes between. */
static int
g_owns_type_ref(PyGreenlet *self)
{
    for (PyTypeObject *type = Py_TYPE(self); type != &PyBaseObject_Type; type = type->tp_base) {
        if (!PyType_HasFeature(type, Py_TPFLAGS_HEAPTYPE)) {
            return 0;
        }
    }
    return 1;
}

static inline zgl_state
g_state(PyGreenlet *g)
{
    return zgl_stack_state(&IMPL(g)->stack);
}

static inline thread_state *
main_thread_of(PyGreenlet *main)
{
    return atomic_load_explicit(&IMPL(main)->thread, memory_order_acquire);
}

static PyObject *g_read_locked(PyGreenlet *self, PyObject **slot);

/* The main greenlet of g's thread (a new reference, or NULL): its own if started, else the
 * first started ancestor's. Pending greenlets' parents may be replaced by any thread meanwhile,
 * so each ancestor is held while it is read. */
static PyGreenlet *
g_find_main(PyGreenlet *g)
{
    PyGreenlet *walk = g, *held = NULL, *main = NULL;
    while (walk != NULL) {
        greenlet_impl *impl = IMPL(walk);
        if (impl->is_main) {
            main = (PyGreenlet *)Py_NewRef(walk);
            break;
        }
        if (zgl_stack_state(&impl->stack) != ZGL_PENDING) {
            main = (PyGreenlet *)Py_XNewRef(impl->main_greenlet);
            break;
        }
        walk = (PyGreenlet *)g_read_locked(walk, (PyObject **)&impl->parent);
        Py_XSETREF(held, walk);
    }
    Py_XDECREF(held);
    return main;
}

/* The thread g belongs to, or NULL if that thread ended or g's lineage is gone. Takes no
 * reference to g itself (a greenlet being deallocated asks too). */
static thread_state *
g_thread(PyGreenlet *g)
{
    greenlet_impl *impl = IMPL(g);
    if (impl->is_main) {
        return main_thread_of(g);
    }
    if (zgl_stack_state(&impl->stack) != ZGL_PENDING) {
        return impl->main_greenlet != NULL ? main_thread_of(impl->main_greenlet) : NULL;
    }
    PyGreenlet *main = g_find_main(g);
    if (main == NULL) {
        return NULL;
    }
    thread_state *ts = main_thread_of(main);
    Py_DECREF(main);
    return ts;
}

static int
g_started(PyGreenlet *g)
{
    return IMPL(g)->is_main || g_state(g) != ZGL_PENDING;
}

static int
g_active(PyGreenlet *g)
{
    zgl_state state = g_state(g);
    return state == ZGL_RUNNING || state == ZGL_SUSPENDED;
}

/* 0 when `target` belongs to the calling thread, else -1 with greenlet.error set. */
static NOINLINE int
g_check_thread_slow(thread_state *ts, PyGreenlet *target)
{
    PyGreenlet *main = g_find_main(target);
    if (main == NULL) {
        PyErr_SetString(ts->mod->error, "cannot switch to a garbage collected greenlet");
        return -1;
    }
    thread_state *owner = main_thread_of(main);
    int result = 0;
    if (owner == NULL) {
        PyErr_SetString(ts->mod->error,
                        "cannot switch to a different thread (which happens to have exited)");
        result = -1;
    }
    else if (owner != ts) {
        PyErr_Format(ts->mod->error,
                     "Cannot switch to a different thread\n\tCurrent:  %R\n\tExpected: %R",
                     ts->current, main);
        result = -1;
    }
    Py_DECREF(main);
    return result;
}

static inline int
g_check_thread(thread_state *ts, PyGreenlet *target)
{
    greenlet_impl *impl = IMPL(target);
    PyGreenlet *main = impl->is_main ? target
                       : zgl_stack_state(&impl->stack) != ZGL_PENDING ? impl->main_greenlet : NULL;
    if (LIKELY(main != NULL && main_thread_of(main) == ts)) {
        return 0;
    }
    return g_check_thread_slow(ts, target);
}

/* Builds what a switch() call returns from what the switcher sent. Steals both. */
static PyObject *
g_build_value(PyObject *args, PyObject *kwargs)
{
    if (kwargs == NULL || PyDict_GET_SIZE(kwargs) == 0) {
        Py_XDECREF(kwargs);
        if (PyTuple_GET_SIZE(args) == 1) {
            PyObject *value = Py_NewRef(PyTuple_GET_ITEM(args, 0));
            Py_DECREF(args);
            return value;
        }
        return args;
    }
    if (PyTuple_GET_SIZE(args) == 0) {
        Py_DECREF(args);
        return kwargs;
    }
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) {
        Py_DECREF(args);
        Py_DECREF(kwargs);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, args);
    PyTuple_SET_ITEM(pair, 1, kwargs);
    return pair;
}

/* Takes the payload out of `slot`, which is left empty. */
static inline switch_payload
payload_take(switch_payload *slot)
{
    switch_payload payload = *slot;
    *slot = (switch_payload){0};
    return payload;
}

static void
payload_clear(switch_payload *payload)
{
    Py_CLEAR(payload->value);
    Py_CLEAR(payload->args);
    Py_CLEAR(payload->kwargs);
    Py_CLEAR(payload->exc_type);
    Py_CLEAR(payload->exc_value);
    Py_CLEAR(payload->exc_traceback);
}

/* ==== greenlet objects ===================================================================== */

/* A greenlet's attributes (parent, run, __dict__, gr_context) can be read and replaced from any
 * thread. In a free-threaded build a reader takes its reference while holding the greenlet's
 * lock, and a writer swaps the pointer under the same lock and releases the old object after
 * unlocking (releasing it can run any code, even a switch), so no thread ever takes a reference
 * to an object being freed. With a GIL, and before 3.13 where the macros do not exist, the lock
 * is the GIL itself. */
#ifndef Py_BEGIN_CRITICAL_SECTION
#  define Py_BEGIN_CRITICAL_SECTION(op) {
#  define Py_END_CRITICAL_SECTION() }
#endif

static PyObject *
g_read_locked(PyGreenlet *self, PyObject **slot)
{
    PyObject *result;
    Py_BEGIN_CRITICAL_SECTION(self);
    result = Py_XNewRef(*slot);
    Py_END_CRITICAL_SECTION();
    return result;
}

static void
g_replace_locked(PyGreenlet *self, PyObject **slot, PyObject *value)
{
    PyObject *old;
    Py_BEGIN_CRITICAL_SECTION(self);
    old = *slot;
    *slot = value;
    Py_END_CRITICAL_SECTION();
    Py_XDECREF(old);
}


static greenlet_impl *
impl_new(void)
{
    greenlet_impl *impl = PyMem_Calloc(1, sizeof(greenlet_impl));
    if (impl == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    zgl_stack_init(&impl->stack);
    return impl;
}

static PyGreenlet *
main_greenlet_new(thread_state *ts)
{
    PyTypeObject *type = ts->mod->greenlet_type;
    PyGreenlet *main = (PyGreenlet *)type->tp_alloc(type, 0);
    if (main == NULL) {
        return NULL;
    }
    greenlet_impl *impl = impl_new();
    if (impl == NULL) {
        Py_DECREF(main);
        return NULL;
    }
    impl->is_main = 1;
    atomic_store(&impl->thread, ts);
    main->pimpl = impl;
    atomic_fetch_add(&total_main_greenlets, 1);
    return main;
}

/* ==== the kill queue ====================================================================== */

/* Kills the greenlets that other threads released while this one was busy. */
static void
thread_state_drain_kills(thread_state *ts)
{
    for (;;) {
        gl_mutex_lock(&ts->kill_lock);
        PyObject *list = ts->kill_list;
        ts->kill_list = NULL;
        gl_mutex_unlock(&ts->kill_lock);
        if (list == NULL) {
            return;
        }
        Py_DECREF(list); /* each greenlet is killed as its last reference goes */
    }
}

/* Hands a greenlet released in another thread to its own thread, which kills it at its next
 * switch. Steals a reference. Returns -1 (reference kept by the caller) on failure. */
static int
thread_state_queue_kill(thread_state *owner, PyGreenlet *self)
{
    gl_mutex_lock(&owner->kill_lock);
    int result = -1;
    if (owner->kill_list == NULL) {
        __atomic_store_n(&owner->kill_list, PyList_New(0), __ATOMIC_RELEASE);
    }
    if (owner->kill_list != NULL) {
        result = PyList_Append(owner->kill_list, (PyObject *)self);
    }
    gl_mutex_unlock(&owner->kill_lock);
    if (result < 0) {
        PyErr_Clear();
    }
    return result;
}
