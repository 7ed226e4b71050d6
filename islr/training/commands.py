"""`islr train`: training runs with no orchestrator.

`islr train --run FILE` trains one run in this process. This is what a multi-worker job
runs on every worker (a Kubeflow TFJob sets `TF_CONFIG` and the strategy becomes
`MultiWorkerMirroredStrategy`); it is also the quickest way to train one run by hand.
The shard folder and the output may be local paths or any URI TensorFlow's file system
layer reads (`gs://`, `s3://` with the matching plugin).

`islr train --runs NAME... --placement mirrored|one_run_per_gpu` trains several runs on
this machine (`islr.training.placement`): each run is a child `islr train --run ...`
whose output goes to `<out>/<run>/train.log`, and the model to `<out>/<run>/`.

With `--mlflow` every trained run is also an MLflow run, logged by the same functions as
the pipeline's training steps (`islr.training.tracking`): the config as parameters,
each epoch's metrics, lineage tags (what the command line knows: the run's config hash,
the git commit, the fold manifest hash when the shard folder holds `fold_manifest.csv`,
the shard folder), the curves and the model.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
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

    _check_mlflow_flags(args)
    config = load_run_config(args.run, args.scale)
    if args.epochs is not None:
        config.train.epochs = args.epochs
    if args.batch_per_replica is not None:
        config.train.batch_per_replica = args.batch_per_replica
    tfrecords = load_tfrecord_set(args.tfrecords).for_fold(args.fold)
    # only the chief of a multi-worker job logs, as only it saves the model
    tracked = args.mlflow and is_chief()
    run = _mlflow_run(args, config, tfrecords) if tracked else contextlib.nullcontext()
    with run as callbacks:
        result = train_run(
            config, tfrecords, args.out, callbacks=callbacks, verbose=args.keras_verbose
        )
        try:
            if tracked:
                _log_result(result, config)
        finally:
            if is_chief():
                write_text_atomic(f"{args.out}/train_result.json", result.model_dump_json(indent=2))
    summary = {
        "run": result.name,
        "model": result.model_path,
        "best_epoch": result.best_epoch + 1,
        "replicas": result.replicas,
        "diverged": result.diverged,
    }
    if result.mlflow_run_id:
        summary["mlflow_run_id"] = result.mlflow_run_id
    print(json.dumps(summary))
    return 1 if result.diverged and result.best_epoch < 0 else 0


def _check_mlflow_flags(args: argparse.Namespace) -> None:
    given = [
        flag
        for flag, value in (("--mlflow-uri", args.mlflow_uri), ("--experiment", args.experiment))
        if value
    ]
    if given and not args.mlflow:
        raise ConfigError(
            f"{' and '.join(given)} say where --mlflow logs, but --mlflow is not given: "
            "add --mlflow to track the run in MLflow, or drop them"
        )


@contextlib.contextmanager
def _mlflow_run(args: argparse.Namespace, config, tfrecords) -> Iterator[list]:
    """An MLflow run for the training, in the tracking store `--mlflow-uri` names (else
    `MLFLOW_TRACKING_URI`, else MLflow's default) and experiment `--experiment` (else
    `MLFLOW_EXPERIMENT_NAME`, else MLflow's default), tagged with what the command
    line knows of the run's lineage and its config as parameters; yields the callbacks
    that log each epoch to it. An exception inside (a diverged run, Ctrl-C) ends the
    run as FAILED."""
    import mlflow

    from islr.data.tfrecord import load_fold_manifest
    from islr.training.tracking import MlflowEpochLogger, log_run_start, training_lineage

    if args.mlflow_uri:
        mlflow.set_tracking_uri(args.mlflow_uri)
    if args.experiment:
        mlflow.set_experiment(args.experiment)
    lineage = training_lineage(
        config,
        scale=Path(args.scale).stem if args.scale else None,
        fold_manifest=load_fold_manifest(args.tfrecords),
        fold=tfrecords.eval_fold,
        tfrecords=str(args.tfrecords),
    )
    name = config.name if args.fold is None else f"{config.name}-fold{args.fold}"
    with mlflow.start_run(run_name=name) as run:
        log.info(
            "tracking %s in MLflow run %s at %s", name, run.info.run_id, mlflow.get_tracking_uri()
        )
        log_run_start(config, lineage)
        yield [MlflowEpochLogger()]


def _log_result(result, config) -> None:
    """The result and the model, to the active run; `model_uri` says where the `.keras`
    file is, as for a TFJob's run."""
    import mlflow

    from islr.training.tracking import log_training_run

    mlflow.set_tag("model_uri", result.model_path)
    log_training_run(result, config)


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
    mlflow: bool = False,
    mlflow_uri: str | None = None,
    experiment: str | None = None,
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
    if mlflow:
        command.append("--mlflow")
    if mlflow_uri:
        command += ["--mlflow-uri", mlflow_uri]
    if experiment:
        command += ["--experiment", experiment]
    return [*command, "--keras-verbose", str(keras_verbose)]


def _train_many(args: argparse.Namespace) -> int:
    from islr.training.placement import RunJob, outcomes_table, place_runs

    _check_mlflow_flags(args)
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
                mlflow=args.mlflow,
                mlflow_uri=args.mlflow_uri,
                experiment=args.experiment,
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
    parser.add_argument(
        "--mlflow",
        action="store_true",
        help="track each run as an MLflow run (parameters, per-epoch metrics, lineage "
        "tags, curves, model) in the tracking store MLFLOW_TRACKING_URI names, or "
        "--mlflow-uri; off by default",
    )
    parser.add_argument(
        "--mlflow-uri", help="with --mlflow: the tracking URI (default: MLFLOW_TRACKING_URI)"
    )
    parser.add_argument(
        "--experiment",
        help="with --mlflow: the MLflow experiment, created if missing "
        "(default: MLFLOW_EXPERIMENT_NAME, else MLflow's default experiment)",
    )
    parser.set_defaults(func=_train)
