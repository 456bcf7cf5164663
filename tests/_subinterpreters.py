"""Running code in subinterpreters with their own GIL (CPython 3.12+), through whichever module
the running CPython has for it: concurrent.interpreters (3.14+), _interpreters (3.13) or
_xxsubinterpreters (3.12). Each makes interpreters with the default, isolated configuration.

    interp = create()
    run(interp, code)      # raises SubinterpreterFailed (with the error's text) if code raised
    destroy(interp)
"""
import sys

def _why_not():
    if sys.version_info < (3, 12):
        return "subinterpreters with their own GIL need CPython 3.12 or newer"
    try:
        _module()
    except ImportError as error:
        return "this CPython build has no subinterpreter module (%s)" % (error,)
    return None


class SubinterpreterFailed(Exception):
    """The code run in a subinterpreter raised; args[0] describes its exception."""


def _module():
    if sys.version_info >= (3, 14):
        from concurrent import interpreters
        return interpreters
    if sys.version_info >= (3, 13):
        import _interpreters
        return _interpreters
    import _xxsubinterpreters
    return _xxsubinterpreters


def prologue():
    """Code that gives a subinterpreter this process's sys.path (so that it imports this
    greenlet)."""
    return "import sys\nsys.path[:] = %r\n" % (sys.path,)


def create():
    module = _module()
    return module.create()


def run(interp, code):
    module = _module()
    if sys.version_info >= (3, 14):
        try:
            interp.exec(code)
        except module.ExecutionFailed as failure:
            raise SubinterpreterFailed(str(failure)) from None
    elif sys.version_info >= (3, 13):
        failure = module.exec(interp, code)
        if failure is not None:
            raise SubinterpreterFailed("%s: %s" % (failure.type.__name__, failure.msg))
    else:
        try:
            module.run_string(interp, code)
        except module.RunFailedError as failure:
            raise SubinterpreterFailed(str(failure)) from None


def destroy(interp):
    if sys.version_info >= (3, 14):
        interp.close()
    else:
        _module().destroy(interp)


def run_once(code):
    """Runs code (after prologue()) in a new subinterpreter, which is destroyed afterwards."""
    interp = create()
    try:
        run(interp, prologue() + code)
    finally:
        destroy(interp)


def share(interp, name, value):
    """Tries to hand `value` to the subinterpreter as its global `name`, as each API allows."""
    module = _module()
    if sys.version_info >= (3, 14):
        interp.prepare_main(**{name: value})
    elif sys.version_info >= (3, 13):
        module.set___main___attrs(interp, {name: value})
    else:
        module.run_string(interp, "pass", shared={name: value})


WHY_NOT = _why_not()
AVAILABLE = WHY_NOT is None
