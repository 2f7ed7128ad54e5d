"""Moved to `audiodecode.augment.recorded`: this path still works, with a `DeprecationWarning`."""

from audiodecode._moved import moved_to

__getattr__ = moved_to(__name__, "audiodecode.augment.recorded")
