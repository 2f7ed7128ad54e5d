"""audiodecode: the audio input pipeline for machine-learning training."""

from audiodecode._core import AudioDecodeError, DecodeError

__all__ = ["AudioDecodeError", "DecodeError"]
__version__ = "0.1.0"
