"""Great Expectations validation at the full data set's scale.

Ingests the real test recordings once, replicates their profiles to 94,477 rows (the
size of the Google ISLR training set, with unique sequence ids) and times both suites,
printing seconds and peak memory. Ingestion itself is per file and parallel; this shows
that the single GX run over the profile table is not what limits a full-data run.

    python benchmarks/validation_scale.py [--rows 94477]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import pandas as pd

from islr.data.ingest import ingest, sign_map_for
from islr.data.validate import ValidationConfig, validate_recordings

REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "asl-signs-real"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=94_477)
    args = parser.parse_args()
    recordings = ingest(REAL, workers=1, progress=False)
    reps = -(-args.rows // len(recordings))
    table = pd.concat([recordings] * reps, ignore_index=True).iloc[: args.rows].copy()
    table["sequence_id"] = [str(i) for i in range(len(table))]
    table["sequence_key"] = table["sequence_id"]  # the canonical id the uniqueness check uses
    start = time.perf_counter()
    _, report = validate_recordings(table, ValidationConfig(), sign_map_for(REAL), str(REAL))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows: {len(table)}  expectations: {len(report.expectations)}  valid: {report.n_valid}")
    print(
        f"validation: {seconds:.1f} s  ({len(table) / seconds:,.0f} rows/s), peak RSS {peak:.0f} MB"
    )


if __name__ == "__main__":
    main()
