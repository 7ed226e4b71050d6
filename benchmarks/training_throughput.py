"""Training and input-pipeline throughput, in recordings per second.

Two tables:

1. The training step of each architecture (the full recipe: AWP active, Lookahead(RAdam),
   label smoothing) at a scale's model size, on batches of generated recordings of
   realistic length that are already in memory, so only the model is timed.
2. The tf.data input pipeline alone (TFRecord read, parse, augmentation, padding,
   batching) with no augmentation, the default augmentation probabilities, and every
   augmentation always on. A GPU step must not wait for it: compare its figure with
   the GPU's training throughput.

    python benchmarks/training_throughput.py [--scales quickstart full] [--steps 10]
        [--archs cnn transformer ...] [--batch 64]

Recordings are generated (`islr synth`, about 30 frames median like the real data set),
written to TFRecords in a temporary folder, and removed afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARCHS = ["cnn", "transformer", "cnn_transformer", "cnn_bilstm", "cnn_bigru", "cnn_linformer"]


def make_tfrecords(tmp: Path):
    from islr.data.ingest import ingest, sign_map_for
    from islr.data.split import SplitConfig, assign_folds
    from islr.data.synth import generate_dataset
    from islr.data.tfrecord import TFRecordConfig, write_tfrecords
    from islr.data.validate import ValidationConfig, validate_recordings

    data = tmp / "data"
    generate_dataset(data, n_signs=20, n_participants=6, per_sign=2, seed=0, workers=0)
    recordings = ingest(data, progress=False)
    valid, _ = validate_recordings(recordings, ValidationConfig(), sign_map_for(data), str(data))
    manifest = assign_folds(valid, SplitConfig(mode="grouped", n_folds=4))
    return write_tfrecords(manifest, data, tmp / "tfr", TFRecordConfig(records_per_shard=64))


def timed_fit(trainer, ds, steps: int, warmup_steps: int) -> tuple[float, dict[str, list]]:
    """Seconds that `steps` training steps take after `warmup_steps` untimed ones, and
    the Keras history of both fits (warm-up first).

    The warm-up matters: batches have different frame counts, and tf.function traces
    each new shape (then one relaxed shape) before it settles; under XLA every new shape
    compiles again. Timing a step that still traces measures the tracer, not the model.
    `fit` returns only after its last step's loss is on the host, so the time includes
    the device's work even where the device runs ahead of Python."""
    history: dict[str, list] = {}
    if warmup_steps:
        warm = trainer.fit(ds, steps_per_epoch=warmup_steps, epochs=1, verbose=0)
        history = {k: list(v) for k, v in warm.history.items()}
    start = time.perf_counter()
    timed = trainer.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    for key, values in timed.history.items():
        history.setdefault(key, []).extend(values)
    return seconds, history


def train_throughput(arch: str, scale: str, batch: int, steps: int, tfrecords) -> dict:
    import keras
    import tensorflow as tf

    from islr.training.config import load_run_config
    from islr.training.data import make_batches
    from islr.training.trainer import compile_trainer

    config = load_run_config(
        REPO / "configs/runs" / f"{arch}.yaml", REPO / "configs/scales" / f"{scale}.yaml"
    )
    config.train.awp_start_epoch = 0
    keras.utils.set_random_seed(0)
    model, trainer, _ = compile_trainer(config, steps_per_epoch=steps)
    ds = make_batches(tfrecords.paths("train"), batch, max_len=config.model.max_len, repeat=True)
    # the same few batches again and again, in memory: only the model is timed
    ds = ds.take(4).cache().repeat()
    # Warm up on every batch twice: see timed_fit.
    seconds, _ = timed_fit(trainer, ds, steps, warmup_steps=8)
    frames = [int(tf.shape(x)[1]) for x, _ in ds.take(4)]
    return {
        "arch": arch,
        "scale": scale,
        "params": model.count_params(),
        "batch": batch,
        "frames": statistics.median(frames),
        "rec_per_s": batch * steps / seconds,
    }


def input_throughput(tfrecords, batch: int, batches: int, mode: str) -> float:
    from islr.models.landmarks import DEFAULT_LANDMARKS, FACE_MIRROR_PAIRS
    from islr.training.augment import AugmentConfig, make_augment, model_rows
    from islr.training.data import make_batches

    config = {
        "none": None,
        "default": AugmentConfig(),
        "all": AugmentConfig(rescale_p=1, mask_p=1, flip_p=1, affine_p=1, cutout_p=1),
    }[mode]
    # as the trainer builds it: batched, on the rows the model reads
    rows = model_rows(DEFAULT_LANDMARKS)
    augment = make_augment(config, list(FACE_MIRROR_PAIRS), rows=rows) if config else None
    ds = make_batches(
        tfrecords.paths("train"), batch, training=True, augment=augment, seed=0, repeat=True
    )
    it = iter(ds)
    next(it)  # warm up
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batch * batches / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=["quickstart", "full"])
    parser.add_argument("--archs", nargs="+", default=list(ARCHS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--input-batches", type=int, default=30)
    args = parser.parse_args()

    import tensorflow as tf

    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    with tempfile.TemporaryDirectory() as tmp:
        tfrecords = make_tfrecords(Path(tmp))
        print(f"device: {device}; {tfrecords.counts['train']} training recordings\n")
        print("| architecture | scale | parameters | batch | padded frames | recordings/s |")
        print("|---|---|---:|---:|---:|---:|")
        for scale in args.scales:
            for arch in args.archs:
                r = train_throughput(arch, scale, args.batch, args.steps, tfrecords)
                print(
                    f"| {r['arch']} | {r['scale']} | {r['params']:,} | {r['batch']} "
                    f"| {r['frames']:.0f} | {r['rec_per_s']:,.1f} |",
                    flush=True,
                )
        print("\n| input pipeline (augmentation) | recordings/s |")
        print("|---|---:|")
        for mode in ("none", "default", "all"):
            rate = input_throughput(tfrecords, args.batch, args.input_batches, mode)
            print(f"| {mode} | {rate:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
