"""The loader core both framework adapters share, framework-free (numpy only).

- `records`: what a data set is (records, targets, vocabularies) and how a
  directory, list or manifest becomes one.
- `schedule`: which records each batch holds, epoch by epoch.
- `reading`: how a batch of records becomes padded numpy arrays (decode,
  crop, augment).
- `seeding`: every random choice, derived from (seed, epoch, record index).
- `tuning`: the measured choice of threads and prefetch depth.
- `setup`: what both loaders build alike at start-up (cache, reader, tuning).
- `stats`: the pipeline's counters.

`audiodecode.jax.loader` and `audiodecode.AudioDataLoader` are the public
entry points; this package is their machinery.
"""
