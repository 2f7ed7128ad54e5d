"""Recipes of transforms: in order (`Compose`) or one of them (`OneOf`).

A recipe is itself an `Augmentation`, so recipes nest; the seeding rule of
`audiodecode.augment.base` numbers their leaves depth first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from audiodecode.augment.base import Augmentation


class _Recipe(Augmentation):
    """A list of transforms and a probability; `_kind` names the recipe to
    the core (a class attribute, so a user's subclass keeps its kind)."""

    _kind: ClassVar[str]

    def __init__(self, transforms: Sequence[Augmentation], p: float = 1.0) -> None:
        self.transforms = list(transforms)
        if not all(isinstance(t, Augmentation) for t in self.transforms):
            raise ValueError(f"{self._kind} takes audiodecode augmentations")
        self.p = float(p)
        self._validate()

    def _spec(self, sr: int | None = None) -> tuple:
        return (self._kind, [t._spec(sr) for t in self.transforms], self.p)

    def _leaves(self) -> list[Augmentation]:
        return [leaf for t in self.transforms for leaf in t._leaves()]


class Compose(_Recipe):
    """Apply `transforms` in order (each with its own `p`); the whole chain
    runs with probability `p`. A transform may itself be a Compose/OneOf."""

    _kind = "Compose"


class OneOf(_Recipe):
    """Apply one of `transforms`, chosen uniformly, with probability `p`."""

    _kind = "OneOf"
