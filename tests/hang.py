"""A bound on a call that must not hang (a FIFO, an unbounded computation)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def within(seconds: float, call: Callable[[], T]) -> T:
    """`call()`'s result, or its exception re-raised here; fails if it has
    not returned after `seconds`. The bound is far above the real cost: a
    hang detector, not a timing test (the call's thread is left behind,
    blocked, as a daemon)."""
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as err:  # re-raised in the test's thread
            outcome.append((False, err))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    ok, value = outcome[0]
    if not ok:
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]
