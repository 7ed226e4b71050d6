"""Does the recipe learn real signing? Participant-held-out accuracy on real recordings.

On the shared hello/thankyou set (209 real MediaPipe recordings of six signers, two
signs), each rotation trains one run on four signers and tests on the other two, over
the three disjoint test pairs. It uses the project's own data path (`islr data
tfrecords --mode named`: validation, split, shards) and trainer (`islr train`), then
scores the test split with a 250-way argmax, as the pipeline's evaluation does.

    python benchmarks/real_signing.py                       # quickstart scale, cnn_transformer
    python benchmarks/real_signing.py --scale configs/scales/quickstart.yaml --json out.json

Prints one line per rotation and the mean.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "asl-signs-hello-thankyou"
# the three disjoint pairs of test signers
ROTATIONS = ((18796, 25571), (30680, 32319), (34503, 37055))


def run_islr(*args: str) -> None:
    """One `islr` command, in this process: what a user's shell would run, without
    paying TensorFlow's import (about 7 s on 2 cores) once per command. Training runs
    reproduce bit for bit in one process as in a fresh one (tests/integration/
    test_reproducible.py)."""
    from islr.cli import main as islr_main

    code = islr_main(list(args))
    if code:
        raise SystemExit(f"islr {' '.join(args)}: exit status {code}")


def rotation_accuracy(
    data: Path, work: Path, test: tuple[int, int], run: Path, scale: Path, epochs: int | None
) -> dict:
    from islr.data.tfrecord import load_tfrecord_set
    from islr.evaluation.metrics import classification_metrics, predict_split

    tag = f"{test[0]}-{test[1]}"
    shards, out = work / f"tfr-{tag}", work / f"run-{tag}"
    started = time.perf_counter()
    run_islr(
        *("data", "tfrecords", str(data), str(shards)),
        *("--report-dir", str(work / f"report-{tag}"), "--mode", "named"),
        *("--test-participants", *map(str, test)),
    )
    train = ["train", "--run", str(run), "--scale", str(scale)]
    train += ["--tfrecords", str(shards), "--out", str(out)]
    if epochs is not None:
        train += ["--epochs", str(epochs)]
    run_islr(*train)
    import keras

    import islr.models.zoo  # noqa: F401  (registers the model's layers for loading)

    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    record_set = load_tfrecord_set(shards)
    predictions = predict_split(model, record_set)
    metrics = classification_metrics(predictions.probabilities, predictions.labels)
    return {
        "test_signers": list(test),
        "train_records": record_set.counts.get("train", 0),
        "test_records": record_set.counts.get("test", 0),
        "accuracy": metrics.accuracy,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--run", type=Path, default=REPO / "configs/runs/cnn_transformer.yaml")
    parser.add_argument("--scale", type=Path, default=REPO / "configs/scales/quickstart.yaml")
    parser.add_argument("--epochs", type=int, default=None, help="override the scale's epochs")
    parser.add_argument("--work", type=Path, default=REPO / "outputs" / "real_signing")
    parser.add_argument("--rotations", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not (args.data / "train.csv").exists():
        parser.error(f"{args.data}: no train.csv (the shared hello/thankyou set)")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = args.work / stamp
    work.mkdir(parents=True)
    rows = []
    for i in args.rotations:
        row = rotation_accuracy(args.data, work, ROTATIONS[i], args.run, args.scale, args.epochs)
        rows.append(row)
        print(
            f"test signers {row['test_signers']}: accuracy {row['accuracy']:.4f} "
            f"({row['test_records']} test, {row['train_records']} train recordings, "
            f"{row['seconds']} s)",
            flush=True,
        )
    mean = sum(r["accuracy"] for r in rows) / len(rows)
    print(f"mean accuracy over {len(rows)} rotations: {mean:.4f}")
    if args.json:
        args.json.write_text(json.dumps({"rotations": rows, "mean": mean}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
