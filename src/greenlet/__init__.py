"""Lightweight coroutines for in-process concurrent programming.

A greenlet is a function running on its own slice of the C stack; ``switch()``
moves execution between greenlets explicitly. This build's stack switching is
written in Zig.
"""

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

__version__ = "3.6.0.dev0"

from ._greenlet import _C_API  # noqa: F401
from ._greenlet import CLOCKS_PER_SEC  # noqa: F401
from ._greenlet import GREENLET_USE_CONTEXT_VARS  # noqa: F401
from ._greenlet import GREENLET_USE_GC  # noqa: F401
from ._greenlet import GREENLET_USE_TRACING  # noqa: F401
from ._greenlet import GreenletExit
from ._greenlet import enable_optional_cleanup  # noqa: F401
from ._greenlet import error
from ._greenlet import get_clocks_used_doing_optional_cleanup  # noqa: F401
from ._greenlet import getcurrent
from ._greenlet import gettrace
from ._greenlet import greenlet
from ._greenlet import settrace
