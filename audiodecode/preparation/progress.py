"""Progress on stderr while a job runs, and the summary when it ends.

No tqdm (not a dependency): one line, rewritten in place on a terminal and
printed every `LOG_EVERY` seconds otherwise (a CI log is not a terminal),
with files/s, hours of audio per second and the time left.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

# Seconds between lines when stderr is not a terminal.
LOG_EVERY = 10.0
# Seconds between redraws on a terminal.
REDRAW_EVERY = 0.25


def _clock(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """A thread-safe meter of one phase (probing or writing).

    Parameters
    ----------
    what : str
        The phase, printed first.
    total_files : int
    total_seconds : float or None
        Audio seconds of the whole phase, when known (for the ETA by audio).
    enabled : bool
    stream : file, optional
        Default sys.stderr.
    """

    def __init__(self, what: str, total_files: int, total_seconds: float | None = None, *, enabled: bool = True,
                 stream: TextIO | None = None) -> None:
        self.what, self.total_files, self.total_seconds = what, total_files, total_seconds
        self.enabled, self.stream = enabled, stream if stream is not None else sys.stderr
        self.files, self.seconds = 0, 0.0
        self.start = self.last = time.monotonic()
        self._lock = threading.Lock()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, files: int = 1, seconds: float = 0.0) -> None:
        with self._lock:
            self.files += files
            self.seconds += seconds
            now = time.monotonic()
            if self.enabled and now - self.last >= (REDRAW_EVERY if self._tty else LOG_EVERY):
                self.last = now
                self._draw(now)

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.start, 1e-9)
        rate = self.files / elapsed
        left = (self.total_files - self.files) / rate if rate > 0 else float("inf")
        if self.total_seconds and self.seconds > 0:
            left = (self.total_seconds - self.seconds) / (self.seconds / elapsed)
        eta = _clock(left) if left != float("inf") else "?"
        return (f"{self.what}: {self.files}/{self.total_files} files, {rate:.1f} files/s, "
                f"{self.seconds / 3600 / elapsed:.3f} h audio/s, elapsed {_clock(elapsed)}, ETA {eta}")

    def _draw(self, now: float) -> None:
        self.stream.write(("\r" + self.line(now) + "\x1b[K") if self._tty else self.line(now) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write(("\r" + self.line() + "\x1b[K\n") if self._tty else self.line() + "\n")
            self.stream.flush()


@dataclass(frozen=True)
class PrepareSummary:
    """What a `prepare` job produced.

    Attributes
    ----------
    out : str
    files : int
        Records in the shards.
    hours : float
        Audio in the shards, hours.
    rejects : dict of str to int
        Rejected records per reason kind (the exception type).
    shards : int
    shard_bytes : tuple of int
        Each shard's size, in order.
    skipped_shards : int
        Shards found finished and kept (a resumed job).
    elapsed_s : float
    """

    out: str
    files: int
    hours: float
    rejects: dict[str, int]
    shards: int
    shard_bytes: tuple[int, ...] = field(repr=False)
    skipped_shards: int
    elapsed_s: float

    def __str__(self) -> str:
        sizes = self.shard_bytes or (0,)
        rejected = sum(self.rejects.values())
        kinds = ", ".join(f"{k} {v}" for k, v in self.rejects.items()) or "none"
        return "\n".join([
            f"prepared {self.out}: {self.files} files, {self.hours:.3f} h of audio in {self.elapsed_s:.1f} s "
            f"({self.hours / max(self.elapsed_s, 1e-9) * 3600:.1f} h audio/h)",
            f"rejects: {rejected} ({kinds}), listed in rejects.jsonl",
            f"shards: {self.shards} ({self.skipped_shards} kept from an earlier run), bytes min "
            f"{min(sizes):,} / median {int(statistics.median(sizes)):,} / max {max(sizes):,}",
        ])

    def to_json(self) -> dict[str, Any]:
        return {"out": self.out, "files": self.files, "hours": self.hours, "rejects": self.rejects,
                "shards": self.shards, "shard_bytes": list(self.shard_bytes), "skipped_shards": self.skipped_shards,
                "elapsed_s": self.elapsed_s}
