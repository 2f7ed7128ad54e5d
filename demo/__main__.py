"""Command line of the demo: `python -m demo [--task classify|ctc] [--data DIR] [--steps N]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from demo.data import DEFAULT_ROOT, ensure_dataset
from demo.train import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--task", choices=("classify", "ctc"), default="classify",
                        help="classify: the sound classifier (default); ctc: speech recognition on utterances of "
                        "any length, with duration buckets")
    parser.add_argument("--data", type=Path, help="a folder with one sub-folder of audio files per class "
                        f"(default: a synthetic set generated once under {DEFAULT_ROOT})")
    parser.add_argument("--steps", type=int, help="training steps (default: 1500 to classify, 500 for ctc; "
                        "a few minutes on 2 cores)")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per step (default: 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, model, order and augmentation")
    args = parser.parse_args()
    if args.task == "ctc":
        from demo.ctc import run as run_ctc

        run_ctc(steps=args.steps or 500, max_batch_seconds=48.0, num_buckets=8, seed=args.seed)
        return
    if args.data is None:
        print(f"generating the demo data set under {DEFAULT_ROOT} (first run only)...", flush=True)
        args.data = ensure_dataset()
    run(args.data, steps=args.steps or 1500, batch_size=args.batch_size, seed=args.seed)


if __name__ == "__main__":
    main()
