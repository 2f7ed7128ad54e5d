"""The type aliases the package's signatures share, defined once here.

Modules import them from here instead of spelling the same `Union` or
`Literal` again, so a new choice (a crop mode, a backend) is added in one
place and every signature and check that uses it follows.
"""

from __future__ import annotations

import os
from typing import BinaryIO, Literal, TypeAlias, get_args

from audiodecode._core import FetchedBytes

#: A file-system path as the standard library takes one.
StrPath: TypeAlias = str | os.PathLike[str]

#: Encoded audio in memory that the core reads where it lies: `bytes`, or
#: the buffers the native read engine fetched (`FetchedBytes`).
Encoded: TypeAlias = bytes | FetchedBytes

#: What `audiodecode.load`/`info` read: a path, encoded bytes, or a binary file object.
AudioSource: TypeAlias = str | os.PathLike[str] | bytes | FetchedBytes | bytearray | memoryview | BinaryIO

#: Which decoder runs: the Rust core, PyAV, or the core with PyAV for what it cannot read.
Backend: TypeAlias = Literal["auto", "rust", "pyav"]

#: What a bad input does: raise a named error, or skip it (counted and warned about).
OnError: TypeAlias = Literal["raise", "skip"]

#: Where a fixed-length clip is cut from a longer record.
Crop: TypeAlias = Literal["random", "start", "center"]

#: Axis order of a feature batch: (batch, features, frames) or (batch, frames, features).
Layout: TypeAlias = Literal["features_first", "features_last"]
LAYOUTS: tuple[str, ...] = get_args(Layout)
