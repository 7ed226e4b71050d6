"""Peak memory of validating one very long recording.

Writes a data folder holding one recording of `--frames` frames (100,000 by default:
54.3 M rows, ~570 MB of parquet, written block by block) plus one ordinary real
recording, then measures, each in a fresh process:

- `islr data validate` with the default `max_frames` (1000): the long recording is
  quarantined from its parquet footer, never loaded;
- profiling the long recording completely (`max_frames=None`), which reads it in chunks
  of `CHUNK_FRAMES` frames.

    python benchmarks/validation_memory.py [--frames 100000] [--dir /tmp/islr-long]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from islr.data.format import (
    CSV_NAME,
    PARQUET_SCHEMA,
    ROW_LANDMARK_INDEX,
    ROW_TYPES,
    ROWS_PER_FRAME,
    SIGN_MAP_NAME,
)

REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "asl-signs-real"
LONG = "train_landmark_files/1/1.parquet"
SHORT = "train_landmark_files/2044/3902070209.parquet"


def write_long(path: Path, n_frames: int, block: int = 1000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    suffix = np.char.add(
        np.char.add("-", ROW_TYPES.astype(str)), np.char.add("-", ROW_LANDMARK_INDEX.astype(str))
    )
    with pq.ParquetWriter(path, PARQUET_SCHEMA, compression="snappy") as writer:
        for start in range(0, n_frames, block):
            n = min(block, n_frames - start)
            frame_col = np.repeat(np.arange(start, start + n), ROWS_PER_FRAME)
            row_id = np.char.add(frame_col.astype(str), np.tile(suffix, n))
            xyz = rng.random((n * ROWS_PER_FRAME, 3))
            table = pa.Table.from_arrays(
                [
                    pa.array(frame_col.astype(np.int16), pa.int16()),  # wraps, as int16 does
                    pa.array(row_id.astype(object), pa.string()),
                    pa.array(np.tile(ROW_TYPES, n), pa.string()),
                    pa.array(np.tile(ROW_LANDMARK_INDEX, n), pa.int16()),
                    *(pa.array(xyz[:, i], pa.float64()) for i in range(3)),
                ],
                schema=PARQUET_SCHEMA,
            )
            writer.write_table(table)


def peak_of(command: list[str]) -> tuple[float, float, str]:
    """Run `command`; return (seconds, peak RSS of the process and its children in MB,
    the last line of its output)."""
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); "
        "print((p.stdout + p.stderr).strip().splitlines()[-1])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *command], capture_output=True, text=True, check=True
    )
    first, last = done.stdout.strip().splitlines()[:2]
    seconds, peak = map(float, first.split())
    return seconds, peak, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/islr-long"))
    args = parser.parse_args()
    data = args.dir / "data"
    if data.exists():
        shutil.rmtree(data)
    (data / SHORT).parent.mkdir(parents=True)
    (data / LONG).parent.mkdir(parents=True)
    shutil.copy(REAL / SHORT, data / SHORT)
    shutil.copy(REAL / SIGN_MAP_NAME, data / SIGN_MAP_NAME)
    (data / CSV_NAME).write_text(
        f"path,participant_id,sequence_id,sign\n{LONG},1,1,hello\n{SHORT},2044,3902070209,blow\n"
    )
    cached = args.dir / f"long-{args.frames}.parquet"  # written once, reused by reruns
    if not cached.exists():
        start = time.perf_counter()
        write_long(cached, args.frames)
        print(f"wrote {cached} in {time.perf_counter() - start:.0f} s")
    os.link(cached, data / LONG)
    size = cached.stat().st_size / 1e6
    print(f"one recording of {args.frames:,} frames ({size:,.0f} MB of parquet)")

    reports = args.dir / "reports"
    seconds, peak, last = peak_of(
        [
            str(Path(sys.executable).parent / "islr"),
            "data",
            "validate",
            str(data),
            "--report-dir",
            str(reports),
            "--workers",
            "1",
        ]
    )
    print(f"islr data validate (max_frames 1000): {seconds:.1f} s, peak RSS {peak:.0f} MB")
    print(f"  {last}")
    profile = (
        "import json, sys; from islr.data.ingest import profile_recording; "
        "p = profile_recording(sys.argv[1]); "
        "print(json.dumps({k: p[k] for k in ('n_frames', 'frames_error', 'hand_frames')}))"
    )
    seconds, peak, last = peak_of([sys.executable, "-c", profile, str(data / LONG)])
    print(f"full profile (max_frames None): {seconds:.1f} s, peak RSS {peak:.0f} MB")
    print(f"  {json.loads(last)}")
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this script, writing the file: peak RSS {self_peak:.0f} MB)")


if __name__ == "__main__":
    main()
