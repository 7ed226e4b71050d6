"""Ingest a folder in the asl-signs layout: index `train.csv`, profile every recording.

Ingestion never loads a whole data set into memory: each recording is read (only the
columns validation needs, never `row_id`) in a worker process and reduced to a one-row
profile. The profiles are what the Great Expectations suites validate, so validating
94,477 recordings costs one pass over the files plus one suite run on a table.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from islr.data.format import (
    CHECK_COLUMNS,
    CSV_COLUMNS,
    CSV_NAME,
    PARQUET_SCHEMA,
    PART_SLICES,
    ROW_LANDMARK_INDEX,
    ROW_TYPES,
    ROWS_PER_FRAME,
    SIGN_MAP_NAME,
    load_sign_map,
)
from islr.errors import DataFolderError, MetadataError
from islr.parallel import parallel_map

log = logging.getLogger(__name__)

HAND_PARTS = ("left_hand", "right_hand")
# Profile columns, in the order they appear in the recordings table.
PROFILE_COLUMNS: tuple[str, ...] = (
    "read_error",
    "schema_error",
    "n_rows",
    "rows_remainder",
    "n_frames",
    "order_error",
    "frames_error",
    "n_nonfinite",
    *(f"nan_frac_{part}" for part in PART_SLICES),
    "hand_frames",
)


def resolve_data_dir(data_dir: str | os.PathLike[str]) -> Path:
    """Check that `data_dir` is an asl-signs folder and return its absolute path."""
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise DataFolderError(
            f"{data_dir}: data folder does not exist. Pass a folder in the asl-signs layout "
            f"({CSV_NAME} + train_landmark_files/), e.g. the embedded `data/`."
        )
    if not root.is_dir():
        raise DataFolderError(f"{data_dir}: not a directory")
    if not (root / CSV_NAME).is_file():
        raise DataFolderError(
            f"{root}: no {CSV_NAME} in the data folder; an asl-signs folder holds "
            f"{CSV_NAME} with columns {', '.join(CSV_COLUMNS)}"
        )
    return root.resolve()


def sign_map_for(root: Path) -> dict[str, int]:
    """The folder's own sign map when it ships one, else the official 250-sign map."""
    own = root / SIGN_MAP_NAME
    return load_sign_map(str(own)) if own.is_file() else load_sign_map()


def read_index(data_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Read `train.csv` as text (validation decides what is a valid id), add path checks.

    Added columns: `path_escape` (the path when it is absolute or leaves the data
    folder, else None), `path_missing` (the path when no file is there, else None) and
    `file` (absolute path of the recording, only for safe paths).
    """
    root = resolve_data_dir(data_dir)
    csv = root / CSV_NAME
    try:
        df = pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError as exc:
        raise MetadataError(
            f"{csv}: file is empty; expected a header "
            f"{','.join(CSV_COLUMNS)} and one row per recording"
        ) from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{csv}: not a readable CSV ({exc})") from exc
    missing = [c for c in CSV_COLUMNS if c not in df.columns]
    if missing:
        raise MetadataError(
            f"{csv}: missing column(s) {', '.join(missing)}; found {', '.join(df.columns)}"
        )
    if df.empty:
        raise MetadataError(f"{csv}: no recordings listed (header only)")
    df = df[list(CSV_COLUMNS)].copy()
    escape, missing_file, files = [], [], []
    for rel in df["path"]:
        target = None
        if not isinstance(rel, str) or not rel:  # reported as "path is present"
            escape.append(None)
            files.append(None)
            missing_file.append(None)
            continue
        if not os.path.isabs(rel):
            candidate = (root / rel).resolve()
            if candidate.is_relative_to(root):
                target = candidate
        escape.append(None if target is not None else rel)
        files.append(str(target) if target is not None else None)
        missing_file.append(rel if target is not None and not target.is_file() else None)
    df["path_escape"] = pd.Series(escape, index=df.index, dtype=object)
    df["path_missing"] = pd.Series(missing_file, index=df.index, dtype=object)
    df["file"] = pd.Series(files, index=df.index, dtype=object)
    return df.reset_index(drop=True)


def _schema_error(schema: pa.Schema) -> str | None:
    """Describe how a file's schema differs from the asl-signs one (None when equal)."""
    problems = []
    have = {f.name: f.type for f in schema}
    missing = [f.name for f in PARQUET_SCHEMA if f.name not in have]
    if missing:
        problems.append("missing columns " + ", ".join(missing))
    for field in PARQUET_SCHEMA:
        actual = have.get(field.name)
        if actual is None or actual == field.type:
            continue
        if field.type == pa.string() and actual == pa.large_string():
            continue  # same values, other offset width
        problems.append(f"{field.name} is {actual} (expected {field.type})")
    return "; ".join(problems) or None


def profile_recording(file: str | None) -> dict:
    """Reduce one recording to the measurements the recording suite checks.

    Never raises for bad content: problems become values (an error text or a count) so
    they can be reported with the file name instead of stopping the run.
    """
    out: dict = dict.fromkeys(PROFILE_COLUMNS)
    if file is None:
        return out
    try:
        pf = pq.ParquetFile(file)
        schema = pf.schema_arrow
    except FileNotFoundError:
        out["read_error"] = "file not found"
        return out
    except (pa.ArrowException, OSError) as exc:
        out["read_error"] = f"not a readable parquet file ({type(exc).__name__}: {exc})"
        return out
    out["schema_error"] = _schema_error(schema)
    out["n_rows"] = pf.metadata.num_rows
    out["rows_remainder"] = pf.metadata.num_rows % ROWS_PER_FRAME
    if out["schema_error"] is not None:
        return out
    try:
        table = pf.read(columns=list(CHECK_COLUMNS), use_threads=False)
    except (pa.ArrowException, OSError) as exc:
        out["read_error"] = f"cannot read columns ({type(exc).__name__}: {exc})"
        return out
    n_rows = table.num_rows
    if n_rows == 0 or n_rows % ROWS_PER_FRAME:
        return out
    n_frames = n_rows // ROWS_PER_FRAME
    out["n_frames"] = n_frames

    types = table.column("type").to_numpy(zero_copy_only=False).reshape(n_frames, ROWS_PER_FRAME)
    index = (
        table.column("landmark_index")
        .to_numpy(zero_copy_only=False)
        .reshape(n_frames, ROWS_PER_FRAME)
    )
    bad = (types != ROW_TYPES) | (index != ROW_LANDMARK_INDEX)
    if bad.any():
        f, r = (int(v) for v in np.argwhere(bad)[0])
        out["order_error"] = (
            f"frame {f} row {r}: {types[f, r]} {index[f, r]} "
            f"(expected {ROW_TYPES[r]} {ROW_LANDMARK_INDEX[r]})"
        )

    frames = table.column("frame").to_numpy(zero_copy_only=False).reshape(n_frames, ROWS_PER_FRAME)
    if (frames != frames[:, :1]).any():
        f = int(np.argwhere((frames != frames[:, :1]).any(axis=1))[0][0])
        out["frames_error"] = f"frame block {f} mixes frame numbers {sorted(set(frames[f]))[:3]}"
    elif n_frames > 1 and (np.diff(frames[:, 0]) <= 0).any():
        f = int(np.argwhere(np.diff(frames[:, 0]) <= 0)[0][0])
        out["frames_error"] = (
            f"frame numbers not increasing: {int(frames[f, 0])} then {int(frames[f + 1, 0])}"
        )

    xyz = np.stack(
        [table.column(c).to_numpy(zero_copy_only=False) for c in ("x", "y", "z")], axis=-1
    ).reshape(n_frames, ROWS_PER_FRAME, 3)
    out["n_nonfinite"] = int(np.isinf(xyz).sum())
    nan = np.isnan(xyz)
    for part, sl in PART_SLICES.items():
        out[f"nan_frac_{part}"] = float(nan[:, sl].mean())
    hand_present = np.zeros(n_frames, dtype=bool)
    for part in HAND_PARTS:
        hand_present |= ~nan[:, PART_SLICES[part]].all(axis=(1, 2))
    out["hand_frames"] = int(hand_present.sum())
    return out


def profile_recordings(
    files: list[str | None], workers: int | None = None, progress: bool = True
) -> pd.DataFrame:
    """Profile recordings in parallel; one row per input, in input order."""
    rows = list(
        parallel_map(
            profile_recording,
            files,
            workers=workers,
            desc="ingest",
            chunksize=16,
            min_per_worker=32,
            progress=progress,
        )
    )
    profiles = pd.DataFrame(rows, columns=list(PROFILE_COLUMNS))
    for col in ("read_error", "schema_error", "order_error", "frames_error"):
        profiles[col] = profiles[col].astype(object)
    for col in ("n_rows", "rows_remainder", "n_frames", "n_nonfinite", "hand_frames"):
        profiles[col] = profiles[col].astype("Int64")
    return profiles


def ingest(
    data_dir: str | os.PathLike[str], workers: int | None = None, progress: bool = True
) -> pd.DataFrame:
    """Index and profile a data folder: one row per line of `train.csv`.

    Rows whose path is unsafe or missing are not opened; their profile stays empty and
    validation reports them.
    """
    index = read_index(data_dir)
    safe = index["file"].where(index["path_missing"].isna(), None)
    log.info("ingesting %d recordings from %s", len(index), data_dir)
    profiles = profile_recordings(list(safe), workers=workers, progress=progress)
    return pd.concat([index, profiles], axis=1)
