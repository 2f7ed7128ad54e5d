"""Batches read at once decode in turns, oldest first (`audiodecode.data.turns`),
and a loader's batches are the same with them as without."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from audiodecode.data import turns as turns_module
from audiodecode.data.turns import Turns

WAIT_S = 5.0


def test_tickets_count_up() -> None:
    turns = Turns()
    assert [turns.ticket() for _ in range(4)] == [0, 1, 2, 3]


def test_the_lowest_waiting_ticket_goes_first_and_at_most_at_once_hold_a_turn() -> None:
    turns = Turns()
    order: list[int] = []
    holding, most = 0, 0
    lock = threading.Lock()
    release = threading.Event()

    def take(ticket: int) -> None:
        nonlocal holding, most
        with turns.turn(ticket, at_once=2):
            with lock:
                order.append(ticket)
                holding += 1
                most = max(most, holding)
            release.wait(WAIT_S)
            with lock:
                holding -= 1

    # Tickets 0 and 1 hold the two turns; 5, 3, 4, 2 queue up in that order.
    first = [threading.Thread(target=take, args=(t,)) for t in (0, 1)]
    for thread in first:
        thread.start()
    wait_for(lambda: len(order) == 2)
    queued = [threading.Thread(target=take, args=(t,)) for t in (5, 3, 4, 2)]
    for thread in queued:
        thread.start()
        time.sleep(0.02)
    wait_for(lambda: len(turns._waiting) == 4)
    assert order == [0, 1]  # both turns held: the others wait
    release.set()
    for thread in first + queued:
        thread.join(WAIT_S)
    assert order[:2] == [0, 1] and order[2:] == [2, 3, 4, 5]
    assert most == 2


def test_a_late_ticket_holds_no_one_back() -> None:
    """Only waiting batches are ordered: ticket 0, still fetching, does not
    keep ticket 1 from decoding."""
    turns = Turns()
    turns.ticket()  # ticket 0 never asks for its turn
    thread, done = take_in_a_thread(turns, 1, at_once=1)
    assert done.wait(WAIT_S)
    thread.join(WAIT_S)


def test_an_interrupted_waiter_leaves_the_queue() -> None:
    turns = Turns()
    holder_in, holder_out = threading.Event(), threading.Event()

    def hold() -> None:
        with turns.turn(5, at_once=1):
            holder_in.set()
            holder_out.wait(WAIT_S)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holder_in.wait(WAIT_S)

    # Ticket 0 waits, then its wait is interrupted (as by KeyboardInterrupt).
    original = turns._ready.wait
    calls = 0

    def interrupted(timeout: float | None = None) -> bool:
        nonlocal calls
        calls += 1
        raise KeyboardInterrupt

    turns._ready.wait = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt), turns.turn(0, at_once=1):
        pass
    turns._ready.wait = original  # type: ignore[method-assign]
    assert calls == 1 and turns._waiting == []

    # Ticket 7 is next, not blocked behind the ticket that left.
    taker, got = take_in_a_thread(turns, 7, at_once=1)
    holder_out.set()
    assert got.wait(WAIT_S)
    holder.join(WAIT_S)
    taker.join(WAIT_S)


def test_at_once_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at_once"), Turns().turn(0, at_once=0):
        pass


@pytest.mark.parametrize(("cores", "num_threads", "at_once"), [
    (2, 2, 2), (2, None, 2), (2, 1, 3), (16, 1, 17), (16, 4, 5), (16, None, 2), (4, 8, 2),
])
def test_one_turn_per_lane_of_the_pool_and_one_more(
    monkeypatch: pytest.MonkeyPatch, cores: int, num_threads: int | None, at_once: int
) -> None:
    monkeypatch.setattr(turns_module, "available_cores", lambda: cores)
    assert turns_module.at_once_for(num_threads) == at_once


def test_each_turn_sets_its_limit() -> None:
    turns = Turns()
    with turns.turn(0, at_once=1), turns.turn(1, at_once=2):  # a second turn beside the first
        assert turns._held == 2


def test_batches_are_the_same_with_turns_and_without(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Turns change when batches decode, never what they hold."""
    from audiodecode.data import audio_files
    from audiodecode.data.reading import ClipReader, ClipSpec
    from synth import make, speech_like

    paths = [make(tmp_path, f"c{i}", speech_like(1.0 + 0.1 * i, 16000, seed=i), 16000, ("flac", "wav", "mp3")[i % 3])
             for i in range(12)]
    files = audio_files(paths, labels=[i % 2 for i in range(12)])
    spec = ClipSpec(sr=16000, clip_seconds=0.5, seed=3)
    batches = [np.arange(k, k + 4) % 12 for k in range(0, 24, 4)]

    readers: list[ClipReader] = []

    def read_all() -> list[np.ndarray]:
        reader = ClipReader(files, spec)
        readers.append(reader)
        out: list[np.ndarray | None] = [None] * len(batches)

        def read(k: int) -> None:
            out[k] = reader.read(np.zeros(4, dtype=np.int64), batches[k])["audio"]

        threads = [threading.Thread(target=read, args=(k,)) for k in range(len(batches))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        return out  # type: ignore[return-value]

    with_turns = read_all()
    # The wait is counted apart, as a part of "decode" (`stats()`).
    stage_s = readers[0].stats.snapshot()["stage_s"]
    assert {"decode", "turn"} <= set(stage_s) and stage_s["turn"] <= stage_s["decode"]

    @contextmanager
    def no_turn(self: Turns, ticket: int, at_once: int):  # noqa: ANN202
        yield 0.0

    monkeypatch.setattr(turns_module.Turns, "turn", no_turn)
    without = read_all()
    assert all(a is not None and b is not None and np.array_equal(a, b) for a, b in zip(with_turns, without))


def take_in_a_thread(turns: Turns, ticket: int, at_once: int) -> tuple[threading.Thread, threading.Event]:
    """A started thread that takes `ticket`'s turn, and the event it sets
    once it has it."""
    got = threading.Event()

    def take() -> None:
        with turns.turn(ticket, at_once=at_once):
            got.set()

    thread = threading.Thread(target=take)
    thread.start()
    return thread, got


def wait_for(condition, timeout: float = WAIT_S) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
