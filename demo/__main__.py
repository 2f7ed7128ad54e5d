"""Command line of the demo: `python -m demo [--data DIR] [--steps N]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from demo.data import DEFAULT_ROOT, ensure_dataset
from demo.train import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--data", type=Path, help="a folder with one sub-folder of audio files per class "
                        f"(default: a synthetic set generated once under {DEFAULT_ROOT})")
    parser.add_argument("--steps", type=int, default=1500, help="training steps (default: 1500, about two minutes on 2 cores)")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per step (default: 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, model, order and augmentation")
    args = parser.parse_args()
    if args.data is None:
        print(f"generating the demo data set under {DEFAULT_ROOT} (first run only)...", flush=True)
        args.data = ensure_dataset()
    run(args.data, steps=args.steps, batch_size=args.batch_size, seed=args.seed)


if __name__ == "__main__":
    main()
