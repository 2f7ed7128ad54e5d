"""Resampling alone: does an odd rate cost about what a common one does?

A rate pair with few phases (44.1 -> 16 kHz: 160) uses exact per-phase
kernel tables; one with many (44,100 -> 16,001 Hz: 16,001) interpolates
between tables. Side by side in one run, on the same 60 s of noise-like
audio: audiodecode's resampler (`_core.resample`, the one `load` uses) and
soxr at quality "HQ", each common pair next to an odd neighbour. Prints
throughput (seconds of audio per second) and the odd/common cost ratio.

    python benchmarks/resample.py [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np

from common import best_of, header, table

from audiodecode import _core

# (common pair, odd neighbour): the neighbours have 16,001 / 44,101 phases.
PAIRS = [
    ((44100, 16000), (44100, 16001)),
    ((48000, 16000), (48000, 16001)),
    ((16000, 44100), (16001, 44100)),
    ((48000, 44100), (48000, 44101)),
]


def run(seconds: float, repeat: int) -> None:
    import soxr

    rng = np.random.default_rng(0)
    rows = []
    for common, odd in PAIRS:
        cost = {}
        for pair in (common, odd):
            sr_in, sr_out = pair
            y = rng.standard_normal((1, int(seconds * sr_in))).astype(np.float32) * 0.1
            _core.resample(y, sr_in, sr_out)  # builds and caches the kernel
            ours = best_of(lambda: _core.resample(y, sr_in, sr_out), repeat)
            theirs = best_of(lambda: soxr.resample(y[0], sr_in, sr_out, quality="HQ"), repeat)
            cost[pair] = (ours, theirs)
        for pair in (common, odd):
            ours, theirs = cost[pair]
            rows.append(
                [
                    f"{pair[0]} -> {pair[1]}",
                    f"{seconds / ours:,.0f}",
                    f"{seconds / theirs:,.0f}",
                    f"{theirs / ours:.2f}",
                    f"{ours / cost[common][0]:.2f}" if pair == odd else "1",
                ]
            )
    print(
        table(
            rows,
            ["rates (Hz)", "audiodecode (s/s)", "soxr HQ (s/s)", "ours / soxr speed", "cost vs common pair"],
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 s of audio, best of 2")
    args = parser.parse_args()
    header("Resampling, common rate pairs against odd neighbours (one thread pool, mono)")
    run(10.0 if args.quick else 60.0, 2 if args.quick else 5)


if __name__ == "__main__":
    main()
