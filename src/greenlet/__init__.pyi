# Type stubs for the greenlet package.

from ._greenlet import CLOCKS_PER_SEC as CLOCKS_PER_SEC
from ._greenlet import GREENLET_USE_CONTEXT_VARS as GREENLET_USE_CONTEXT_VARS
from ._greenlet import GREENLET_USE_GC as GREENLET_USE_GC
from ._greenlet import GREENLET_USE_TRACING as GREENLET_USE_TRACING
from ._greenlet import GreenletExit as GreenletExit
from ._greenlet import _C_API as _C_API
from ._greenlet import enable_optional_cleanup as enable_optional_cleanup
from ._greenlet import error as error
from ._greenlet import get_clocks_used_doing_optional_cleanup as get_clocks_used_doing_optional_cleanup
from ._greenlet import getcurrent as getcurrent
from ._greenlet import gettrace as gettrace
from ._greenlet import greenlet as greenlet
from ._greenlet import settrace as settrace

__all__ = [
    "__version__",
    "_C_API",
    "GreenletExit",
    "error",
    "getcurrent",
    "greenlet",
    "gettrace",
    "settrace",
]

__version__: str
