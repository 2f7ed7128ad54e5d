"""The columnar JSON Lines reader (audiodecode.data.columnar) against the row
reader: the same table, the same skipped rows and the same messages, on
manifests with every feature and every kind of bad row, in one block and
cut into many."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyarrow")

from audiodecode.data import columnar  # noqa: E402
from audiodecode.data.manifests import read_manifest  # noqa: E402
from audiodecode.data.records import AudioFiles, BadRowError, audio_files  # noqa: E402
from audiodecode.data.rows import Columns  # noqa: E402
from synth import encode, sine  # noqa: E402

GOOD = [
    {"audio_filepath": "a.wav", "duration": 1.5, "text": "hello"},
    {"audio_filepath": "/abs/b.flac", "duration": 2, "text": "wörld \"quoted\" \\ slash", "offset": 0.25},
    {"audio_filepath": "s3://bucket/c.mp3", "duration": 3.25, "text": "tab\there", "offset": 1},
    {"audio_filepath": "sub/d.wav", "text": "no duration"},
    {"audio_filepath": "e.wav", "duration": None, "offset": None, "text": "nulls are defaults"},
    {"audio_filepath": "f.wav", "duration": 99999999999999999999, "text": "a huge int"},
    {"audio_filepath": "g.wav", "duration": 0.5, "offset": -0.0, "text": "minus zero"},
]
# Rows the row reader drops or rewrites, each kind once.
ODD = [
    {"audio_filepath": "", "duration": 1.0, "text": "empty path"},
    {"audio_filepath": None, "duration": 1.0, "text": "null path"},
    {"duration": 1.0, "text": "no path key"},
    {"audio_filepath": "  spaced.wav ", "duration": 1.0, "text": "path with spaces"},
    {"audio_filepath": "~/home.wav", "duration": 1.0, "text": "home"},
    {"audio_filepath": "h.wav", "duration": 1.0, "text": ""},
    {"audio_filepath": "i.wav", "duration": 1.0, "text": "   "},
    {"audio_filepath": "j.wav", "duration": 1.0, "text": None},
    {"audio_filepath": "k.wav", "duration": 1.0},
    {"audio_filepath": "l.wav", "duration": 0, "text": "zero"},
    {"audio_filepath": "l2.wav", "duration": -0.0, "text": "minus zero"},
    {"audio_filepath": "m.wav", "duration": -1.5, "text": "negative"},
    {"audio_filepath": "n.wav", "offset": -2, "text": "negative offset"},
    {"audio_filepath": "o.wav", "duration": 1.0, "text": "\x1f"},
]
BAD_LINES = ["{not json", "[1, 2]", "42", '{"audio_filepath": "p.wav", "text": "two"} {"audio_filepath": "q.wav"}',
             '{"audio_filepath": "r.wav", "audio_filepath": "s.wav", "text": "twice"}', "", "   ", "\t"]


def _write(path: Path, rows: list, *, bom: bool = False, newline: str = "\n") -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    data = newline.join(lines) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode("utf-8"))
    return path


def _read(path: Path, columnar_: bool, **kwargs) -> tuple[AudioFiles | None, str | None, list[str]]:
    """(table, error, warnings) of one reader."""
    kwargs = {"probe": False, "duration_cache": False, **kwargs}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            table = read_manifest(path, columnar=columnar_, **kwargs)
        except (BadRowError, ValueError) as err:
            return None, f"{type(err).__name__}: {err}", [str(w.message) for w in caught]
    return table, None, [str(w.message) for w in caught]


def _same(path: Path, **kwargs) -> AudioFiles | None:
    new, old = _read(path, True, **kwargs), _read(path, False, **kwargs)
    assert new[1:] == old[1:]
    if old[0] is None:
        assert new[0] is None
        return None
    a, b = new[0], old[0]
    assert a.fingerprint == b.fingerprint
    for name in ("paths", "texts", "metadata"):
        assert (getattr(a, name) is None) == (getattr(b, name) is None), name
        if getattr(a, name) is not None:
            assert list(getattr(a, name)) == list(getattr(b, name)), name
    for name in ("labels", "offsets", "durations", "rows"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
    assert (a.classes, a.origin, a.skipped_rows, a.skip_reasons) == (b.classes, b.origin, b.skipped_rows, b.skip_reasons)
    # What Grain pickles into its workers: as compact as the row reader's table.
    assert len(pickle.dumps(a)) == len(pickle.dumps(b))
    return a


@pytest.fixture(params=[columnar.BLOCK_BYTES, 96], ids=["one-block", "many-blocks"])
def blocks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(columnar, "BLOCK_BYTES", request.param)
    return request.param


def _by_columns(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[AudioFiles | None, list]:
    """The columnar reader's own result, failing if any block went line by line."""

    def refuse(*args: object) -> None:
        raise AssertionError("a block was read line by line")

    monkeypatch.setattr(columnar._BlockReader, "_rows", refuse)
    found = columnar.read_json_lines(path, Columns(), base_of=lambda row: str(path.parent), origin=str(path))
    monkeypatch.undo()
    return found


def test_a_clean_nemo_manifest_is_read_by_columns_alike(tmp_path: Path, blocks: int, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "m.jsonl", GOOD * 5)
    table = _same(path)
    assert table is not None and len(table) == 35 and table.metadata is None
    found, bad = _by_columns(path, monkeypatch)
    assert found is not None and found.fingerprint == table.fingerprint and bad == []


@pytest.mark.parametrize("on_error", ["skip", "raise"])
def test_rows_the_columns_cannot_vouch_for_get_the_row_readers_verdict(tmp_path: Path, on_error: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a block pyarrow reads, the odd rows alone are parsed from their
    lines, and merged back in line order."""
    rows = [row for pair in zip(GOOD * 2, ODD) for row in pair] + GOOD
    path = _write(tmp_path / "m.jsonl", rows)
    table = _same(path, on_error=on_error)
    found, bad = _by_columns(path, monkeypatch)
    assert len(bad) == len(ODD) - 2  # the spaced and "~" paths are good rows
    assert found is not None and (table is None or found.fingerprint == table.fingerprint)


@pytest.mark.parametrize("on_error", ["skip", "raise"])
def test_every_kind_of_bad_row_is_named_or_skipped_alike(tmp_path: Path, blocks: int, on_error: str) -> None:
    rows: list = []
    for i, odd in enumerate(ODD + BAD_LINES):
        rows += [GOOD[i % len(GOOD)], odd]
    table = _same(_write(tmp_path / "m.jsonl", rows), on_error=on_error)
    if on_error == "skip":
        assert table is not None and table.skipped_rows >= 15


@pytest.mark.parametrize("labels", [
    [3, 1, None, 0, 3],
    ["cat", "dog", "", "  ", None, "cat"],
    ["3", " 1", 2, "0"],
    [1, 1.0, "1", True],
    [1.5, 2, 2.5],
    [["a", "b"], "c", []],
    [-1, 2],
], ids=["ints", "names", "int-strings", "lookalikes", "floats", "multi-label", "negative"])
def test_labels_give_the_same_classes(tmp_path: Path, blocks: int, labels: list) -> None:
    rows = [{"path": f"{i}.wav", "label": x, "duration": 1.0} for i, x in enumerate(labels * 4)]
    _same(_write(tmp_path / "m.jsonl", rows))


def test_labels_typed_differently_in_different_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 200)
    rows = [{"path": f"{i}.wav", "label": i % 3} for i in range(20)]
    rows += [{"path": f"s{i}.wav", "label": f"{i % 4}"} for i in range(20)]
    table = _same(_write(tmp_path / "m.jsonl", rows))
    assert table is not None and table.classes == ("0", "1", "2", "3")


def test_metadata_columns_pass_through_alike(tmp_path: Path, blocks: int) -> None:
    rows = [{"audio_filepath": f"{i}.wav", "duration": 1.0, "text": "t", "speaker": f"s{i % 3}", "lang": "en",
             "extra": {"nested": [i, None]}, "score": i / 2} for i in range(12)]
    rows[3]["maybe"] = None
    rows[5].pop("lang")
    table = _same(_write(tmp_path / "m.jsonl", rows))
    assert table is not None and table.meta(3)["maybe"] is None and "lang" not in table.meta(5)


@pytest.mark.parametrize("layout", ["bom", "crlf", "lone-cr", "line-separator", "json-array"])
def test_file_layouts(tmp_path: Path, layout: str) -> None:
    rows = GOOD * 2
    if layout == "bom":
        path = _write(tmp_path / "m.jsonl", rows, bom=True)
    elif layout == "crlf":
        path = _write(tmp_path / "m.jsonl", rows + ["", "{bad"], newline="\r\n")
    elif layout == "lone-cr":
        path = _write(tmp_path / "m.jsonl", rows[:2] + ['{"path": "x.wav"}\r{"path": "y.wav"}'])
    elif layout == "line-separator":
        path = _write(tmp_path / "m.jsonl", rows + ['{"path": "x\u2028.wav", "text": "a"}'])
    else:
        path = tmp_path / "m.json"
        path.write_text(json.dumps(rows))
    _same(path)


def test_columns_named_differently_in_later_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Which column is the path depends on every row's keys: a later row with
    a preferred alias changes it for the whole file, as in the row reader."""
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 64)
    rows = [{"path": f"{i}.wav", "text": "x"} for i in range(10)] + [{"audio_filepath": "late.wav", "text": "y"}]
    _same(_write(tmp_path / "m.jsonl", rows), on_error="skip")
    _same(_write(tmp_path / "n.jsonl", rows), on_error="raise")


def test_given_column_names(tmp_path: Path, blocks: int) -> None:
    rows = [{"wav_path": f"{i}.wav", "words": f"w{i}", "start": i * 0.5, "len": 1.0, "spk": i % 2} for i in range(9)]
    path = _write(tmp_path / "m.jsonl", rows)
    columns = Columns(path="wav_path", text="words", offset="start", duration="len", label="spk")
    new = read_manifest(path, columns, probe=False, columnar=True)
    old = read_manifest(path, columns, probe=False, columnar=False)
    assert new.fingerprint == old.fingerprint and new.classes == ("0", "1")


def test_no_rows_and_no_path_column(tmp_path: Path) -> None:
    _same(_write(tmp_path / "empty.jsonl", []))
    _same(_write(tmp_path / "blank.jsonl", ["", "  "]))
    _same(_write(tmp_path / "nopath.jsonl", [{"text": "a"}, {"text": "b"}]))
    _same(_write(tmp_path / "allbad.jsonl", ["{x", "{y"]))


def test_common_voice_clips_folder_and_probing(tmp_path: Path, blocks: int) -> None:
    """Relative paths into clips/, probed (durations filled, missing files
    named) the same way."""
    (tmp_path / "clips").mkdir()
    for name in ("a.wav", "b.wav"):
        encode(tmp_path / "clips" / name, sine(440.0, 0.5, 16000), 16000, "wav")
    rows = [{"path": "a.wav", "sentence": "one"}, {"path": "b.wav", "sentence": "two", "offset": 0.1},
            {"path": "missing.wav", "sentence": "three"}]
    path = _write(tmp_path / "m.jsonl", rows)
    table = _same(path, probe=True, on_error="skip")
    assert table is not None and table.paths[0] == str(tmp_path / "clips" / "a.wav")
    assert np.isfinite(table.durations).all()


def test_audio_files_reads_columnar_by_default(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.jsonl", GOOD)
    assert audio_files(path, probe=False).fingerprint == read_manifest(path, probe=False, columnar=False).fingerprint


def test_whitespace_is_what_str_strip_removes() -> None:
    assert columnar.WHITESPACE == "".join(c for c in map(chr, range(0x110000)) if c.isspace())


@pytest.mark.parametrize("seed", range(6))
def test_random_manifests_read_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Rows drawn from every kind above, in random order, cut into blocks of
    a random size: both readers agree, whatever lands in which block."""
    rng = np.random.default_rng(seed)
    kinds = GOOD * 4 + ODD + BAD_LINES + [
        {"audio_filepath": "lab.wav", "duration": 1.0, "text": "t", "label": "cat"},
        {"audio_filepath": "meta.wav", "duration": 1.0, "text": "t", "speaker": "s1"},
        {"audio_filepath": "big.wav", "duration": 1.0, "text": "x" * 300},
    ]
    rows = [kinds[i] for i in rng.integers(0, len(kinds), 60)]
    monkeypatch.setattr(columnar, "BLOCK_BYTES", int(rng.integers(40, 2000)))
    path = _write(tmp_path / "m.jsonl", rows, newline=str(rng.choice(["\n", "\r\n"])))
    _same(path, on_error="skip")
    _same(path, on_error="raise")


@pytest.mark.parametrize("on_error", ["skip", "raise"])
def test_string_int_and_bool_metadata_is_built_by_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         on_error: str) -> None:
    """Extra columns of strings, ints and bools become the row reader's JSON
    text column-wise; rows with a null, a missing key or a control character
    in them take the row reader's path, alone."""
    values = ['plain', 'quote " and \\ slash', "ünïcödé ✓", "", "tab\there", "new\nline", "del \x7f"]
    rows = [{"audio_filepath": f"{i}.wav", "duration": 1.0 + i, "text": "t", "lang": values[i % len(values)],
             "speaker": i * 7 - 20, "clean": i % 2 == 0, "a key \"quoted\"": "k"} for i in range(24)]
    rows[3]["speaker"] = None
    del rows[5]["lang"]
    rows[7]["text"] = ""
    path = _write(tmp_path / "m.jsonl", rows)
    table = _same(path, on_error=on_error)
    found, bad = _by_columns(path, monkeypatch)
    assert found is not None and [n for n, _ in bad] == [8]
    assert table is None if on_error == "raise" else table.metadata is not None and found.fingerprint == table.fingerprint
    assert found.meta(0) == {"lang": "plain", "speaker": -20, "clean": True, "a key \"quoted\"": "k"}


CV_HEADER = ["client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "locale"]


def _write_delimited(path: Path, header: list[str], rows: list, delimiter: str, newline: str = "\n") -> Path:
    lines = [delimiter.join(header)] + [r if isinstance(r, str) else delimiter.join(r) for r in rows]
    path.write_bytes((newline.join(lines) + newline).encode("utf-8"))
    return path


def _cv_rows(count: int) -> list:
    rows: list = [[f"c{i}", f"clip_{i}.mp3", f"sentence {i} \"quoted\"", str(i % 3), "0", "twenties", "", "en"]
                  for i in range(count)]
    rows[2][2] = ""  # empty transcript
    rows[3][1] = "  spaced.mp3 "
    rows[4] = rows[4][:5]  # too few cells
    rows[5] = rows[5] + ["extra"]  # too many
    rows[6] = ""  # blank line: skipped, still counted
    rows[7] = "   "  # spaces: a row of one cell
    rows[8][1] = "~/home.mp3"
    rows[9][5] = "tab\\there"  # a backslash, kept as is
    return rows


@pytest.mark.parametrize("on_error", ["skip", "raise"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_common_voice_tsv_reads_alike(tmp_path: Path, blocks: int, on_error: str, newline: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write_delimited(tmp_path / "validated.tsv", CV_HEADER, _cv_rows(40), "\t", newline)
    table = _same(path, on_error=on_error)
    if on_error == "skip":
        assert table is not None and table.metadata is not None and table.skipped_rows == 4
        assert table.meta(0)["up_votes"] == "0"


def test_a_clean_tsv_is_read_by_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [[f"c{i}", f"clip_{i}.mp3", f"words {i}", str(i), "0", "", "", "en"] for i in range(50)]
    path = _write_delimited(tmp_path / "m.tsv", CV_HEADER, rows, "\t")
    expected = read_manifest(path, probe=False, columnar=False)
    monkeypatch.setattr(columnar._BlockReader, "_rows", lambda *a: pytest.fail("a block was read line by line"))
    found, bad = columnar.read_delimited(path, Columns(), delimiter="\t", base_of=lambda row: str(tmp_path),
                                         origin=str(path))
    assert bad == [] and found is not None and found.fingerprint == expected.fingerprint


@pytest.mark.parametrize("on_error", ["skip", "raise"])
def test_librispeech_like_csv_numbers_and_labels_read_alike(tmp_path: Path, blocks: int, on_error: str) -> None:
    numbers = ["3.5", "", " ", "12", "1e3", "0.25", "abc", "-1", "0", "+2", "1_0", "nan", "inf", " 4 ", "1e999", "-0"]
    rows = [[f"id{i}", f"audio/{i}.flac", numbers[i % len(numbers)], numbers[(i * 7) % len(numbers)],
             ["spk1", "spk2", "", "3"][i % 4], f"text {i}"] for i in range(48)]
    path = _write_delimited(tmp_path / "m.csv", ["id", "path", "duration", "offset", "label", "text"], rows, ",")
    _same(path, on_error=on_error)


@pytest.mark.parametrize("case", ["quotes", "label-separator", "lone-cr", "repeated-header", "header-only", "empty"])
def test_delimited_layouts_the_row_reader_keeps(tmp_path: Path, case: str) -> None:
    path = tmp_path / "m.csv"
    if case == "quotes":
        _write_delimited(path, ["path", "text"], ['a.wav,"hello, world"', '"b.wav","multi\nline"', "c.wav,plain"], ",")
    elif case == "label-separator":
        _write_delimited(path, ["path", "label"], [["a.wav", "x;y"], ["b.wav", "y"]], ",")
        new = read_manifest(path, Columns(label_separator=";"), probe=False, columnar=True)
        assert new.fingerprint == read_manifest(path, Columns(label_separator=";"), probe=False, columnar=False).fingerprint
        return
    elif case == "lone-cr":
        path.write_bytes(b"path,text\na.wav,one\rb.wav,two\nc.wav,three\n")
    elif case == "repeated-header":
        _write_delimited(path, ["path", "text", "text"], [["a.wav", "x", "y"]], ",")
    elif case == "header-only":
        path.write_text("path,text\n")
    else:
        path.write_text("")
    _same(path)


def test_random_tsv_manifests_read_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for seed in range(8):
        rng = np.random.default_rng(seed)
        kinds = _cv_rows(12)
        rows = [kinds[i] for i in rng.integers(0, len(kinds), 50)]
        monkeypatch.setattr(columnar, "BLOCK_BYTES", int(rng.integers(30, 1500)))
        path = _write_delimited(tmp_path / f"m{seed}.tsv", CV_HEADER, rows, "\t", str(rng.choice(["\n", "\r\n"])))
        _same(path, on_error="skip")
        _same(path, on_error="raise")
