"""What reproducible training costs on this machine: one quickstart run timed with and
without TensorFlow's op determinism (`train.deterministic`), and the input pipeline's
throughput with seeded (stateless) and unseeded (stateful) augmentation draws.

1. Training: the quickstart's data (the embedded set's recipe, `data.dvc`: 20 signs x
   8 participants x 3 takes, `islr synth` seed 0; grouped 4 folds, fold 0 held out;
   shards of 256) and one run at the quickstart scale. Each training runs in a fresh
   process, as a user's rerun does (op determinism is process-global, and a second
   run in a process would reuse the first's compiled functions); the modes alternate,
   `--repeats` times each. Per mode: the wall and CPU time of `train_run` (imports and
   data excluded), the last epoch's validation accuracy, and whether every repeat saved
   the same weights, bit for bit (a hash of every variable of the saved model).
2. Input pipeline: `make_batches` as training uses it (batch 64, default augmentation,
   repeated), recordings/s after a warm-up, best of `--repeats`.
3. `--parts seeds`: what the seed itself moves. The run (deterministic) with seeds 42,
   43, ... (`--seeds`); per seed the validation accuracy and loss of the saved (best)
   epoch.

    python benchmarks/determinism.py [--parts training pipeline seeds] [--repeats 2]
        [--seeds 4] [--run cnn_transformer] [--epochs 30] [--tfrecords DIR]

`--tfrecords DIR` keeps the shards there for the next call (written when DIR does not
exist).

The machine's load average is printed: on a shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODES = ("deterministic", "fast")


def make_tfrecords(data: Path, shards: Path):
    """The quickstart's data and shards (configs/quickstart.yaml, data.dvc's recipe)."""
    from islr.data.ingest import ingest, sign_map_for
    from islr.data.split import SplitConfig, assign_folds
    from islr.data.synth import generate_dataset
    from islr.data.tfrecord import TFRecordConfig, write_tfrecords
    from islr.data.validate import ValidationConfig, validate_recordings

    generate_dataset(
        data, n_signs=20, n_participants=8, per_sign=3, seed=0, workers=0, progress=False
    )
    recordings = ingest(data, progress=False)
    valid, _ = validate_recordings(recordings, ValidationConfig(), sign_map_for(data), str(data))
    manifest = assign_folds(valid, SplitConfig(mode="grouped", n_folds=4, eval_fold=0, seed=42))
    config = TFRecordConfig(records_per_shard=256, compression_level=0, seed=42)
    return write_tfrecords(manifest, data, shards, config, progress=False)


def weights_hash(model_path: Path) -> str:
    """sha256 over every variable the `.keras` file holds, by name."""
    import h5py

    with zipfile.ZipFile(model_path) as archive:
        data = archive.read("model.weights.h5")
    digest = hashlib.sha256()
    with h5py.File(io.BytesIO(data), "r") as h5:
        names: list[str] = []
        h5.visititems(lambda name, item: names.append(name) if hasattr(item, "dtype") else None)
        for name in sorted(names):
            digest.update(name.encode())
            digest.update(h5[name][()].tobytes())
    return digest.hexdigest()[:16]


def train_child(args: argparse.Namespace) -> None:
    """One training in this process; prints its figures as one JSON line."""
    from islr.data.tfrecord import load_tfrecord_set
    from islr.training.config import load_run_config
    from islr.training.trainer import train_run

    config = load_run_config(
        REPO / f"configs/runs/{args.run}.yaml", REPO / "configs/scales/quickstart.yaml"
    )
    config.train.epochs = args.epochs
    config.train.deterministic = args.child == "deterministic"
    config.train.seed = args.seed
    tfrecords = load_tfrecord_set(args.tfrecords)
    started, cpu = time.perf_counter(), time.process_time()
    result = train_run(config, tfrecords, args.out)
    figures = {
        "seconds": time.perf_counter() - started,
        # all threads of the process: on a shared machine it moves less than the wall
        "cpu_seconds": time.process_time() - cpu,
        "val_accuracy": result.history["val_accuracy"][-1],
        "best_val_accuracy": result.history["val_accuracy"][result.best_epoch],
        "best_val_loss": result.history["val_loss"][result.best_epoch],
        "weights": weights_hash(Path(result.model_path)),
    }
    print("RESULT " + json.dumps(figures), flush=True)


def train_timed(
    mode: str, args: argparse.Namespace, tfrecords_dir: str, out: Path, seed: int = 42
) -> dict:
    command = [sys.executable, __file__, "--child", mode, "--run", args.run, "--seed", str(seed)]
    command += ["--epochs", str(args.epochs), "--tfrecords", tfrecords_dir, "--out", str(out)]
    done = subprocess.run(command, check=True, cwd=REPO, capture_output=True, text=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def pipeline_rate(files: list[str], seed: int | None, batches: int) -> float:
    from islr.models.landmarks import DEFAULT_LANDMARKS, FACE_MIRROR_PAIRS
    from islr.training.augment import AugmentConfig, make_augment, model_rows
    from islr.training.data import make_batches

    rows = model_rows(DEFAULT_LANDMARKS)
    augment = make_augment(AugmentConfig(), list(FACE_MIRROR_PAIRS), rows=rows)
    ds = make_batches(files, 64, max_len=64, training=True, augment=augment, seed=seed, repeat=True)
    it = iter(ds)
    for _ in range(3):  # warm up: tracing, AUTOTUNE, the shuffle buffer
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return 64 * batches / (time.perf_counter() - start)


def pipeline_table(files: list[str], args: argparse.Namespace) -> None:
    import tensorflow as tf

    from islr.training.trainer import op_determinism

    # Unseeded draws need the global seed under op determinism (TensorFlow raises
    # otherwise); it does not make them reproducible across parallel map calls.
    tf.random.set_seed(0)
    cells = [
        ("stateful (no seed), as before", None, False),
        ("stateless (seeded), training's default", 0, False),
        ("stateless (seeded), op determinism on", 0, True),
        ("stateful (no seed), op determinism on", None, True),
    ]
    print("\n| augmentation draws | recordings/s (best) | all timings |")
    print("|---|---:|---|")
    for name, seed, deterministic in cells:
        with op_determinism(deterministic):
            rates = [pipeline_rate(files, seed, args.batches) for _ in range(args.repeats)]
        shown = ", ".join(f"{r:,.0f}" for r in rates)
        print(f"| {name} | {max(rates):,.0f} | {shown} |", flush=True)


def seed_table(first: dict | None, args: argparse.Namespace, tfrecords_dir: str, tmp: Path) -> None:
    """Seeds 42, 43, ...: the first one's training reused from the training table."""
    runs = {}
    for seed in range(42, 42 + args.seeds):
        if seed == 42 and first is not None:
            runs[seed] = first
            continue
        runs[seed] = train_timed("deterministic", args, tfrecords_dir, tmp / f"seed-{seed}", seed)
        print(f"  seed {seed}: {runs[seed]}", flush=True)
    print("\n| seed | best epoch's val accuracy | val loss |")
    print("|---:|---:|---:|")
    for seed, run in runs.items():
        print(f"| {seed} | {run['best_val_accuracy']:.3f} | {run['best_val_loss']:.3f} |")
    accuracy = [run["best_val_accuracy"] for run in runs.values()]
    print(
        f"\nval accuracy over {len(runs)} seeds: {min(accuracy):.3f}-{max(accuracy):.3f}, "
        f"mean {statistics.mean(accuracy):.3f}, sd {statistics.stdev(accuracy):.3f}"
    )


def training_table(args: argparse.Namespace, tfrecords_dir: str, tmp: Path) -> dict:
    results: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for repeat in range(args.repeats):
        # alternating, so a change in the machine's load falls on both modes
        for mode in MODES if repeat % 2 == 0 else MODES[::-1]:
            out = tmp / f"{mode}-{repeat}"
            results[mode].append(train_timed(mode, args, tfrecords_dir, out))
            print(f"  {mode} #{repeat + 1}: {results[mode][-1]}", flush=True)
    print(
        "\n| train.deterministic | wall s (median) | all | CPU s (median) | all "
        "| last val accuracy | reruns bit-identical |"
    )
    print("|---|---:|---|---:|---|---|---|")
    for mode in MODES:
        runs = results[mode]
        wall, cpu = [r["seconds"] for r in runs], [r["cpu_seconds"] for r in runs]
        accuracy = sorted({f"{r['val_accuracy']:.4f}" for r in runs})
        same = "n/a (one run)"
        if len(runs) > 1:
            same = "yes" if len({r["weights"] for r in runs}) == 1 else "no"
        print(
            f"| {mode == 'deterministic'} "
            f"| {statistics.median(wall):.1f} | {', '.join(f'{x:.1f}' for x in wall)} "
            f"| {statistics.median(cpu):.1f} | {', '.join(f'{x:.1f}' for x in cpu)} "
            f"| {', '.join(accuracy)} | {same} |"
        )
    across = {r["weights"] for mode in MODES for r in results[mode]}
    print(f"\nsame weights with and without op determinism: {len(across) == 1}")
    return results["deterministic"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="cnn_transformer")
    parser.add_argument("--epochs", type=int, default=30, help="the quickstart scale's 30")
    parser.add_argument("--repeats", type=int, default=2, help="timings per mode or cell")
    parser.add_argument("--batches", type=int, default=40, help="batches per pipeline timing")
    parser.add_argument("--seeds", type=int, default=4, help="seeds in the seed table")
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["training", "pipeline"],
        choices=["training", "pipeline", "seeds"],
    )
    parser.add_argument(
        "--tfrecords", help="a shard folder to use (written there first when it does not exist)"
    )
    parser.add_argument("--seed", type=int, default=42, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        train_child(args)
        return

    import tensorflow as tf

    from islr.data.tfrecord import load_tfrecord_set

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        if args.tfrecords and Path(args.tfrecords).exists():
            tfrecords = load_tfrecord_set(args.tfrecords)
        else:
            shards = Path(args.tfrecords) if args.tfrecords else tmp_path / "tfr"
            tfrecords = make_tfrecords(tmp_path / "data", shards)
        print(
            f"{args.run}, quickstart scale, {args.epochs} epochs, "
            f"{tfrecords.counts['train']} training recordings; {os.cpu_count()} cores, "
            f"TF {tf.__version__}, load average before: {os.getloadavg()[0]:.2f}\n"
        )
        first = None
        if "training" in args.parts:
            first = training_table(args, tfrecords.directory, tmp_path)
        if "seeds" in args.parts:
            seed_table(first, args, tfrecords.directory, tmp_path)
        if "pipeline" in args.parts:
            pipeline_table(tfrecords.paths("train"), args)
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
