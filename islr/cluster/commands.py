"""`islr cluster tfjob`: train one run as a multi-worker Kubeflow TFJob from a laptop.

`--dry-run` prints the manifest instead (for `kubectl apply -f -` or a review); otherwise
the job is created with the kubeconfig's credentials and followed until it finishes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import yaml

log = logging.getLogger(__name__)


def _tfjob(args: argparse.Namespace) -> int:
    from islr.cluster.tfjob import (
        build_tfjob_manifest,
        load_cluster_settings,
        run_tfjob,
        tfjob_config_for_run,
    )
    from islr.training.config import load_run_config

    settings = load_cluster_settings(args.cluster)
    update = {k: v for k, v in (("image", args.image), ("workers", args.workers)) if v}
    settings = settings.model_validate({**settings.model_dump(), **update})
    run = load_run_config(args.run, args.scale)
    job = tfjob_config_for_run(run, settings, args.tfrecords, args.out, suffix=args.suffix)
    if args.dry_run:
        yaml.safe_dump(build_tfjob_manifest(job), sys.stdout, sort_keys=False)
        return 0
    model_uri = run_tfjob(job)
    print(json.dumps({"tfjob": f"{settings.namespace}/{job.name}", "model": model_uri}))
    return 0


def _worker(args: argparse.Namespace) -> int:
    from islr.cluster.staging import run_worker

    return run_worker(args.run, args.tfrecords, args.out, args.scratch, args.fold)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cluster", help="run training on a Kubernetes cluster")
    commands = parser.add_subparsers(dest="cluster_command", required=True, metavar="COMMAND")
    tfjob = commands.add_parser(
        "tfjob", help="train one run as a multi-worker Kubeflow TFJob and wait for it"
    )
    tfjob.add_argument("--run", required=True, help="run YAML, e.g. configs/runs/cnn.yaml")
    tfjob.add_argument("--scale", help="scale YAML, e.g. configs/scales/full.yaml")
    tfjob.add_argument("--cluster", default="configs/cluster.yaml", help="cluster YAML")
    tfjob.add_argument("--tfrecords", required=True, help="shard folder URI (gs://, s3://)")
    tfjob.add_argument("--out", required=True, help="output folder URI for model.keras")
    tfjob.add_argument("--image", help="override the training image")
    tfjob.add_argument("--workers", type=int, help="override the number of workers")
    tfjob.add_argument("--suffix", default="", help="appended to the job name (unique)")
    tfjob.add_argument("--dry-run", action="store_true", help="print the manifest, create nothing")
    tfjob.set_defaults(func=_tfjob)
    worker = commands.add_parser(
        "worker",
        help="what a TFJob worker runs: stage shards to local disk when TensorFlow cannot "
        "read their store (s3://), `islr train`, then copy the chief's outputs back",
    )
    worker.add_argument("--run", required=True, help="the run file (JSON or YAML)")
    worker.add_argument("--tfrecords", required=True, help="shard folder: path or URI")
    worker.add_argument("--out", required=True, help="output folder: path or URI")
    worker.add_argument("--fold", type=int, help="the fold to evaluate (cross-validation)")
    worker.add_argument(
        "--scratch", default="/tmp/islr-worker", help="local disk for staged shards/outputs"
    )
    worker.set_defaults(func=_worker)
