"""Probing: what each record is, read from its headers (the Rust `info`),
before any shard is planned.

The probe gives every record its duration and an estimate of the bytes it
will take in a shard; the shard plan is computed from these alone, so it
is the same on every run and every runner. A record whose headers cannot
be read, or whose offset lies past its end, is rejected here.
"""

from __future__ import annotations

import math
from typing import Any

from audiodecode.data.sources import Storage
from audiodecode.data.sources.storage import is_local
from audiodecode.loading import info, load
from audiodecode.preparation.config import PrepareConfig
from audiodecode.preparation.records import read_source, reject

# A FLAC stream's fixed overhead (STREAMINFO, vendor comment, seek room),
# added to each record's estimate.
FLAC_HEADER_BYTES = 8192


def estimate_bytes(config: PrepareConfig, file_bytes: int, duration: float, sr: int, channels: int) -> int:
    """A record's bytes in a shard, known before it is converted: the
    original size for ``codec="copy"``, else its 16-bit PCM size (FLAC
    compresses speech and music to 40-70% of it, so shards come out at or
    below the target size)."""
    if config.codec == "copy":
        return file_bytes
    out_sr = config.sr or sr
    out_channels = 1 if config.mono else channels
    return int(math.ceil(duration * out_sr)) * out_channels * 2 + FLAC_HEADER_BYTES


def probe(record: dict[str, Any], config: PrepareConfig, storage: Storage) -> dict[str, Any]:
    """The record with what its headers say, or a reject.

    Returns
    -------
    dict
        ``{"ok": record + sr_in, channels_in, codec, seconds, est_bytes}``
        or ``{"reject": reject row}``; never raises for a bad file.
    """
    try:
        data = read_source(record["path"], storage)
        size = storage.size(record["path"]) if is_local(record["path"]) else len(data)
        if size == 0:
            raise ValueError("empty file (0 bytes)")
        meta = info(data)
        total = meta.duration
        if total is None:
            # No declared length (some MP3s, streamed WAV): decode once to count.
            y, sr = load(data, mono=True)
            total = len(y) / sr
        offset = record["offset"] or 0.0
        if offset >= total:
            raise ValueError(f"offset {offset:.3f} s is past the end ({total:.3f} s)")
        seconds = min(record["duration"], total - offset) if record["duration"] is not None else total - offset
        est = estimate_bytes(config, size, seconds, meta.sample_rate, meta.channels)
        return {"ok": {**record, "sr_in": meta.sample_rate, "channels_in": meta.channels, "codec": meta.codec,
                       "seconds": seconds, "total": total, "est_bytes": est}}
    except Exception as err:  # noqa: BLE001 - a bad file is a reject, never the end of the job
        return {"reject": reject(record, "probe", err)}
