/*
 * _greenlet.h: what the parts of the _greenlet extension share: the includes, the checks that
 * the target's pyconfig facts and the published PyGreenlet layout hold, the two records behind
 * a greenlet (greenlet_impl) and a thread (thread_state), and the module's globals.
 *
 * The extension is one translation unit, _greenlet.c, which includes this header and then each
 * part in order; every function is static, so the compiler sees the whole switch path at once.
 */
#ifndef GREENLET_INTERNAL_H
#define GREENLET_INTERNAL_H

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
#  define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#  define NOINLINE
#  define ALWAYS_INLINE inline
#endif

/* ==== types ================================================================================ */

typedef struct thread_state thread_state;
typedef struct module_state module_state;

/* What a switch hands its target (new references): one value, which a suspended switch()
 * returns as it is and run is called with; or a tuple of arguments and a dict of keywords or
 * NULL; or, when value and args are both NULL, the exception in exc_*. */
typedef struct switch_payload {
    PyObject *value;
    PyObject *args;
    PyObject *kwargs;
    PyObject *exc_type;
    PyObject *exc_value;
    PyObject *exc_traceback;
} switch_payload;

/* How an attempt to move to another greenlet ended, in the greenlet that made it. */
typedef enum switch_result {
    SWITCH_FAILED = -1,         /* nothing moved; an exception is set */
    SWITCH_RESUMED = 0,         /* moved, and something switched back here since */
    SWITCH_STARTED = 1,         /* running as the greenlet just started (never seen by its starter) */
    SWITCH_ALREADY_STARTED = 2, /* the target was started meanwhile: switch to it normally */
} switch_result;

static PyTypeObject PyGreenlet_Type;
static PyTypeObject PyGreenletUnswitchable_Type;

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

/* A thread state's standing, changed under registry_lock (_interp.c). */
typedef enum thread_state_phase {
    TS_LIVE = 0,   /* in use by its OS thread, in its interpreter */
    TS_RELEASING,  /* its interpreter ended and is releasing its objects */
    TS_RELEASED,   /* objects released: the record waits for its OS thread to free it */
} thread_state_phase;

/* The greenlets of one OS thread in one interpreter. */
struct thread_state {
    zgl_thread zthread;
    PyGreenlet *main;                /* strong */
    PyGreenlet *current;             /* strong */
    PyObject *trace;                 /* strong, or NULL */
    PyObject *kill_list;             /* greenlets released by other threads, to kill here */
    PyObject *found_list;            /* suspended greenlets found in garbage, ended after the
                                      * collection (Greenlet_finalize) */
    gl_mutex kill_lock;              /* guards kill_list against other threads */
    /* A switch in progress: where it comes from and what the target receives. */
    PyGreenlet *origin;              /* strong while set */
    switch_payload passed;
    module_state *mod;               /* the interpreter's greenlet module */
    int use_tracing;
    pystate_chunks chunks;           /* interpreter data-stack chunks for new greenlets */
    /* Where the state is listed (_interp.c). */
    _Atomic(PyInterpreterState *) interp; /* NULL once its interpreter ended */
    thread_state_phase phase;
    int orphaned;                    /* its OS thread exited while it was being released */
    thread_state *next_in_thread;    /* the OS thread's states */
    thread_state *next_in_interp;    /* the interpreter's states */
    thread_state *next_ended;        /* the interpreter's states of ended OS threads */
};

#define IMPL(g) ((greenlet_impl *)((PyGreenlet *)(g))->pimpl)

/* What one interpreter's greenlet module owns (PEP 489 module state): its types, exceptions and
 * interned names, and the C API table its capsule publishes. The thread states of that
 * interpreter point here. The main interpreter's types are the static ones, which static C
 * subclasses (gevent's compiled Greenlet) need; any other interpreter has heap types of its
 * own (_type.c). */
struct module_state {
    PyTypeObject *greenlet_type;
    PyTypeObject *unswitchable_type;
    PyObject *error;                 /* greenlet.error */
    PyObject *exit;                  /* greenlet.GreenletExit */
    PyObject *str_run;
    PyObject *str_switch;
    PyObject *str_throw;
    PyObject *empty_tuple;
    PyObject *end_found_callback;    /* in gc.callbacks: see Greenlet_finalize */
    void *capi_table[PyGreenlet_API_pointers];
    /* Guarded by registry_lock (_interp.c). */
    int64_t interp_id;
    int is_main;                     /* of the main interpreter */
    module_state *next_registered;   /* registry of interpreters */
    thread_state *states;            /* the interpreter's thread states */
    thread_state *ended;             /* ... whose OS thread ended, to release */
    Py_ssize_t ended_count;
};

/* The running thread's state. With glibc, the initial-exec model makes reading it a single
 * instruction instead of a call to __tls_get_addr (glibc keeps static TLS room for modules
 * loaded later); elsewhere the default model is used. */
#if defined(__GLIBC__) && (defined(__GNUC__) || defined(__clang__))
static _Thread_local thread_state *tls_state __attribute__((tls_model("initial-exec")));
#else
static _Thread_local thread_state *tls_state;
#endif
static gl_exit_key tls_key;

static _Atomic Py_ssize_t total_main_greenlets;
static _Atomic long long optional_cleanup_clocks; /* -1: disabled */


static PyObject *g_switch(thread_state *ts, PyGreenlet *target, PyObject *value, PyObject *args,
                          PyObject *kwargs, int dying);
static void g_kill(thread_state *ts, PyGreenlet *self);
static void Greenlet_dealloc(PyGreenlet *self);
static int g_dead_observed(PyGreenlet *self);

#endif /* GREENLET_INTERNAL_H */
