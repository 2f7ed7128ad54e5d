"""Decoded-audio cache: decode and resample each file once, not once per epoch.

`AudioCache` keeps whole decoded files (after decode and resample, before
crop, augmentation or features) in shared memory under a strict RAM
budget, and optionally on disk for later runs; `resolve_cache` turns a
loader's `cache="auto" | None | AudioCache` argument into one.

    from audiodecode.cache import AudioCache

    with AudioCache(max_ram_gb=4, cache_dir="/data/pcm-cache") as cache:
        batch = cache.load_batch(paths, sr=16000)   # like audiodecode.load_batch
        y = cache.load(paths[0], sr=16000)          # like audiodecode.load(...)[0]
        cache.stats()   # {'hits': .., 'misses': .., 'bytes_held': .., ...}

Layout: `audio_cache` (the cache and `resolve_cache`), `memory` (the
shared-memory RAM tier), `disk` (the disk tier), `entry` (the file format
both tiers store), `budget` (the "auto" RAM budget).
"""

from audiodecode.cache.audio_cache import AudioCache, resolve_cache

__all__ = ["AudioCache", "resolve_cache"]
