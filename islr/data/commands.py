"""`islr data ...`: the data layer from the command line, with no orchestrator."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _ensure(args: argparse.Namespace) -> int:
    from islr.data.embedded import ensure_embedded_data

    fp = ensure_embedded_data(args.repo, args.data_dir, workers=args.workers)
    print(f"{fp.data_dir}: {fp.n_files} files, md5 {fp.md5} ({fp.source})")
    return 0


def _md5(args: argparse.Namespace) -> int:
    from islr.data.lineage import fingerprint

    print(fingerprint(args.data_dir, workers=args.workers).model_dump_json(indent=2))
    return 0


def _validate(args: argparse.Namespace):
    from islr.data.ingest import ingest, resolve_data_dir, sign_map_for
    from islr.data.validate import ValidationConfig, validate_recordings

    root = resolve_data_dir(args.data_dir)
    config = ValidationConfig(max_invalid_fraction=args.max_invalid_fraction)
    recordings = ingest(root, workers=args.workers)
    valid, report = validate_recordings(recordings, config, sign_map_for(root), str(root))
    json_path, html_path = report.write(args.report_dir)
    print(report.summary())
    print(f"report: {json_path} and {html_path}")
    return root, valid, report


def _validate_cmd(args: argparse.Namespace) -> int:
    _, _, report = _validate(args)
    return 0 if report.passed else 1


def _tfrecords(args: argparse.Namespace) -> int:
    from islr.data.split import SplitConfig, assign_folds
    from islr.data.tfrecord import TFRecordConfig, write_tfrecords
    from islr.data.validate import enforce_gate

    root, valid, report = _validate(args)
    enforce_gate(report, str(Path(args.report_dir) / "validation_report.json"))
    manifest = assign_folds(
        valid,
        SplitConfig(mode=args.mode, n_folds=args.n_folds, eval_fold=args.eval_fold, seed=args.seed),
    )
    record_set = write_tfrecords(
        manifest,
        root,
        args.out_dir,
        TFRecordConfig(records_per_shard=args.records_per_shard, workers=args.workers),
    )
    manifest.to_csv(Path(args.out_dir) / "fold_manifest.csv", index=False)
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
    p.set_defaults(func=_ensure)

    p = sub.add_parser("md5", help="DVC md5 of a data folder (for lineage)")
    p.add_argument("data_dir")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(func=_md5)

    def common(p):
        p.add_argument("data_dir", help="folder in the asl-signs layout")
        p.add_argument("--report-dir", default="outputs/validation")
        p.add_argument("--max-invalid-fraction", type=float, default=0.05)
        p.add_argument("--workers", type=int, default=None)

    p = sub.add_parser("validate", help="ingest and validate a folder; write the report")
    common(p)
    p.set_defaults(func=_validate_cmd)

    p = sub.add_parser("tfrecords", help="validate, split and write TFRecords (no ZenML)")
    common(p)
    p.add_argument("out_dir")
    p.add_argument("--mode", choices=["grouped", "random"], default="grouped")
    p.add_argument("--n-folds", type=int, default=4)
    p.add_argument("--eval-fold", type=int, default=0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--records-per-shard", type=int, default=256)
    p.set_defaults(func=_tfrecords)
