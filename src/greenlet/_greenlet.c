/*
 * _greenlet.c: the greenlet type and module for CPython, on top of the Zig stack-slicing core
 * (zsrc/zgl.h). Everything that depends on the CPython version is in _pystate.h.
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
#define PY_SSIZE_T_CLEAN
#include "_target.h"
#include <Python.h>
#include <structmember.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "_osthread.h"
#include "_pystate.h"
#define GREENLET_MODULE
#include "greenlet.h"
#include "zgl.h"

/* _target.h sets these from the compiler's target; hold them against the real C types. */
_Static_assert(SIZEOF_SHORT == sizeof(short) && SIZEOF_INT == sizeof(int) &&
               SIZEOF_LONG == sizeof(long) && SIZEOF_LONG_LONG == sizeof(long long) &&
               SIZEOF_FLOAT == sizeof(float) && SIZEOF_DOUBLE == sizeof(double) &&
               SIZEOF_LONG_DOUBLE == sizeof(long double) && SIZEOF_VOID_P == sizeof(void *) &&
               SIZEOF_SIZE_T == sizeof(size_t) && SIZEOF_UINTPTR_T == sizeof(uintptr_t) &&
               SIZEOF_WCHAR_T == sizeof(wchar_t) && SIZEOF_TIME_T == sizeof(time_t),
               "pyconfig.h type sizes do not match the target");
#ifndef _WIN32
_Static_assert(SIZEOF_PTHREAD_T == sizeof(pthread_t), "pyconfig.h's pthread_t size is wrong");
#endif
_Static_assert(ALIGNOF_LONG == _Alignof(long) && ALIGNOF_SIZE_T == _Alignof(size_t),
               "pyconfig.h alignments do not match the target");

/* C subclasses (gevent's, built with Cython) put their fields right after this struct. */
_Static_assert(sizeof(PyGreenlet) == sizeof(PyObject) + 3 * sizeof(void *),
               "PyGreenlet must keep its published layout: PyObject_HEAD and three pointers");

#if defined(__GNUC__) || defined(__clang__)
#  define NOINLINE __attribute__((noinline))
#else
#  define NOINLINE
#endif

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

#if PY_VERSION_HEX >= 0x030D0000
#  define greenlet_is_finalizing() Py_IsFinalizing()
#else
#  define greenlet_is_finalizing() _Py_IsFinalizing()
#endif

/* ==== types ================================================================================ */

typedef struct thread_state thread_state;

typedef struct greenlet_impl {
    zgl_stack stack;
    pystate py;
    PyObject *run;                   /* while pending */
    /* The call a started greenlet is making, held here rather than only by its C frames, so that
     * a greenlet that can never resume (its thread ended) still releases them. */
    PyObject *call_run;
    PyObject *call_args;
    PyObject *call_kwargs;
    PyGreenlet *parent;              /* NULL for a main greenlet */
    PyGreenlet *final_target;        /* finished greenlets: where their last switch went */
    PyGreenlet *main_greenlet;       /* started greenlets: their thread's main greenlet */
    _Atomic(thread_state *) thread;  /* main greenlets: their thread, NULL once it ended */
    int is_main;
} greenlet_impl;

struct thread_state {
    zgl_thread zthread;
    PyGreenlet *main;                /* strong */
    PyGreenlet *current;             /* strong */
    PyObject *trace;                 /* strong, or NULL */
    PyObject *kill_list;             /* greenlets released by other threads, to kill here */
    gl_mutex kill_lock;              /* guards kill_list against other threads */
    /* A switch in progress: what the target receives. Either one value (pass_value, which a
     * suspended switch() returns as it is and run is called with), or a tuple and a dict or
     * NULL (pass_args, pass_kwargs), or, when both pass_value and pass_args are NULL, the
     * exception in pass_exc_*. */
    PyGreenlet *origin;              /* strong while set */
    PyObject *pass_value;
    PyObject *pass_args;
    PyObject *pass_kwargs;
    PyObject *pass_exc_type;
    PyObject *pass_exc_value;
    PyObject *pass_exc_traceback;
    int use_tracing;
    pystate_chunks chunks;           /* interpreter data-stack chunks for new greenlets */
    thread_state *next_ended;
};

#define IMPL(g) ((greenlet_impl *)((PyGreenlet *)(g))->pimpl)

static PyTypeObject PyGreenlet_Type;
static PyTypeObject PyGreenletUnswitchable_Type;
static PyObject *PyExc_GreenletError;
static PyObject *PyExc_GreenletExit;
static PyObject *str_run;
static PyObject *str_switch;
static PyObject *str_throw;
static PyObject *empty_tuple;

/* The running thread's state. With glibc, the initial-exec model makes reading it a single
 * instruction instead of a call to __tls_get_addr (glibc keeps static TLS room for modules
 * loaded later); elsewhere the default model is used. */
#if defined(__GLIBC__) && (defined(__GNUC__) || defined(__clang__))
static _Thread_local thread_state *tls_state __attribute__((tls_model("initial-exec")));
#else
static _Thread_local thread_state *tls_state;
#endif
static gl_exit_key tls_key;

static gl_mutex ended_lock = GL_MUTEX_INIT;
static thread_state *ended_threads;
static Py_ssize_t ended_count;
static _Atomic Py_ssize_t total_main_greenlets;
static _Atomic long long optional_cleanup_clocks; /* -1: disabled */

static zgl_allocator stack_allocator;

static PyObject *g_switch(thread_state *ts, PyGreenlet *target, PyObject *value, PyObject *args,
                          PyObject *kwargs, int dying);
static thread_state *thread_state_get(void);
static int g_dead_observed(PyGreenlet *self);

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
        PyErr_SetString(PyExc_GreenletError, "cannot switch to a garbage collected greenlet");
        return -1;
    }
    thread_state *owner = main_thread_of(main);
    int result = 0;
    if (owner == NULL) {
        PyErr_SetString(PyExc_GreenletError,
                        "cannot switch to a different thread (which happens to have exited)");
        result = -1;
    }
    else if (owner != ts) {
        PyErr_Format(PyExc_GreenletError,
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

static void
ts_clear_passed(thread_state *ts)
{
    Py_CLEAR(ts->pass_value);
    Py_CLEAR(ts->pass_args);
    Py_CLEAR(ts->pass_kwargs);
    Py_CLEAR(ts->pass_exc_type);
    Py_CLEAR(ts->pass_exc_value);
    Py_CLEAR(ts->pass_exc_traceback);
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
    PyGreenlet *main = (PyGreenlet *)PyGreenlet_Type.tp_alloc(&PyGreenlet_Type, 0);
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

/* ==== thread states ======================================================================== */

/* The optional cleanup of an ended thread's main greenlet. A greenlet that was suspended in
 * `getcurrent().parent.switch()` when its thread ended leaves a reference to the main greenlet
 * on its evaluation stack, where nothing can release it (before 3.14 the interpreter does not
 * record how deep that stack is). If the main greenlet has exactly one reference besides ours
 * and the collector finds no object referring to it, that reference is such a leftover: drop
 * it. The processor time spent is added to get_clocks_used_doing_optional_cleanup(). */
static void
thread_state_release_leftover(PyGreenlet *main)
{
    if (atomic_load(&optional_cleanup_clocks) < 0 || Py_REFCNT(main) != 2) {
        return;
    }
    clock_t begin = clock();
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *referrers = gc ? PyObject_CallMethod(gc, "get_referrers", "O", main) : NULL;
    if (referrers != NULL && PyList_Check(referrers) && PyList_GET_SIZE(referrers) == 0 &&
        Py_REFCNT(main) == 2) {
        Py_DECREF(main);
    }
    Py_XDECREF(referrers);
    Py_XDECREF(gc);
    PyErr_Clear();
    long long used = (long long)(clock() - begin);
    long long clocks = atomic_load(&optional_cleanup_clocks);
    while (clocks >= 0 &&
           !atomic_compare_exchange_weak(&optional_cleanup_clocks, &clocks, clocks + used)) {
    }
}

static void
thread_state_release(thread_state *ts)
{
    ts_clear_passed(ts);
    Py_CLEAR(ts->origin);
    Py_CLEAR(ts->trace);
    Py_CLEAR(ts->kill_list);
    Py_CLEAR(ts->current);
    if (ts->main != NULL) {
        thread_state_release_leftover(ts->main);
    }
    Py_CLEAR(ts->main);
    pystate_chunks_clear(&ts->chunks);
    gl_mutex_destroy(&ts->kill_lock);
    PyMem_RawFree(ts);
}

/* Runs with the GIL, in whichever thread the interpreter picks, after threads ended. */
static int
ended_threads_cleanup(void *unused)
{
    (void)unused;
    for (;;) {
        gl_mutex_lock(&ended_lock);
        thread_state *ts = ended_threads;
        if (ts != NULL) {
            ended_threads = ts->next_ended;
            ended_count--;
        }
        gl_mutex_unlock(&ended_lock);
        if (ts == NULL) {
            return 0;
        }
        thread_state_release(ts);
    }
}

/* Called by the system when an OS thread that used greenlets exits (without the GIL). */
static void
thread_state_ended(void *pointer)
{
    thread_state *ts = pointer;
    atomic_store_explicit(&IMPL(ts->main)->thread, NULL, memory_order_release);
    gl_mutex_lock(&ended_lock);
    int first = ended_threads == NULL;
    ts->next_ended = ended_threads;
    ended_threads = ts;
    ended_count++;
    gl_mutex_unlock(&ended_lock);
    /* (On Windows the exiting process's last thread also comes here, after the interpreter
     * finalized, where Linux runs no key destructor: then nothing is scheduled.) */
    if (first && Py_IsInitialized() && !greenlet_is_finalizing()) {
        Py_AddPendingCall(ended_threads_cleanup, NULL);
    }
}

static NOINLINE thread_state *
thread_state_create(void)
{
    thread_state *ts = PyMem_RawCalloc(1, sizeof(thread_state));
    if (ts == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    ts->main = main_greenlet_new(ts);
    if (ts->main == NULL) {
        PyMem_RawFree(ts);
        return NULL;
    }
    ts->current = (PyGreenlet *)Py_NewRef(ts->main);
    gl_mutex_init(&ts->kill_lock);
    zgl_thread_init(&ts->zthread, &IMPL(ts->main)->stack, &stack_allocator);
    if (gl_exit_key_set(tls_key, ts) != 0) {
        thread_state_release(ts);
        PyErr_SetString(PyExc_RuntimeError, "cannot register the thread's greenlet state");
        return NULL;
    }
    tls_state = ts;
    return ts;
}

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

static inline thread_state *
thread_state_get(void)
{
    thread_state *ts = tls_state;
    if (ts == NULL) {
        ts = thread_state_create();
    }
    else if (__atomic_load_n(&ts->kill_list, __ATOMIC_ACQUIRE) != NULL) {
        thread_state_drain_kills(ts);
    }
    return ts;
}

/* ==== tracing ============================================================================== */

static int
g_call_trace(thread_state *ts, PyObject *event, PyGreenlet *origin, PyGreenlet *target)
{
    PyObject *trace = Py_NewRef(ts->trace);
    PyObject *saved_type, *saved_value, *saved_traceback;
    PyErr_Fetch(&saved_type, &saved_value, &saved_traceback);
    PyThreadState *tstate = PyThreadState_Get();
#if GREENLET_PY311
    PyThreadState_EnterTracing(tstate);
#else
    tstate->tracing++;
    tstate->cframe->use_tracing = 0;
#endif
    PyObject *result = PyObject_CallFunction(trace, "O(OO)", event, origin, target);
#if GREENLET_PY311
    PyThreadState_LeaveTracing(tstate);
#else
    tstate->tracing--;
    tstate->cframe->use_tracing = (tstate->tracing <= 0 &&
                                   (tstate->c_tracefunc != NULL || tstate->c_profilefunc != NULL));
#endif
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

/* ==== the switch =========================================================================== */

/* Moves to `target`. Returns 0 resumed in the original greenlet, 1 running as the new `target`
 * (only when it was pending), -1 with an exception set when nothing moved. */
static NOINLINE int
g_switchstack(thread_state *ts, PyGreenlet *target, void *stack_far_marker, int dying)
{
    PyThreadState *tstate = PyThreadState_Get();
    PyGreenlet *origin = ts->current;
    greenlet_impl *origin_impl = IMPL(origin);
    if (dying) {
        Py_XSETREF(origin_impl->py.context, tstate->context);
        tstate->context = NULL;
        tstate->context_ver++;
    }
    else {
        if (UNLIKELY(pystate_prepare_save(&origin_impl->py, tstate) < 0)) {
            return -1;
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
        return 1;
    }
    if (UNLIKELY(status == ZGL_ERR_NOMEM)) {
        Py_SETREF(ts->current, ts->origin);
        ts->origin = NULL;
        if (!dying) {
            pystate_restore(&IMPL(ts->current)->py, tstate, ts->use_tracing);
        }
        else {
            tstate->context = IMPL(ts->current)->py.context;
            IMPL(ts->current)->py.context = NULL;
        }
        PyErr_NoMemory();
        return -1;
    }
    pystate_restore(&IMPL(ts->current)->py, tstate, ts->use_tracing);
    return 0;
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
    *value = ts->pass_value;
    *args = ts->pass_args;
    *kwargs = ts->pass_kwargs;
    PyObject *exc_type = ts->pass_exc_type;
    PyObject *exc_value = ts->pass_exc_value;
    PyObject *exc_traceback = ts->pass_exc_traceback;
    ts->pass_value = ts->pass_args = ts->pass_kwargs = NULL;
    ts->pass_exc_type = ts->pass_exc_value = ts->pass_exc_traceback = NULL;
    PyGreenlet *origin = g_take_origin(ts);
    if (ts->trace != NULL && origin != NULL) {
        PyObject *event = (*value != NULL || *args != NULL) ? str_switch : str_throw;
        if (g_call_trace(ts, event, origin, ts->current) < 0) {
            Py_XDECREF(origin);
            Py_CLEAR(*value);
            Py_CLEAR(*args);
            Py_CLEAR(*kwargs);
            Py_XDECREF(exc_type);
            Py_XDECREF(exc_value);
            Py_XDECREF(exc_traceback);
            return -1;
        }
    }
    Py_XDECREF(origin);
    if (*value == NULL && *args == NULL) {
        Py_CLEAR(*kwargs);
        PyErr_Restore(exc_type, exc_value, exc_traceback);
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
        PyObject *value = ts->pass_value;
        if (value != NULL) {
            ts->pass_value = NULL;
        }
        else if (ts->pass_args == empty_tuple && ts->pass_kwargs == NULL) {
            value = empty_tuple;
            ts->pass_args = NULL;
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

/* Starts `self`, whose stack will lie below `stack_far_marker` in the caller's frame. Returns 0
 * once something switches back to the original greenlet, 2 when `self` turned out to be
 * started already (the caller then switches normally), -1 with an exception set. The new
 * greenlet runs inside this function and never returns from it: this function "returns twice"
 * only in the sense that the original greenlet returns from it later. */
static NOINLINE int
g_initialstub(thread_state *ts, PyGreenlet *self, void *stack_far_marker, int dying)
{
    /* Looking up `run` may run Python code, which may switch; keep what is being sent. */
    PyObject *value = ts->pass_value, *args = ts->pass_args, *kwargs = ts->pass_kwargs;
    PyObject *exc_type = ts->pass_exc_type, *exc_value = ts->pass_exc_value;
    PyObject *exc_traceback = ts->pass_exc_traceback;
    ts->pass_value = ts->pass_args = ts->pass_kwargs = NULL;
    ts->pass_exc_type = ts->pass_exc_value = ts->pass_exc_traceback = NULL;
    /* On the type itself `run` is the getset below (a data descriptor, which an instance
     * __dict__ cannot shadow); a subclass may define it any way it likes. */
    PyObject *run = Py_IS_TYPE(self, &PyGreenlet_Type)
                        ? greenlet_get_run(self, NULL)
                        : PyObject_GetAttr((PyObject *)self, str_run);
    ts_clear_passed(ts);
    ts->pass_value = value;
    ts->pass_args = args;
    ts->pass_kwargs = kwargs;
    ts->pass_exc_type = exc_type;
    ts->pass_exc_value = exc_value;
    ts->pass_exc_traceback = exc_traceback;
    if (run == NULL) {
        ts_clear_passed(ts);
        return -1;
    }
    if (g_state(self) != ZGL_PENDING) {
        Py_DECREF(run);
        return 2;
    }
    if (g_check_thread(ts, self) < 0) {
        Py_DECREF(run);
        ts_clear_passed(ts);
        return -1;
    }
    greenlet_impl *impl = IMPL(self);
    /* The new greenlet's frame memory, taken now so that running out of it is an error of this
     * switch() call. */
    if (pystate_prepare_start(&impl->py, &ts->chunks) < 0) {
        Py_DECREF(run);
        ts_clear_passed(ts);
        return -1;
    }
    Py_XSETREF(impl->main_greenlet, (PyGreenlet *)Py_NewRef(ts->main));
    pystate_cframe cframe;
    int result = g_switchstack(ts, self, stack_far_marker, dying);
    if (result == 1) {
        g_run_and_die(ts, self, run, &cframe);
        /* not reached */
    }
    if (result < 0) {
        pystate_cancel_start(&impl->py, &ts->chunks);
        Py_CLEAR(impl->main_greenlet);
        Py_DECREF(run);
        ts_clear_passed(ts);
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
static NOINLINE int
g_start(thread_state *ts, PyGreenlet *target, int dying)
{
    char *marker = __builtin_alloca(stack_allocations_hooked() ? 16 : GREENLET_START_GAP_BYTES);
    __asm__ volatile("" : : "r"(marker) : "memory");
    CFI_END_OF_STACK();
    int result = g_initialstub(ts, target, marker, dying);
    /* The gap (and the marker at its low end) stays part of this frame until here. */
    __asm__ volatile("" : : "r"(marker) : "memory");
    return result;
}

/* The running greenlet finished with `result` (NULL: with the exception set). Sends it to the
 * parent chain. Never returns. */
static void
g_die(PyGreenlet *self, PyObject *result)
{
    thread_state *ts = tls_state;
    if (result == NULL && PyErr_ExceptionMatches(PyExc_GreenletExit)) {
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
        ts = tls_state;
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
                PyErr_SetString(PyExc_GreenletError, "cannot switch to a finished main greenlet");
                goto fail;
            }
        }
        if (UNLIKELY(target == ts->current)) {
            if (ts->trace != NULL &&
                g_call_trace(ts, (value || args) ? str_switch : str_throw, target, target) < 0) {
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
        ts->pass_value = value;
        ts->pass_args = args;
        ts->pass_kwargs = kwargs;
        ts->pass_exc_type = exc_type;
        ts->pass_exc_value = exc_value;
        ts->pass_exc_traceback = exc_traceback;
        int result;
        if (LIKELY(g_state(target) != ZGL_PENDING)) {
            result = g_switchstack(ts, target, NULL, dying);
        }
        else {
            result = g_start(ts, target, dying);
        }
        if (UNLIKELY(result == 2)) {
            /* Code run during the start switched into `target` first; switch normally. */
            value = ts->pass_value;
            args = ts->pass_args;
            kwargs = ts->pass_kwargs;
            exc_type = ts->pass_exc_type;
            exc_value = ts->pass_exc_value;
            exc_traceback = ts->pass_exc_traceback;
            ts->pass_value = ts->pass_args = ts->pass_kwargs = NULL;
            ts->pass_exc_type = ts->pass_exc_value = ts->pass_exc_traceback = NULL;
            continue;
        }
        if (UNLIKELY(result < 0)) {
            ts_clear_passed(ts);
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
    PyErr_SetString(PyExc_GreenletExit,
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
    int ours = owner != NULL && owner == tls_state;
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
    if (owner == NULL || greenlet_is_finalizing()) {
        return 0;
    }
    Py_SET_REFCNT(self, 1);
    thread_state *ts = tls_state;
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

/* ==== type slots =========================================================================== */

static PyObject *
Greenlet_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    thread_state *ts = thread_state_get();
    if (ts == NULL) {
        return NULL;
    }
    /* object.__new__ allocates, and refuses abstract classes (abc.ABCMeta subclasses). */
    PyGreenlet *self = (PyGreenlet *)PyBaseObject_Type.tp_new(type, empty_tuple, NULL);
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

static PyObject *tuple_from_array(PyObject *const *items, Py_ssize_t count);

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
            kwargs = _PyStack_AsDict(items + nargs, kwnames);
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

static int
Greenlet_traverse(PyGreenlet *self, visitproc visit, void *arg)
{
    greenlet_impl *impl = IMPL(self);
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
    if (impl->is_main) {
        thread_state *ts = main_thread_of(self);
        if (ts != NULL && ts == tls_state) {
            Py_VISIT(ts->current);
            Py_VISIT(ts->trace);
        }
    }
    return pystate_traverse(&impl->py, visit, arg);
}

#if !defined(Py_GIL_DISABLED) && !GREENLET_PY315
static int
Greenlet_is_gc(PyGreenlet *self)
{
    greenlet_impl *impl = IMPL(self);
    if (impl == NULL || impl->is_main) {
        return 1;
    }
    /* A suspended greenlet's frames are referenced from its stack, which the collector cannot
     * see: never treat it as garbage. */
    return zgl_stack_state(&impl->stack) != ZGL_SUSPENDED || g_thread(self) == NULL;
}
#endif

static int
Greenlet_clear(PyGreenlet *self)
{
    greenlet_impl *impl = IMPL(self);
    /* The collector found a suspended greenlet in unreachable garbage (builds where suspended
     * greenlets are collectable): let its finally blocks run before its references go. */
    if (impl != NULL && !impl->is_main && zgl_stack_state(&impl->stack) == ZGL_SUSPENDED &&
        g_thread(self) != NULL && g_thread(self) == tls_state && !greenlet_is_finalizing()) {
        g_kill(tls_state, self);
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
        /* The object lives on. A heap subclass's dealloc drops a type reference after ours
         * returns; the living object still needs it. */
        if (PyType_HasFeature(Py_TYPE(self), Py_TPFLAGS_HEAPTYPE)) {
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
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Greenlet_repr(PyGreenlet *self)
{
    greenlet_impl *impl = IMPL(self);
    thread_state *ts = tls_state;
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

/* ==== methods ============================================================================== */

/* A tuple of `count` new references to the objects at `items`. */
static PyObject *
tuple_from_array(PyObject *const *items, Py_ssize_t count)
{
    if (count == 0) {
        return Py_NewRef(empty_tuple);
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
        PyObject *args = tuple_from_array(items, nargs);
        if (args == NULL) {
            return NULL;
        }
        return g_switch(ts, self, NULL, args, NULL, 0);
    }
    PyObject *args = tuple_from_array(items, nargs);
    if (args == NULL) {
        return NULL;
    }
    PyObject *kwargs = _PyStack_AsDict(items + nargs, kwnames);
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
        if (PyErr_ExceptionMatches(PyExc_GreenletExit)) {
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
    PyObject *type = nargs > 0 ? items[0] : PyExc_GreenletExit;
    PyObject *value = nargs > 1 ? items[1] : NULL;
    PyObject *traceback = nargs > 2 ? items[2] : NULL;
    if (g_set_thrown(type, value, traceback) < 0) {
        return NULL;
    }
    return g_throw_current(self);
}

static PyObject *
greenlet_getstate(PyGreenlet *self, PyObject *unused)
{
    PyErr_Format(PyExc_TypeError, "cannot serialize '%s' object", Py_TYPE(self)->tp_name);
    return NULL;
}

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
        PyErr_SetObject(PyExc_AttributeError, str_run);
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
    if (!PyObject_TypeCheck(value, &PyGreenlet_Type)) {
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
        if (owner != tls_state) {
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
        if (owner != tls_state) {
            PyErr_SetString(PyExc_ValueError,
                            "cannot set context of a greenlet that is running in a different thread");
            return -1;
        }
        PyThreadState *tstate = PyThreadState_Get();
        Py_XSETREF(tstate->context, Py_XNewRef(value));
        tstate->context_ver++;
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
#if !defined(Py_GIL_DISABLED) && !GREENLET_PY315
    /* The free-threaded collector requires every tracked object to be collectable; from 3.15
     * on, a suspended greenlet in unreachable garbage is killed, then cleared. */
    .tp_is_gc = (inquiry)Greenlet_is_gc,
#endif
};

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

/* ==== C API ================================================================================ */

static PyGreenlet *
capi_getcurrent(void)
{
    if (greenlet_is_finalizing()) {
        PyErr_SetString(PyExc_RuntimeError, "greenlet is being finalized");
        return NULL;
    }
    thread_state *ts = thread_state_get();
    return ts ? (PyGreenlet *)Py_NewRef(ts->current) : NULL;
}

static int
capi_check(PyGreenlet *g)
{
    if (g == NULL || !PyObject_TypeCheck((PyObject *)g, &PyGreenlet_Type)) {
        PyErr_BadArgument();
        return -1;
    }
    return 0;
}

static PyGreenlet *
capi_new(PyObject *run, PyGreenlet *parent)
{
    PyGreenlet *g = (PyGreenlet *)Greenlet_new(&PyGreenlet_Type, NULL, NULL);
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
        args = empty_tuple;
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
    if (g == NULL || !PyObject_TypeCheck((PyObject *)g, &PyGreenlet_Type)) {
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

static void *capi_table[PyGreenlet_API_pointers];

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
    thread_state *ts = tls_state;
    if (LIKELY(ts != NULL && __atomic_load_n(&ts->kill_list, __ATOMIC_ACQUIRE) == NULL &&
               !greenlet_is_finalizing())) {
        return Py_NewRef((PyObject *)ts->current);
    }
    return (PyObject *)capi_getcurrent();
}

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
    gl_mutex_lock(&ended_lock);
    Py_ssize_t count = ended_count;
    gl_mutex_unlock(&ended_lock);
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

#if !GREENLET_PY313
static PyObject *
module_get_tstate_trash_delete_nesting(PyObject *module, PyObject *unused)
{
    PyThreadState *tstate = PyThreadState_Get();
#  if GREENLET_PY312
    return PyLong_FromLong(tstate->trash.delete_nesting);
#  else
    return PyLong_FromLong(tstate->trash_delete_nesting);
#  endif
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
#if !GREENLET_PY313
    {"get_tstate_trash_delete_nesting", module_get_tstate_trash_delete_nesting, METH_NOARGS,
     "get_tstate_trash_delete_nesting() -> int\n\nThe thread state's trashcan nesting."},
#endif
    {NULL}
};

static struct PyModuleDef greenlet_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "greenlet._greenlet",
    .m_doc = "Lightweight coroutines switching on one C stack.",
    .m_size = -1,
    .m_methods = module_methods,
};

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

PyMODINIT_FUNC
PyInit__greenlet(void)
{
    if (gl_exit_key_create(&tls_key, thread_state_ended) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot create the greenlet thread key");
        return NULL;
    }
    stack_allocator.realloc = allocator_realloc;
    stack_allocator.free = allocator_free;
    str_run = PyUnicode_InternFromString("run");
    str_switch = PyUnicode_InternFromString("switch");
    str_throw = PyUnicode_InternFromString("throw");
    empty_tuple = PyTuple_New(0);
    if (str_run == NULL || str_switch == NULL || str_throw == NULL || empty_tuple == NULL) {
        return NULL;
    }
    if (PyType_Ready(&PyGreenlet_Type) < 0) {
        return NULL;
    }
    PyGreenletUnswitchable_Type.tp_base = &PyGreenlet_Type;
    PyGreenletUnswitchable_Type.tp_traverse = PyGreenlet_Type.tp_traverse;
    PyGreenletUnswitchable_Type.tp_clear = PyGreenlet_Type.tp_clear;
    if (PyType_Ready(&PyGreenletUnswitchable_Type) < 0) {
        return NULL;
    }
    PyExc_GreenletError = PyErr_NewExceptionWithDoc(
        "greenlet.error",
        "Raised by an operation that greenlets cannot do, above all a switch to a greenlet that "
        "belongs to another thread, to one whose thread has exited, or to one whose parent chain "
        "no longer leads to a main greenlet.",
        NULL, NULL);
    PyExc_GreenletExit = PyErr_NewExceptionWithDoc(
        "greenlet.GreenletExit",
        "Raised inside a greenlet to ask it to finish. It derives from BaseException, so a plain "
        "'except Exception' does not swallow it. If it escapes the greenlet's run, the greenlet "
        "dies and the exception object is given to the parent as the result of its switch() "
        "instead of being raised there.",
        PyExc_BaseException, NULL);
    if (PyExc_GreenletError == NULL || PyExc_GreenletExit == NULL) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&greenlet_module);
    if (module == NULL) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    /* Switching is per thread, and what threads share is locked or atomic. */
    if (PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED) < 0) {
        goto failed;
    }
#endif
    if (module_add_constants(module) < 0 ||
        PyModule_AddObjectRef(module, "greenlet", (PyObject *)&PyGreenlet_Type) < 0 ||
        PyModule_AddObjectRef(module, "UnswitchableGreenlet",
                              (PyObject *)&PyGreenletUnswitchable_Type) < 0 ||
        PyModule_AddObjectRef(module, "error", PyExc_GreenletError) < 0 ||
        PyModule_AddObjectRef(module, "GreenletExit", PyExc_GreenletExit) < 0) {
        goto failed;
    }
    static const char *class_names[] = {"getcurrent", "error", "GreenletExit", "settrace",
                                        "gettrace", NULL};
    for (const char **name = class_names; *name != NULL; name++) {
        PyObject *value = PyObject_GetAttrString(module, *name);
        if (value == NULL || PyDict_SetItemString(PyGreenlet_Type.tp_dict, *name, value) < 0) {
            Py_XDECREF(value);
            goto failed;
        }
        Py_DECREF(value);
    }
    PyType_Modified(&PyGreenlet_Type);
    capi_table[PyGreenlet_Type_NUM] = (void *)&PyGreenlet_Type;
    capi_table[PyExc_GreenletError_NUM] = (void *)PyExc_GreenletError;
    capi_table[PyExc_GreenletExit_NUM] = (void *)PyExc_GreenletExit;
    capi_table[PyGreenlet_New_NUM] = (void *)capi_new;
    capi_table[PyGreenlet_GetCurrent_NUM] = (void *)capi_getcurrent;
    capi_table[PyGreenlet_Throw_NUM] = (void *)capi_throw;
    capi_table[PyGreenlet_Switch_NUM] = (void *)capi_switch;
    capi_table[PyGreenlet_SetParent_NUM] = (void *)capi_set_parent;
    capi_table[PyGreenlet_MAIN_NUM] = (void *)capi_main;
    capi_table[PyGreenlet_STARTED_NUM] = (void *)capi_started;
    capi_table[PyGreenlet_ACTIVE_NUM] = (void *)capi_active;
    capi_table[PyGreenlet_GET_PARENT_NUM] = (void *)capi_get_parent;
    if (module_add_new(module, "_C_API", PyCapsule_New(capi_table, "greenlet._C_API", NULL)) < 0 ||
        module_add_new(module, "_switch_name", PyUnicode_FromString(zgl_switch_name())) < 0 ||
        module_add_new(module, "_build_info", PyUnicode_FromString(zgl_build_info())) < 0) {
        goto failed;
    }
    return module;
failed:
    Py_DECREF(module);
    return NULL;
}
