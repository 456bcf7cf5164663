/*
 * greenlet.h: the C API of the greenlet package.
 *
 * An extension calls PyGreenlet_Import() once (e.g. in its module init); afterwards the
 * functions below are reached through the capsule "greenlet._C_API", a table of
 * PyGreenlet_API_pointers entries in the order of the *_NUM indices.
 *
 * The PyGreenlet struct is what a C subclass sees: its size is part of the ABI (extension
 * types that subclass greenlet put their own fields after it). The implementation's state
 * lives behind `pimpl`.
 */
#ifndef Py_GREENLETOBJECT_H
#define Py_GREENLETOBJECT_H

#include <Python.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this API, not of the package. */
#define GREENLET_VERSION "1.0.0"

typedef struct _greenlet {
    PyObject_HEAD
    PyObject *weakreflist;
    PyObject *dict;
    void *pimpl;
} PyGreenlet;

#define PyGreenlet_Check(op) ((op) && PyObject_TypeCheck((op), &PyGreenlet_Type))

/* Indices into the capsule's table. */
#define PyGreenlet_API_pointers 12

#define PyGreenlet_Type_NUM 0
#define PyExc_GreenletError_NUM 1
#define PyExc_GreenletExit_NUM 2
#define PyGreenlet_New_NUM 3
#define PyGreenlet_GetCurrent_NUM 4
#define PyGreenlet_Throw_NUM 5
#define PyGreenlet_Switch_NUM 6
#define PyGreenlet_SetParent_NUM 7
#define PyGreenlet_MAIN_NUM 8
#define PyGreenlet_STARTED_NUM 9
#define PyGreenlet_ACTIVE_NUM 10
#define PyGreenlet_GET_PARENT_NUM 11

#ifndef GREENLET_MODULE

/* One table per translation unit that includes this header. */
static void **_PyGreenlet_API = NULL;

/* The greenlet type. */
#define PyGreenlet_Type (*(PyTypeObject *)_PyGreenlet_API[PyGreenlet_Type_NUM])
/* greenlet.error */
#define PyExc_GreenletError ((PyObject *)_PyGreenlet_API[PyExc_GreenletError_NUM])
/* greenlet.GreenletExit */
#define PyExc_GreenletExit ((PyObject *)_PyGreenlet_API[PyExc_GreenletExit_NUM])

/* PyGreenlet *PyGreenlet_New(PyObject *run, PyGreenlet *parent): a new greenlet, like
 * greenlet(run, parent); either may be NULL. */
#define PyGreenlet_New                                                                  \
    (*(PyGreenlet * (*)(PyObject *, PyGreenlet *)) _PyGreenlet_API[PyGreenlet_New_NUM])

/* PyGreenlet *PyGreenlet_GetCurrent(void): a new reference to the running greenlet. */
#define PyGreenlet_GetCurrent                                                           \
    (*(PyGreenlet * (*)(void)) _PyGreenlet_API[PyGreenlet_GetCurrent_NUM])

/* PyObject *PyGreenlet_Throw(PyGreenlet *g, PyObject *typ, PyObject *val, PyObject *tb):
 * like g.throw(typ, val, tb); val and tb may be NULL. */
#define PyGreenlet_Throw                                                                \
    (*(PyObject * (*)(PyGreenlet *, PyObject *, PyObject *, PyObject *))               \
         _PyGreenlet_API[PyGreenlet_Throw_NUM])

/* PyObject *PyGreenlet_Switch(PyGreenlet *g, PyObject *args, PyObject *kwargs):
 * like g.switch(*args, **kwargs); args and kwargs may be NULL. */
#define PyGreenlet_Switch                                                               \
    (*(PyObject * (*)(PyGreenlet *, PyObject *, PyObject *))                            \
         _PyGreenlet_API[PyGreenlet_Switch_NUM])

/* int PyGreenlet_SetParent(PyGreenlet *g, PyGreenlet *parent): g.parent = parent;
 * 0 on success, -1 with an exception set. */
#define PyGreenlet_SetParent                                                            \
    (*(int (*)(PyGreenlet *, PyGreenlet *)) _PyGreenlet_API[PyGreenlet_SetParent_NUM])

/* PyGreenlet *PyGreenlet_GetParent(PyGreenlet *g): a new reference to g's parent, or NULL
 * without an exception for a main greenlet. */
#define PyGreenlet_GetParent                                                            \
    (*(PyGreenlet * (*)(PyGreenlet *)) _PyGreenlet_API[PyGreenlet_GET_PARENT_NUM])
#define PyGreenlet_GET_PARENT PyGreenlet_GetParent

/* int PyGreenlet_MAIN(PyGreenlet *g): 1 for a thread's main greenlet, else 0. */
#define PyGreenlet_MAIN (*(int (*)(PyGreenlet *)) _PyGreenlet_API[PyGreenlet_MAIN_NUM])
/* int PyGreenlet_STARTED(PyGreenlet *g): 1 once g has been switched to (also when dead). */
#define PyGreenlet_STARTED (*(int (*)(PyGreenlet *)) _PyGreenlet_API[PyGreenlet_STARTED_NUM])
/* int PyGreenlet_ACTIVE(PyGreenlet *g): 1 when started and not dead. */
#define PyGreenlet_ACTIVE (*(int (*)(PyGreenlet *)) _PyGreenlet_API[PyGreenlet_ACTIVE_NUM])

/* Fills the table from the capsule; leaves it NULL with an exception set on failure. */
#define PyGreenlet_Import()                                                              \
    {                                                                                    \
        _PyGreenlet_API = (void **)PyCapsule_Import("greenlet._C_API", 0);               \
    }

#endif /* GREENLET_MODULE */

#ifdef __cplusplus
}
#endif

#endif /* Py_GREENLETOBJECT_H */
