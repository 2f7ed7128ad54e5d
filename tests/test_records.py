"""Records and manifests: every manifest form, probed and cached durations,
text targets, bad rows under raise/skip, segments, pickling and the
fingerprint."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad
from audiodecode.cache import AudioCache
from audiodecode.data import durations as durations_mod
from audiodecode.data.columns import Ragged, Strings
from audiodecode.data.reading import ClipReader, ClipSpec
from audiodecode.data.records import UNLABELLED, AudioFiles, BadRowError, SkippedRowsWarning, audio_files
from audiodecode.data.text import BLANK_ID, CharVocabulary, ctc_collapse, encode_batch
from synth import encode, speech_like

SR = 16000
STEP = 2.0**-16  # ramp files hold sample k as (k + 1) * STEP: exact in float32
SECONDS = [0.5, 1.25, 0.75, 2.0]


def ramp(n: int) -> np.ndarray:
    return ((np.arange(n) + 1) * STEP).astype(np.float32)


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """A folder with four ramp WAVs (clips/u0.wav ...) at 16 kHz, exact to decode."""
    (tmp_path / "clips").mkdir()
    for i, s in enumerate(SECONDS):
        encode(tmp_path / "clips" / f"u{i}.wav", ramp(int(s * SR)), SR, "wavf32")
    return tmp_path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# -- manifest forms ------------------------------------------------------------


def test_nemo_jsonl_with_durations_offsets_text_and_metadata(corpus: Path) -> None:
    rows = [
        {"audio_filepath": "clips/u0.wav", "duration": 0.5, "text": "one two", "speaker": "a"},
        {"audio_filepath": "clips/u1.wav", "duration": 0.5, "offset": 0.25, "text": "three", "speaker": "b"},
        {"audio_filepath": str(corpus / "clips" / "u2.wav"), "duration": 0.75, "text": "four five six",
         "lang": {"code": "en"}},
    ]
    manifest = write_jsonl(corpus / "train.jsonl", rows)
    files = audio_files(manifest)
    assert list(files.paths) == [str(corpus / "clips" / f"u{i}.wav") for i in range(3)]
    assert files.offsets.tolist() == [0.0, 0.25, 0.0]
    assert files.durations.tolist() == [0.5, 0.5, 0.75]
    assert list(files.texts) == ["one two", "three", "four five six"]
    assert files[0].meta == {"speaker": "a"} and files[2].meta == {"lang": {"code": "en"}}
    assert files.rows.tolist() == [1, 2, 3] and files.classes == () and (files.labels == UNLABELLED).all()
    record = files[1]
    assert (record.path, record.offset, record.duration, record.text) == (files.paths[1], 0.25, 0.5, "three")
    assert files.describe(1) == f"{manifest} line 2 ({files.paths[1]})"


def test_common_voice_tsv_with_quotes_and_no_durations(corpus: Path) -> None:
    manifest = corpus / "validated.tsv"
    manifest.write_text(
        "client_id\tpath\tsentence\tup_votes\n"
        'c1\tclips/u3.wav\tHe said "hi" there\t2\n'
        "c2\tclips/u1.wav\tit's ok\t0\n"
    )
    files = audio_files(manifest)
    assert list(files.texts) == ['He said "hi" there', "it's ok"]
    assert files.rows.tolist() == [2, 3]
    np.testing.assert_allclose(files.durations, [2.0, 1.25])  # probed
    assert files[0].meta == {"client_id": "c1", "up_votes": "2"}


def test_librispeech_like_csv_with_id_path_duration_text(corpus: Path) -> None:
    manifest = corpus / "libri.csv"
    manifest.write_text("id,path,duration,text\n"
                        'a-1,clips/u0.wav,0.5,"HELLO, WORLD"\n'
                        "a-2,clips/u2.wav,0.75,GOOD DAY\n")
    files = audio_files(manifest)
    assert list(files.texts) == ["HELLO, WORLD", "GOOD DAY"]
    assert files.durations.tolist() == [0.5, 0.75]
    assert [files.meta(i) for i in range(2)] == [{"id": "a-1"}, {"id": "a-2"}]


def test_json_array_and_dict_lists_and_named_columns(corpus: Path) -> None:
    rows = [{"wav_file": "clips/u0.wav", "words": "a b"}, {"wav_file": "clips/u1.wav", "words": "c"}]
    (corpus / "m.json").write_text(json.dumps(rows))
    files = audio_files(corpus / "m.json", path_column="wav_file", text_column="words")
    assert list(files.texts) == ["a b", "c"] and files.metadata is None
    # A list of dicts is read like a JSONL manifest (paths as given).
    direct = audio_files([{"path": str(corpus / r["wav_file"]), "text": r["words"]} for r in rows])
    assert direct.paths == files.paths and direct.texts == files.texts
    assert direct.describe(1) == f"record 1 ({direct.paths[1]})"
    with pytest.raises(ValueError, match="no 'words2' column"):
        audio_files(corpus / "m.json", path_column="wav_file", text_column="words", label_column="words2")


def test_multi_label_from_json_lists_and_csv_separators(corpus: Path) -> None:
    rows = [{"path": "clips/u0.wav", "label": ["dog", "cat"]}, {"path": "clips/u1.wav", "label": ["bird"]},
            {"path": "clips/u2.wav", "label": []}]
    files = audio_files(write_jsonl(corpus / "tags.jsonl", rows))
    assert files.multi_label and files.classes == ("bird", "cat", "dog")
    assert files[0].labels == (1, 2) and files[2].labels == ()
    np.testing.assert_array_equal(files.targets([0, 1, 2])["labels"], [[0, 1, 1], [1, 0, 0], [0, 0, 0]])
    (corpus / "tags.csv").write_text('path,label\nclips/u0.wav,"dog,cat"\nclips/u1.wav,bird\nclips/u2.wav,\n')
    from_csv = audio_files(corpus / "tags.csv", label_separator=",")
    assert from_csv.label_sets == files.label_sets and from_csv.classes == files.classes
    # Through the reader: the batch carries the multi-hot vectors.
    batch = ClipReader(files, ClipSpec(sr=SR, clip_seconds=0.25)).read([0, 0], [0, 1])
    np.testing.assert_array_equal(batch["labels"], files.targets([0, 1])["labels"])
    assert batch["label"].tolist() == [UNLABELLED] * 2


def test_directory_and_path_list_forms_keep_their_behaviour(corpus: Path) -> None:
    files = audio_files(corpus / "clips")
    assert len(files) == 4 and np.isnan(files.durations).all()  # not probed by default
    probed = audio_files(corpus / "clips", probe=True)
    np.testing.assert_allclose(probed.durations, SECONDS)
    listed = audio_files(list(files.paths), labels=["x", "y", "x", "y"])
    assert listed.classes == ("x", "y") and listed.targets([0, 1])["label"].tolist() == [0, 1]


# -- durations -----------------------------------------------------------------


def test_missing_durations_are_probed_once_and_cached_next_to_the_manifest(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_jsonl(corpus / "m.jsonl", [{"audio_filepath": f"clips/u{i}.wav", "text": "x"} for i in range(4)])
    calls: list[object] = []
    batches: list[int] = []
    real_info_batch = ad.loading.info_batch

    def counted(sources: list, **kw: object) -> list:
        calls.extend(sources)
        batches.append(len(sources))
        return real_info_batch(sources, **kw)

    monkeypatch.setattr(ad.loading, "info_batch", counted)
    files = audio_files(manifest, num_threads=3)
    np.testing.assert_allclose(files.durations, SECONDS)
    assert len(calls) == 4 and batches == [4]  # one parallel Rust call for the four headers
    cache = corpus / ".m.jsonl.durations.json"
    assert cache.is_file()
    again = audio_files(manifest)
    assert len(calls) == 4 and again.fingerprint == files.fingerprint  # all from the cache
    # A changed file is probed again (its size and time changed), the others are not.
    encode(corpus / "clips" / "u1.wav", ramp(SR * 3), SR, "wavf32")
    os.utime(corpus / "clips" / "u1.wav", ns=(1, 1))
    changed = audio_files(manifest)
    assert len(calls) == 5 and changed.durations[1] == 3.0
    # The same segment file listed many times is probed once.
    many = write_jsonl(corpus / "n.jsonl", [{"audio_filepath": "clips/u3.wav", "offset": k * 0.5, "text": "x"}
                                            for k in range(4)])
    assert audio_files(many, duration_cache=False).durations.tolist() == [2.0, 1.5, 1.0, 0.5]
    assert len(calls) == 6


def test_a_read_only_folder_caches_in_the_cache_dir(
    corpus: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_jsonl(corpus / "m.jsonl", [{"audio_filepath": "clips/u0.wav", "text": "x"}])
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    real_access = os.access
    monkeypatch.setattr(durations_mod.os, "access", lambda p, mode: False if Path(p) == corpus else real_access(p, mode))
    audio_files(manifest)
    assert not (corpus / ".m.jsonl.durations.json").exists()
    cached = list((home / "audiodecode" / "durations").glob("*.durations.json"))
    assert len(cached) == 1 and str(corpus / "clips" / "u0.wav") in cached[0].read_text()
    # An explicit folder is used as given; False writes nothing.
    explicit = tmp_path_factory.mktemp("explicit")
    audio_files(manifest, duration_cache=explicit)
    assert len(list(explicit.glob("*.durations.json"))) == 1


def test_probing_in_threads_equals_probing_in_one(corpus: Path) -> None:
    paths = [str(p) for p in sorted((corpus / "clips").glob("*.wav"))] * 5
    one = durations_mod.probe(paths, num_threads=1)
    many = durations_mod.probe(paths, num_threads=8)
    assert one == many and sorted(one.values()) == sorted(SECONDS)


# -- bad rows ------------------------------------------------------------------


BAD_ROWS = {
    "missing file": ({"audio_filepath": "clips/nope.wav", "text": "x"}, "file not found"),
    "unreadable file": ({"audio_filepath": "garbage.wav", "text": "x"}, "unreadable"),
    "negative duration": ({"audio_filepath": "clips/u0.wav", "duration": -1.0, "text": "x"}, "duration -1.0"),
    "NaN duration": ({"audio_filepath": "clips/u0.wav", "duration": float("nan"), "text": "x"}, "duration nan"),
    "offset past the end": ({"audio_filepath": "clips/u0.wav", "offset": 0.5, "text": "x"}, "past the end"),
    "segment past the end": ({"audio_filepath": "clips/u0.wav", "offset": 0.25, "duration": 1.0, "text": "x"},
                             "ends past the end"),
    "empty transcript": ({"audio_filepath": "clips/u0.wav", "text": "  "}, "empty transcript"),
    "no path": ({"text": "x"}, "no path"),
}


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_a_bad_row_raises_naming_its_line_and_path_or_is_skipped(corpus: Path, kind: str) -> None:
    (corpus / "garbage.wav").write_bytes(b"RIFF but not really audio" * 10)
    bad, reason = BAD_ROWS[kind]
    good = [{"audio_filepath": f"clips/u{i}.wav", "text": f"t{i}"} for i in range(4)]
    manifest = write_jsonl(corpus / "m.jsonl", good[:2] + [bad] + good[2:])
    with pytest.raises(BadRowError, match=f"{manifest} line 3 .*{reason}"):
        audio_files(manifest)
    with pytest.warns(SkippedRowsWarning, match=f"skipped 1 of 5 rows of {manifest}: .*line 3") as caught:
        files = audio_files(manifest, on_error="skip")
    assert len([w for w in caught if w.category is SkippedRowsWarning]) == 1
    assert files.skipped_rows == 1 and len(files.skip_reasons) == 1
    assert list(files.texts) == ["t0", "t1", "t2", "t3"] and files.rows.tolist() == [1, 2, 4, 5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert audio_files(manifest, on_error="skip").fingerprint == files.fingerprint  # deterministic


def test_csv_rows_with_bad_numbers_or_columns_name_their_line(corpus: Path) -> None:
    manifest = corpus / "m.csv"
    manifest.write_text("path,duration,text\nclips/u0.wav,0.5,a\nclips/u1.wav,abc,b\nclips/u2.wav,0.5\n")
    with pytest.raises(BadRowError, match=r"m.csv line 3 .*'abc' is not a number"):
        audio_files(manifest)
    with pytest.warns(SkippedRowsWarning, match="skipped 2 of 3"):
        files = audio_files(manifest, on_error="skip")
    assert files.rows.tolist() == [2] and files.skipped_rows == 2
    (corpus / "all_bad.jsonl").write_text("not json\n")
    with pytest.raises(BadRowError, match="all_bad.jsonl line 1: not a JSON object"):
        audio_files(corpus / "all_bad.jsonl")
    with pytest.raises(ValueError, match="no usable rows"):
        audio_files(corpus / "all_bad.jsonl", on_error="skip")


# -- segments ------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """3 s speech-like files at 44.1 kHz (resampled by the reader), 16 kHz
    and 22.05 kHz, as FLAC, WAV and MP3."""
    root = tmp_path_factory.mktemp("long")
    return [encode(root / "a.flac", speech_like(3.0, 44100, seed=1), 44100, "flac"),
            encode(root / "b.wav", speech_like(3.0, SR, seed=2), SR, "wav"),
            encode(root / "c.mp3", speech_like(3.0, 22050, seed=3), 22050, "mp3")]


@pytest.mark.parametrize("clip_seconds", [None, 0.5])
def test_a_segment_decoded_alone_equals_the_slice_of_the_whole_file(long_files: list[Path], clip_seconds) -> None:
    """Segments are decoded as windows of their file (seeking), yet give the
    samples of the whole-file decode, with or without a cache."""
    rows = [{"path": str(p), "offset": off, "duration": dur, "text": "x"}
            for p in long_files for off, dur in ((0.0, 1.0), (0.4137, 1.2), (1.9, 1.1), (2.2, None))]
    files = audio_files(rows, probe=True)
    spec = ClipSpec(sr=SR, clip_seconds=clip_seconds, crop="random", seed=4)
    indices = np.arange(len(files))
    alone = ClipReader(files, spec).read([0] * len(files), indices)
    with AudioCache(max_ram_gb=0.05) as cache:
        cached = ClipReader(files, spec, cache=cache).read([0] * len(files), indices)
    np.testing.assert_array_equal(alone["audio"], cached["audio"])
    np.testing.assert_array_equal(alone["length"], cached["length"])
    for i in indices:
        whole, _ = ad.load(files.paths[i], sr=SR)
        first = round(files.offsets[i] * SR)
        count = len(whole) - first if files.offsets[i] + files.durations[i] >= 3.0 else round(files.durations[i] * SR)
        segment = whole[first : first + count]
        n = int(alone["length"][i])
        if clip_seconds is None:
            assert n == count
            np.testing.assert_array_equal(alone["audio"][i, :n], segment)
        else:
            assert n == min(count, SR // 2)
            # The crop lies inside the segment, on its samples.
            row = alone["audio"][i, :n]
            starts = [s for s in range(count - n + 1) if np.array_equal(segment[s : s + n], row)]
            assert starts, f"record {i}: the clip is not a crop of its segment"


def test_segments_in_a_manifest_and_subsets(corpus: Path) -> None:
    rows = [{"audio_filepath": "clips/u3.wav", "offset": 0.5 * k, "duration": 0.5, "text": f"s{k}"} for k in range(4)]
    files = audio_files(write_jsonl(corpus / "seg.jsonl", rows))
    batch = ClipReader(files, ClipSpec(sr=SR)).read([0] * 4, np.arange(4))
    # Ramp samples give their position: segment k starts at sample k * 8000.
    assert batch["audio"][:, 0].tolist() == [(k * SR // 2 + 1) * STEP for k in range(4)]
    assert batch["length"].tolist() == [SR // 2] * 4
    sub = files.subset([3, 1])
    assert list(sub.texts) == ["s3", "s1"] and sub.offsets.tolist() == [1.5, 0.5] and sub.rows.tolist() == [4, 2]
    assert sub.origin == files.origin


# -- the table: pickling and fingerprint ------------------------------------------


def test_pickles_small_and_the_fingerprint_is_stable(corpus: Path, tmp_path: Path) -> None:
    n = 100_000
    rows = [(i, {"path": f"/data/speaker{i % 97}/utt{i:07d}.flac", "duration": 1 + (i % 30), "text": f"words {i}",
                 "speaker": i % 97}) for i in range(n)]
    from audiodecode.data.manifests import read_rows

    files = read_rows(rows, base=None, origin=None, probe=False)
    blob = pickle.dumps(files)
    payload = len(files.paths._data) + len(files.texts._data) + len(files.metadata._data) + n * (4 + 8 + 8 + 8 + 3 * 8)
    assert len(blob) < 1.1 * payload  # flat buffers: no per-record objects
    back = pickle.loads(blob)
    assert back.fingerprint == files.fingerprint and back.paths == files.paths and back[12345] == files[12345]
    small = files.subset(np.arange(50))
    code = (
        "import pickle, sys; f = pickle.load(open(sys.argv[1], 'rb')); print(f.fingerprint)"
    )
    (tmp_path / "f.pkl").write_bytes(pickle.dumps(small))
    env = {**os.environ, "PYTHONHASHSEED": "123", "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "f.pkl")], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == small.fingerprint
    # Any change of a record changes it.
    rows[3][1]["text"] = "other"
    assert read_rows(rows[:50], base=None, origin=None, probe=False).fingerprint != small.fingerprint


def test_columns_behave_like_tuples() -> None:
    s = Strings(["a", "ü", "", "long/path.wav"])
    assert s == ("a", "ü", "", "long/path.wav") and s[-1] == "long/path.wav" and s[1:3] == ["ü", ""]
    assert s[np.array([3, 0])] == ["long/path.wav", "a"] and s[np.array([True, False, False, True])] == ["a", "long/path.wav"]
    assert pickle.loads(pickle.dumps(s)) == s
    with pytest.raises(IndexError):
        s[4]
    r = Ragged([[1, 2], [], [0]])
    assert list(r) == [[1, 2], [], [0]] and pickle.loads(pickle.dumps(r)) == r
    np.testing.assert_array_equal(r.multi_hot([2, 0], 3), [[1, 0, 0], [0, 1, 1]])
    with pytest.raises(ValueError, match="3 offsets for 2 records"):
        AudioFiles(["a", "b"], [0, 0], ("c",), offsets=np.zeros(3))


# -- text targets ----------------------------------------------------------------


def test_character_vocabulary_is_deterministic_with_the_blank_at_zero() -> None:
    texts = ["hello world", "abc", "zebra"]
    vocab = CharVocabulary.from_texts(texts)
    assert vocab == CharVocabulary.from_texts(reversed(texts))
    assert vocab.chars == tuple(sorted(set("".join(texts)))) and vocab.tokens[BLANK_ID] == "<blank>"
    assert len(vocab) == len(vocab.chars) + 1 and BLANK_ID not in vocab("hello world")
    assert vocab.decode(vocab("zebra")) == "zebra"
    assert pickle.loads(pickle.dumps(vocab)) == vocab and repr(vocab) == repr(CharVocabulary.from_texts(texts))
    with pytest.raises(ValueError, match="character 'Q' of 'Q' is not in the vocabulary"):
        vocab("Q")
    assert ctc_collapse([0, 3, 3, 0, 3, 5, 5, 0]) == [3, 3, 5]


def test_encode_batch_pads_with_the_pad_id_and_counts_tokens() -> None:
    vocab = CharVocabulary.from_texts(["ab", "ba c"])
    tokens, length = encode_batch(["ab", "c", "ba c"], vocab)
    assert tokens.dtype == np.int32 and length.dtype == np.int32
    assert tokens.tolist() == [[2, 3, 0, 0], [4, 0, 0, 0], [3, 2, 1, 4]] and length.tolist() == [2, 1, 4]
    fixed, _ = encode_batch(["ab"], vocab, width=6, pad_id=-1)
    assert fixed.tolist() == [[2, 3, -1, -1, -1, -1]]
    with pytest.raises(ValueError, match="more than the batch width 3"):
        encode_batch(["ba c"], vocab, width=3)
    words = {"yes": 7, "no": 8}
    custom, n = encode_batch(["yes no", "no"], lambda t: [words[w] for w in t.split()])
    assert custom.tolist() == [[7, 8], [8, 0]] and n.tolist() == [2, 1]
    with pytest.raises(ValueError, match="must return a list of int"):
        encode_batch(["x"], lambda t: [[1]])
    empty, n = encode_batch([], vocab)
    assert empty.shape == (0, 1) and n.shape == (0,)


def test_the_default_vocabulary_comes_from_the_manifest(corpus: Path) -> None:
    rows = [{"audio_filepath": f"clips/u{i}.wav", "text": t} for i, t in enumerate(["one", "two", "three"])]
    files = audio_files(write_jsonl(corpus / "m.jsonl", rows))
    vocab = CharVocabulary.from_texts(files.texts)
    tokens, length = encode_batch(files.texts[np.array([2, 0])], vocab)
    assert [vocab.decode(t[:k]) for t, k in zip(tokens, length)] == ["three", "one"]
    assert math.isclose(sum(files.durations), sum(SECONDS[:3]))


def test_the_text_transform_is_the_users_or_the_data_sets_vocabulary() -> None:
    from audiodecode.data.text import resolve_text_transform

    assert resolve_text_transform(None, None) is None
    assert resolve_text_transform(None, Strings(["ba", "c"])) == CharVocabulary("abc")
    mine = str.encode
    assert resolve_text_transform(mine, Strings(["x"])) is mine
    with pytest.raises(TypeError, match="must be a callable"):
        resolve_text_transform("chars", None)


def test_the_loaders_drop_bad_manifest_rows_and_count_them(corpus: Path) -> None:
    pytest.importorskip("grain")
    from audiodecode.jax import loader

    rows = [{"audio_filepath": f"clips/u{i}.wav", "text": f"t{i}"} for i in range(4)]
    manifest = write_jsonl(corpus / "m.jsonl", rows[:2] + [{"audio_filepath": "clips/gone.wav", "text": "x"}] + rows[2:])
    with pytest.raises(BadRowError, match="line 3"):
        loader(manifest, batch_size=2, sr=SR, clip_seconds=0.25, num_threads=1, prefetch=2, cache=None)
    with pytest.warns(SkippedRowsWarning):
        it = loader(manifest, batch_size=2, sr=SR, clip_seconds=0.25, num_threads=1, prefetch=2, cache=None,
                    on_error="skip", num_epochs=1)
    with it:
        assert sum(len(b["label"]) for b in it) == 4
        assert it.stats()["skipped_rows"] == 1 and it.files.skipped_rows == 1


def test_an_espeak_common_voice_layout_loads_as_it_is(tmp_path: Path) -> None:
    """Common Voice keeps `validated.tsv` beside `clips/`, and lists bare
    file names; transcripts hold quotes. Spoken with espeak-ng."""
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("Debian's espeak-ng is needed (`make env` installs it)")
    (tmp_path / "clips").mkdir()
    sentences = ["yes", 'she said "no"', "one two three"]
    for i, sentence in enumerate(sentences):
        subprocess.run(["espeak-ng", "-w", str(tmp_path / "clips" / f"cv_{i}.wav"), sentence], check=True)
    (tmp_path / "validated.tsv").write_text(
        "client_id\tpath\tsentence\tup_votes\tdown_votes\n"
        + "".join(f"c{i}\tcv_{i}.wav\t{s}\t2\t0\n" for i, s in enumerate(sentences))
    )
    files = audio_files(tmp_path / "validated.tsv")
    assert list(files.paths) == [str(tmp_path / "clips" / f"cv_{i}.wav") for i in range(3)]
    assert list(files.texts) == sentences
    np.testing.assert_allclose(files.durations, [ad.info(p).duration for p in files.paths])
    assert files.durations[2] > files.durations[0] > 0.2  # espeak-ng speaks at its rate
    with pytest.raises(BadRowError, match="line 2 .*file not found"):
        audio_files(tmp_path / "validated.tsv", audio_root=".")
    assert audio_files(tmp_path / "validated.tsv", audio_root="clips").paths == files.paths


def test_with_durations_probes_a_directory_once(corpus: Path) -> None:
    files = audio_files(corpus / "clips")
    probed = durations_mod.with_durations(files, duration_cache=False)
    np.testing.assert_allclose(probed.durations, SECONDS)
    assert durations_mod.with_durations(probed) is probed  # nothing left to probe
    (corpus / "clips" / "u9.wav").write_bytes(b"garbage")
    with pytest.warns(SkippedRowsWarning, match=r"skipped 1 of 5 rows .*record 4 \(.*u9.wav\): unreadable"):
        kept = durations_mod.with_durations(audio_files(corpus / "clips"), on_error="skip", duration_cache=False)
    assert len(kept) == 4 and kept.skipped_rows == 1


def test_multi_label_batches_reach_both_loaders_as_multi_hot(corpus: Path) -> None:
    pytest.importorskip("torch")
    from audiodecode.torch import AudioDataLoader, AudioDataset

    rows = [{"path": f"clips/u{i}.wav", "label": tags} for i, tags in enumerate([["a"], ["b", "c"], [], ["a", "c"]])]
    files = audio_files(write_jsonl(corpus / "tags.jsonl", rows))
    want = files.targets(np.arange(4))["labels"]
    loader = AudioDataLoader(files, batch_size=4, target_sr=SR, clip_seconds=0.25, shuffle=False,
                             num_threads=1, prefetch=2, cache=None)
    _, labels = next(iter(loader))
    np.testing.assert_array_equal(labels.numpy(), want)
    dataset = AudioDataset(files, target_sr=SR, clip_seconds=0.25)
    _, stacked, _ = dataset.collate([dataset[i] for i in range(4)])
    np.testing.assert_array_equal(stacked.numpy(), want)


def test_a_csv_row_with_the_wrong_number_of_cells_is_a_bad_row(corpus: Path) -> None:
    (corpus / "m.csv").write_text("path,text\nclips/u0.wav,a\nclips/u1.wav,b,extra\nclips/u2.wav\n")
    with pytest.raises(BadRowError, match="m.csv line 3: 3 cells, the header has 2"):
        audio_files(corpus / "m.csv")
    with pytest.warns(SkippedRowsWarning, match="skipped 2 of 3 .*line 4: 1 cells"):
        assert list(audio_files(corpus / "m.csv", on_error="skip").texts) == ["a"]


def test_byte_order_marks_and_crlf_line_ends_are_not_data(corpus: Path) -> None:
    (corpus / "m.csv").write_bytes("\ufeffpath,text\r\nclips/u0.wav,a\r\n".encode())
    (corpus / "m.jsonl").write_bytes('\ufeff{"audio_filepath": "clips/u0.wav", "text": "a"}\r\n'.encode())
    for name in ("m.csv", "m.jsonl"):
        files = audio_files(corpus / name)
        assert list(files.texts) == ["a"] and files.paths[0] == str(corpus / "clips" / "u0.wav")
