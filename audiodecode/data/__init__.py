"""The loader core both framework adapters share, framework-free (numpy only).

- `records`: `audio_files`, which builds a data set from a directory, list
  or manifest (and re-exports the model's names).
- `table`: what a data set is (records, targets, the `AudioFiles` table).
- `columns`: the flat, cheap-to-pickle columns the table is made of.
- `manifests`: NeMo JSONL, CSV/TSV and dict lists as records.
- `columnar`: the same manifests read as columns (pyarrow), for millions of
  rows; `rows`: one row -> one record, shared by both readers.
- `durations`: record durations probed from headers once, and cached; the
  bad-row policy every reader's table ends with (`finish`).
- `text`: transcripts as tokens (character vocabulary, padded batches).
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
