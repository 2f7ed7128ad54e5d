"""``python -m audiodecode prepare SOURCE OUT [...]``: the command line of
`audiodecode.prepare` (see its docstring and docs/guide/prepare.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m audiodecode")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="turn a corpus into shards the loaders read, resumably")
    p.add_argument("source", help="folder, manifest (NeMo/Common Voice/LibriSpeech/CSV/JSONL) or URL prefix ending in /")
    p.add_argument("out", help="output folder (re-run the same command to resume)")
    p.add_argument("--format", choices=("tar", "array_record", "parquet"), default="tar")
    p.add_argument("--sr", type=int, default=None, help="resample to this rate (Hz)")
    p.add_argument("--mono", action="store_true", help="down-mix to one channel")
    p.add_argument("--codec", choices=("flac", "copy"), default="flac")
    p.add_argument("--shard-size", default="256MB", help="target shard size, e.g. 256MB or 1GiB")
    p.add_argument("--validate", choices=("full", "sampled", "none"), default="full")
    p.add_argument("--bucket-by-duration", nargs="?", const="auto", default=None, metavar="EDGES",
                   help="one duration range per shard: 'auto' or comma-separated edges in seconds")
    p.add_argument("--runner", choices=("local", "ray"), default="local")
    p.add_argument("--ray-address", default=None, help="with --runner ray: the cluster to join (ray.init(address=...))")
    p.add_argument("--num-workers", type=int, default=None)
    p.add_argument("--on-error", choices=("skip", "raise"), default="skip",
                   help="skip: bad files go to rejects.jsonl; raise: the first one stops the job")
    p.add_argument("--quiet", action="store_true", help="no progress line or summary")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from audiodecode.preparation import prepare

    buckets: bool | list[float] = False
    if args.bucket_by_duration == "auto":
        buckets = True
    elif args.bucket_by_duration is not None:
        buckets = [float(x) for x in args.bucket_by_duration.split(",")]
    try:
        if args.ray_address is not None:
            import ray

            ray.init(address=args.ray_address)
        prepare(args.source, args.out, format=args.format, sr=args.sr, mono=args.mono, codec=args.codec,
                shard_size=args.shard_size, validate=args.validate, bucket_by_duration=buckets, runner=args.runner,
                num_workers=args.num_workers, progress=not args.quiet, on_error=args.on_error)
    except (OSError, ValueError, ImportError) as err:
        # A named error at start (missing input, unwritable output, another
        # configuration in OUT): one line, no traceback.
        print(f"audiodecode prepare: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
