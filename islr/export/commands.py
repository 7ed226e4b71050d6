"""`islr export tflite MODEL.keras OUT.tflite`: the TFLite export with no orchestrator."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def _tflite(args: argparse.Namespace) -> int:
    from islr.export.tflite import (
        ExportConfig,
        export_keras_to_tflite,
        load_keras_model,
        log_export_to_mlflow,
    )

    # a flag not given keeps the job's value (--job FILE), else ExportConfig's default
    base = ExportConfig()
    if args.job:
        from islr.job import load_job

        base = load_job(args.job).export
    values = base.model_dump()
    gate = {"max_size_mb": args.max_size_mb, "max_mean_latency_ms": args.max_latency_ms}
    values["gate"].update({k: v for k, v in gate.items() if v is not None})
    if args.enforce:
        values["gate"]["enforce"] = True
    given = {
        "num_threads": args.threads,
        "latency_repeats": args.repeats,
        "n_real": args.n_real,
        "variants": args.variants,
        "n_test": args.n_test,
    }
    values.update({k: v for k, v in given.items() if v is not None})
    config = ExportConfig.model_validate(values)
    tfrecords = None
    if args.tfrecords:
        from islr.data.tfrecord import load_tfrecord_set

        tfrecords = load_tfrecord_set(args.tfrecords)
    model = load_keras_model(args.model)
    result = export_keras_to_tflite(
        model, args.out, config, data_dir=args.data_dir, tfrecords=tfrecords
    )
    if args.mlflow_run_id:
        result = log_export_to_mlflow(result, args.mlflow_run_id, args.tracking_uri)
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print(
            f"{result.path}: {result.size_mb:.2f} MB, latency mean {result.mean_latency_ms:.2f}"
            f" / p50 {result.p50_latency_ms:.2f} / p95 {result.p95_latency_ms:.2f} ms "
            f"({result.num_threads} thread), parity max |diff| {result.parity_max_diff:.2e},"
            f" argmax agreement {result.argmax_agreement:.3f} on "
            f"{result.n_parity_recordings} recordings"
        )
        for v in result.variants:
            accuracy = "-" if v.test_accuracy is None else f"{v.test_accuracy:.4f}"
            print(
                f"  {v.variant:>12}: {v.size_mb:.2f} MB, mean {v.mean_latency_ms:.2f} / p95 "
                f"{v.p95_latency_ms:.2f} ms, agreement {v.agreement:.4f} ({v.agreement_on}),"
                f" test accuracy {accuracy}, {v.reason}"
            )
        print(f"published variant {result.variant_reason}")
        print(f"gate {result.gate_reason}")
        print(f"report: {result.report_path}")
    # Like `islr data validate`: a failed gate that is only reported still exits 1.
    return 0 if result.gate_passed else 1


# the names only: importing the exporter (Keras, TensorFlow) waits for the command
VARIANTS = ("float32", "float16", "dynamic_int8", "int8")


def register(subparsers) -> None:
    parser = subparsers.add_parser("export", help="export a trained model for serving")
    sub = parser.add_subparsers(dest="export_command", required=True, metavar="FORMAT")

    p = sub.add_parser(
        "tflite",
        help="TFLite in the competition's signature (serving_default: inputs (T, 543, 3) "
        "-> outputs (250,) probabilities), with parity, latency and the size/latency gate",
    )
    p.add_argument("model", help="trained model, .keras")
    p.add_argument("out", help="where to write the .tflite (its report goes beside it)")
    p.add_argument(
        "--data-dir", help="asl-signs folder whose recordings join the parity/latency check"
    )
    # The defaults of these flags are ExportConfig's, or those of the job of `--job FILE`.
    p.add_argument(
        "--job",
        metavar="FILE",
        help="a pipeline config (e.g. configs/quickstart.yaml) whose job's `export` block "
        "gives every setting no flag sets",
    )
    p.add_argument("--n-real", type=int, help="recordings sampled from --data-dir")
    p.add_argument("--max-size-mb", type=float, help="the gate's file size limit")
    p.add_argument("--max-latency-ms", type=float, help="the gate: mean per recording")
    p.add_argument("--threads", type=int, help="interpreter threads")
    p.add_argument("--repeats", type=int, help="timed passes over the recordings")
    p.add_argument(
        "--enforce",
        action="store_true",
        help="on a failed gate: exit 2 and publish no .tflite (only the report)",
    )
    p.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        help="serving variants to measure (float32 always; default: all); the smallest "
        "eligible is published",
    )
    p.add_argument(
        "--tfrecords",
        help="the run's TFRecord folder: test split for agreement and accuracy, training "
        "split to calibrate int8 (without it int8 is left out)",
    )
    p.add_argument("--n-test", type=int, help="test recordings to use (default: all)")
    p.add_argument("--mlflow-run-id", help="also log the file and report to this MLflow run")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLflow's own)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_tflite)
