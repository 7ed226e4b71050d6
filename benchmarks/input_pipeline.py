"""Training input pipeline throughput, in recordings per second, with and without
augmentation.

The `tf.data` pipeline of `islr.training.data.make_batches` alone: TFRecord read, parse,
augmentation, padding, batching (batch 64, training mode: shuffled, repeated). Three
augmentation settings: none, the default probabilities (`AugmentConfig()`), and every
augmentation always on. Each is timed on both paths, in the same process:

- `batched`: what the trainer uses, the augmentations vectorised over a padded batch on
  the rows the model reads (`make_augment(..., rows=...)`);
- `per-recording`: the same augmentations applied to one (T, 543, 3) recording at a
  time in `map` (the pure per-transform functions), the earlier pipeline.

    python benchmarks/input_pipeline.py [--batches 40] [--repeats 3] [--paths batched]

Recordings are generated (`islr synth`, like `benchmarks/training_throughput.py`, about
30 frames median), written to TFRecords in a temporary folder and removed afterwards.
The machine's load average is printed: on a shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from training_throughput import make_tfrecords

MODES = ("none", "default", "all")


def augment_config(mode: str):
    from islr.training.augment import AugmentConfig

    return {
        "none": None,
        "default": AugmentConfig(),
        "all": AugmentConfig(rescale_p=1, mask_p=1, flip_p=1, affine_p=1, cutout_p=1),
    }[mode]


def throughput(files: list[str], mode: str, path: str, batch: int, batches: int) -> float:
    from islr.models.landmarks import DEFAULT_LANDMARKS, FACE_MIRROR_PAIRS
    from islr.training.augment import make_augment, model_rows
    from islr.training.data import make_batches

    config = augment_config(mode)
    augment = None
    if config is not None:
        augment = make_augment(config, list(FACE_MIRROR_PAIRS), rows=model_rows(DEFAULT_LANDMARKS))
        if path == "per-recording":
            augment = augment.per_recording
    ds = make_batches(files, batch, training=True, augment=augment, seed=0, repeat=True)
    it = iter(ds)
    for _ in range(3):  # warm up: tracing, AUTOTUNE, the shuffle buffer
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batch * batches / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3, help="timings per cell; best kept")
    parser.add_argument(
        "--paths",
        nargs="+",
        default=["per-recording", "batched"],
        choices=["per-recording", "batched"],
    )
    args = parser.parse_args()

    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        tfrecords = make_tfrecords(Path(tmp))
        files = tfrecords.paths("train")
        print(
            f"{tfrecords.counts['train']} training recordings, batch {args.batch}, "
            f"{args.batches} batches per timing, best of {args.repeats}; "
            f"{os.cpu_count()} cores, TF {tf.__version__}, "
            f"load average before: {os.getloadavg()[0]:.2f}\n"
        )
        print("| augmentation | path | recordings/s (best) | all timings |")
        print("|---|---|---:|---|")
        for mode in MODES:
            for path in args.paths if mode != "none" else ["batched"]:
                rates = [
                    throughput(files, mode, path, args.batch, args.batches)
                    for _ in range(args.repeats)
                ]
                shown = ", ".join(f"{r:,.0f}" for r in rates)
                name = path if mode != "none" else "-"
                print(f"| {mode} | {name} | {max(rates):,.0f} | {shown} |", flush=True)
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
