"""Ingest a folder in the asl-signs layout: index `train.csv`, profile every recording.

Ingestion never loads a whole data set into memory: each recording is read (only the
columns validation needs, never `row_id`) in a worker process and reduced to a one-row
profile. The profiles are what the Great Expectations suites validate, so validating
94,477 recordings costs one pass over the files plus one suite run on a table.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from functools import cache, partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from islr.data.format import (
    CHECK_COLUMNS,
    COORD_COLUMNS,
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
# Frames read at a time when profiling: ~60 MB per worker; real recordings (<= 537
# frames in the full competition set) are read in one piece.
CHUNK_FRAMES = 1024
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
    """The folder's own sign map when it ships one, else the official 250-sign map.

    The map is checked when loaded (one sign per index, indices 0..N-1); SignMapError
    names the file and the offending sign and index.
    """
    own = Path(root) / SIGN_MAP_NAME
    return load_sign_map(own) if own.is_file() or own.is_symlink() else load_sign_map()


# The largest id an int64 TFRecord feature (and the int64 manifest columns) can hold.
MAX_ID = 2**63 - 1


def id_problem(text: object) -> object:
    """None when `text` is a non-negative integer that fits int64, else the text itself
    (the observed value of the failed check)."""
    if not isinstance(text, str):
        return None  # missing: reported by the "is present" check
    if text.isascii() and text.isdigit() and int(text) <= MAX_ID:
        return None
    return text


def _path_problems(root: Path, rel: object) -> tuple[str | None, str | None, str | None]:
    """(escape, missing, file) for one `path` cell; see `read_index`."""
    if not isinstance(rel, str) or not rel:
        return None, None, None  # reported as "path is present"
    if os.path.isabs(rel):
        return f"{rel} (an absolute path)", None, None
    lexical = Path(os.path.normpath(root / rel))
    if not lexical.is_relative_to(root):
        return f"{rel} (leads outside the data folder)", None, None
    try:
        target = (root / rel).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte
        return None, f"{rel} (not a usable path: {exc})", None
    if not target.is_relative_to(root):
        link = next((p for p in [*reversed(lexical.parents), lexical] if p.is_symlink()), lexical)
        return (
            (
                f"{rel} (symbolic link {link.relative_to(root)} -> {os.readlink(link)} "
                f"resolves to {target}, outside the data folder)"
            ),
            None,
            None,
        )
    if target.is_file():
        return None, None, str(target)
    if (root / rel).is_symlink():
        missing = f"{rel} (symbolic link to {os.readlink(root / rel)}, which does not exist)"
    elif target.is_dir():
        missing = f"{rel} (a folder, not a file)"
    else:
        missing = rel
    return None, missing, str(target)


def read_index(data_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Read `train.csv` as text (validation decides what is a valid id), add path checks.

    Added columns, each None when the row passes and otherwise the value to report:
    `path_escape` (absolute path, `..` or a symbolic link leaving the data folder),
    `path_missing` (no file there), `path_duplicate` (the file is also listed on other
    lines: one recording must not carry two labels or sit in two folds),
    `participant_id_error` / `sequence_id_error` (not a non-negative integer that fits
    int64); plus `sequence_key` (the id as a canonical integer, for uniqueness) and
    `file` (absolute path of the recording, only for safe paths).
    """
    root = resolve_data_dir(data_dir)
    csv = root / CSV_NAME
    try:
        with warnings.catch_warnings():
            # more fields than the header: pandas would silently shift the columns into
            # an index (index_col=None) or drop data (index_col=False) and only warn
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""], index_col=False)
    except pd.errors.ParserWarning as exc:
        raise MetadataError(
            f"{csv}: not a readable CSV (a row has more fields than the header: {exc})"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise MetadataError(
            f"{csv}: file is empty; expected a header "
            f"{','.join(CSV_COLUMNS)} and one row per recording"
        ) from exc
    except pd.errors.ParserError as exc:
        raise MetadataError(f"{csv}: not a readable CSV ({str(exc).strip()})") from exc
    except UnicodeDecodeError as exc:
        raise MetadataError(
            f"{csv}: not UTF-8 text (byte {exc.start}: {exc.object[exc.start : exc.start + 1]!r}); "
            "train.csv must be a UTF-8 CSV file"
        ) from exc
    except OSError as exc:
        raise MetadataError(f"{csv}: cannot read ({exc.strerror or exc})") from exc
    missing = [c for c in CSV_COLUMNS if c not in df.columns]
    if missing:
        found = ", ".join(map(str, df.columns))
        raise MetadataError(f"{csv}: missing column(s) {', '.join(missing)}; found {found}")
    if df.empty:
        raise MetadataError(f"{csv}: no recordings listed (header only)")
    df = df[list(CSV_COLUMNS)].copy().reset_index(drop=True)
    checked = [_path_problems(root, rel) for rel in df["path"]]
    escape, missing_file, files = (list(col) for col in zip(*checked, strict=True))
    lines = range(2, len(df) + 2)  # line numbers in train.csv (header is line 1)
    by_file: dict[str, list[int]] = {}
    for line, file in zip(lines, files, strict=True):
        if file is not None:
            by_file.setdefault(file, []).append(line)
    duplicate = []
    for line, rel, file in zip(lines, df["path"], files, strict=True):
        others = [other for other in by_file.get(file, []) if other != line] if file else []
        duplicate.append(
            f"{rel} (also listed on line {', '.join(map(str, others))})" if others else None
        )
    df["path_escape"] = pd.Series(escape, index=df.index, dtype=object)
    df["path_missing"] = pd.Series(missing_file, index=df.index, dtype=object)
    df["path_duplicate"] = pd.Series(duplicate, index=df.index, dtype=object)
    for col in ("participant_id", "sequence_id"):
        df[f"{col}_error"] = pd.Series(map(id_problem, df[col]), index=df.index, dtype=object)
    df["sequence_key"] = pd.Series(
        [
            str(int(t)) if isinstance(t, str) and id_problem(t) is None else t
            for t in df["sequence_id"]
        ],
        index=df.index,
        dtype=object,
    )
    usable = [f if m is None else None for f, m in zip(files, missing_file, strict=True)]
    df["file"] = pd.Series(usable, index=df.index, dtype=object)
    return df


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


def _frame_chunks(pf: pq.ParquetFile, frames_per_chunk: int) -> Iterator[pa.Table]:
    """The file's check columns in tables of whole frames, `frames_per_chunk` at most,
    so that a recording of any length is profiled in bounded memory."""
    rows_per_chunk = frames_per_chunk * ROWS_PER_FRAME
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in pf.iter_batches(
        batch_size=rows_per_chunk, columns=list(CHECK_COLUMNS), use_threads=False
    ):
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= rows_per_chunk:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows_per_chunk)
            rest = table.slice(rows_per_chunk)
            pending, pending_rows = rest.to_batches(), rest.num_rows
    if pending_rows:
        yield pa.Table.from_batches(pending)


@cache
def _canonical_rows(n_frames: int) -> tuple[pa.Array, pa.Array]:
    """The canonical `type` and `landmark_index` columns of `n_frames` frames."""
    return (
        pa.array(np.tile(ROW_TYPES, n_frames).astype(str), pa.string()),
        pa.array(np.tile(ROW_LANDMARK_INDEX, n_frames), pa.int16()),
    )


def _nulls(table: pa.Table, columns: tuple[str, ...]) -> str | None:
    counts = {c: table.column(c).null_count for c in columns}
    bad = [f"{c} is missing in {n} rows" for c, n in counts.items() if n]
    return "; ".join(bad) or None


def profile_recording(
    file: str | None, max_frames: int | None = None, frames_per_chunk: int = CHUNK_FRAMES
) -> dict:
    """Reduce one recording to the measurements the recording suite checks.

    The frame count comes from the parquet footer first: a file whose row count is not
    a whole number of frames, or that holds more than `max_frames` frames, is reported
    without reading its data. The rest is read `frames_per_chunk` frames at a time, so
    memory stays bounded whatever the length. Never raises for bad content: problems
    become values (an error text or a count) so they can be reported with the file name
    instead of stopping the run.
    """
    out: dict = dict.fromkeys(PROFILE_COLUMNS)
    if file is None:
        return out
    try:
        _profile_into(out, file, max_frames, frames_per_chunk)
    except FileNotFoundError:
        out["read_error"] = "file not found"
    except Exception as exc:  # any unreadable content is a finding about this file
        out["read_error"] = f"not a readable parquet file ({type(exc).__name__}: {exc})"
    return out


def _profile_into(out: dict, file: str, max_frames: int | None, frames_per_chunk: int) -> None:
    # pre_buffer (pyarrow's default) caches every row group read until the file is
    # closed: 1.6 GB for a 100,000-frame file instead of ~0.2 GB
    pf = pq.ParquetFile(file, pre_buffer=False)
    out["schema_error"] = _schema_error(pf.schema_arrow)
    n_rows = pf.metadata.num_rows
    out["n_rows"] = n_rows
    out["rows_remainder"] = n_rows % ROWS_PER_FRAME
    if out["schema_error"] is not None or out["rows_remainder"]:
        return
    n_frames = n_rows // ROWS_PER_FRAME
    out["n_frames"] = n_frames
    if n_frames == 0 or (max_frames is not None and n_frames > max_frames):
        return  # the frame count check reports it; the data is never loaded

    seen = 0  # frames profiled so far
    last_frame: int | None = None
    n_inf = 0
    nan_counts = dict.fromkeys(PART_SLICES, 0)
    hand_frames = 0
    for chunk in _frame_chunks(pf, frames_per_chunk):
        n = chunk.num_rows // ROWS_PER_FRAME
        if out["order_error"] is None:
            out["order_error"] = _nulls(chunk, ("type", "landmark_index"))
        if out["order_error"] is None:
            types, index = _canonical_rows(n)
            ok = pc.and_(
                pc.equal(chunk.column("type"), types),
                pc.equal(chunk.column("landmark_index"), index),
            )
            ok = pc.fill_null(ok, False).to_numpy(zero_copy_only=False)
            if not ok.all():
                row = int(np.argmin(ok))
                f, r = divmod(row, ROWS_PER_FRAME)
                out["order_error"] = (
                    f"frame {seen + f} row {r}: {chunk.column('type')[row].as_py()} "
                    f"{chunk.column('landmark_index')[row].as_py()} "
                    f"(expected {ROW_TYPES[r]} {ROW_LANDMARK_INDEX[r]})"
                )
        if out["frames_error"] is None:
            out["frames_error"] = _nulls(chunk, ("frame",))
        if out["frames_error"] is None:
            # int64 before any arithmetic: differences of int16 values wrap around
            frames = chunk.column("frame").to_numpy().astype(np.int64).reshape(n, ROWS_PER_FRAME)
            mixed = (frames != frames[:, :1]).any(axis=1)
            if mixed.any():
                f = int(np.argmax(mixed))
                values = sorted({int(v) for v in frames[f]})[:3]
                out["frames_error"] = f"frame block {seen + f} mixes frame numbers {values}"
            else:
                firsts = frames[:, 0]
                if last_frame is not None:
                    firsts = np.concatenate([[last_frame], firsts])
                step = np.diff(firsts)
                if (step <= 0).any():
                    i = int(np.argmax(step <= 0))
                    out["frames_error"] = (
                        f"frame numbers not strictly increasing: {int(firsts[i])} then "
                        f"{int(firsts[i + 1])}"
                    )
                last_frame = int(frames[-1, 0])

        xyz = np.stack(
            [chunk.column(c).to_numpy(zero_copy_only=False) for c in COORD_COLUMNS], axis=-1
        ).reshape(n, ROWS_PER_FRAME, 3)
        n_inf += int(np.isinf(xyz).sum())
        nan = np.isnan(xyz)
        for part, sl in PART_SLICES.items():
            nan_counts[part] += int(nan[:, sl].sum())
        hand_present = np.zeros(n, dtype=bool)
        for part in HAND_PARTS:
            hand_present |= ~nan[:, PART_SLICES[part]].all(axis=(1, 2))
        hand_frames += int(hand_present.sum())
        seen += n
    if seen != n_frames:
        raise ValueError(f"the footer lists {n_frames} frames but {seen} could be read")
    out["n_nonfinite"] = n_inf
    for part, sl in PART_SLICES.items():
        out[f"nan_frac_{part}"] = nan_counts[part] / (n_frames * (sl.stop - sl.start) * 3)
    out["hand_frames"] = hand_frames


def profile_recordings(
    files: list[str | None],
    workers: int | None = None,
    progress: bool = True,
    max_frames: int | None = None,
) -> pd.DataFrame:
    """Profile recordings in parallel; one row per input, in input order."""
    rows = list(
        parallel_map(
            partial(profile_recording, max_frames=max_frames),
            files,
            workers=workers,
            desc="ingest",
            chunksize=16,
            # a spawned worker takes about 1 s to start, longer than this process needs
            # to profile a few hundred recordings itself (like RECORDS_PER_WORKER for
            # the TFRecord writers)
            min_per_worker=512,
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
    data_dir: str | os.PathLike[str],
    workers: int | None = None,
    progress: bool = True,
    max_frames: int | None = None,
) -> pd.DataFrame:
    """Index and profile a data folder: one row per line of `train.csv`.

    The sign map and `train.csv` are checked before any recording is opened. Rows whose
    path is unsafe or missing are not opened; their profile stays empty and validation
    reports them. Recordings over `max_frames` frames are reported from their parquet
    footer without being loaded.
    """
    root = resolve_data_dir(data_dir)
    sign_map_for(root)  # a broken sign map stops the run here, before any reading
    index = read_index(root)
    log.info("ingesting %d recordings from %s", len(index), data_dir)
    profiles = profile_recordings(
        list(index["file"]), workers=workers, progress=progress, max_frames=max_frames
    )
    return pd.concat([index, profiles], axis=1)
