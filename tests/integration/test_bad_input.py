"""Bad input: every failure is one line naming the file and the problem, exit code 2,
and leaves no output and no staging folder behind.

Each case breaks a copy of a tiny data set (nine real recordings cut to six frames),
then runs `islr data tfrecords` in-process with a zero-tolerance gate, as a user would
from the shell. Options and config errors must be refused before any data is read,
which the cases check by the absence of a validation report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from islr.cli import main
from islr.data.format import CSV_NAME, ROWS_PER_FRAME, SIGN_MAP_NAME, write_recording
from islr.data.ingest import ingest, profile_recording, read_index, sign_map_for
from islr.data.validate import ValidationConfig, validate_recordings

VICTIM = "train_landmark_files/2044/3902070209.parquet"
N_FRAMES = 6  # frames per tiny recording


@pytest.fixture(scope="module")
def tiny_source(real_data_dir, tmp_path_factory) -> Path:
    """The nine real recordings, each cut to six frames that show a hand where possible."""
    out = tmp_path_factory.mktemp("tiny") / "asl-signs"
    shutil.copytree(real_data_dir, out, ignore=shutil.ignore_patterns("*.parquet"))
    for rel in pd.read_csv(real_data_dir / CSV_NAME)["path"]:
        table = pq.read_table(real_data_dir / rel)
        xyz = np.stack([table.column(c).to_numpy() for c in "xyz"], -1).reshape(
            -1, ROWS_PER_FRAME, 3
        )
        frames = table.column("frame").to_numpy()[::ROWS_PER_FRAME]
        hand = ~np.isnan(xyz[:, 468:489]).all(axis=(1, 2)) | ~np.isnan(xyz[:, 522:]).all(
            axis=(1, 2)
        )
        keep = np.sort(np.argsort(~hand, kind="stable")[:N_FRAMES])  # hand frames first
        write_recording(out / rel, xyz[keep], frames[keep])
    return out


@pytest.fixture
def tiny(tiny_source, tmp_path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(tiny_source, dst)
    return dst


def run_flow(data_dir, tmp_path, capsys, *extra, out=None, command="tfrecords"):
    out = tmp_path / "tfrecords" if out is None else out
    reports = tmp_path / "reports"
    args = ["data", command, str(data_dir)]
    if command == "tfrecords":
        args.append(str(out))
    args += ["--report-dir", str(reports), "--max-invalid-fraction", "0", "--workers", "1"]
    if command == "tfrecords":
        args += ["--mode", "random", "--n-folds", "2", "--records-per-shard", "4"]
    code = main([*args, *extra])
    err = capsys.readouterr().err
    return code, err, out, reports


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("islr data: error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]


def leftovers(*folders: Path) -> list[Path]:
    """Temporary files and staging folders (`.name.*.tmp`) anywhere under `folders`."""
    return [p for f in folders if f.exists() for p in f.rglob("*") if p.name.endswith(".tmp")]


# --- ways to break a data set ----------------------------------------------------------------


def rewrite(d: Path, fn, rel: str = VICTIM) -> None:
    table = pq.read_table(d / rel)
    pq.write_table(fn(table), d / rel)


def set_column(name: str, values, type_=None):
    def fn(t: pa.Table) -> pa.Table:
        i = t.schema.get_field_index(name)
        field_type = type_ or t.schema.field(name).type
        return t.set_column(i, name, pa.array(values, field_type))

    return fn


def change_rows(name: str, rows: dict[int, object], type_=None):
    def fn(t: pa.Table) -> pa.Table:
        values = t.column(name).to_pylist()
        for i, v in rows.items():
            values[i] = v
        return set_column(name, values, type_)(t)

    return fn


def frame_numbers(numbers: list[int]):
    return set_column("frame", np.repeat(np.array(numbers, dtype=np.int16), ROWS_PER_FRAME))


def edit_csv(d: Path, fn) -> None:
    df = pd.read_csv(d / CSV_NAME, dtype=str, keep_default_na=False)
    df = fn(df)
    df.to_csv(d / CSV_NAME, index=False)


def set_cell(column: str, value: str, rel: str = VICTIM):
    def fn(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[df["path"] == rel, column] = value
        return df

    return lambda d: edit_csv(d, fn)


def append_row(**row):
    def fn(df: pd.DataFrame) -> pd.DataFrame:
        victim = df[df["path"] == VICTIM].iloc[0].to_dict()
        return pd.concat([df, pd.DataFrame([{**victim, **row}])], ignore_index=True)

    return lambda d: edit_csv(d, fn)


def sign_map(text) -> callable:
    payload = text if isinstance(text, str) else json.dumps(text)
    return lambda d: (d / SIGN_MAP_NAME).write_text(payload)


def official_map_with(**changes):
    def fn(d: Path) -> None:
        mapping = json.loads((d / SIGN_MAP_NAME).read_text())
        mapping.update(changes)
        (d / SIGN_MAP_NAME).write_text(json.dumps(mapping))

    return fn


def too_long(d: Path, corrupt_body: bool = False) -> None:
    xyz = np.full((1001, ROWS_PER_FRAME, 3), 0.5)
    write_recording(d / VICTIM, xyz)
    if corrupt_body:  # footer intact, data pages garbage: reading them would fail
        raw = bytearray((d / VICTIM).read_bytes())
        raw[1000 : len(raw) // 2] = b"\xff" * (len(raw) // 2 - 1000)
        (d / VICTIM).write_bytes(bytes(raw))


def symlink_out(d: Path) -> None:
    outside = d.parent / "outside.parquet"
    shutil.move(d / VICTIM, outside)
    (d / VICTIM).symlink_to(outside)


def no_hands(t: pa.Table) -> pa.Table:
    types = np.array(t.column("type").to_pylist())
    for c in "xyz":
        values = t.column(c).to_numpy().copy()
        values[np.isin(types, ["left_hand", "right_hand"])] = np.nan
        t = set_column(c, values)(t)
    return t


def nan_part(part: str, frames: int):
    def fn(t: pa.Table) -> pa.Table:
        types = np.array(t.column("type").to_pylist())
        rows = (types == part) & (np.arange(t.num_rows) < frames * ROWS_PER_FRAME)
        for c in "xyz":
            values = t.column(c).to_numpy().copy()
            values[rows] = np.nan
            t = set_column(c, values)(t)
        return t

    return fn


def rewrite_victim(fn):
    return lambda d: rewrite(d, fn)


# Recording defects: the run quarantines the victim, the gate (0 allowed) stops it, and
# the message names the file, the check and the observed value.
QUARANTINED = {
    "corrupt parquet": (
        lambda d: (d / VICTIM).write_bytes(b"PAR1" + b"\x00garbage" * 50),
        ["readable parquet file", "not a readable parquet file"],
    ),
    "truncated parquet": (
        lambda d: (d / VICTIM).write_bytes((d / VICTIM).read_bytes()[:3000]),
        ["readable parquet file", "not a readable parquet file"],
    ),
    "empty file": (lambda d: (d / VICTIM).write_bytes(b""), ["readable parquet file"]),
    "csv saved as parquet": (
        lambda d: (d / VICTIM).write_text("frame,x\n0,0.5\n"),
        ["readable parquet file"],
    ),
    "missing file": (lambda d: (d / VICTIM).unlink(), ["file exists"]),
    "folder instead of file": (
        lambda d: ((d / VICTIM).unlink(), (d / VICTIM).mkdir()),
        ["file exists", "a folder, not a file"],
    ),
    "dangling symlink": (
        lambda d: ((d / VICTIM).unlink(), (d / VICTIM).symlink_to(d / "gone.parquet")),
        ["file exists", "symbolic link to", "does not exist"],
    ),
    "symlink leaving the data folder": (
        symlink_out,
        ["path stays inside the data folder", "symbolic link", "outside the data folder"],
    ),
    "missing column": (
        rewrite_victim(lambda t: t.drop_columns(["z"])),
        ["columns and dtypes", "missing columns z"],
    ),
    "x stored as float32": (
        rewrite_victim(lambda t: t.set_column(4, "x", t.column("x").cast(pa.float32()))),
        ["columns and dtypes", "x is float (expected double)"],
    ),
    "frame stored as int32": (
        rewrite_victim(lambda t: t.set_column(0, "frame", t.column("frame").cast(pa.int32()))),
        ["columns and dtypes", "frame is int32 (expected int16)"],
    ),
    "landmark_index stored as text": (
        rewrite_victim(
            lambda t: t.set_column(
                3, "landmark_index", t.column("landmark_index").cast(pa.string())
            )
        ),
        ["columns and dtypes", "landmark_index is string (expected int16)"],
    ),
    "zero rows with the right schema": (
        rewrite_victim(lambda t: t.slice(0, 0)),
        ["frame count in [1, 1000]", "observed: 0"],
    ),
    "rows not a multiple of 543": (
        rewrite_victim(lambda t: t.slice(0, t.num_rows - 1)),
        ["row count is a multiple of 543", "left over"],
    ),
    "rows out of canonical order": (
        rewrite_victim(lambda t: t.take([*range(1, 543), 0, *range(543, t.num_rows)])),
        ["canonical order", "frame 0 row 0"],
    ),
    "hand rows labelled as the other hand": (
        rewrite_victim(change_rows("type", {468: "right_hand"})),
        ["canonical order", "frame 0 row 468: right_hand 0 (expected left_hand 0)"],
    ),
    "landmark index off by one": (
        rewrite_victim(change_rows("landmark_index", {543 + 5: 6})),
        ["canonical order", "frame 1 row 5: face 6 (expected face 5)"],
    ),
    "type missing (null)": (
        rewrite_victim(change_rows("type", {7: None})),
        ["canonical order", "type is missing in 1 rows"],
    ),
    "frame missing (null)": (
        rewrite_victim(change_rows("frame", {3: None})),
        ["frame numbers strictly increase", "frame is missing in 1 rows"],
    ),
    "frame block mixing numbers": (
        rewrite_victim(change_rows("frame", {10: 99})),
        ["frame numbers strictly increase", "frame block 0 mixes frame numbers"],
    ),
    "frame number repeated": (
        rewrite_victim(frame_numbers([0, 0, 1, 2, 3, 4])),
        ["frame numbers strictly increase", "0 then 0"],
    ),
    "frame numbers decreasing": (
        rewrite_victim(frame_numbers([5, 4, 3, 2, 1, 0])),
        ["frame numbers strictly increase", "5 then 4"],
    ),
    "frame numbers wrapping int16": (
        rewrite_victim(frame_numbers([0, 1, 32000, -32000, 5, 6])),
        ["frame numbers strictly increase", "32000 then -32000"],
    ),
    "infinite coordinate": (
        rewrite_victim(change_rows("x", {0: float("inf")})),
        ["coordinates are finite or NaN", "observed: 1"],
    ),
    "negative infinite coordinates": (
        rewrite_victim(change_rows("z", {1: float("-inf"), 600: float("-inf")})),
        ["coordinates are finite or NaN", "observed: 2"],
    ),
    "no hand in any frame": (
        rewrite_victim(no_hands),
        ["at least 1 frame(s) with a detected hand", "observed: 0"],
    ),
    "pose missing in most frames": (
        rewrite_victim(nan_part("pose", 4)),
        ["NaN fraction of pose <= 0.5", "observed: 0.66"],
    ),
    "more frames than max_frames": (too_long, ["frame count in [1, 1000]", "observed: 1001"]),
    "unknown sign": (
        set_cell("sign", "flibbertigibbet"),
        ["sign is one of the known signs", "flibbertigibbet"],
    ),
    "sign missing": (set_cell("sign", ""), ["sign is present"]),
    "duplicate sequence id": (
        set_cell("sequence_id", "3785771120"),
        ["sequence_id is unique", "3785771120"],
    ),
    "duplicate sequence id with a leading zero": (
        set_cell("sequence_id", "03785771120"),
        ["sequence_id is unique", "03785771120"],
    ),
    "same file listed twice under two participants": (
        append_row(participant_id="4718", sequence_id="123"),
        ["each file is listed once in train.csv", "also listed on line"],
    ),
    "same file listed twice under two spellings": (
        append_row(path="train_landmark_files/./2044/3902070209.parquet", sequence_id="124"),
        ["each file is listed once in train.csv", "also listed on line"],
    ),
    "relative path escaping the folder": (
        set_cell("path", "../../etc/passwd"),
        ["path stays inside the data folder", "../../etc/passwd"],
    ),
    "absolute path": (
        set_cell("path", "/etc/passwd"),
        ["path stays inside the data folder", "/etc/passwd (an absolute path)"],
    ),
    "participant id not an integer": (
        set_cell("participant_id", "p2044"),
        ["participant_id is a non-negative integer", "observed: p2044"],
    ),
    "negative participant id": (
        set_cell("participant_id", "-5"),
        ["participant_id is a non-negative integer", "observed: -5"],
    ),
    "sequence id beyond int64": (
        set_cell("sequence_id", "99999999999999999999"),
        ["sequence_id is a non-negative integer (at most 2^63-1)", "99999999999999999999"],
    ),
    "sequence id with a decimal point": (
        set_cell("sequence_id", "3902070209.5"),
        ["sequence_id is a non-negative integer", "3902070209.5"],
    ),
    "participant id missing": (set_cell("participant_id", ""), ["participant_id is present"]),
}


@pytest.mark.parametrize("case", list(QUARANTINED))
def test_defective_recording_is_quarantined_and_named(case, tiny, tmp_path, capsys):
    breaker, expected = QUARANTINED[case]
    breaker(tiny)
    code, err, out, reports = run_flow(tiny, tmp_path, capsys)
    line = error_line(err)
    assert code == 2
    assert "failed validation" in line and "Full report:" in line
    named = "" if case in ("relative path escaping the folder", "absolute path") else VICTIM
    assert named in line and all(e in line for e in expected), line
    assert not out.exists() and not leftovers(tmp_path)  # no shards, not even partial ones
    report = json.loads((reports / "validation_report.json").read_text())
    assert not report["passed"] and report["n_invalid"] >= 1
    assert any(expected[0] in i["check"] for i in report["issues"])


@pytest.fixture
def untouched(tiny):
    """The tiny data folder and a snapshot of its files, to check nothing was written."""

    def snapshot():
        return {p: p.stat().st_mtime_ns for p in tiny.rglob("*")}

    before = snapshot()
    yield tiny
    assert snapshot() == before


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


# Input that stops the run before any recording is read: the message names the file (or
# the option) and the problem; no report, no output, no staging folder.
REFUSED = {
    # train.csv
    "empty train.csv": (
        lambda d, t: (d / CSV_NAME).write_text(""),
        [],
        [CSV_NAME, "file is empty"],
    ),
    "train.csv with a header only": (
        lambda d, t: (d / CSV_NAME).write_text("path,participant_id,sequence_id,sign\n"),
        [],
        [CSV_NAME, "no recordings listed"],
    ),
    "train.csv missing columns": (
        lambda d, t: (d / CSV_NAME).write_text("path,participant,sequence_id\nx,1,2\n"),
        [],
        [CSV_NAME, "missing column(s) participant_id, sign"],
    ),
    "train.csv not UTF-8": (
        lambda d, t: (d / CSV_NAME).write_bytes(
            b"path,participant_id,sequence_id,sign\n\xff\xfe,1,2,a\n"
        ),
        [],
        [CSV_NAME, "not UTF-8 text"],
    ),
    "train.csv with more fields than the header": (
        lambda d, t: (d / CSV_NAME).write_text(
            "path,participant_id,sequence_id,sign\na,1,2,b,c,d\n"
        ),
        [],
        [CSV_NAME, "not a readable CSV", "more fields than the header"],
    ),
    "train.csv with a ragged row": (
        lambda d, t: (d / CSV_NAME).write_text(
            "path,participant_id,sequence_id,sign\na,1,2,b\na,1,2,b,c\n"
        ),
        [],
        [CSV_NAME, "not a readable CSV"],
    ),
    "train.csv is a folder": (
        lambda d, t: ((d / CSV_NAME).unlink(), (d / CSV_NAME).mkdir()),
        [],
        ["no train.csv"],
    ),
    # the sign map
    "sign map malformed JSON": (
        lambda d, t: sign_map('{"hello": 0,\n "thankyou": }')(d),
        [],
        [SIGN_MAP_NAME, "line 2 column 14", "not valid JSON"],
    ),
    "sign map is a JSON list": (
        lambda d, t: sign_map(["hello", "thankyou"])(d),
        [],
        [SIGN_MAP_NAME, "found a JSON list"],
    ),
    "sign map with two signs sharing an index": (
        lambda d, t: official_map_with(hello=0)(d),
        [],
        [SIGN_MAP_NAME, "share index 0", "'hello'"],
    ),
    "sign map index out of range": (
        lambda d, t: official_map_with(hello=9999)(d),
        [],
        [SIGN_MAP_NAME, "sign 'hello': index 9999 is outside 0..249"],
    ),
    "sign map negative index": (
        lambda d, t: official_map_with(hello=-1)(d),
        [],
        [SIGN_MAP_NAME, "index -1 is outside 0..249"],
    ),
    "sign map index as text": (
        lambda d, t: official_map_with(hello="3")(d),
        [],
        [SIGN_MAP_NAME, "sign 'hello': index '3' is not an integer"],
    ),
    "sign map listing a sign twice": (
        lambda d, t: sign_map('{"hello": 0, "hello": 1}')(d),
        [],
        [SIGN_MAP_NAME, "sign 'hello' is listed twice"],
    ),
    "sign map empty": (lambda d, t: sign_map({})(d), [], [SIGN_MAP_NAME, "holds no signs"]),
    # the data folder
    "data folder missing": (lambda d, t: shutil.rmtree(d), [], ["data", "does not exist"]),
    "data folder without train.csv": (
        lambda d, t: (d / CSV_NAME).unlink(),
        [],
        ["no train.csv"],
    ),
    "data folder is a file": (
        lambda d, t: (shutil.rmtree(d), d.write_text("x")),
        [],
        ["data", "not a directory"],
    ),
    # output folders
    "output folder inside the data folder": (
        lambda d, t: None,
        ["OUT=data/shards"],
        ["shards", "inside the data folder"],
    ),
    "report folder inside the data folder": (
        lambda d, t: None,
        ["--report-dir", "{data}/reports"],
        ["reports", "report folder (--report-dir) is inside the data folder"],
    ),
    "output folder exists and is not empty": (
        lambda d, t: (_mkdir(t / "tfrecords") / "keep.txt").write_text("mine"),
        [],
        ["tfrecords", "exists and is not empty"],
    ),
    "output folder is a file": (
        lambda d, t: (t / "tfrecords").write_text("mine"),
        [],
        ["tfrecords", "exists and is not a folder"],
    ),
    "output parent is a file": (
        lambda d, t: (t / "parent").write_text("x"),
        ["OUT=parent/shards"],
        ["parent/shards", "is not a folder"],
    ),
    "output parent cannot be written": (
        lambda d, t: None,
        ["OUT=/proc/islr/shards"],
        ["/proc/islr/shards", "cannot create the output folder", "not writable"],
    ),
    # options
    "records per shard 0": (
        lambda d, t: None,
        ["--records-per-shard", "0"],
        ["--records-per-shard 0", "greater than or equal to 1"],
    ),
    "evaluation fold past the last fold": (
        lambda d, t: None,
        ["--eval-fold", "7"],
        ["eval_fold 7 must be < n_folds 2"],
    ),
    "one fold": (
        lambda d, t: None,
        ["--n-folds", "1"],
        ["--n-folds 1", "greater than or equal to 2"],
    ),
    "invalid fraction above 1": (
        lambda d, t: None,
        ["--max-invalid-fraction", "2"],
        ["--max-invalid-fraction 2", "less than or equal to 1"],
    ),
    "invalid fraction below 0": (
        lambda d, t: None,
        ["--max-invalid-fraction", "-0.5"],
        ["--max-invalid-fraction -0.5", "greater than or equal to 0"],
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_input_is_refused_before_any_data_is_read(case, tiny, tmp_path, capsys):
    breaker, extra, expected = REFUSED[case]
    breaker(tiny, tmp_path)
    out = None
    args = [a.replace("{data}", str(tiny)) for a in extra]
    if args and args[0].startswith("OUT="):
        out, args = tmp_path / args[0].removeprefix("OUT="), args[1:]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, err, out, reports = run_flow(tiny, tmp_path, capsys, *args, out=out)
    line = error_line(err)
    assert code == 2
    assert all(e in line for e in expected), line
    assert not reports.exists()  # refused before validation, which writes the report
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing created
    assert not leftovers(tmp_path)
    if "exists" in case:
        assert (tmp_path / "tfrecords").is_file() or (
            tmp_path / "tfrecords" / "keep.txt"
        ).read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_read_only_output_parent(tiny, tmp_path, capsys):
    parent = _mkdir(tmp_path / "ro")
    parent.chmod(0o555)
    try:
        code, err, _, reports = run_flow(tiny, tmp_path, capsys, out=parent / "shards")
    finally:
        parent.chmod(0o755)
    assert code == 2 and "ro is not writable" in error_line(err) and not reports.exists()


def test_grouped_split_with_too_few_participants(tiny, tmp_path, capsys):
    code, err, out, _ = run_flow(tiny, tmp_path, capsys, "--mode", "grouped", "--n-folds", "4")
    assert code == 2 and "needs at least 5 participants" in error_line(err)
    assert not out.exists() and not leftovers(tmp_path)


def test_recording_over_max_frames_is_never_loaded(tiny, tmp_path, capsys):
    """The frame count comes from the footer: data pages that cannot be decoded are
    never touched, so only the frame count is reported (and memory stays small)."""
    too_long(tiny, corrupt_body=True)
    assert "not a readable" in str(profile_recording(str(tiny / VICTIM))["read_error"])
    profile = profile_recording(str(tiny / VICTIM), max_frames=1000)
    assert profile["n_frames"] == 1001 and profile["read_error"] is None
    code, err, _, reports = run_flow(tiny, tmp_path, capsys)
    assert code == 2 and "frame count in [1, 1000] (observed: 1001)" in error_line(err)
    issues = json.loads((reports / "validation_report.json").read_text())["issues"]
    assert [i["check"] for i in issues] == ["frame count in [1, 1000]"]


def test_long_recording_is_profiled_in_chunks_like_in_one_piece(real_data_dir):
    file = str(real_data_dir / "train_landmark_files/16069/10042041.parquet")
    whole = profile_recording(file)
    assert whole["n_frames"] == 105 and whole["hand_frames"] == 6
    for frames_per_chunk in (1, 7, 104):
        assert profile_recording(file, frames_per_chunk=frames_per_chunk) == whole


def test_quarantine_under_the_limit_converts_the_rest(tiny, tmp_path, capsys):
    QUARANTINED["same file listed twice under two participants"][0](tiny)
    code, _, out, reports = run_flow(tiny, tmp_path, capsys, "--max-invalid-fraction", "0.25")
    assert code == 0
    report = json.loads((reports / "validation_report.json").read_text())
    # both lines naming the one file are quarantined: neither label can be trusted
    assert report["passed"] and report["n_valid"] == 8 and report["n_invalid"] == 2
    assert {i["file"] for i in report["issues"]} == {VICTIM}
    manifest = pd.read_csv(out / "fold_manifest.csv")
    assert len(manifest) == 8 and VICTIM not in set(manifest["path"])
    assert not leftovers(tmp_path)


def test_existing_empty_output_folder_is_used(tiny, tmp_path, capsys):
    _mkdir(tmp_path / "tfrecords")
    code, _, out, _ = run_flow(tiny, tmp_path, capsys)
    assert code == 0 and (out / "splits.json").is_file() and not leftovers(tmp_path)


def test_escaping_path_is_never_opened(tiny):
    set_cell("path", "../../etc/passwd")(tiny)
    recordings = ingest(tiny, workers=1, progress=False)
    row = recordings[recordings["path"] == "../../etc/passwd"].iloc[0]
    assert row["file"] is None and pd.isna(row["n_rows"]) and row["read_error"] is None


def test_read_index_keeps_ids_as_text_for_validation(tiny):
    index = read_index(tiny)
    assert index["participant_id"].tolist()[0] == "2044"
    assert index[["path_escape", "path_missing", "path_duplicate"]].isna().all().all()


def test_md5_of_a_folder_with_a_dangling_symlink(tiny, capsys):
    (tiny / "broken.parquet").symlink_to(tiny / "nowhere.parquet")
    assert main(["data", "md5", str(tiny)]) == 2
    line = error_line(capsys.readouterr().err)
    assert "broken.parquet: dangling symbolic link" in line and "nowhere.parquet" in line


def test_md5_of_a_missing_folder(tmp_path, capsys):
    assert main(["data", "md5", str(tmp_path / "nope")]) == 2
    assert "nope: data folder does not exist" in error_line(capsys.readouterr().err)


# --- real recordings pass under the default thresholds ------------------------------------

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"


@pytest.mark.parametrize(
    "folder, n", [("asl-signs-sample", 55), ("asl-signs-hello-thankyou", 209), (None, 9)]
)
def test_real_recordings_pass_the_default_thresholds(folder, n, real_data_dir):
    data = real_data_dir if folder is None else SHARED / folder
    if not data.is_dir():
        pytest.skip(f"{data} is not available (the shared real data sets live beside the clone)")
    recordings = ingest(data, workers=1, progress=False)
    config = ValidationConfig(max_invalid_fraction=0.0)
    valid, report = validate_recordings(recordings, config, sign_map_for(data), str(data))
    assert not report.issues and report.passed and report.n_valid == n
    assert valid["label"].tolist() == [sign_map_for(data)[s] for s in valid["sign"]]
    assert all(o.success for o in report.expectations) and len(report.expectations) >= 17


# --- the command line as a user runs it ----------------------------------------------------


def islr(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "islr.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_exit_codes_and_tracebacks_only_with_verbose(tiny, tmp_path):
    official_map_with(hello=0)(tiny)
    plain = islr("data", "validate", str(tiny), "--report-dir", "r", cwd=tmp_path)
    verbose = islr("-v", "data", "validate", str(tiny), "--report-dir", "r", cwd=tmp_path)
    for done in (plain, verbose):
        assert done.returncode == 2
        assert (
            done.stderr.strip()
            .splitlines()[-1]
            .startswith(
                f"islr data: error: {tiny / SIGN_MAP_NAME}: signs 'TV' and 'hello' share index 0"
            )
        )
    assert "Traceback" not in plain.stderr and "Traceback" in verbose.stderr
    assert "SignMapError" in verbose.stderr
    shutil.copy(Path(__file__).parents[1] / "data/asl-signs-real" / SIGN_MAP_NAME, tiny)
    QUARANTINED["frame numbers wrapping int16"][0](tiny)
    gate = islr("data", "validate", str(tiny), "--report-dir", "r", cwd=tmp_path)
    assert gate.returncode == 1 and "32000 then -32000" in gate.stdout
    assert (tmp_path / "r" / "validation_report.json").is_file()


def test_frame_order_is_checked_across_chunks(tiny):
    rewrite(tiny, frame_numbers([0, 1, 2, 3, 2, 5]))
    for frames_per_chunk in (1, 2, 4, 1024):
        profile = profile_recording(str(tiny / VICTIM), frames_per_chunk=frames_per_chunk)
        assert profile["frames_error"] == "frame numbers not strictly increasing: 3 then 2"
