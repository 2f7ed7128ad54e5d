"""`LiveQueue`: the documented capture example, run with a generated producer."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from audiodecode.live import LiveQueue


def produce(live: LiveQueue, signal: np.ndarray, block: int, pause: float = 0.0) -> threading.Thread:
    """A stand-in for a capture callback: `block` frames at a time, on its own thread."""

    def run() -> None:
        for at in range(0, signal.shape[-1], block):
            live.put(signal[..., at : at + block].copy())
            if pause:
                time.sleep(pause)
        live.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_documented_example_gets_every_frame_in_windows_under_block() -> None:
    sr = 16000
    signal = np.random.default_rng(0).uniform(-1, 1, 5 * sr + 123).astype(np.float32)
    live = LiveQueue(max_blocks=4, policy="block", timeout=10)
    producer = produce(live, signal, block=512)
    chunks = list(live.chunks(sr=sr, chunk_seconds=1.0, overlap_seconds=0.25))
    producer.join(timeout=10)
    assert live.dropped == 0
    assert [start for _, start in chunks] == [0.75 * i for i in range(len(chunks))]
    step = round(0.75 * sr)
    for chunk, start in chunks:
        first = round(start * sr)
        np.testing.assert_array_equal(chunk, signal[first : first + chunk.shape[0]])
    assert chunks[-1][0].shape[0] + round(chunks[-1][1] * sr) == signal.shape[0]
    assert all(c.shape[0] == sr for c, _ in chunks[:-1]) and step > 0


def test_drop_oldest_never_makes_the_producer_wait_and_counts_what_it_drops() -> None:
    live = LiveQueue(max_blocks=3, policy="drop_oldest")
    blocks = [np.full(100, i, np.float32) for i in range(10)]
    for block in blocks:  # a consumer that has fallen behind: nothing read yet
        live.put(block)
    live.close()
    kept = list(live)
    assert live.dropped == 7 and live.dropped_frames == 700
    assert [int(b[0]) for b in kept] == [7, 8, 9]


def test_block_raises_after_its_timeout_when_nobody_reads() -> None:
    live = LiveQueue(max_blocks=1, policy="block", timeout=0.05)
    live.put(np.zeros(10))
    with pytest.raises(TimeoutError, match="full"):
        live.put(np.zeros(10))


@pytest.mark.parametrize(("kwargs", "named"), [({"max_blocks": 0}, "max_blocks"), ({"policy": "newest"}, "policy")])
def test_bad_arguments_are_named(kwargs, named) -> None:
    with pytest.raises(ValueError, match=named):
        LiveQueue(**kwargs)
