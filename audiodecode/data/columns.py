"""Array-backed columns for record tables with millions of rows.

A tuple of a million Python strings pickles as a million objects; Grain
pickles the record table into every worker process, and a checkpoint
fingerprint hashes it. These columns keep their contents in a few flat
buffers instead (one UTF-8 byte string and one int64 array of ends), so
pickling, hashing and sending them to another process cost one memcpy per
buffer, and a row is decoded only when it is read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np


def _ends(lengths: Sequence[int]) -> np.ndarray:
    ends = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=ends[1:])
    ends.setflags(write=False)
    return ends


class Strings(Sequence[str]):
    """An immutable sequence of str stored as one UTF-8 buffer.

    Behaves like a tuple of str: `len`, iteration, `s[i]`, `s[a:b]` and
    equality with any sequence of str. `s[np_array]` (integer or boolean)
    gives a `Strings` of the picked rows.

    Parameters
    ----------
    items : iterable of str
    """

    __slots__ = ("_data", "_ends")

    def __init__(self, items: Iterable[str] = ()) -> None:
        encoded = [s.encode("utf-8") for s in items]
        self._data = b"".join(encoded)
        self._ends = _ends([len(e) for e in encoded])

    @classmethod
    def from_buffers(cls, data: bytes, ends: np.ndarray) -> Strings:
        """Strings over a UTF-8 buffer, without copying it.

        Parameters
        ----------
        data : bytes
            The rows' UTF-8 bytes, back to back.
        ends : np.ndarray [shape=(n + 1,)], int64
            `ends[0] == 0`; row i is `data[ends[i]:ends[i + 1]]` (an Arrow
            string array's offsets, shifted to start at 0).
        """
        self = cls.__new__(cls)
        self._data = data
        self._ends = ends
        ends.setflags(write=False)
        return self

    def buffers(self) -> tuple[bytes, np.ndarray]:
        """The UTF-8 bytes and the (n + 1,) int64 ends (see `from_buffers`)."""
        return self._data, self._ends

    def __reduce__(self) -> tuple[Any, tuple[bytes, np.ndarray]]:
        return Strings.from_buffers, (self._data, self._ends)

    def __len__(self) -> int:
        return len(self._ends) - 1

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice | np.ndarray | Sequence[int]) -> Strings: ...

    def __getitem__(self, index):  # noqa: ANN001, ANN204 (overloaded above)
        if isinstance(index, (int, np.integer)):
            i = int(index)
            n = len(self._ends) - 1
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"index {int(index)} out of range for {n} strings")
            a, b = self._ends[i : i + 2].tolist()
            return self._data[a:b].decode("utf-8")
        picks = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        if picks.dtype == bool:
            picks = np.flatnonzero(picks)
        return Strings(self[int(i)] for i in picks)

    def __iter__(self) -> Iterator[str]:
        data, ends = self._data, self._ends.tolist()
        for a, b in zip(ends[:-1], ends[1:]):
            yield data[a:b].decode("utf-8")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Strings):
            return self._data == other._data and np.array_equal(self._ends, other._ends)
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to tuples, which hash differently

    def __repr__(self) -> str:
        head = ", ".join(repr(s) for s in list(self[: min(3, len(self))]))
        return f"Strings([{head}{', ...' if len(self) > 3 else ''}], n={len(self)})"

    def update_hash(self, h: Any) -> None:
        """Feed the contents to a hashlib object (row boundaries included)."""
        h.update(self._ends.astype("<i8").tobytes())
        h.update(self._data)


class Ragged:
    """An immutable list of int32 lists (e.g. each record's label set),
    stored as one value array and one array of ends.

    Parameters
    ----------
    lists : iterable of sequences of int
    """

    __slots__ = ("values", "ends")

    def __init__(self, lists: Iterable[Sequence[int]] = ()) -> None:
        lists = [list(x) for x in lists]
        self.values = np.array([v for x in lists for v in x], dtype=np.int32)
        self.values.setflags(write=False)
        self.ends = _ends([len(x) for x in lists])

    def __reduce__(self) -> tuple[Any, tuple[list[list[int]]]]:
        return Ragged, (list(self),)

    def __len__(self) -> int:
        return len(self.ends) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        """Row `index`: (k,) int32."""
        i = int(index) + len(self) if index < 0 else int(index)
        if not 0 <= i < len(self):
            raise IndexError(f"index {int(index)} out of range for {len(self)} rows")
        return self.values[self.ends[i] : self.ends[i + 1]]

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(len(self)):
            yield self[i].tolist()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ragged):
            return NotImplemented
        return np.array_equal(self.values, other.values) and np.array_equal(self.ends, other.ends)

    __hash__ = None  # type: ignore[assignment]

    def take(self, indices: np.ndarray | Sequence[int]) -> Ragged:
        """The rows at `indices`, as a new Ragged."""
        return Ragged(self[int(i)] for i in np.asarray(indices).reshape(-1))

    def multi_hot(self, indices: np.ndarray | Sequence[int], width: int) -> np.ndarray:
        """Rows `indices` as multi-hot vectors.

        Returns
        -------
        np.ndarray [shape=(len(indices), width)], float32
            1.0 where the row holds the class, 0.0 elsewhere.
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        out = np.zeros((len(indices), width), dtype=np.float32)
        for row, i in enumerate(indices):
            out[row, self[int(i)]] = 1.0
        return out

    def update_hash(self, h: Any) -> None:
        h.update(self.ends.astype("<i8").tobytes())
        h.update(self.values.astype("<i4").tobytes())

    def __repr__(self) -> str:
        return f"Ragged(n={len(self)}, values={len(self.values)})"


def digest(*parts: Any) -> str:
    """A short sha1 of arrays, columns, str and None, in order (equal in every
    process and run; arrays hash their little-endian bytes)."""
    h = hashlib.sha1()
    for part in parts:
        if part is None:
            h.update(b"\0none")
        elif isinstance(part, (Strings, Ragged)):
            h.update(type(part).__name__.encode())
            part.update_hash(h)
        elif isinstance(part, np.ndarray):
            h.update(f"{part.dtype.kind}{part.dtype.itemsize}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).astype(part.dtype.newbyteorder("<")).tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]
