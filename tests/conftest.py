"""Fixtures shared by several test files."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from audiodecode.cache import AudioCache


@pytest.fixture
def caches() -> Iterator[Callable[..., AudioCache]]:
    """Make AudioCaches that are closed after the test, whatever happens."""
    made: list[AudioCache] = []

    def make_cache(*args: object, **kwargs: object) -> AudioCache:
        made.append(AudioCache(*args, **kwargs))
        return made[-1]

    yield make_cache
    for cache in made:
        cache.close()
