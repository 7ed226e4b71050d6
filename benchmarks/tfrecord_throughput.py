"""Parquet -> TFRecord conversion throughput against the plain-read floor.

For each data set and worker count it times
  - read:    pyarrow reads x, y, z of every recording into float32 (T, 543, 3), nothing else
  - convert: `islr.data.tfrecord.write_tfrecords` (read + encode + GZIP + atomic shards)
and prints recordings/s for both and their ratio. Small sets are repeated (`--repeat`)
so each measurement lasts a few seconds and pool start-up does not dominate.

    python benchmarks/tfrecord_throughput.py                       # real sample + generated
    python benchmarks/tfrecord_throughput.py --data /path/to/asl-signs --repeat 1
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from islr.data.format import read_recording
from islr.data.ingest import ingest, sign_map_for
from islr.data.split import SplitConfig, assign_folds
from islr.data.tfrecord import TFRecordConfig, write_tfrecords
from islr.data.validate import ValidationConfig, validate_recordings
from islr.parallel import parallel_map

REPO = Path(__file__).resolve().parents[1]


def _read_one(file: str) -> int:
    return read_recording(file).shape[0]


def manifest_for(data_dir: Path) -> pd.DataFrame:
    recordings = ingest(data_dir, workers=1, progress=False)
    valid, _ = validate_recordings(
        recordings,
        ValidationConfig(max_invalid_fraction=1.0),
        sign_map_for(data_dir),
        str(data_dir),
    )
    return assign_folds(valid, SplitConfig(mode="random", n_folds=2, seed=0))


def bench(
    name: str,
    data_dir: Path,
    repeat: int,
    workers_list: list[int],
    records_per_shard: int,
    levels: list[int],
) -> list[dict]:
    manifest = manifest_for(data_dir)
    big = pd.concat([manifest] * repeat, ignore_index=True)
    files = [str(data_dir / p) for p in big["path"]]
    n = len(big)
    rows = []
    for workers in workers_list:
        t0 = time.perf_counter()
        frames = sum(parallel_map(_read_one, files, workers=workers, chunksize=8, progress=False))
        read_s = time.perf_counter() - t0
        for level in levels:
            out = Path(tempfile.mkdtemp(prefix="islr-bench-")) / "shards"
            t0 = time.perf_counter()
            record_set = write_tfrecords(
                big,
                data_dir,
                out,
                TFRecordConfig(
                    records_per_shard=records_per_shard, workers=workers, compression_level=level
                ),
                progress=False,
            )
            convert_s = time.perf_counter() - t0
            size = sum(p.stat().st_size for p in out.glob("*.tfrecords"))
            shutil.rmtree(out.parent)
            assert record_set.n_records == n
            rows.append(
                {
                    "data": name,
                    "recordings": n,
                    "frames": frames,
                    "workers": workers,
                    "gzip level": level,
                    "read rec/s": n / read_s,
                    "convert rec/s": n / convert_s,
                    "convert/read time": convert_s / read_s,
                    "MB out": size / 1e6,
                }
            )
            print(
                f"{name:>10} workers={workers} level={level}: read {n / read_s:8.1f} rec/s, "
                f"convert {n / convert_s:8.1f} rec/s, ratio {convert_s / read_s:.2f}x",
                flush=True,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="an asl-signs folder (default: the real sample, if present)",
    )
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument(
        "--synth",
        type=int,
        nargs=3,
        default=(20, 8, 3),
        metavar=("SIGNS", "PARTICIPANTS", "PER_SIGN"),
        help="generated set to measure; 0 0 0 to skip",
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--levels", type=int, nargs="+", default=[0, 1], help="TFRecordConfig.compression_level"
    )
    parser.add_argument("--records-per-shard", type=int, default=64)
    args = parser.parse_args()

    rows = []
    real = args.data or next(
        (
            p
            for p in (
                REPO.parent / "shared" / "asl-signs-sample",
                REPO / "tests" / "data" / "asl-signs-real",
            )
            if p.is_dir()
        ),
        None,
    )
    if real is not None:
        rows += bench(
            "real", real, args.repeat or 100, args.workers, args.records_per_shard, args.levels
        )
    if args.synth[0] > 0:
        from islr.data.synth import generate_dataset

        tmp = Path(tempfile.mkdtemp(prefix="islr-bench-synth-"))
        signs, participants, per_sign = args.synth
        generate_dataset(
            tmp / "d",
            n_signs=signs,
            n_participants=participants,
            per_sign=per_sign,
            seed=0,
            workers=max(args.workers),
        )
        rows += bench(
            "generated",
            tmp / "d",
            args.repeat or 10,
            args.workers,
            args.records_per_shard,
            args.levels,
        )
        shutil.rmtree(tmp)
    table = pd.DataFrame(rows)
    print()
    print(table.to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
