"""One of two JAX processes reading the same bucketed data set (run by
tests/test_buckets.py): writes each step's global batch shape and this
process's record indices as JSON."""

from __future__ import annotations

import json
import sys

import jax

jax.config.update("jax_platforms", "cpu")


def main() -> None:
    process, port, manifest, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process)
    import numpy as np

    from audiodecode.jax import loader

    steps = []
    with loader(manifest, batch_by="duration", max_batch_seconds=8.0, num_buckets=3, sr=16000, seed=1,
                num_epochs=2, cache=None, num_threads=1, prefetch=2) as it:
        for batch in it:
            local = np.concatenate([np.asarray(s.data) for s in batch["index"].addressable_shards])
            steps.append({"shape": list(batch["audio"].shape), "index": local.tolist()})
    with open(out, "w") as f:
        json.dump({"process": jax.process_index(), "processes": jax.process_count(), "steps": steps}, f)


if __name__ == "__main__":
    main()
