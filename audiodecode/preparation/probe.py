"""Probing: what each record is, read from its headers (the Rust `info`,
many files a call in parallel), before any shard is planned.

The probe gives every record its duration and an estimate of the bytes it
will take in a shard; the shard plan is computed from these alone, so it
is the same on every run and every runner. A record whose headers cannot
be read, or whose offset lies past its end, is rejected here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from audiodecode._typing import Encoded
from audiodecode.data.sources import ByteRange, Storage
from audiodecode.data.sources.storage import is_local
from audiodecode.loading import AudioInfo, info_batch, load
from audiodecode.preparation.config import PrepareConfig
from audiodecode.preparation.convert import flac_bits
from audiodecode.preparation.records import reject

# A FLAC stream's fixed overhead (STREAMINFO, vendor comment, seek room),
# added to each record's estimate.
FLAC_HEADER_BYTES = 8192


def estimate_bytes(config: PrepareConfig, file_bytes: int, duration: float, sr: int, channels: int,
                   bits_in: int | None = None) -> int:
    """A record's bytes in a shard, known before it is converted: the
    original size for ``codec="copy"``, else its PCM size at the FLAC depth
    (FLAC compresses speech and music to 40-70% of it, so shards come out
    at or below the target size)."""
    if config.codec == "copy":
        return file_bytes
    out_sr = config.sr or sr
    out_channels = 1 if config.mono else channels
    return int(math.ceil(duration * out_sr)) * out_channels * flac_bits(bits_in) // 8 + FLAC_HEADER_BYTES


def probe_many(records: Sequence[dict[str, Any]], config: PrepareConfig, storage: Storage,
               num_threads: int | None = None) -> list[dict[str, Any]]:
    """Each record with what its headers say, or a reject, in order.

    The headers are read by one `audiodecode.info_batch` (the Rust `info`
    on `num_threads` threads, GIL released), as duration probing does; a
    remote record's bytes are fetched together first (`Storage.read_many`).

    Returns
    -------
    list of dict
        ``{"ok": record + sr_in, channels_in, codec, bits_in, seconds,
        est_bytes}`` or ``{"reject": reject row}`` per record; never raises
        for a bad file.
    """
    remote = [i for i, r in enumerate(records) if not is_local(r["path"])]
    fetched = dict(zip(remote, storage.read_many([ByteRange(records[i]["path"]) for i in remote]) if remote else []))
    sources: list[tuple[str | Encoded, int] | Exception] = []  # (what info reads, its size in bytes)
    for i, record in enumerate(records):
        got = fetched.get(i, record["path"])
        try:
            if isinstance(got, Exception):
                raise got
            size = storage.size(got) if isinstance(got, str) else len(got)
            if size == 0:
                raise ValueError("empty file (0 bytes)")
            sources.append((got, size))
        except Exception as err:  # noqa: BLE001 - a bad file is a reject, never the end of the job
            sources.append(err)
    infos = iter(info_batch([s[0] for s in sources if not isinstance(s, Exception)], num_threads=num_threads))
    return [_finish(record, config, source, source if isinstance(source, Exception) else next(infos))
            for record, source in zip(records, sources)]


def _finish(record: dict[str, Any], config: PrepareConfig, source: tuple[str | Encoded, int] | Exception,
            meta: AudioInfo | Exception) -> dict[str, Any]:
    """One record's probe from its headers: its length, checked against
    the manifest's offset, and its size estimate."""
    try:
        if isinstance(meta, Exception):
            raise meta
        data, size = source  # type: ignore[misc] - not an exception when meta is not
        total = meta.duration
        if total is None:
            # No declared length (some MP3s, streamed WAV): decode once to count.
            y, sr = load(data, mono=True)
            total = len(y) / sr
        offset = record["offset"] or 0.0
        if offset >= total:
            raise ValueError(f"offset {offset:.3f} s is past the end ({total:.3f} s)")
        seconds = min(record["duration"], total - offset) if record["duration"] is not None else total - offset
        est = estimate_bytes(config, size, seconds, meta.sample_rate, meta.channels, meta.bits_per_sample)
        return {"ok": {**record, "sr_in": meta.sample_rate, "channels_in": meta.channels, "codec": meta.codec,
                       "bits_in": meta.bits_per_sample, "seconds": seconds, "total": total, "est_bytes": est}}
    except Exception as err:  # noqa: BLE001 - a bad file is a reject, never the end of the job
        return {"reject": reject(record, "probe", err)}
