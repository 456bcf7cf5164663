"""Sphinx configuration for the greenlet documentation.

The API reference is generated from the *installed* package (autodoc imports
``greenlet``), so build the docs with an interpreter that has it installed::

    python -m pip install . && sphinx-build -W -b html docs /tmp/greenlet-html
"""

import os
import re
import runpy
import types

import greenlet

DOCS_DIR = os.path.dirname(os.path.abspath(__file__))

project = "greenlet"
author = "the greenlet contributors"
copyright = "greenlet contributors"
release = greenlet.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "c_api/*.c"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"greenlet {release}"

# Signatures come from the first line of each docstring ("switch(*args, **kwargs)").
autodoc_docstring_signature = True
autodoc_member_order = "bysource"
autodoc_typehints = "none"

# Every example in these pages runs under ``sphinx-build -b doctest``. Each page is its own
# namespace; the names below are there in all of them.
doctest_global_setup = f"""
import sysconfig as _sysconfig
DOCS_DIR = {DOCS_DIR!r}
FREE_THREADED = bool(_sysconfig.get_config_var("Py_GIL_DISABLED"))
"""
doctest_global_cleanup = """
import greenlet as _greenlet_module
_greenlet_module.settrace(None)
"""

# Docstrings that the extension module does not carry (yet). They are used only when the
# object's own __doc__ is empty, so a docstring added to the C glue replaces them.
FALLBACK_DOCS = {
    "greenlet.GreenletExit": (
        "Raised inside a greenlet to ask it to finish. It derives from BaseException, so a "
        "plain 'except Exception' does not swallow it. If it escapes the greenlet's run, "
        "the greenlet dies and the exception object is given to the parent as the result "
        "of its switch() instead of being raised there."
    ),
    "greenlet.error": (
        "Raised by an operation that greenlets cannot do, above all a switch to a greenlet "
        "that belongs to another thread, to one whose thread has exited, or to one whose "
        "parent chain no longer leads to a main greenlet."
    ),
    "greenlet.greenlet.run": (
        "The callable the greenlet calls when it is first switched to. Readable and "
        "writable only until the greenlet starts; afterwards reading it raises "
        "AttributeError and so does setting it. Main greenlets have no run."
    ),
    "greenlet.greenlet.parent": (
        "The greenlet that receives control, and the return value or exception, when this "
        "one finishes. None for a thread's main greenlet. Writable with another greenlet "
        "of the same thread; a cycle raises ValueError."
    ),
    "greenlet.greenlet.dead": (
        "True once the greenlet has finished (returned, raised, or been killed), or once "
        "the thread it belongs to has exited."
    ),
    "greenlet.greenlet.gr_frame": (
        "The frame in which a suspended greenlet will resume, that is the frame that "
        "called switch(); None if the greenlet is running, has not started, or is dead."
    ),
    "greenlet.greenlet.gr_context": (
        "The contextvars.Context the greenlet runs in, or None for an empty one. Writable "
        "with a Context or None."
    ),
    "greenlet.greenlet._stack_saved": (
        "How many bytes of this greenlet's C stack are currently kept in a heap copy "
        "(0 while it runs, before it starts and after it dies)."
    ),
    "greenlet._greenlet.UnswitchableGreenlet.force_switch_error": (
        "When true, the next switch into this greenlet raises SystemError instead of "
        "switching."
    ),
    "greenlet._greenlet.UnswitchableGreenlet.force_slp_switch_error": (
        "When true, the next switch into this greenlet makes the low-level switch fail, "
        "which ends the process with a fatal error."
    ),
}


def _plain_text(line):
    """Escapes reST markup characters in the extension's plain-text docstrings.

    The C glue writes docstrings as plain text ("calls run(*args, **kwargs)"), where a bare
    ``*`` would start emphasis. Text inside double backquotes is left alone.
    """
    parts = line.split("``")
    for index in range(0, len(parts), 2):
        parts[index] = re.sub(r"(?<!\\)([*|])", r"\\\1", parts[index])
    return "``".join(parts)


def _process_docstring(app, what, name, obj, options, lines):
    if not name.startswith("greenlet."):
        return
    text = FALLBACK_DOCS.get(name)
    if text is not None and not any(line.strip() for line in lines):
        lines[:] = [text, ""]
        return
    lines[:] = [_plain_text(line) for line in lines]


def _load_targets():
    # targets.py, the one table of targets and CPython versions, at the top of the checkout
    return types.SimpleNamespace(**runpy.run_path(os.path.join(DOCS_DIR, "..", "targets.py")))


# Markers that pages hold where a table made from targets.py goes.
TABLES = {
    "<!-- the table of targets.py -->": "docs_table",
    "<!-- the targets x Pythons table of targets.py -->": "readme_table",
}


def _insert_tables(app, docname, source):
    for marker, maker in TABLES.items():
        if marker in source[0]:
            source[0] = source[0].replace(marker, getattr(_load_targets(), maker)())


def setup(app):
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("source-read", _insert_tables)
