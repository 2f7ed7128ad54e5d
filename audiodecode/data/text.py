"""Transcripts as integer tokens: the default character vocabulary and the
padded batch encoding the loaders put in `"tokens"` / `"token_length"`.

`text_transform=` takes any callable `str -> list[int]` (a SentencePiece
model's `encode`, a Hugging Face tokenizer's `encode`, ...); without one,
`CharVocabulary.from_texts` builds a character vocabulary from the data
set's own transcripts:

    id 0            BLANK_ID: the CTC blank; never produced by `encode`
    ids 1..len-1    the characters of the transcripts, sorted by code point

Padded positions of `"tokens"` hold `pad_id` (0 by default, the blank);
`"token_length"` says how many leading tokens of each row are real, which
is what CTC losses take (e.g. `optax.ctc_loss`'s `label_paddings` is
`arange(L) >= token_length[:, None]`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

TextTransform = Callable[[str], Sequence[int]]

BLANK_ID = 0
PAD_ID = 0
BLANK = "<blank>"


class CharVocabulary:
    """A character vocabulary with the CTC blank at id 0.

    Picklable and with a repr that depends only on the characters, so a
    loader holding one can be sent to worker processes and checkpointed.

    Parameters
    ----------
    chars : iterable of str
        The single characters, in id order (ids 1, 2, ...).
    """

    blank_id = BLANK_ID

    def __init__(self, chars: Iterable[str]) -> None:
        chars = list(chars)
        if any(len(c) != 1 for c in chars):
            raise ValueError("a CharVocabulary holds single characters")
        if len(set(chars)) != len(chars):
            raise ValueError("characters repeat in the vocabulary")
        self.chars: tuple[str, ...] = tuple(chars)
        self._ids = {c: i + 1 for i, c in enumerate(self.chars)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> CharVocabulary:
        """Every character of `texts`, sorted by code point: the same texts
        (in any order) give the same ids."""
        seen: set[str] = set()
        for text in texts:
            seen.update(text)
        return cls(sorted(seen))

    def __len__(self) -> int:
        """Number of ids, the blank included (a CTC model's output size)."""
        return len(self.chars) + 1

    @property
    def tokens(self) -> tuple[str, ...]:
        """The symbol of every id: `BLANK`, then the characters."""
        return (BLANK, *self.chars)

    def __call__(self, text: str) -> list[int]:
        return self.encode(text)

    def encode(self, text: str) -> list[int]:
        """Character ids of `text`.

        Raises
        ------
        ValueError
            A character the vocabulary lacks (named, with the text).
        """
        try:
            return [self._ids[c] for c in text]
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} of {text!r} is not in the vocabulary") from None

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids`; blanks (and pads, id 0) are dropped. Repeats are
        kept: collapse them first for a CTC output (`ctc_collapse`)."""
        return "".join(self.chars[i - 1] for i in (int(x) for x in ids) if i != BLANK_ID)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocabulary) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"CharVocabulary({''.join(self.chars)!r})"

    def __reduce__(self) -> tuple[type, tuple[tuple[str, ...]]]:
        return CharVocabulary, (self.chars,)


def ctc_collapse(ids: Iterable[int], blank_id: int = BLANK_ID) -> list[int]:
    """Greedy CTC decoding of a frame-wise argmax: merge repeats, drop blanks.

    Parameters
    ----------
    ids : iterable of int
        One id per frame (the valid frames only).
    """
    out: list[int] = []
    previous = None
    for i in (int(x) for x in ids):
        if i != previous and i != blank_id:
            out.append(i)
        previous = i
    return out


def encode_batch(
    texts: Sequence[str],
    text_transform: TextTransform,
    *,
    pad_id: int = PAD_ID,
    width: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Encode a batch of transcripts into padded token rows.

    Parameters
    ----------
    texts : sequence of str, length b
    text_transform : callable str -> sequence of int
        The tokenizer (e.g. a `CharVocabulary`).
    pad_id : int
        What fills the rows past each text's tokens.
    width : int, optional
        Pad every row to this many tokens (a static shape for XLA); None:
        to the longest row of the batch (at least 1).

    Returns
    -------
    tokens : np.ndarray [shape=(b, width)], int32
    token_length : np.ndarray [shape=(b,)], int32
        Valid tokens per row.

    Raises
    ------
    ValueError
        A text longer than `width` tokens (named), or a tokenizer output
        that is not a flat sequence of integers.
    """
    rows = []
    for text in texts:
        ids = np.asarray(text_transform(text))
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"text_transform must return a list of int, got {ids.dtype} {ids.shape} for {text!r}")
        rows.append(ids.astype(np.int32))
    lengths = np.array([len(r) for r in rows], dtype=np.int32)
    longest = int(lengths.max(initial=0))
    if width is None:
        width = max(1, longest)
    elif longest > width:
        i = int(np.argmax(lengths))
        raise ValueError(f"{texts[i]!r} has {longest} tokens, more than the batch width {width}")
    tokens = np.full((len(rows), width), pad_id, dtype=np.int32)
    for row, ids in zip(tokens, rows):
        row[: len(ids)] = ids
    return tokens, lengths


def resolve_text_transform(text_transform: TextTransform | None, texts: Sequence[str] | None) -> TextTransform | None:
    """A loader's `text_transform=` argument, resolved once at start-up.

    Parameters
    ----------
    text_transform : callable str -> sequence of int, or None
        The user's tokenizer, returned as it is.
    texts : sequence of str or None
        The whole data set's transcripts (`AudioFiles.texts`; all
        processes', so every process builds the same vocabulary).

    Returns
    -------
    callable or None
        `text_transform`; else a `CharVocabulary` of `texts`; None when
        the data set has no transcripts.
    """
    if text_transform is not None:
        if not callable(text_transform):
            raise TypeError(f"text_transform must be a callable str -> list[int], not {type(text_transform).__name__}")
        return text_transform
    return None if texts is None else CharVocabulary.from_texts(texts)
