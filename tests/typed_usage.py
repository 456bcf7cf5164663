"""A typed tour of greenlet's public API, checked with ``mypy --strict`` by tests/docs-check.

It also runs: ``python tests/typed_usage.py`` exits 0 when every assertion holds. The file
name does not match pytest's test patterns, so the test suite does not collect it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import greenlet
from greenlet import GreenletExit, error, getcurrent, gettrace, settrace
from greenlet import _greenlet


def current_parent() -> greenlet.greenlet:
    parent = getcurrent().parent
    assert parent is not None, "a main greenlet has no parent"
    return parent


def produce(limit: int) -> str:
    for number in range(limit):
        current_parent().switch(number)
    return "done"


def generate(limit: int) -> Iterator[int]:
    """Wraps a push-style greenlet into a pull-style iterator."""
    worker = greenlet.greenlet(produce)
    item: Any = worker.switch(limit)
    while not worker.dead:
        assert isinstance(item, int)
        yield item
        item = worker.switch()


class Doubler(greenlet.greenlet):
    """A subclass that defines run as a method."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def run(self, value: int) -> int:
        return value * self.factor


def check_switching() -> None:
    assert list(generate(3)) == [0, 1, 2]
    assert Doubler(2).switch(21) == 42
    main: greenlet.greenlet = getcurrent()
    assert main.parent is None and bool(main) and not main.dead

    child = greenlet.greenlet(lambda: main.switch("suspended"), parent=main)
    assert child.switch() == "suspended"
    frame: FrameType | None = child.gr_frame
    assert frame is not None
    saved: int = child._stack_saved
    assert saved >= 0
    killed: object = child.throw()
    assert isinstance(killed, GreenletExit) and child.dead

    pending = greenlet.greenlet()
    pending.run = lambda: "ran"
    run: Callable[..., Any] = pending.run
    assert run() == "ran"
    pending.parent = main


def check_throw() -> None:
    def patient() -> str:
        try:
            current_parent().switch()
        except ValueError as caught:
            return f"handled {caught}"
        return "not reached"

    first = greenlet.greenlet(patient)
    first.switch()
    assert first.throw(ValueError, "late") == "handled late"

    second = greenlet.greenlet(patient)
    second.switch()
    assert second.throw(ValueError("instance")) == "handled instance"


def check_context() -> None:
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="unset")
    reader = greenlet.greenlet(variable.get)
    context: contextvars.Context | None = reader.gr_context
    assert context is None
    reader.gr_context = contextvars.copy_context()
    assert reader.switch() == "unset"


def check_tracing() -> None:
    events: list[str] = []

    def tracer(event: str, greenlets: tuple[greenlet.greenlet, greenlet.greenlet]) -> None:
        origin, target = greenlets
        events.append(event)

    previous = settrace(tracer)
    try:
        greenlet.greenlet(lambda: None).switch()
    finally:
        settrace(previous)
    assert gettrace() is previous
    assert events == ["switch", "switch"]


def check_module() -> None:
    assert isinstance(greenlet.__version__, str)
    constants: list[int] = [
        greenlet.GREENLET_USE_GC,
        greenlet.GREENLET_USE_TRACING,
        greenlet.GREENLET_USE_CONTEXT_VARS,
        _greenlet.GREENLET_USE_STANDARD_THREADING,
    ]
    assert constants == [1, 1, 1, 1]
    assert greenlet.CLOCKS_PER_SEC > 1
    greenlet.enable_optional_cleanup(True)
    clocks: int | None = greenlet.get_clocks_used_doing_optional_cleanup()
    assert clocks is not None
    pending_threads: int = _greenlet.get_pending_cleanup_count()
    main_greenlets: int = _greenlet.get_total_main_greenlets()
    assert pending_threads >= 0 and main_greenlets >= 1
    assert isinstance(_greenlet._switch_name, str)
    assert issubclass(error, Exception) and issubclass(GreenletExit, BaseException)
    assert greenlet.greenlet.getcurrent() is getcurrent()
    unswitchable = _greenlet.UnswitchableGreenlet(lambda: None)
    unswitchable.force_switch_error = True
    try:
        unswitchable.switch()
    except SystemError:
        pass
    else:
        raise AssertionError("the forced switch error was not raised")


if __name__ == "__main__":
    check_switching()
    check_throw()
    check_context()
    check_tracing()
    check_module()
    print("typed usage: ok")
