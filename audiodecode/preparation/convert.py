"""Conversion: one probed record to the bytes a shard stores, validated.

``codec="flac"`` decodes the record (its manifest offset and duration
applied, resampled and down-mixed as asked) and encodes 16-bit FLAC with
PyAV; the encoder writes no time stamps, so the same samples give the
same bytes on every run. ``codec="copy"`` keeps the original bytes,
decoded whole (``validate="full"``), at its start and end
(``"sampled"``) or not at all (``"none"``) to check them.

`validate="full"` decodes strictly: a damaged packet rejects the file
instead of being skipped, because a prepared data set is read many times
and a silent gap would be read every time.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from audiodecode.data.sources import Storage
from audiodecode.loading import load
from audiodecode.preparation.config import PrepareConfig
from audiodecode.preparation.records import read_source, reject

# Seconds decoded at each end of a file by validate="sampled".
SAMPLE_SECONDS = 2.0


def encode_flac(y: np.ndarray, sr: int) -> bytes:
    """16-bit FLAC of float samples `y` [shape=(n,) or (channels, n)]."""
    import av

    planes = y[None, :] if y.ndim == 1 else y
    channels = planes.shape[0]
    pcm = np.round(np.clip(planes, -1.0, 1.0) * 32767.0).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm.T).reshape(1, -1), format="s16",
                                       layout="mono" if channels == 1 else "stereo" if channels == 2 else f"{channels}c")
    frame.sample_rate = sr
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=sr, layout=frame.layout.name)
        stream.format = "s16"
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def _validate_copy(data: str | bytes, record: dict[str, Any], mode: str) -> None:
    if mode == "full":
        load(data, mono=False, strict=True)
    elif mode == "sampled":
        load(data, mono=False, duration=SAMPLE_SECONDS, strict=True)
        end = record["offset"] + record["seconds"]
        load(data, mono=False, offset=max(0.0, end - SAMPLE_SECONDS), strict=True)


def convert(record: dict[str, Any], config: PrepareConfig, storage: Storage) -> dict[str, Any]:
    """The shard member of a probed record, or a reject.

    Returns
    -------
    dict
        ``{"ok": {"ext", "data", "seconds", "sr", "channels"}}`` or
        ``{"reject": reject row}``; never raises for a bad file.
    """
    try:
        data = read_source(record["path"], storage)
        if config.codec == "copy":
            if record["offset"] or record["seconds"] < record["total"] - 1e-3:
                raise ValueError("the manifest trims this file (offset/duration), which codec='copy' cannot do")
            _validate_copy(data, record, config.validate)
            raw = data if isinstance(data, bytes) else open(data, "rb").read()
            ext = os.path.splitext(record["path"])[1].lower() or ".audio"
            return {"ok": {"ext": ext, "data": raw, "seconds": record["seconds"], "sr": record["sr_in"],
                           "channels": record["channels_in"]}}
        y, sr = load(data, sr=config.sr, mono=config.mono, offset=record["offset"] or 0.0,
                     duration=record["duration"], strict=config.validate == "full")
        if y.shape[-1] == 0:
            raise ValueError("no samples decoded")
        channels = 1 if y.ndim == 1 else y.shape[0]
        return {"ok": {"ext": ".flac", "data": encode_flac(y, sr), "seconds": y.shape[-1] / sr, "sr": sr,
                       "channels": channels}}
    except Exception as err:  # noqa: BLE001 - a bad file is a reject, never the end of the job
        return {"reject": reject(record, "decode", err)}
