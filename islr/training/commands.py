"""`islr train`: training runs with no orchestrator.

`islr train --run FILE` trains one run in this process. This is what a multi-worker job
runs on every worker (a Kubeflow TFJob sets `TF_CONFIG` and the strategy becomes
`MultiWorkerMirroredStrategy`); it is also the quickest way to train one run by hand.
The shard folder and the output may be local paths or any URI TensorFlow's file system
layer reads (`gs://`, `s3://` with the matching plugin).

`islr train --runs NAME... --placement mirrored|one_run_per_gpu` trains several runs on
this machine (`islr.training.placement`): each run is a child `islr train --run ...`
whose output goes to `<out>/<run>/train.log`, and the model to `<out>/<run>/`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from islr.errors import ConfigError

log = logging.getLogger(__name__)

# Where `--runs NAME` finds `NAME.yaml` unless `--runs-dir` says otherwise.
RUNS_DIR = "configs/runs"


def _train(args: argparse.Namespace) -> int:
    if args.runs:
        return _train_many(args)
    from islr.data.tfrecord import load_tfrecord_set
    from islr.training.config import load_run_config
    from islr.training.distribute import is_chief
    from islr.training.trainer import train_run, write_text_atomic

    config = load_run_config(args.run, args.scale)
    if args.epochs is not None:
        config.train.epochs = args.epochs
    if args.batch_per_replica is not None:
        config.train.batch_per_replica = args.batch_per_replica
    tfrecords = load_tfrecord_set(args.tfrecords).for_fold(args.fold)
    result = train_run(config, tfrecords, args.out, verbose=args.keras_verbose)
    if is_chief():
        write_text_atomic(f"{args.out}/train_result.json", result.model_dump_json(indent=2))
    print(
        json.dumps(
            {
                "run": result.name,
                "model": result.model_path,
                "best_epoch": result.best_epoch + 1,
                "replicas": result.replicas,
                "diverged": result.diverged,
            }
        )
    )
    return 1 if result.diverged and result.best_epoch < 0 else 0


def resolve_runs(names: list[str], runs_dir: str | Path = RUNS_DIR) -> dict[str, Path]:
    """Run names (`cnn`, or `all` for every file in `runs_dir`) or YAML paths, to
    {run name: file}, in the order given."""
    runs_dir = Path(runs_dir)
    files: list[Path] = []
    for name in names:
        if name == "all":
            files += sorted(runs_dir.glob("*.yaml"))
            continue
        path = Path(name)
        if path.suffix not in (".yaml", ".yml"):
            path = runs_dir / f"{name}.yaml"
        if not path.is_file():
            known = ", ".join(p.stem for p in sorted(runs_dir.glob("*.yaml")))
            raise ConfigError(f"--runs {name}: no run file {path} (known in {runs_dir}: {known})")
        files.append(path)
    resolved: dict[str, Path] = {}
    for path in files:
        resolved.setdefault(path.stem, path)
    if not resolved:
        raise ConfigError(f"--runs {' '.join(names)}: no run files found in {runs_dir}")
    return resolved


def train_command(
    run_file: str | Path,
    tfrecords: str,
    out: str,
    scale: str | None = None,
    epochs: int | None = None,
    batch_per_replica: int | None = None,
    keras_verbose: int = 2,
) -> list[str]:
    """The `islr train --run ...` command line of one run, for a child process."""
    command = [sys.executable, "-m", "islr.cli", "train", "--run", str(run_file)]
    if scale:
        command += ["--scale", str(scale)]
    command += ["--tfrecords", str(tfrecords), "--out", str(out)]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    if batch_per_replica is not None:
        command += ["--batch-per-replica", str(batch_per_replica)]
    return [*command, "--keras-verbose", str(keras_verbose)]


def _train_many(args: argparse.Namespace) -> int:
    from islr.training.placement import RunJob, outcomes_table, place_runs

    runs = resolve_runs(args.runs, args.runs_dir)
    out = Path(args.out)
    jobs = [
        RunJob(
            name=name,
            command=train_command(
                path,
                args.tfrecords,
                str(out / name),
                scale=args.scale,
                epochs=args.epochs,
                batch_per_replica=args.batch_per_replica,
                keras_verbose=args.keras_verbose,
            ),
            log_path=out / name / "train.log",
        )
        for name, path in runs.items()
    ]
    gpus = [g.strip() for g in args.gpus.split(",") if g.strip()] if args.gpus else None
    outcomes = place_runs(jobs, args.placement, gpus=gpus)
    report = {
        "placement": args.placement,
        "runs": [{**vars(o), "ok": o.ok, "seconds": round(o.seconds, 1)} for o in outcomes],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "placement.json").write_text(json.dumps(report, indent=2))
    print(outcomes_table(outcomes))
    failed = [o.name for o in outcomes if not o.ok]
    if failed:
        print(f"failed: {', '.join(failed)} (see their train.log)", file=sys.stderr)
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from islr.training.placement import PLACEMENTS

    parser = subparsers.add_parser(
        "train",
        help="train one run (--run; multi-worker under TF_CONFIG) or several on this "
        "machine's GPUs (--runs, --placement)",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="run YAML, e.g. configs/runs/cnn.yaml")
    which.add_argument(
        "--runs",
        nargs="+",
        metavar="RUN",
        help="several runs: names in --runs-dir, YAML paths, or `all`; "
        "each trains in its own process into OUT/<run>/",
    )
    parser.add_argument("--runs-dir", default=RUNS_DIR, help="where --runs finds NAME.yaml")
    parser.add_argument(
        "--placement",
        choices=PLACEMENTS,
        default="mirrored",
        help="with --runs: one after another across all GPUs (mirrored), or concurrently, "
        "each on its own GPU (one_run_per_gpu)",
    )
    parser.add_argument(
        "--gpus",
        help="with --placement one_run_per_gpu: GPU ids to use, e.g. 0,1,2 "
        "(default: CUDA_VISIBLE_DEVICES, else every GPU nvidia-smi lists)",
    )
    parser.add_argument("--scale", help="scale YAML applied under the run, e.g. full.yaml")
    parser.add_argument("--tfrecords", required=True, help="shard folder with splits.json")
    parser.add_argument(
        "--out", required=True, help="output folder (model, result); with --runs, the parent"
    )
    parser.add_argument("--epochs", type=int, help="override the number of epochs")
    parser.add_argument("--batch-per-replica", type=int, help="override train.batch_per_replica")
    parser.add_argument(
        "--fold",
        type=int,
        help="evaluate this fold (validation on its first half) and train on the others: "
        "one fold of a cross-validation (default: the set's own evaluation fold)",
    )
    parser.add_argument("--keras-verbose", type=int, default=2, help="Keras progress (0-2)")
    parser.set_defaults(func=_train)
