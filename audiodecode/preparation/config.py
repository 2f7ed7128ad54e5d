"""What a prepared data set was made with, and the check that a re-run
continues the same job.

`OUT/prepare.json` holds the configuration of the job that wrote `OUT`. A
re-run with the same configuration resumes (finished shards are kept); a
different one is refused with the settings that differ named, because
shards of two configurations in one folder would be a silently mixed data
set.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from audiodecode.preparation.output import Output

FORMAT = "audiodecode-prepare/1"
SHARD_SUFFIX = {"tar": ".tar", "array_record": ".array_record", "parquet": ".parquet"}
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


class ConfigMismatchError(ValueError):
    """The output folder holds shards prepared with another configuration."""


def parse_size(size: int | str) -> int:
    """Bytes of ``"256MB"``, ``"1GiB"``, ``"4096"`` or an int (decimal units
    are powers of 1000, ``KiB``... powers of 1024)."""
    if isinstance(size, int) and not isinstance(size, bool):
        value = size
    else:
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(size))
        if found is None or found.group(2).upper() not in _UNITS:
            raise ValueError(f"shard_size must be bytes or a size like '256MB', not {size!r}")
        value = int(float(found.group(1)) * _UNITS[found.group(2).upper()])
    if value < 1:
        raise ValueError(f"shard_size must be positive, got {size!r}")
    return value


@dataclass(frozen=True)
class PrepareConfig:
    """The settings that decide a prepared data set's bytes (the runner and
    the number of workers do not: both runners write the same output).

    Attributes
    ----------
    source : str
        What was prepared (the path, URL or a digest of a list).
    format : {"tar", "array_record", "parquet"}
    sr : int or None
    mono : bool
    codec : {"flac", "copy"}
    shard_size : int
        Target shard size in bytes.
    validate : {"full", "sampled", "none"}
    bucket_by_duration : bool or tuple of float
        False, True (the edges taken from the durations) or the edges in seconds.
    """

    source: str
    format: Literal["tar", "array_record", "parquet"] = "tar"
    sr: int | None = None
    mono: bool = False
    codec: Literal["flac", "copy"] = "flac"
    shard_size: int = 256 * 10**6
    validate: Literal["full", "sampled", "none"] = "full"
    bucket_by_duration: bool | tuple[float, ...] = False

    def __post_init__(self) -> None:
        if self.format not in SHARD_SUFFIX:
            raise ValueError(f"format must be one of {', '.join(SHARD_SUFFIX)}, not {self.format!r}")
        if self.codec not in ("flac", "copy"):
            raise ValueError(f"codec must be 'flac' or 'copy', not {self.codec!r}")
        if self.validate not in ("full", "sampled", "none"):
            raise ValueError(f"validate must be 'full', 'sampled' or 'none', not {self.validate!r}")
        if self.sr is not None and (not isinstance(self.sr, int) or not 1 <= self.sr <= 768000):
            raise ValueError(f"sr must be an int in [1, 768000] or None, not {self.sr!r}")
        if self.codec == "copy" and (self.sr is not None or self.mono):
            # The original bytes cannot carry another rate or channel count.
            raise ValueError("codec='copy' keeps the original bytes: it cannot resample (sr=) or down-mix (mono=True)")

    @property
    def suffix(self) -> str:
        return SHARD_SUFFIX[self.format]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self.bucket_by_duration, tuple):
            out["bucket_by_duration"] = list(self.bucket_by_duration)
        return out


def check_output(config: PrepareConfig, output: Output) -> None:
    """Create the output folder and record `config` there, or check that
    the configuration already recorded is the same.

    Raises
    ------
    PermissionError
        The folder cannot be created or written (named).
    ConfigMismatchError
        It holds a data set prepared with other settings (named), or shards
        without a ``prepare.json``.
    """
    wanted = {"format": FORMAT, **config.to_json()}
    try:
        output.make()
        found = json.loads(output.read("prepare.json"))
    except FileNotFoundError:
        strays = output.names("shard-")
        if strays:
            raise ConfigMismatchError(f"{output} holds shards ({strays[0]}, ...) but no prepare.json: "
                                      "not written by audiodecode.prepare, refusing to mix") from None
        found = None
    except (OSError, ValueError) as err:
        raise PermissionError(f"{output}: cannot use as the output folder ({err})") from None
    if found is not None:
        differ = [f"{k}={found.get(k)!r} there, {v!r} now" for k, v in wanted.items() if found.get(k) != v]
        if differ:
            raise ConfigMismatchError(f"{output} holds a data set prepared with other settings: {'; '.join(differ)} "
                                      "(use another folder, or delete it to start over)")
        return
    try:
        output.write("prepare.json", json.dumps(wanted, indent=1, sort_keys=True).encode())
    except OSError as err:
        raise PermissionError(f"{output}: output folder is not writable ({err})") from None
