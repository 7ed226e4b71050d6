"""Bad input: every failure names the file and the problem, and leaves no partial output.

Each case breaks a copy of the real recordings, then runs the library flow the CLI uses
(ingest -> validate -> gate -> split -> TFRecords) with a zero-tolerance gate.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from islr.cli import main
from islr.data.format import CSV_NAME
from islr.data.ingest import ingest, read_index, sign_map_for
from islr.data.validate import ValidationConfig, validate_recordings

VICTIM = "train_landmark_files/2044/3902070209.parquet"


def run_flow(data_dir, tmp_path, capsys, max_invalid="0"):
    out = tmp_path / "tfrecords"
    reports = tmp_path / "reports"
    code = main(
        [
            "data",
            "tfrecords",
            str(data_dir),
            str(out),
            "--report-dir",
            str(reports),
            "--max-invalid-fraction",
            max_invalid,
            "--mode",
            "random",
            "--n-folds",
            "2",
            "--records-per-shard",
            "4",
            "--workers",
            "1",
        ]
    )
    err = capsys.readouterr().err
    return code, err, out, reports


def rewrite(path, fn):
    table = pq.read_table(path)
    pq.write_table(fn(table), path)


def edit_csv(data_dir, fn):
    csv = data_dir / CSV_NAME
    df = pd.read_csv(csv, dtype=str)
    fn(df)
    df.to_csv(csv, index=False)


CASES = {
    "corrupt parquet": (
        lambda d: (d / VICTIM).write_bytes(b"PAR1" + b"\x00garbage" * 50),
        "readable parquet file",
        "not a readable parquet file",
    ),
    "truncated parquet": (
        lambda d: (d / VICTIM).write_bytes((d / VICTIM).read_bytes()[:5000]),
        "readable parquet file",
        "not a readable parquet file",
    ),
    "missing file": (lambda d: (d / VICTIM).unlink(), "file exists", VICTIM),
    "wrong columns": (
        lambda d: rewrite(d / VICTIM, lambda t: t.drop_columns(["z"])),
        "columns and dtypes",
        "missing columns z",
    ),
    "wrong dtype": (
        lambda d: rewrite(
            d / VICTIM, lambda t: t.set_column(4, "x", t.column("x").cast(pa.float32()))
        ),
        "columns and dtypes",
        "x is float (expected double)",
    ),
    "rows not a multiple of 543": (
        lambda d: rewrite(d / VICTIM, lambda t: t.slice(0, t.num_rows - 1)),
        "row count is a multiple of 543",
        "left over",
    ),
    "rows out of canonical order": (
        lambda d: rewrite(
            d / VICTIM, lambda t: t.take([*range(1, 543), 0, *range(543, t.num_rows)])
        ),
        "canonical order",
        "frame 0 row 0",
    ),
    "infinite coordinate": (
        lambda d: rewrite(
            d / VICTIM,
            lambda t: t.set_column(
                4, "x", pa.array([float("inf"), *t.column("x").to_pylist()[1:]])
            ),
        ),
        "finite or NaN",
        "1",
    ),
    "unknown sign": (
        lambda d: edit_csv(
            d,
            lambda df: df.__setitem__(
                "sign", df["sign"].where(df["path"] != VICTIM, "flibbertigibbet")
            ),
        ),
        "sign is one of the known signs",
        "flibbertigibbet",
    ),
    "duplicate sequence id": (
        lambda d: edit_csv(
            d,
            lambda df: df.__setitem__(
                "sequence_id", df["sequence_id"].where(df.index != 1, df["sequence_id"][0])
            ),
        ),
        "sequence_id is unique",
        "3902070209",
    ),
    "relative path escaping the folder": (
        lambda d: edit_csv(
            d,
            lambda df: df.__setitem__(
                "path", df["path"].where(df["path"] != VICTIM, "../../etc/passwd")
            ),
        ),
        "path stays inside the data folder",
        "../../etc/passwd",
    ),
    "absolute path": (
        lambda d: edit_csv(
            d,
            lambda df: df.__setitem__(
                "path", df["path"].where(df["path"] != VICTIM, "/etc/passwd")
            ),
        ),
        "path stays inside the data folder",
        "/etc/passwd",
    ),
    "non-integer participant id": (
        lambda d: edit_csv(
            d,
            lambda df: df.__setitem__(
                "participant_id", df["participant_id"].where(df["path"] != VICTIM, "p2044")
            ),
        ),
        "participant_id is an integer",
        "p2044",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_recording_is_named_and_nothing_is_written(case, real_data_copy, tmp_path, capsys):
    breaker, check, observed = CASES[case]
    breaker(real_data_copy)
    code, err, out, reports = run_flow(real_data_copy, tmp_path, capsys)
    assert code == 2
    assert check in err and observed in err, err
    assert not out.exists()  # no TFRecords, not even a partial set
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))
    report = json.loads((reports / "validation_report.json").read_text())
    assert not report["passed"]
    assert any(check in i["check"] and observed in str(i["observed"]) for i in report["issues"])
    assert (reports / "validation_report.html").read_text().count(check) >= 1


def test_quarantine_under_the_limit_converts_the_rest(real_data_copy, tmp_path, capsys):
    CASES["corrupt parquet"][0](real_data_copy)
    code, _, out, reports = run_flow(real_data_copy, tmp_path, capsys, max_invalid="0.2")
    assert code == 0
    report = json.loads((reports / "validation_report.json").read_text())
    assert report["passed"] and report["n_valid"] == 8 and report["n_invalid"] == 1
    assert [i["file"] for i in report["issues"]] == [VICTIM]
    manifest = pd.read_csv(out / "fold_manifest.csv")
    assert len(manifest) == 8 and VICTIM not in set(manifest["path"])


def test_escaping_path_is_never_opened(real_data_copy):
    edit_csv(
        real_data_copy,
        lambda df: df.__setitem__(
            "path", df["path"].where(df["path"] != VICTIM, "../../etc/passwd")
        ),
    )
    recordings = ingest(real_data_copy, workers=1, progress=False)
    row = recordings[recordings["path"] == "../../etc/passwd"].iloc[0]
    assert row["file"] is None and pd.isna(row["n_rows"]) and row["read_error"] is None


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "file is empty"),
        ("path,participant_id,sequence_id,sign\n", "no recordings listed"),
        ("path,participant,sequence_id\nx,1,2\n", "missing column(s) participant_id, sign"),
    ],
)
def test_unusable_csv_is_a_clear_error(real_data_copy, tmp_path, capsys, content, message):
    (real_data_copy / CSV_NAME).write_text(content)
    code, err, out, _ = run_flow(real_data_copy, tmp_path, capsys)
    assert code == 2 and message in err and CSV_NAME in err
    assert not out.exists()


def test_missing_data_folder(tmp_path, capsys):
    code, err, out, _ = run_flow(tmp_path / "nowhere", tmp_path, capsys)
    assert code == 2 and "nowhere" in err and "does not exist" in err
    assert not out.exists()


def test_folder_without_csv(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, err, _, _ = run_flow(tmp_path / "empty", tmp_path, capsys)
    assert code == 2 and "no train.csv" in err


def test_real_recordings_pass_validation(real_data_dir):
    recordings = ingest(real_data_dir, workers=1, progress=False)
    valid, report = validate_recordings(
        recordings,
        ValidationConfig(max_invalid_fraction=0.0),
        sign_map_for(real_data_dir),
        str(real_data_dir),
    )
    assert report.passed and report.n_valid == 9 and not report.issues
    assert set(valid["sign"]) == {"hello", "thankyou", "green"}
    assert valid["label"].tolist() == [sign_map_for(real_data_dir)[s] for s in valid["sign"]]
    assert all(o.success for o in report.expectations) and len(report.expectations) >= 15


def test_read_index_keeps_ids_as_text_for_validation(real_data_copy):
    index = read_index(real_data_copy)
    assert index["participant_id"].tolist()[0] == "2044"
    assert index["path_escape"].isna().all() and index["path_missing"].isna().all()
