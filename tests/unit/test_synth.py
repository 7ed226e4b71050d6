"""The synthetic asl-signs generator: exact format, determinism, realism, CLI (worker
processes and learnability are tests/integration/test_synth_learnable.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from islr.cli import main
from islr.data import synth
from islr.data.format import (
    CSV_COLUMNS,
    CSV_NAME,
    LANDMARK_DIR,
    PARQUET_SCHEMA,
    PART_SLICES,
    PARTS,
    ROWS_PER_FRAME,
    SIGN_MAP_NAME,
    load_sign_map,
    recording_relpath,
)
from islr.errors import ConfigError, DataFolderError

REAL_DATA = Path(__file__).resolve().parents[1] / "data" / "asl-signs-real"
HAND_ROWS = 21


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "asl-signs"
    synth.generate_dataset(
        out, n_signs=3, n_participants=3, per_sign=2, seed=5, workers=1, progress=False
    )
    return out


@pytest.fixture(scope="module")
def takes() -> list[tuple[synth.Participant, str, np.ndarray, np.ndarray]]:
    """300 recordings simulated in memory (no files): 25 signs x 6 participants x 2."""
    out = []
    for part in synth.make_participants(6, seed=11):
        for sign in synth.select_signs(25):
            for k in range(2):
                coords, frames = synth.simulate_recording(sign, part, 11, k)
                out.append((part, sign, coords, frames))
    return out


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------------------- layout


def test_folder_has_the_asl_signs_layout(small: Path) -> None:
    assert {p.name for p in small.iterdir()} == {
        CSV_NAME,
        SIGN_MAP_NAME,
        LANDMARK_DIR,
        synth.MARKER_NAME,
    }
    meta = pd.read_csv(small / CSV_NAME)
    assert tuple(meta.columns) == CSV_COLUMNS
    assert meta["participant_id"].dtype == np.int64
    assert meta["sequence_id"].dtype == np.int64
    assert len(meta) == 3 * 3 * 2
    assert meta["sequence_id"].is_unique
    assert meta["participant_id"].nunique() == 3
    assert sorted(meta["sign"].unique()) == sorted(synth.select_signs(3))
    assert (meta.groupby(["participant_id", "sign"]).size() == 2).all()
    for row in meta.itertuples():
        assert row.path == recording_relpath(row.participant_id, row.sequence_id)
        assert (small / row.path).is_file()
    assert load_sign_map(small / SIGN_MAP_NAME) == load_sign_map()
    assert json.loads((small / synth.MARKER_NAME).read_text())["seed"] == 5
    assert synth.is_synth_output(small)


def test_recordings_have_the_competition_schema_and_row_order(small: Path) -> None:
    files = sorted((small / LANDMARK_DIR).rglob("*.parquet"))
    assert len(files) == 18
    types = np.concatenate([np.full(n, name) for name, n in PARTS])
    index = np.concatenate([np.arange(n) for _, n in PARTS])
    for path in files[:6]:
        table = pq.read_table(path)
        assert table.schema.remove_metadata() == PARQUET_SCHEMA
        df = table.to_pandas()
        assert str(df["frame"].dtype) == "int16" and str(df["landmark_index"].dtype) == "int16"
        assert len(df) % ROWS_PER_FRAME == 0
        n = len(df) // ROWS_PER_FRAME
        frames = df["frame"].to_numpy().reshape(n, ROWS_PER_FRAME)
        assert (frames == frames[:, :1]).all()
        assert (np.diff(frames[:, 0]) == 1).all() and frames[0, 0] >= 0
        assert (df["type"].to_numpy().reshape(n, -1) == types).all()
        assert (df["landmark_index"].to_numpy().reshape(n, -1) == index).all()
        expected = [
            f"{f}-{t}-{i}"
            for f, t, i in zip(df["frame"], df["type"], df["landmark_index"], strict=True)
        ]
        assert df["row_id"].tolist() == expected
        xyz = df[["x", "y", "z"]].to_numpy()
        assert xyz.dtype == np.float64
        finite = xyz[~np.isnan(xyz)]
        assert (finite.astype(np.float32).astype(np.float64) == finite).all()


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason="real fixture files not present")
def test_files_match_a_real_recording(small: Path) -> None:
    real_meta = pd.read_csv(REAL_DATA / CSV_NAME)
    ours_meta = pd.read_csv(small / CSV_NAME)
    assert list(real_meta.columns) == list(ours_meta.columns)
    assert real_meta.dtypes.astype(str).tolist() == ours_meta.dtypes.astype(str).tolist()
    real = REAL_DATA / real_meta["path"].iloc[0]
    ours = small / ours_meta["path"].iloc[0]
    assert pq.read_schema(real).remove_metadata() == pq.read_schema(ours).remove_metadata()
    real_df, ours_df = pd.read_parquet(real), pd.read_parquet(ours)
    assert real_df.dtypes.astype(str).tolist() == ours_df.dtypes.astype(str).tolist()
    n = ROWS_PER_FRAME
    assert real_df["row_id"].str.split("-", n=1).str[1].iloc[:n].tolist() == (
        ours_df["row_id"].str.split("-", n=1).str[1].iloc[:n].tolist()
    )


# ----------------------------------------------------------------------- determinism


def test_signs_and_participants_do_not_depend_on_the_data_set_size() -> None:
    assert synth.make_participants(5, seed=7)[:3] == synth.make_participants(3, seed=7)
    assert synth.select_signs(10)[:4] == synth.select_signs(4)
    assert synth.sign_signature("hello") == synth.sign_signature("hello")
    part = synth.make_participants(2, seed=7)[1]
    first, frames = synth.simulate_recording("hello", part, 7, 0)
    again, frames_again = synth.simulate_recording("hello", part, 7, 0)
    assert np.array_equal(first, again, equal_nan=True)
    assert np.array_equal(frames, frames_again)


# --------------------------------------------------------------------------- realism


def test_frame_counts_are_distributed_like_real_ones(takes) -> None:
    lengths = np.array([len(c) for _, _, c, _ in takes])
    starts = np.array([f[0] for *_, f in takes])
    assert lengths.min() >= 2
    assert lengths.max() <= 300
    assert 15 <= np.median(lengths) <= 35
    assert (lengths > 60).any()  # a long tail of takes with idle frames
    assert (starts == 0).any() and (starts > 0).mean() > 0.3


def test_missing_parts_are_whole_parts(takes) -> None:
    for part, sign, coords, _ in takes:
        for name in ("left_hand", "right_hand"):
            nan = np.isnan(coords[:, PART_SLICES[name]]).sum(axis=(1, 2))
            assert set(np.unique(nan)) <= {0, HAND_ROWS * 3}, (part.index, sign, name)
        assert not np.isnan(coords[:, PART_SLICES["pose"]]).any()
        face_nan = np.isnan(coords[:, PART_SLICES["face"]]).sum(axis=(1, 2))
        assert set(np.unique(face_nan)) <= {0, 468 * 3}
        assert (face_nan == 0).mean() > 0.5


def _seen(coords: np.ndarray, hand: str) -> np.ndarray:
    return ~np.isnan(coords[:, PART_SLICES[hand]][:, 0, 0])


def test_dominant_hand_is_tracked_and_the_other_mostly_missing(takes) -> None:
    dominant, other, any_dominant = [], [], []
    for part, sign, coords, _ in takes:
        dom, oth = ("left_hand", "right_hand") if part.left_handed else ("right_hand", "left_hand")
        any_dominant.append(_seen(coords, dom).any())
        if synth.sign_signature(sign).hands == "one":
            dominant.append(_seen(coords, dom).mean())
            other.append(_seen(coords, oth).mean())
    assert 0.25 < np.mean(dominant) < 0.9  # hands are often missed, as in the real data
    assert np.mean(other) < 0.02
    assert all(any_dominant)  # the recorder kept each take because it saw a hand


def test_left_handers_sign_with_mediapipe_left_hand() -> None:
    parts = synth.make_participants(40, seed=0)
    lefty = next(p for p in parts if p.left_handed)
    righty = next(p for p in parts if not p.left_handed)
    for part, dom, oth in ((lefty, "left_hand", "right_hand"), (righty, "right_hand", "left_hand")):
        seen_dom = seen_oth = 0
        for sign in synth.select_signs(8):
            if synth.sign_signature(sign).hands != "one":
                continue
            coords, _ = synth.simulate_recording(sign, part, 0, 0)
            seen_dom += _seen(coords, dom).sum()
            seen_oth += _seen(coords, oth).sum()
        assert seen_dom > 5 * max(seen_oth, 1)


def test_body_follows_the_hands_and_values_look_like_mediapipe(takes) -> None:
    pose = PART_SLICES["pose"]
    for _, _, coords, _ in takes[::5]:
        p = coords[:, pose]
        for hand, wrist in (("right_hand", 16), ("left_hand", 15)):
            seen = _seen(coords, hand)
            if seen.any():
                gap = coords[seen, PART_SLICES[hand].start, :2] - p[seen, wrist, :2]
                assert np.abs(gap).max() < 0.06
                hz = coords[seen, PART_SLICES[hand], 2]
                assert np.abs(coords[seen, PART_SLICES[hand].start, 2]).max() < 1e-3
                assert np.abs(hz).max() < 1.0
        face = coords[:, PART_SLICES["face"]]
        assert np.nanmin(face[..., :2]) > -0.1 and np.nanmax(face[..., :2]) < 1.1
        assert np.nanmax(np.abs(face[..., 2])) < 0.3
        assert (p[:, 25:33, 1] > 1.0).mean() > 0.9  # legs below the picture
        assert np.abs(p[..., 2]).max() > 0.5  # pose depth is on a larger scale


# ------------------------------------------------------------------ folder and CLI


def test_cli_generates_regenerates_and_refuses_foreign_folders(tmp_path: Path, capsys) -> None:
    out = tmp_path / "data"
    argv = ["synth", str(out), "--signs", "2", "--participants", "2", "--per-sign", "1"]
    assert main([*argv, "--seed", "3"]) == 0
    assert "4 recordings" in capsys.readouterr().out
    assert len(pd.read_csv(out / CSV_NAME)) == 4
    assert main([*argv, "--seed", "4"]) == 0  # an earlier synth output is replaced
    assert json.loads((out / synth.MARKER_NAME).read_text())["seed"] == 4

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    argv[1] = str(foreign)
    assert main(argv) == 2
    assert str(foreign) in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert main([*argv, "--overwrite"]) == 0
    assert not (foreign / "notes.txt").exists() and (foreign / CSV_NAME).is_file()


def test_refuses_to_write_into_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("path\n")
    with pytest.raises(DataFolderError, match=str(tmp_path)):
        synth.generate_dataset(tmp_path, 1, 1, 1, progress=False)
    assert (tmp_path / "train.csv").read_text() == "path\n"


def test_a_crash_leaves_no_half_written_folder(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "data"
    synth.generate_dataset(out, 2, 2, 1, seed=1, progress=False)
    before = _digests(out)
    calls = []

    def failing(path, coords, frames=None):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        synth_write(path, coords, frames)

    synth_write = synth.write_recording
    monkeypatch.setattr(synth, "write_recording", failing)
    with pytest.raises(OSError, match="disk full"):
        synth.generate_dataset(out, 2, 2, 2, seed=2, progress=False)
    assert _digests(out) == before  # the previous data set is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no temporary left


@pytest.mark.parametrize(
    "kwargs",
    [{"n_signs": 0}, {"n_signs": 251}, {"n_participants": 0}, {"per_sign": 0}, {"seed": -1}],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    args = {"n_signs": 2, "n_participants": 2, "per_sign": 1, "seed": 0, **kwargs}
    with pytest.raises(ConfigError):
        synth.generate_dataset(tmp_path / "data", progress=False, **args)
    assert not (tmp_path / "data").exists()
