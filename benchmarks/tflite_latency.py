"""TFLite serving variants of each architecture, side by side: size, latency on real
recordings, top-1 agreement with the Keras model, each as a ratio to float32.

For each architecture and scale (`configs/scales/*.yaml`) the model is built with
untrained weights (latency and size do not depend on the values), converted with
`islr.export.tflite.convert_variants` into every serving variant (float32, float16
weights, dynamic-range int8, full int8 calibrated on the first recordings), and timed
through the competition call (`get_signature_runner("serving_default")(inputs=frames)`)
with LiteRT on ONE thread on the real recordings of `tests/data/asl-signs-real` and
`../shared/asl-signs-hello-thankyou` (6 to 272 frames). The variants of a run are timed
in turn on each recording, pass after pass, so that they share the machine's state.
The `cnn_transformer_noaug` run has the `cnn_transformer` architecture and is not
repeated.

Agreement on untrained models compares near-uniform probabilities, where any rounding
flips the top-1; it is printed for completeness. The export step measures agreement and
test accuracy on the trained model (`islr.export.tflite.export_keras_to_tflite`).

Unless `--no-before`, each run is also exported in float32 with the preprocessing as it
was before it took the selected points first (`float32 before`: frames compacted over
all 543 rows, the same outputs), and the ratios are given against it too: that is
today's float32 export before this change, timed in the same run.

`--profile ARCH` also prints where the time of the full-scale ARCH goes: each stage of
the network (preprocessing, stem, blocks, head) timed as the difference between
cumulative sub-models converted the same way, per variant. (The LiteRT Python package
exposes no per-op profiler.)

    python benchmarks/tflite_latency.py
    python benchmarks/tflite_latency.py --scales full --repeats 5 --profile cnn_transformer
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from islr.data.format import read_recording
from islr.export.tflite import (
    MB,
    VARIANTS,
    TFLiteClassifier,
    _configure,
    convert_variants,
    keras_top1,
)
from islr.models.zoo import build_model
from islr.training.config import load_run_config

REPO = Path(__file__).resolve().parents[1]
ARCHITECTURES = (
    "cnn",
    "transformer",
    "cnn_transformer",
    "cnn_bilstm",
    "cnn_bigru",
    "cnn_linformer",
)
DATA = (REPO / "tests/data/asl-signs-real", REPO.parent / "shared/asl-signs-hello-thankyou")


def real_recordings(limit: int | None) -> list[np.ndarray]:
    files = sorted(f for d in DATA if d.is_dir() for f in d.rglob("*.parquet"))
    out = []
    for f in files[:limit]:
        try:
            out.append(read_recording(f))
        except Exception as exc:  # a quarantined file of the sample: not a serving input
            logging.warning("skipping %s (%s)", f, exc)
    return out


def time_variants(classifiers: dict, recordings, warmup: int, repeats: int) -> dict:
    """ms per call of each variant, the variants taking turns on each recording."""
    for runner in classifiers.values():
        for frames in recordings[:warmup]:
            runner.runner(inputs=frames)
    ms = {name: [] for name in classifiers}
    for _ in range(repeats):
        for frames in recordings:
            for name, runner in classifiers.items():
                started = time.perf_counter()
                runner.runner(inputs=frames)
                ms[name].append((time.perf_counter() - started) * 1000.0)
    return {name: np.asarray(v) for name, v in ms.items()}


def stage_profile(config, recordings, variants, repeats: int) -> pd.DataFrame:
    """Per-stage latency of a model: cumulative sub-models (inputs -> each top-level
    layer), each converted per variant and timed; a stage's cost is the difference."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = build_model(config.model)
    serving = keras.Model(model.inputs, model.outputs)
    stages = [layer for layer in serving.layers[1:]]
    rows, previous = [], dict.fromkeys(variants, 0.0)
    for layer in stages:
        sub = keras.Model(serving.inputs, layer.output)
        sub = rebuild_batch_one(sub)

        serve = flat_output(sub)

        archive = keras.export.ExportArchive()
        archive.track(sub)
        archive.add_endpoint(
            "serving_default", serve, [tf.TensorSpec([None, 543, 3], tf.float32, name="inputs")]
        )
        with tempfile.TemporaryDirectory() as tmp:
            archive.write_out(tmp, verbose=False)
            classifiers = {}
            for variant in variants:
                converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
                _configure(converter, variant, recordings[:16])
                classifiers[variant] = TFLiteClassifier(converter.convert())
        ms = time_variants(classifiers, recordings, 3, repeats)
        row = {"up to": layer.name, "layer": type(layer).__name__}
        for variant in variants:
            mean = float(ms[variant].mean())
            row[f"{variant} cumulative ms"] = mean
            row[f"{variant} stage ms"] = mean - previous[variant]
            previous[variant] = mean
        rows.append(row)
        print(f"  profile: up to {layer.name}", flush=True)
    return pd.DataFrame(rows)


def preprocess_before(self, inputs, mask=None):
    """`Preprocess.call` as it was before it took the selected points first: frames
    compacted over all 543 rows. The same outputs; only its cost differs."""
    from keras import ops

    from islr.models import preprocessing as pre

    x = ops.cast(inputs, self.compute_dtype)[:, : self.max_len, :, : pre.N_COORDS]
    if mask is not None:
        mask = mask[:, : self.max_len]
    points = ops.take(x, self.landmarks, axis=2)
    x, kept = pre._compact(x, pre._kept_frames(points, mask))
    x = ops.where(kept[:, :, None, None], x, ops.full_like(x, float("nan")))
    centre, count = pre._nan_mean(x[:, :, self.center_index : self.center_index + 1], (1, 2))
    centre = ops.where(count > 0, centre, ops.full_like(centre, 0.5))
    points = ops.take(x, self.landmarks, axis=2)
    var, count = pre._nan_mean(ops.square(points - centre), (1, 2))
    std = ops.sqrt(var)
    std = ops.where((count > 0) & (std > 1e-6), std, ops.ones_like(std))
    pos = (points - centre) / std
    n_frames = ops.shape(pos)[1]
    t = ops.arange(n_frames)[None, :, None, None]
    zeros = ops.zeros_like(pos[:, :1])
    vel = ops.concatenate([pos[:, 1:] - pos[:, :-1], zeros], axis=1)
    acc = ops.concatenate([vel[:, 1:] - vel[:, :-1], zeros], axis=1)
    acc = ops.where(t < n_frames - 2, acc, ops.zeros_like(acc))
    width = len(self.landmarks) * pre.N_COORDS
    feats = ops.concatenate(
        [ops.reshape(v, (ops.shape(pos)[0], n_frames, width)) for v in (pos, vel, acc)], axis=-1
    )
    feats = ops.where(ops.isnan(feats), ops.zeros_like(feats), feats)
    return ops.where(kept[:, :, None], feats, ops.zeros_like(feats))


def convert_before(model) -> bytes:
    """float32 TFLite of `model` with the earlier preprocessing (`preprocess_before`)."""
    from islr.models.preprocessing import Preprocess

    current = Preprocess.call
    Preprocess.call = preprocess_before
    try:
        return convert_variants(model, ["float32"])["float32"]
    finally:
        Preprocess.call = current


def flat_output(sub):
    import keras

    def serve(inputs):
        out = sub(keras.ops.expand_dims(inputs, 0), training=False)
        return {"outputs": keras.ops.reshape(keras.ops.cast(out, "float32"), (-1,))}

    return serve


def rebuild_batch_one(model):
    from islr.export.tflite import serving_model

    return serving_model(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=["full"])
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="passes over the recordings")
    parser.add_argument("--max-recordings", type=int, default=None)
    parser.add_argument("--profile", nargs="*", default=[], help="architectures to profile")
    parser.add_argument(
        "--no-before",
        action="store_true",
        help="skip the float32 export with the earlier preprocessing (all 543 rows), "
        "which the ratios are otherwise also given against",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    recordings = real_recordings(args.max_recordings)
    lengths = [len(r) for r in recordings]
    print(
        f"{len(recordings)} real recordings, {min(lengths)} to {max(lengths)} frames "
        f"(median {int(np.median(lengths))}); {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f}; 1 interpreter thread; untrained weights\n",
        flush=True,
    )
    variants = list(dict.fromkeys(["float32", *args.variants]))
    rows = []
    started = time.perf_counter()
    for scale in args.scales:
        for arch in args.architectures:
            config = load_run_config(
                REPO / "configs" / "runs" / f"{arch}.yaml",
                REPO / "configs" / "scales" / f"{scale}.yaml",
            )
            import keras

            keras.utils.set_random_seed(0)
            model = build_model(config.model)
            calibration = [r[: config.model.max_len] for r in recordings[:32]]
            t0 = time.perf_counter()
            contents = convert_variants(model, variants, calibration)
            convert_s = (time.perf_counter() - t0) / len(variants)
            if not args.no_before:
                contents = {"float32 before": convert_before(model), **contents}
            classifiers = {v: TFLiteClassifier(c, num_threads=1) for v, c in contents.items()}
            reference = keras_top1(model, recordings)
            agreement = {
                v: float(
                    np.mean(
                        np.array([int(np.argmax(c.predict(r))) for r in recordings]) == reference
                    )
                )
                for v, c in classifiers.items()
            }
            ms = time_variants(classifiers, recordings, args.warmup, args.repeats)
            base = contents["float32"], ms["float32"]
            before = ms.get("float32 before")
            for v in contents:
                rows.append(
                    {
                        "scale": scale,
                        "architecture": arch,
                        "variant": v,
                        "MB": len(contents[v]) / MB,
                        "size ×f32": len(contents[v]) / len(base[0]),
                        "mean ms": ms[v].mean(),
                        "p95 ms": np.percentile(ms[v], 95),
                        "mean ×f32": ms[v].mean() / base[1].mean(),
                        "p95 ×f32": np.percentile(ms[v], 95) / np.percentile(base[1], 95),
                        "mean ×before": ms[v].mean() / before.mean()
                        if before is not None
                        else None,
                        "p95 ×before": (
                            np.percentile(ms[v], 95) / np.percentile(before, 95)
                            if before is not None
                            else None
                        ),
                        "top-1 agreement": agreement[v],
                        "convert s": convert_s,
                    }
                )
            print(f"{scale} {arch}: done, load average {os.getloadavg()[0]:.2f}", flush=True)
    print()
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))
    print(f"\n{time.perf_counter() - started:.0f} s in all, load average {os.getloadavg()[0]:.2f}")
    for arch in args.profile:
        config = load_run_config(
            REPO / "configs" / "runs" / f"{arch}.yaml", REPO / "configs" / "scales" / "full.yaml"
        )
        print(f"\nwhere the time goes: full-scale {arch}, mean ms per recording\n")
        profile = stage_profile(config, recordings, variants, max(1, args.repeats - 1))
        print(profile.to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
