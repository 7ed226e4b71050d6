"""`islr data ...`: the data layer from the command line, with no orchestrator."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from islr.cli import config_from_flags
from islr.errors import OutputFolderError

log = logging.getLogger(__name__)


def _interruptible(command):
    """Run a data command with SIGTERM handled like Ctrl-C: the KeyboardInterrupt it
    raises unwinds the command, so worker processes are stopped and staging folders
    removed; the command then exits with 128 + the signal number and one line."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        received: list[int] = []

        def stop(signum, _frame):
            received.append(signum)
            # a second signal while cleaning up must not cut the cleanup short
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            raise KeyboardInterrupt

        in_main = threading.current_thread() is threading.main_thread()
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        if in_main:
            for signum in previous:
                signal.signal(signum, stop)
        try:
            return command(args)
        except KeyboardInterrupt:
            signum = received[0] if received else signal.SIGINT
            name = signal.Signals(signum).name
            print(
                f"islr data {args.data_command}: stopped by {name}; no partial output was "
                "left (workers stopped, staging folder removed)",
                file=sys.stderr,
            )
            return 128 + int(signum)
        finally:
            if in_main:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)

    return run


def _ensure(args: argparse.Namespace) -> int:
    from islr.data.embedded import ensure_embedded_data

    fp = ensure_embedded_data(args.repo, args.data_dir, workers=args.workers)
    print(f"{fp.data_dir}: {fp.n_files} files, md5 {fp.md5} ({fp.source})")
    return 0


def _md5(args: argparse.Namespace) -> int:
    from islr.data.lineage import fingerprint

    print(fingerprint(args.data_dir, workers=args.workers).model_dump_json(indent=2))
    return 0


def _job(args: argparse.Namespace):
    """The job whose settings are the defaults of the flags: `--job FILE` (a pipeline
    config, read by islr.job.load_job), else every default of islr.job.JobConfig."""
    from islr.job import JobConfig, load_job

    return load_job(args.job) if args.job else JobConfig()


def _given(config, **flags) -> dict:
    """`config`'s values with every flag that was given (not None) laid over them."""
    return {**config.model_dump(), **{k: v for k, v in flags.items() if v is not None}}


def _prepare(args: argparse.Namespace, out_dir: str | None = None):
    """Everything checked before any recording is read: the options, the data folder,
    its sign map, the report folder and the output folder."""
    from islr.data.ingest import resolve_data_dir, sign_map_for
    from islr.data.outputs import check_output_dir
    from islr.data.validate import ValidationConfig

    job = _job(args)
    config = config_from_flags(
        ValidationConfig,
        {"max_invalid_fraction": "--max-invalid-fraction"},
        **_given(job.validation, max_invalid_fraction=args.max_invalid_fraction),
    )
    if args.report_dir is None:
        args.report_dir = str(Path(job.output_root) / "validation")
    if args.workers is None:
        args.workers = job.ingest_workers
    root = resolve_data_dir(args.data_dir)
    sign_map = sign_map_for(root)
    check_output_dir(
        args.report_dir, data_dir=root, must_be_empty=False, what="report folder (--report-dir)"
    )
    if out_dir is not None:
        check_output_dir(out_dir, data_dir=root, what="output folder")
    return root, sign_map, config


def _validate(args: argparse.Namespace, root, sign_map, config):
    from islr.data.ingest import ingest
    from islr.data.validate import validate_recordings

    recordings = ingest(root, workers=args.workers, max_frames=config.max_frames)
    valid, report = validate_recordings(recordings, config, sign_map, str(root))
    try:
        json_path, html_path = report.write(args.report_dir)
    except OSError as exc:
        raise OutputFolderError(
            f"{args.report_dir}: cannot write the validation report ({exc.strerror or exc})"
        ) from exc
    print(report.summary())
    print(f"report: {json_path} and {html_path}")
    return valid, report


@_interruptible
def _validate_cmd(args: argparse.Namespace) -> int:
    _, report = _validate(args, *_prepare(args))
    return 0 if report.passed else 1


@_interruptible
def _tfrecords(args: argparse.Namespace) -> int:
    from islr.data.split import SplitConfig, assign_folds
    from islr.data.tfrecord import TFRecordConfig, write_tfrecords
    from islr.data.validate import enforce_gate

    job = _job(args)
    split_config = config_from_flags(
        SplitConfig,
        {},
        **_given(
            job.split,
            mode=args.mode,
            n_folds=args.n_folds,
            eval_fold=args.eval_fold,
            seed=args.seed,
            val_participants=args.val_participants,
            test_participants=args.test_participants,
        ),
    )
    tfrecord_config = config_from_flags(
        TFRecordConfig,
        {},
        **_given(job.tfrecords, records_per_shard=args.records_per_shard, workers=args.workers),
    )
    root, sign_map, config = _prepare(args, args.out_dir)
    valid, report = _validate(args, root, sign_map, config)
    enforce_gate(report, str(Path(args.report_dir) / "validation_report.json"))
    manifest = assign_folds(valid, split_config)
    record_set = write_tfrecords(manifest, root, args.out_dir, tfrecord_config, write_manifest=True)
    print(json.dumps(record_set.counts), "->", record_set.directory)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="obtain, fingerprint, validate, convert data")
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    p = sub.add_parser(
        "ensure",
        help="obtain the embedded data: DVC pull, else regenerate; verify its md5 against data.dvc",
    )
    p.add_argument("--repo", default=".", help="repository root (holds data.dvc)")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(func=_interruptible(_ensure))

    p = sub.add_parser("md5", help="DVC md5 of a data folder (for lineage)")
    p.add_argument("data_dir")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(func=_interruptible(_md5))

    # The flags mirror the pipelines' job (islr.job.JobConfig): a flag not given takes the
    # value of `--job FILE`, or else the config class's default.
    def common(p):
        p.add_argument("data_dir", help="folder in the asl-signs layout")
        p.add_argument(
            "--job",
            default=None,
            metavar="FILE",
            help="a pipeline config (e.g. configs/data_sample.yaml) whose job gives every "
            "setting no flag sets; default: islr.job.JobConfig's defaults",
        )
        p.add_argument(
            "--report-dir", default=None, help="default: <the job's output_root>/validation"
        )
        p.add_argument(
            "--max-invalid-fraction", type=float, default=None, help="the gate (validation)"
        )
        p.add_argument(
            "--workers",
            type=int,
            default=None,
            help="processes (default: one per core, fewer for small data)",
        )

    p = sub.add_parser("validate", help="ingest and validate a folder; write the report")
    common(p)
    p.set_defaults(func=_validate_cmd)

    p = sub.add_parser("tfrecords", help="validate, split and write TFRecords (no ZenML)")
    common(p)
    p.add_argument("out_dir")
    p.add_argument("--mode", choices=["grouped", "random", "named"], default=None)
    p.add_argument(
        "--val-participants",
        type=int,
        nargs="*",
        default=None,
        metavar="ID",
        help="with --mode named: the validation signers (may be none)",
    )
    p.add_argument(
        "--test-participants",
        type=int,
        nargs="*",
        default=None,
        metavar="ID",
        help="with --mode named: the test signers; everyone else trains",
    )
    p.add_argument("--n-folds", type=int, default=None)
    p.add_argument("--eval-fold", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--records-per-shard", type=int, default=None)
    p.set_defaults(func=_tfrecords)
