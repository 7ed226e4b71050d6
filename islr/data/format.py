"""The Google ISLR `asl-signs` format: layout, columns, dtypes, landmark order, sign map.

A data folder holds `train.csv` (path, participant_id, sequence_id, sign) and one parquet
file per recording at `train_landmark_files/<participant_id>/<sequence_id>.parquet`.
Each parquet has 543 rows per frame (face 0-467, left_hand 0-20, pose 0-32,
right_hand 0-20), columns frame int16, row_id str, type str, landmark_index int16 and
x/y/z float64, NaN where MediaPipe did not detect a part.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from islr.errors import RecordingError, SignMapError

CSV_NAME = "train.csv"
SIGN_MAP_NAME = "sign_to_prediction_index_map.json"
LANDMARK_DIR = "train_landmark_files"
CSV_COLUMNS: tuple[str, ...] = ("path", "participant_id", "sequence_id", "sign")

# Body parts in the order they appear inside every frame, with their landmark counts.
PARTS: tuple[tuple[str, int], ...] = (
    ("face", 468),
    ("left_hand", 21),
    ("pose", 33),
    ("right_hand", 21),
)
ROWS_PER_FRAME = sum(n for _, n in PARTS)  # 543
N_CLASSES = 250


def _part_slices() -> dict[str, slice]:
    out, start = {}, 0
    for name, n in PARTS:
        out[name] = slice(start, start + n)
        start += n
    return out


PART_SLICES: dict[str, slice] = _part_slices()

# The canonical per-frame row layout: part name and landmark index of each of 543 rows.
ROW_TYPES: np.ndarray = np.concatenate([np.full(n, name, dtype=object) for name, n in PARTS])
ROW_LANDMARK_INDEX: np.ndarray = np.concatenate([np.arange(n, dtype=np.int16) for _, n in PARTS])

# Exact parquet schema of the competition files (pyarrow types).
PARQUET_SCHEMA = pa.schema(
    [
        ("frame", pa.int16()),
        ("row_id", pa.string()),
        ("type", pa.string()),
        ("landmark_index", pa.int16()),
        ("x", pa.float64()),
        ("y", pa.float64()),
        ("z", pa.float64()),
    ]
)
COORD_COLUMNS: tuple[str, ...] = ("x", "y", "z")
# What validation needs: everything except row_id, which is derived from the other three
# and is by far the most expensive column to decode.
CHECK_COLUMNS: tuple[str, ...] = ("frame", "type", "landmark_index", "x", "y", "z")

# pandas metadata in the same shape as the competition files, so pandas restores the
# same column dtypes; fixed text keeps generated files byte-for-byte reproducible.
_PANDAS_METADATA = json.dumps(
    {
        "index_columns": [],
        "column_indexes": [],
        "columns": [
            {
                "name": f.name,
                "field_name": f.name,
                "pandas_type": {"string": "unicode"}.get(
                    str(f.type), str(f.type).replace("double", "float64")
                ),
                "numpy_type": {"string": "object", "double": "float64"}.get(
                    str(f.type), str(f.type)
                ),
                "metadata": None,
            }
            for f in PARQUET_SCHEMA
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "1.5.0",
    }
).encode()


def parse_sign_map(text: str, source: str = SIGN_MAP_NAME) -> dict[str, int]:
    """Parse and check a sign map: a JSON object mapping each sign to its class index.

    The map must be one-to-one onto 0..N-1 (N signs): two signs sharing an index would
    merge their labels, and an index outside the range would label records with a class
    the model does not have. Raises SignMapError naming `source`, the sign and the index.
    """
    hint = "Each of the N signs needs its own integer index in 0..N-1"

    def pairs(items: list[tuple[str, object]]) -> dict:
        seen: dict = {}
        for key, value in items:
            if key in seen:
                raise SignMapError(f"{source}: sign {key!r} is listed twice. {hint}")
            seen[key] = value
        return seen

    try:
        mapping = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise SignMapError(
            f"{source}: line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg}). "
            'Expected an object such as {"hello": 0, "thankyou": 1}'
        ) from exc
    if not isinstance(mapping, dict):
        raise SignMapError(
            f"{source}: expected a JSON object mapping sign -> class index, "
            f"found a JSON {type(mapping).__name__.replace('dict', 'object')}"
        )
    if not mapping:
        raise SignMapError(f"{source}: the map holds no signs. {hint}")
    n = len(mapping)
    owner: dict[int, str] = {}
    for sign, index in mapping.items():
        if not sign.strip():
            raise SignMapError(f"{source}: an empty sign name (index {index!r}). {hint}")
        if isinstance(index, bool) or not isinstance(index, int):
            raise SignMapError(
                f"{source}: sign {sign!r}: index {index!r} is not an integer. {hint}"
            )
        if not 0 <= index < n:
            raise SignMapError(
                f"{source}: sign {sign!r}: index {index} is outside 0..{n - 1} "
                f"(the map has {n} signs). {hint}"
            )
        if index in owner:
            raise SignMapError(
                f"{source}: signs {owner[index]!r} and {sign!r} share index {index}; "
                f"their recordings would get the same label. {hint}"
            )
        owner[index] = sign
    return {str(k): int(v) for k, v in mapping.items()}


@cache
def _official_sign_map() -> dict[str, int]:
    text = resources.files("islr.resources").joinpath(SIGN_MAP_NAME).read_text()
    return parse_sign_map(text, f"islr/resources/{SIGN_MAP_NAME}")


def load_sign_map(path: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Return the sign -> class index map; the official 250-sign map by default.

    A map read from `path` is checked (see `parse_sign_map`); SignMapError names the
    file and what is wrong.
    """
    if path is None:
        return dict(_official_sign_map())
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SignMapError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise SignMapError(f"{path}: cannot read the sign map ({exc.strerror or exc})") from exc
    return parse_sign_map(text, str(path))


def index_to_sign(sign_map: dict[str, int] | None = None) -> list[str]:
    """Class index -> sign name, as a list."""
    sign_map = sign_map or load_sign_map()
    out = [""] * len(sign_map)
    for sign, i in sign_map.items():
        out[i] = sign
    return out


def recording_relpath(participant_id: int, sequence_id: int) -> str:
    """Relative path of a recording inside a data folder, as train.csv writes it."""
    return f"{LANDMARK_DIR}/{participant_id}/{sequence_id}.parquet"


def frames_to_table(coords: np.ndarray, frames: np.ndarray | None = None) -> pa.Table:
    """Build an asl-signs table from coordinates of shape (T, 543, 3).

    `frames` are the frame numbers (int, strictly increasing); 0..T-1 when omitted.
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 3 or coords.shape[1:] != (ROWS_PER_FRAME, 3):
        raise ValueError(f"coords must have shape (T, {ROWS_PER_FRAME}, 3), got {coords.shape}")
    n_frames = coords.shape[0]
    if frames is None:
        frames = np.arange(n_frames)
    frames = np.asarray(frames, dtype=np.int16)
    frame_col = np.repeat(frames, ROWS_PER_FRAME)
    suffix = np.char.add(
        np.char.add("-", ROW_TYPES.astype(str)),
        np.char.add("-", ROW_LANDMARK_INDEX.astype(str)),
    )
    row_id = np.char.add(np.repeat(frames.astype(str), ROWS_PER_FRAME), np.tile(suffix, n_frames))
    flat = coords.reshape(-1, 3)
    arrays = [
        pa.array(frame_col, pa.int16()),
        pa.array(row_id.astype(object), pa.string()),
        pa.array(np.tile(ROW_TYPES, n_frames), pa.string()),
        pa.array(np.tile(ROW_LANDMARK_INDEX, n_frames), pa.int16()),
        pa.array(flat[:, 0], pa.float64()),
        pa.array(flat[:, 1], pa.float64()),
        pa.array(flat[:, 2], pa.float64()),
    ]
    schema = PARQUET_SCHEMA.with_metadata({b"pandas": _PANDAS_METADATA})
    return pa.Table.from_arrays(arrays, schema=schema)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes_via(path: Path, writer) -> None:
    """Call `writer(tmp_path)` then rename onto `path`, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer(tmp)
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_recording(
    path: str | os.PathLike[str], coords: np.ndarray, frames: np.ndarray | None = None
) -> None:
    """Write one recording in the asl-signs parquet layout (atomically)."""
    table = frames_to_table(coords, frames)
    atomic_write_bytes_via(
        Path(path),
        lambda tmp: pq.write_table(table, tmp, compression="snappy", row_group_size=1 << 30),
    )


def read_recording(path: str | os.PathLike[str]) -> np.ndarray:
    """Read x, y, z of one recording as float32 (T, 543, 3), like the competition loader.

    Raises RecordingError naming the file when it cannot be read or its row count is
    not a multiple of 543.
    """
    try:
        # One thread per read: parallelism comes from worker processes, one per core.
        table = pq.read_table(path, columns=list(COORD_COLUMNS), use_threads=False)
    except FileNotFoundError as exc:
        raise RecordingError(path, "file exists", "missing", "Check the path in train.csv") from exc
    except (pa.ArrowException, OSError) as exc:
        raise RecordingError(
            path, "readable parquet with columns x, y, z", f"{type(exc).__name__}: {exc}"
        ) from exc
    n = table.num_rows
    if n == 0 or n % ROWS_PER_FRAME:
        raise RecordingError(path, f"row count is a positive multiple of {ROWS_PER_FRAME}", n)
    xyz = np.stack([table.column(c).to_numpy(zero_copy_only=False) for c in COORD_COLUMNS], axis=-1)
    return xyz.astype(np.float32).reshape(-1, ROWS_PER_FRAME, 3)
