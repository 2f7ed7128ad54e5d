"""Type stubs for the Rust extension. Use the wrappers in `audiodecode`;
these are the raw bindings they call."""

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np
import numpy.typing as npt

class FetchedBytes:
    """Bytes the read engine fetched, kept in the core's memory and read
    there by the decoder; read-only, through the buffer protocol. A slice
    with step 1 shares the buffer; pickled as `bytes`."""

    def __len__(self) -> int: ...
    def __bytes__(self) -> bytes: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __getitem__(self, index: int | slice) -> Any: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

_Source = str | PathLike[str] | bytes | FetchedBytes

DEBUG_BUILD: bool
MAX_SAMPLE_RATE: int
MAX_SECONDS: float

class AudioDecodeError(Exception): ...
class DecodeError(AudioDecodeError): ...
class UnsupportedFormatError(DecodeError): ...

def load(
    source: _Source,
    sr: int | None = None,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    strict: bool = False,
) -> tuple[npt.NDArray[np.float32], int, str | None]: ...
def load_batch(
    sources: Sequence[_Source],
    sr: int | None = None,
    mono: bool = True,
    offsets: Sequence[float] | None = None,
    durations: Sequence[float | None] | None = None,
    strict: bool = False,
    num_threads: int | None = None,
) -> list[tuple[npt.NDArray[np.float32], int, str | None] | Exception]: ...
def info(source: _Source) -> dict[str, Any]: ...
def info_batch(sources: Sequence[_Source], num_threads: int | None = None) -> list[dict[str, Any] | Exception]: ...
def resample(y: npt.NDArray[np.float32], sr_in: int, sr_out: int) -> npt.NDArray[np.float32]: ...

# The native read engine (core_rs/src/storage/; audiodecode/data/sources/storage.py
# wraps it). A policy is (attempts, backoff_s, max_backoff_s, timeout_s,
# max_in_flight, coalesce_gap, max_request); a failed read is (kind, message)
# with kind one of "not_found", "permission", "changed", "invalid", "failed".
STORAGE_SCHEMES: list[str]
_Policy = tuple[int, float, float, float, int, int, int]

def storage_read_batch(
    ranges: Sequence[tuple[str, int, int | None, str | None]],
    options: Sequence[tuple[str, str]],
    policy_arg: _Policy,
) -> tuple[list[FetchedBytes | tuple[str, str]], tuple[int, int, int, list[float]]]: ...
def storage_head(
    url: str, options: Sequence[tuple[str, str]], policy_arg: _Policy
) -> tuple[int | None, str | None, tuple[str, str] | None]: ...
def storage_put_file(
    url: str, path: str, options: Sequence[tuple[str, str]], policy_arg: _Policy
) -> tuple[int | None, tuple[str, str] | None]: ...
def storage_shutdown() -> None: ...

# Streaming (core_rs/src/python/stream.rs; audiodecode/stream.py wraps it).
class UrlSource:
    """An object of the native read engine read forward in ranged blocks (a `StreamReader` source, used once)."""

    def __init__(
        self,
        url: str,
        size: int,
        etag: str | None,
        options: list[tuple[str, str]],
        policy_arg: tuple[int, float, float, float, int, int, int],
        block_bytes: int,
        blocks_ahead: int,
    ) -> None: ...
    @property
    def error(self) -> tuple[str, str] | None: ...
    @property
    def stats(self) -> tuple[int, int, int]: ...
    @property
    def name(self) -> str: ...

class StreamReader:
    """A pull decoder: `read(min_frames)` returns the next `(channels, n)` block or None at the end."""

    def __init__(
        self,
        source: _Source | Any,
        sr: int | None = None,
        mono: bool = True,
        offset: float = 0.0,
        duration: float | None = None,
        strict: bool = False,
        name: str | None = None,
    ) -> None: ...
    def decode_ahead(self, block_frames: int, depth: int = 2) -> None: ...
    def read(self, min_frames: int) -> npt.NDArray[np.float32] | None: ...
    def close(self) -> None: ...
    def take_warnings(self) -> list[str]: ...
    @property
    def mode(self) -> str: ...
    @property
    def sample_rate(self) -> int: ...
    @property
    def native_rate(self) -> int: ...
    @property
    def damaged_packets(self) -> int: ...
    @property
    def name(self) -> str: ...

# Augmentations (audiodecode/augment.py and the modules beside it describe a
# recipe as nested tuples; see core_rs/src/python/augment.rs).
class AudioBank:
    """Decoded mono recordings at one rate, shared read-only by the core."""

    def __init__(self, clips: Sequence[npt.NDArray[np.float32]], sr: int) -> None: ...
    def __len__(self) -> int: ...
    @property
    def sr(self) -> int: ...

def augment_validate(spec: tuple) -> None: ...
def augment_params(spec: tuple, seed: int) -> list[dict[str, Any]]: ...
def augment(spec: tuple, y: npt.NDArray[np.float32], sr: int, seed: int) -> npt.NDArray[np.float32]: ...
def augment_batch(
    spec: tuple,
    ys: Sequence[npt.NDArray[np.float32]],
    sr: int,
    seeds: Sequence[int],
    num_threads: int | None = None,
) -> list[npt.NDArray[np.float32]]: ...

# Batch-level mixing (audiodecode/data/mixing.py; see core_rs/src/python/mixing.rs).
# `kind` is "Mixup" or "CutMix".
def mix_params(kind: str, seed: int, alpha: float, p: float, batch_size: int) -> dict[str, Any]: ...
def mix_batch(
    kind: str,
    audio: npt.NDArray[np.float32],
    targets: npt.NDArray[np.float32],
    lengths: npt.NDArray[np.int32],
    seed: int,
    alpha: float,
    p: float,
    num_threads: int | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int32]]: ...
