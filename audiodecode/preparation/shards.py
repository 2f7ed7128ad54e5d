"""Writing one shard of the plan, under a temporary name, then renamed.

A shard is converted record by record (through the runner's `map`, which
may spread the records over threads), written as ``<name>.tmp``, renamed
to its final name, and then its part file ``.prepare/<name>.json`` (the
shard's manifest rows and rejects) is written the same way. The part file
is the mark of a finished shard: a kill at any point leaves either no part
file (the shard is written again, to the same bytes) or a complete shard.

Layouts, as the loaders read them (member key: the record's index, 8 digits):

- tar: ``<key>.flac`` (or the original extension with ``codec="copy"``)
  and ``<key>.txt`` with the label; fixed times, owners and modes, so the
  bytes depend on the content only.
- array_record: audiodecode-record/1 records and the ``<name>.json`` sidecar.
- parquet: ``audio: struct<bytes, path>``, ``label``, ``text``, ``duration``.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from audiodecode.preparation.config import PrepareConfig
from audiodecode.preparation.output import Output

PARTS = ".prepare"
Mapper = Callable[[Callable[[dict[str, Any]], dict[str, Any]], Sequence[dict[str, Any]]], Iterable[dict[str, Any]]]


def part_name(name: str) -> str:
    return f"{PARTS}/{name}.json"


def is_finished(output: Output, name: str) -> bool:
    return output.exists(part_name(name)) and output.exists(name)


def _members(records: Sequence[dict[str, Any]], converted: Iterable[dict[str, Any]], shard: str
             ) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]]:
    """(record, converted member or None, manifest row or None) in order."""
    for record, got in zip(records, converted):
        if "reject" in got:
            yield record, None, got["reject"]
            continue
        member = got["ok"]
        key = f"{record['index']:08d}"
        row = {"shard": shard, "key": key, "member": key + member["ext"], "source": record["path"],
               "duration": round(member["seconds"], 6), "sr": member["sr"], "channels": member["channels"],
               "bits_per_sample": member["bits"], "bytes": len(member["data"])}
        if record.get("offset"):
            row["source_offset"] = record["offset"]
        for field in ("label", "text"):
            if record.get(field) is not None:
                row[field] = record[field]
        yield record, member, row


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = size, 0, 0o644, 0, 0, "", ""
    return info


def _write_tar(tmp: str, items: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]) -> None:
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for record, member, row in items:
            tar.addfile(_tar_info(row["member"], len(member["data"])), io.BytesIO(member["data"]))
            if record.get("label") is not None:
                data = str(record["label"]).encode()
                tar.addfile(_tar_info(row["key"] + ".txt", len(data)), io.BytesIO(data))


def _write_array_record(tmp: str, items: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]) -> bytes:
    from audiodecode.data.sources.arrayrecord import LAYOUT, _module, encode_record

    writer = _module().ArrayRecordWriter(tmp, "group_size:1,uncompressed")
    try:
        for record, member, row in items:
            writer.write(encode_record(member["data"], row["member"], record.get("label")))
    finally:
        writer.close()
    labels = [record.get("label") for record, _, _ in items]
    sidecar = {"layout": LAYOUT, "records": len(items), "names": [row["member"] for _, _, row in items],
               "labels": labels, "classes": sorted({str(x) for x in labels if x is not None})}
    return json.dumps(sidecar).encode()


def _write_parquet(tmp: str, items: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "audio": pa.array([{"bytes": m["data"], "path": row["member"]} for _, m, row in items],
                          type=pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        "label": pa.array([r.get("label") for r, _, _ in items], type=pa.string()),
        "text": pa.array([r.get("text") for r, _, _ in items], type=pa.string()),
        "duration": pa.array([row["duration"] for _, _, row in items], type=pa.float64()),
    })
    pq.write_table(table, tmp, row_group_size=64)


def write_shard(shard: dict[str, Any], config: PrepareConfig, output: Output,
                convert_one: Callable[[dict[str, Any]], dict[str, Any]], map_: Mapper = map) -> dict[str, Any]:
    """Convert and write one shard of the plan, then mark it finished.

    Returns
    -------
    dict
        The part: ``{"name", "bucket", "bytes", "rows", "rejects"}``.
    """
    name = shard["name"]
    items, rejects = [], []
    for record, member, row in _members(shard["records"], map_(convert_one, shard["records"]), name):
        if member is None:
            rejects.append(row)
        else:
            if shard.get("bucket") is not None:
                row["bucket"] = shard["bucket"]
            items.append((record, member, row))
    tmp = output.temporary(name)
    sidecar = None
    if config.format == "tar":
        _write_tar(tmp, items)
    elif config.format == "array_record":
        sidecar = _write_array_record(tmp, items)
    else:
        _write_parquet(tmp, items)
    size = output.publish(tmp, name)
    if sidecar is not None:
        output.write(name + ".json", sidecar)
    part = {"name": name, "bucket": shard.get("bucket"), "bytes": size,
            "rows": [row for _, _, row in items], "rejects": rejects}
    output.write(part_name(name), json.dumps(part, sort_keys=True).encode())
    return part


def read_part(output: Output, name: str) -> dict[str, Any]:
    return json.loads(output.read(part_name(name)))
