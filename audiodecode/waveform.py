"""Moved to `audiodecode.augment.waveform`: this path still works, with a `DeprecationWarning`."""

from audiodecode._moved import moved_to

__getattr__ = moved_to(__name__, "audiodecode.augment.waveform")
