"""Seeds and orders that depend only on (seed, epoch, record index).

Every random choice a loader makes (the order of an epoch, where a clip is
cropped, the augmentation's draw, which record replaces a bad one) is a
function of the run's seed, the epoch and the record's index in the data
set, never of the thread, worker, process or batch that reads the record.
A run is reproducible with any number of workers, and the JAX and torch
loaders produce the same clips.

The hash is splitmix64's output function (Steele, Lea and Flood, 2014),
all arithmetic modulo 2**64:

    mix(x)  = z ^ (z >> 31), where z = x + 0x9E3779B97F4A7C15,
              z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9,
              z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    record_seed(seed, epoch, index) = mix(mix(mix(seed) ^ epoch) ^ index)
    derive(s, stream) = mix(s ^ stream)

It is written out here so it can be reimplemented anywhere; it does not
depend on numpy's generators, whose streams may change between releases.
"""

from __future__ import annotations

import numpy as np

MASK64 = (1 << 64) - 1

# Streams derived from a record's seed, one per random decision.
ORDER = 1
CROP = 2
AUGMENT = 3
REPLACE = 16  # REPLACE + k: the k-th candidate to replace a bad record
# Streams of the shard-streaming order (`stream_order`): the order of the
# objects, and the shuffle buffer's draws.
OBJECT_ORDER = 4
BUFFER = 5

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's output function, elementwise.

    Parameters
    ----------
    x : np.ndarray [shape=(...)], uint64

    Returns
    -------
    np.ndarray [shape=(...)], uint64
    """
    x = np.asarray(x, dtype=np.uint64)
    # Arrays wrap silently modulo 2**64; numpy scalars would warn on overflow.
    z = np.atleast_1d(x) + _GAMMA
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return (z ^ (z >> np.uint64(31))).reshape(x.shape)


def _u64(value: int | np.ndarray) -> np.ndarray:
    if isinstance(value, (int, np.integer)):
        return np.array(int(value) & MASK64, dtype=np.uint64)
    return np.asarray(value).astype(np.uint64)


def record_seeds(seed: int, epoch: int | np.ndarray, index: int | np.ndarray) -> np.ndarray:
    """The seed of each record in an epoch.

    Parameters
    ----------
    seed : int
        The run's seed (any int; taken modulo 2**64).
    epoch, index : int or np.ndarray [shape=(b,)]
        Epoch number and the record's index in the whole data set (not in a
        shard or a batch); arrays broadcast.

    Returns
    -------
    np.ndarray [shape=broadcast shape], uint64
    """
    return mix(mix(mix(_u64(seed)) ^ _u64(epoch)) ^ _u64(index))


def record_seed(seed: int, epoch: int, index: int) -> int:
    """`record_seeds` for one record, as a Python int in [0, 2**64)."""
    return int(record_seeds(seed, epoch, index))


def derive(seeds: np.ndarray, stream: int) -> np.ndarray:
    """An independent seed per record for one decision (`CROP`, `AUGMENT`, ...).

    Parameters
    ----------
    seeds : np.ndarray [shape=(...)], uint64
        Record seeds.
    stream : int
        Which decision.

    Returns
    -------
    np.ndarray [shape=(...)], uint64
    """
    return mix(_u64(seeds) ^ _u64(stream))


def uniform(seeds: np.ndarray) -> np.ndarray:
    """Floats in [0, 1) from seeds: the top 53 bits, exactly representable.

    Returns
    -------
    np.ndarray [shape=seeds.shape], float64
    """
    return (_u64(seeds) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def epoch_order(indices: np.ndarray, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The order in which an epoch visits records.

    Records are sorted by `derive(record_seed(seed, epoch, index), ORDER)`:
    a uniformly random permutation, different every epoch, which depends on
    the records it orders, not on their positions (a shard's order is the
    whole data set's order restricted to the shard).

    Parameters
    ----------
    indices : np.ndarray [shape=(n,)], int
        Record indices in the data set (all of them, or one shard's).
    seed, epoch : int
    shuffle : bool
        False keeps `indices` as they are (every epoch).

    Returns
    -------
    np.ndarray [shape=(n,)], int64
        `indices` permuted.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if not shuffle:
        return indices
    keys = derive(record_seeds(seed, epoch, indices), ORDER)
    return indices[np.argsort(keys, kind="stable")]


def stream_order(indices: np.ndarray, objects: np.ndarray, seed: int, epoch: int, buffer: int) -> np.ndarray:
    """The shard-streaming order of an epoch: whole objects (tar shards,
    ArrayRecord files) one after another, through a shuffle buffer.

    The objects are put in a random order (`epoch_order` of their numbers,
    with the `OBJECT_ORDER` stream), each object's records are streamed in
    the order they lie in it, and the stream passes through a buffer of
    `buffer` records as WebDataset's ``.shuffle(buffer)`` does: each
    record that arrives once the buffer holds `buffer` is swapped for a
    random one of them, which leaves; at the end the rest leave in random
    order. The k-th draw is `uniform(derive(record_seed(seed, epoch, k),
    BUFFER))`, so the order is a function of (seed, epoch) and the layout
    alone: a run resumed at any batch continues it exactly.

    Unlike `epoch_order`, a record never leaves more than `buffer - 1`
    places before its place in the stream (and mostly within a few
    buffers after it): records of one object stay close together, the
    price of reading objects sequentially.

    Parameters
    ----------
    indices : np.ndarray [shape=(n,)], int
        Record indices in the data set, in the order they lie in their
        objects.
    objects : np.ndarray [shape=(n,)], int
        The object each of `indices` lies in.
    seed, epoch : int
    buffer : int
        Records held in the shuffle buffer (1: objects shuffled, records
        in stream order).

    Returns
    -------
    np.ndarray [shape=(n,)], int64
        `indices` permuted.
    """
    indices = np.asarray(indices, dtype=np.int64)
    objects = np.asarray(objects, dtype=np.int64)
    if len(objects) != len(indices):
        raise ValueError(f"{len(objects)} objects for {len(indices)} records")
    if buffer < 1:
        raise ValueError(f"buffer must be >= 1, got {buffer}")
    n = len(indices)
    names = np.unique(objects)
    keys = derive(record_seeds(seed, epoch, names), OBJECT_ORDER)
    rank = np.empty(len(names), dtype=np.int64)
    rank[np.argsort(keys, kind="stable")] = np.arange(len(names))
    # Objects in their random order; records keep their order within one.
    stream = indices[np.lexsort((np.arange(n), rank[np.searchsorted(names, objects)]))]
    draws = uniform(derive(record_seeds(seed, epoch, np.arange(n + buffer)), BUFFER)).tolist()
    out: list[int] = []
    held: list[int] = []
    for k, record in enumerate(stream.tolist()):
        held.append(record)
        if len(held) >= buffer:
            j = int(draws[k] * len(held))
            out.append(held[j])
            held[j] = held[-1]
            held.pop()
    for k in range(n, n + len(held)):
        j = int(draws[k] * len(held))
        out.append(held[j])
        held[j] = held[-1]
        held.pop()
    return np.array(out, dtype=np.int64)
