"""Where a main-job run spent its time: wall time per step group, from ZenML's records.

    python benchmarks/pipeline_steps.py            # the last main_pipeline run
    python benchmarks/pipeline_steps.py RUN_ID     # a given run

Prints the run's wall time, then per group (data steps, training, evaluation, export,
the rest) the summed step time, and under cross-validation the training time of each
fold: what `configs/cv_quickstart.yaml` is measured by (4 folds must cost at most 4x one
fold's training plus one run of the data steps). Cached steps count as 0.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

# pipelines/ imports from the repository root (ZenML's source root; it is not installed),
# which `python benchmarks/pipeline_steps.py` does not put on sys.path by itself.
REPO = Path(__file__).resolve().parents[1]


def _seconds(step) -> float:
    if str(step.status).endswith("cached") or step.start_time is None or step.end_time is None:
        return 0.0
    return (step.end_time - step.start_time).total_seconds()


def main(argv: list[str]) -> int:
    from zenml.client import Client

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from pipelines.data import DATA_STEPS

    client = Client()
    run = (
        client.get_pipeline_run(argv[0]) if argv else client.get_pipeline("main_pipeline").last_run
    )
    groups: dict[str, float] = defaultdict(float)
    folds: dict[str, float] = defaultdict(float)
    for name, step in run.steps.items():
        seconds = _seconds(step)
        if name in DATA_STEPS:
            groups["data steps"] += seconds
        elif name.startswith(("train_", "check_cv_folds")):
            groups["training"] += seconds
            match = re.search(r"_fold(\d+)$", name)
            folds[f"fold {match.group(1)}" if match else "one fold"] += seconds
        elif name.startswith("evaluate_"):
            groups["evaluation"] += seconds
        elif name.startswith("export_"):
            groups["export"] += seconds
        else:
            groups["compare, register, summary"] += seconds
    wall = (run.end_time - run.start_time).total_seconds() if run.end_time else float("nan")
    print(f"run {run.name} ({run.status}): {wall:.0f} s wall")
    for group, seconds in groups.items():
        print(f"  {group:28s} {seconds:7.0f} s")
    if len(folds) > 1 or "one fold" not in folds:
        for fold, seconds in sorted(folds.items()):
            print(f"  training, {fold:18s} {seconds:7.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
