"""Conversion: one probed record to the bytes a shard stores, validated.

``codec="flac"`` decodes the record (its manifest offset and duration
applied, resampled and down-mixed as asked) and encodes FLAC with PyAV;
the encoder writes no time stamps, so the same samples give the same
bytes on every run. The depth is the source's: 24-bit FLAC for a lossless
source of more than 16 bits (24/32-bit PCM and FLAC, float WAV), 16-bit
for the others (16-bit and narrower lossless sources, and lossy codecs,
whose decoded samples carry no more than 16 bits of information). A
source at its own rate and channels is thus copied losslessly: samples
are scaled by 2^15 or 2^23, the decoder's own scale, so each integer
sample comes back as itself. ``codec="copy"`` keeps the original bytes,
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


def flac_bits(bits_in: int | None) -> int:
    """The FLAC depth of a source of `bits_in` bits per sample (None: lossy or unknown)."""
    return 24 if bits_in is not None and bits_in > 16 else 16


def encode_flac(y: np.ndarray, sr: int, bits: int = 16) -> bytes:
    """FLAC of float samples `y` [shape=(n,) or (channels, n)] at `bits`
    (16 or 24) per sample.

    Samples are scaled by 2^(bits-1), as decoders scale integers to floats
    (a 16-bit 32767 decodes to 32767/32768), and clipped to the integer
    range, so a decoded integer source encodes back to the same integers.
    """
    import av

    planes = y[None, :] if y.ndim == 1 else y
    channels = planes.shape[0]
    scale = float(1 << (bits - 1))
    ints = np.clip(np.round(planes.astype(np.float64) * scale), -scale, scale - 1)
    if bits == 16:
        pcm, fmt = ints.astype(np.int16), "s16"
    else:
        # FFmpeg's FLAC encoder takes 24-bit samples in the high bits of s32.
        pcm, fmt = ints.astype(np.int32) << 8, "s32"
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm.T).reshape(1, -1), format=fmt,
                                       layout="mono" if channels == 1 else "stereo" if channels == 2 else f"{channels}c")
    frame.sample_rate = sr
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=sr, layout=frame.layout.name)
        stream.format = fmt
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
                           "channels": record["channels_in"], "bits": record.get("bits_in")}}
        y, sr = load(data, sr=config.sr, mono=config.mono, offset=record["offset"] or 0.0,
                     duration=record["duration"], strict=config.validate == "full")
        if y.shape[-1] == 0:
            raise ValueError("no samples decoded")
        channels = 1 if y.ndim == 1 else y.shape[0]
        bits = flac_bits(record.get("bits_in"))
        return {"ok": {"ext": ".flac", "data": encode_flac(y, sr, bits), "seconds": y.shape[-1] / sr, "sr": sr,
                       "channels": channels, "bits": bits}}
    except Exception as err:  # noqa: BLE001 - a bad file is a reject, never the end of the job
        return {"reject": reject(record, "decode", err)}
