"""`islr train`: one training run with no orchestrator.

This is what a multi-worker job runs on every worker (a Kubeflow TFJob sets `TF_CONFIG`
and the strategy becomes `MultiWorkerMirroredStrategy`); it is also the quickest way to
train one run by hand. The shard folder and the output may be local paths or any URI
TensorFlow's file system layer reads (`gs://`, `s3://` with the matching plugin).
"""

from __future__ import annotations

import argparse
import json
import logging

log = logging.getLogger(__name__)


def _train(args: argparse.Namespace) -> int:
    from islr.data.tfrecord import load_tfrecord_set
    from islr.training.config import load_run_config
    from islr.training.distribute import is_chief
    from islr.training.trainer import train_run, write_text_atomic

    config = load_run_config(args.run, args.scale)
    if args.epochs is not None:
        config.train.epochs = args.epochs
    tfrecords = load_tfrecord_set(args.tfrecords)
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


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one run from its YAML on a TFRecord set (multi-worker under TF_CONFIG)",
    )
    parser.add_argument("--run", required=True, help="run YAML, e.g. configs/runs/cnn.yaml")
    parser.add_argument("--scale", help="scale YAML applied under the run, e.g. full.yaml")
    parser.add_argument("--tfrecords", required=True, help="shard folder with splits.json")
    parser.add_argument("--out", required=True, help="output folder (model.keras, result)")
    parser.add_argument("--epochs", type=int, help="override the number of epochs")
    parser.add_argument("--keras-verbose", type=int, default=2, help="Keras progress (0-2)")
    parser.set_defaults(func=_train)
