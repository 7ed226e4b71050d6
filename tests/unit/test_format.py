"""The asl-signs format module against the real files."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from islr.data.format import (
    PARQUET_SCHEMA,
    PART_SLICES,
    ROWS_PER_FRAME,
    index_to_sign,
    load_sign_map,
    read_recording,
    write_recording,
)
from islr.errors import RecordingError


def test_official_sign_map_has_250_signs():
    sign_map = load_sign_map()
    assert len(sign_map) == 250
    assert sorted(sign_map.values()) == list(range(250))
    assert index_to_sign()[sign_map["hello"]] == "hello"


def test_part_layout_matches_real_rows(real_data_dir):
    df = pd.read_parquet(real_data_dir / "train_landmark_files/2044/3902070209.parquet")
    first = df.iloc[:ROWS_PER_FRAME]
    for part, sl in PART_SLICES.items():
        assert (first["type"].iloc[sl] == part).all()
        assert list(first["landmark_index"].iloc[sl]) == list(range(sl.stop - sl.start))


def test_written_file_has_the_real_schema_and_round_trips(real_data_dir, tmp_path):
    real = real_data_dir / "train_landmark_files/2044/3902070209.parquet"
    coords = read_recording(real).astype(np.float64)
    frames = pd.read_parquet(real, columns=["frame"])["frame"].to_numpy()[::ROWS_PER_FRAME]
    out = tmp_path / "x.parquet"
    write_recording(out, coords, frames)
    assert pq.read_schema(out).remove_metadata() == PARQUET_SCHEMA
    assert pq.read_schema(out).remove_metadata() == pq.read_schema(real).remove_metadata()
    ours, theirs = pd.read_parquet(out), pd.read_parquet(real)
    pd.testing.assert_frame_equal(ours, theirs)  # same values, dtypes and row ids
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_read_recording_names_the_file_when_broken(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(RecordingError, match=r"bad\.parquet"):
        read_recording(bad)
    with pytest.raises(RecordingError, match="missing"):
        read_recording(tmp_path / "nope.parquet")
