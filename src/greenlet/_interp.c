/*
 * _interp.c (part of _greenlet.c): thread states, one per interpreter and OS thread. Where a
 * thread's state is found, how it is made, and how it ends: when its OS thread exits, or when
 * its interpreter does.
 *
 * Every interpreter that imports greenlet registers its module state here. An OS thread keeps a
 * list of its states, one per interpreter it used greenlets in, and `tls_state`, the one it used
 * last: with one interpreter, that is all a lookup reads. Once a second interpreter has
 * registered, a lookup also checks that `tls_state` belongs to the running interpreter.
 * docs/internals/interpreters.md tells why interpreters on one OS thread can share its C stack.
 *
 * registry_lock guards the registry, each interpreter's list of states and of ended ones, and the
 * `phase` of every state. Python objects are never released while it is held.
 */

static gl_mutex registry_lock = GL_MUTEX_INIT;
static module_state *registry;
static _Atomic int many_interpreters; /* set once an interpreter but the main one registers */

/* This OS thread's states (linked by next_in_thread), also the value of its exit key. */
static _Thread_local thread_state *tls_states;

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

/* Takes the Python objects a state holds, with the GIL of its interpreter. */
static void
thread_state_release_objects(thread_state *ts)
{
    payload_clear(&ts->passed);
    Py_CLEAR(ts->origin);
    Py_CLEAR(ts->trace);
    Py_CLEAR(ts->kill_list);
    Py_CLEAR(ts->found_list);
    Py_CLEAR(ts->current);
    if (ts->main != NULL) {
        thread_state_release_leftover(ts->main);
    }
    Py_CLEAR(ts->main);
}

/* Frees the record itself (its objects released already); needs no GIL. */
static void
thread_state_free(thread_state *ts)
{
    pystate_chunks_clear(&ts->chunks);
    gl_mutex_destroy(&ts->kill_lock);
    PyMem_RawFree(ts);
}

/* Unlinks `ts` from its interpreter's list of states. Under registry_lock. */
static void
interp_unlink_locked(thread_state *ts)
{
    for (thread_state **link = &ts->mod->states; *link != NULL; link = &(*link)->next_in_interp) {
        if (*link == ts) {
            *link = ts->next_in_interp;
            return;
        }
    }
}

/* ==== ended OS threads ===================================================================== */

/* Releases the states of `mod`'s interpreter whose OS threads ended. With its GIL; an exception
 * set by the caller stays set. */
static void
interp_release_ended(module_state *mod)
{
    PyObject *saved_type, *saved_value, *saved_traceback;
    PyErr_Fetch(&saved_type, &saved_value, &saved_traceback);
    for (;;) {
        gl_mutex_lock(&registry_lock);
        thread_state *ts = mod->ended;
        if (ts != NULL) {
            mod->ended = ts->next_ended;
            mod->ended_count--;
        }
        gl_mutex_unlock(&registry_lock);
        if (ts == NULL) {
            break;
        }
        thread_state_release_objects(ts);
        thread_state_free(ts);
    }
    PyErr_Restore(saved_type, saved_value, saved_traceback);
}

/* A pending call of the main interpreter (Py_AddPendingCall runs its calls there). */
static int
main_interp_release_ended(void *mod)
{
    interp_release_ended(mod);
    return 0;
}

/* Called by the system when an OS thread that used greenlets exits, without the GIL, with its
 * first state. Each state goes to its interpreter, which releases it (the main interpreter at
 * once, through a pending call; another one when a thread next starts using greenlets there, or
 * when it ends). A state whose interpreter ended is freed here. */
static void
thread_state_ended(void *first)
{
    module_state *schedule = NULL;
    gl_mutex_lock(&registry_lock);
    thread_state *next;
    for (thread_state *ts = first; ts != NULL; ts = next) {
        next = ts->next_in_thread;
        if (ts->phase == TS_RELEASED) {
            thread_state_free(ts);
            continue;
        }
        if (ts->phase == TS_RELEASING) {
            ts->orphaned = 1; /* its interpreter frees it once released */
            continue;
        }
        atomic_store_explicit(&IMPL(ts->main)->thread, NULL, memory_order_release);
        module_state *mod = ts->mod;
        interp_unlink_locked(ts);
        if (mod->ended == NULL && mod->is_main) {
            schedule = mod;
        }
        ts->next_ended = mod->ended;
        mod->ended = ts;
        mod->ended_count++;
    }
    gl_mutex_unlock(&registry_lock);
    /* (On Windows the exiting process's last thread also comes here, after the interpreter
     * finalized, where Linux runs no key destructor: then nothing is scheduled.) */
    if (schedule != NULL && Py_IsInitialized() && !pystate_is_finalizing()) {
        Py_AddPendingCall(main_interp_release_ended, schedule);
    }
}

/* ==== finding and making states ============================================================ */

static module_state *
registry_find_locked(int64_t interp_id)
{
    module_state *mod = registry;
    while (mod != NULL && mod->interp_id != interp_id) {
        mod = mod->next_registered;
    }
    return mod;
}

static module_state *
registry_find(int64_t interp_id)
{
    gl_mutex_lock(&registry_lock);
    module_state *mod = registry_find_locked(interp_id);
    gl_mutex_unlock(&registry_lock);
    return mod;
}

/* Registers `mod` as its interpreter's. Returns the state registered before for that
 * interpreter (then `mod` is not registered), or NULL. */
static module_state *
registry_add(module_state *mod)
{
    gl_mutex_lock(&registry_lock);
    module_state *first = registry_find_locked(mod->interp_id);
    if (first == NULL) {
        if (!mod->is_main) {
            atomic_store(&many_interpreters, 1);
        }
        mod->next_registered = registry;
        registry = mod;
    }
    gl_mutex_unlock(&registry_lock);
    return first;
}

/* This thread's state in the running interpreter, or NULL; forgets states whose interpreter
 * ended. */
static NOINLINE thread_state *
thread_state_find(void)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    thread_state *found = NULL;
    gl_mutex_lock(&registry_lock);
    thread_state **link = &tls_states;
    while (*link != NULL) {
        thread_state *ts = *link;
        if (ts->phase == TS_RELEASED) {
            *link = ts->next_in_thread;
            thread_state_free(ts);
            continue;
        }
        if (ts->phase == TS_LIVE && ts->interp == interp) {
            found = ts;
        }
        link = &ts->next_in_thread;
    }
    gl_mutex_unlock(&registry_lock);
    gl_exit_key_set(tls_key, tls_states);
    tls_state = found;
    return found;
}

/* The calling thread's state in the running interpreter, or NULL if it has none yet. */
static ALWAYS_INLINE thread_state *
thread_state_current(void)
{
    thread_state *ts = tls_state;
    if (UNLIKELY(atomic_load_explicit(&many_interpreters, memory_order_relaxed)) &&
        (ts == NULL || atomic_load_explicit(&ts->interp, memory_order_relaxed) !=
                           PyInterpreterState_Get())) {
        ts = thread_state_find();
    }
    return ts;
}

static NOINLINE thread_state *
thread_state_create(void)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    int64_t interp_id = PyInterpreterState_GetID(interp);
    module_state *mod = registry_find(interp_id);
    if (mod == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "greenlet is not initialized in this interpreter, or it has ended");
        return NULL;
    }
    thread_state *ts = PyMem_RawCalloc(1, sizeof(thread_state));
    if (ts == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    ts->mod = mod;
    ts->main = main_greenlet_new(ts);
    if (ts->main == NULL) {
        PyMem_RawFree(ts);
        return NULL;
    }
    ts->current = (PyGreenlet *)Py_NewRef(ts->main);
    gl_mutex_init(&ts->kill_lock);
    zgl_thread_init(&ts->zthread, &IMPL(ts->main)->stack, &stack_allocator);
    if (gl_exit_key_set(tls_key, ts) != 0) {
        thread_state_release_objects(ts);
        thread_state_free(ts);
        PyErr_SetString(PyExc_RuntimeError, "cannot register the thread's greenlet state");
        return NULL;
    }
    atomic_store(&ts->interp, interp);
    gl_mutex_lock(&registry_lock);
    ts->next_in_thread = tls_states;
    tls_states = ts;
    ts->next_in_interp = mod->states;
    mod->states = ts;
    gl_mutex_unlock(&registry_lock);
    tls_state = ts;
    /* Now that this thread has its state (releasing may run code that asks for it): */
    interp_release_ended(mod);
    return ts;
}

/* thread_state_get when the calling thread's last state may not be the one it needs: with
 * more than one interpreter, before its first use, or with greenlets to kill. */
static NOINLINE thread_state *
thread_state_get_slow(void)
{
    thread_state *ts = thread_state_current();
    if (ts == NULL) {
        return thread_state_create();
    }
    if (__atomic_load_n(&ts->kill_list, __ATOMIC_ACQUIRE) != NULL) {
        thread_state_drain_kills(ts);
    }
    return ts;
}

/* The calling thread's state, made on first use; NULL with an exception set on failure. */
static ALWAYS_INLINE thread_state *
thread_state_get(void)
{
    thread_state *ts = tls_state;
    if (LIKELY(ts != NULL && !atomic_load_explicit(&many_interpreters, memory_order_relaxed) &&
               __atomic_load_n(&ts->kill_list, __ATOMIC_ACQUIRE) == NULL)) {
        return ts;
    }
    return thread_state_get_slow();
}

/* ==== the end of an interpreter ============================================================ */

/* Throws GreenletExit into every suspended greenlet of `ts` (this thread's), which the
 * collector's list of objects finds. */
static void
interp_kill_suspended(thread_state *ts)
{
    PyObject *gc_module = PyImport_ImportModule("gc");
    PyObject *objects = gc_module ? PyObject_CallMethod(gc_module, "get_objects", NULL) : NULL;
    Py_XDECREF(gc_module);
    if (objects == NULL || !PyList_Check(objects)) {
        Py_XDECREF(objects);
        PyErr_WriteUnraisable(NULL);
        return;
    }
    for (Py_ssize_t index = 0; index < PyList_GET_SIZE(objects); index++) {
        PyObject *item = PyList_GET_ITEM(objects, index);
        if (greenlet_check(item) && !IMPL(item)->is_main &&
            g_state((PyGreenlet *)item) == ZGL_SUSPENDED && g_thread((PyGreenlet *)item) == ts) {
            g_kill(ts, (PyGreenlet *)item);
        }
    }
    Py_DECREF(objects);
}

/* Unregisters `mod` and releases every state of its interpreter, with its GIL. States of other
 * OS threads, which cannot run again here, count as states of ended threads: their greenlets
 * are freed without running. Their records stay in their threads' lists until those threads
 * look them up or exit. */
static void
interp_release_all(module_state *mod)
{
    gl_mutex_lock(&registry_lock);
    int registered = 0;
    for (module_state **link = &registry; *link != NULL; link = &(*link)->next_registered) {
        if (*link == mod) {
            *link = mod->next_registered;
            registered = 1;
            break;
        }
    }
    thread_state *states = mod->states;
    mod->states = NULL;
    for (thread_state *ts = states; ts != NULL; ts = ts->next_in_interp) {
        ts->phase = TS_RELEASING;
        atomic_store(&ts->interp, NULL);
        atomic_store_explicit(&IMPL(ts->main)->thread, NULL, memory_order_release);
    }
    gl_mutex_unlock(&registry_lock);
    if (!registered) {
        return;
    }
    interp_release_ended(mod);
    thread_state *next;
    for (thread_state *ts = states; ts != NULL; ts = next) {
        next = ts->next_in_interp;
        thread_state_release_objects(ts);
        gl_mutex_lock(&registry_lock);
        int orphaned = ts->orphaned;
        ts->phase = TS_RELEASED; /* its OS thread frees it, or, if that ended, we do */
        gl_mutex_unlock(&registry_lock);
        if (orphaned) {
            thread_state_free(ts);
        }
    }
}

/* Registered with atexit in every interpreter but the main one, so that it runs while the
 * ending interpreter still works: kills the suspended greenlets of this thread (their finally
 * blocks run), then releases every state of the interpreter. Afterwards greenlet refuses to
 * make states in this interpreter. */
static PyObject *
module_interpreter_ending(PyObject *module, PyObject *unused)
{
    module_state *mod = PyModule_GetState(module);
    thread_state *own = thread_state_current();
    if (own != NULL && own->mod == mod) {
        interp_kill_suspended(own);
    }
    interp_release_all(mod);
    Py_RETURN_NONE;
}
