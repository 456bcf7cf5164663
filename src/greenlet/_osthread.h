/* _osthread.h: the two operating-system thread services the glue needs, POSIX or Windows.
 *
 *   gl_mutex        a lock usable without the GIL (also from a thread that is exiting), with a
 *                   static initializer, GL_MUTEX_INIT
 *   gl_exit_key     calls a function with a thread's registered value when that thread exits
 *
 * POSIX: pthread mutexes and a pthread key with a destructor. Windows: a slim reader/writer
 * lock (needs no destruction) and a fiber-local storage slot, whose callback the system calls
 * when a thread exits with a value in the slot. Neither needs a library beyond KERNEL32 (no
 * winpthreads), which keeps the Windows module's imports to KERNEL32, the UCRT and python3X.dll.
 */
#ifndef GREENLET_OSTHREAD_H
#define GREENLET_OSTHREAD_H

#ifdef _WIN32
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>

typedef SRWLOCK gl_mutex;
#  define GL_MUTEX_INIT SRWLOCK_INIT
static inline void gl_mutex_init(gl_mutex *m) { InitializeSRWLock(m); }
static inline void gl_mutex_destroy(gl_mutex *m) { (void)m; }
static inline void gl_mutex_lock(gl_mutex *m) { AcquireSRWLockExclusive(m); }
static inline void gl_mutex_unlock(gl_mutex *m) { ReleaseSRWLockExclusive(m); }

typedef DWORD gl_exit_key;
typedef void (*gl_exit_fn)(void *value);
/* The system calls FLS callbacks with the NTAPI convention (stdcall on x86), which differs
 * from a plain C function's there: the callback is one fixed trampoline to the function. */
static gl_exit_fn gl_exit_function;
static VOID NTAPI
gl_exit_trampoline(PVOID value)
{
    if (value != NULL) {
        gl_exit_function(value);
    }
}
/* 0 on success. One key per process: the trampoline has no room for a second function. */
static inline int
gl_exit_key_create(gl_exit_key *key, gl_exit_fn on_exit)
{
    gl_exit_function = on_exit;
    *key = FlsAlloc(gl_exit_trampoline);
    return *key == FLS_OUT_OF_INDEXES ? -1 : 0;
}
static inline int
gl_exit_key_set(gl_exit_key key, void *value)
{
    return FlsSetValue(key, value) ? 0 : -1;
}
#else
#  include <pthread.h>

typedef pthread_mutex_t gl_mutex;
#  define GL_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
static inline void gl_mutex_init(gl_mutex *m) { pthread_mutex_init(m, NULL); }
static inline void gl_mutex_destroy(gl_mutex *m) { pthread_mutex_destroy(m); }
static inline void gl_mutex_lock(gl_mutex *m) { pthread_mutex_lock(m); }
static inline void gl_mutex_unlock(gl_mutex *m) { pthread_mutex_unlock(m); }

typedef pthread_key_t gl_exit_key;
typedef void (*gl_exit_fn)(void *value);
static inline int
gl_exit_key_create(gl_exit_key *key, gl_exit_fn on_exit)
{
    return pthread_key_create(key, on_exit);
}
static inline int
gl_exit_key_set(gl_exit_key key, void *value)
{
    return pthread_setspecific(key, value);
}
#endif

#endif /* GREENLET_OSTHREAD_H */
