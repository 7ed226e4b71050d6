"""TFLite latency and file size of each architecture at the quickstart and full scales.

For each architecture and scale (`configs/scales/*.yaml`) the model is built with
untrained weights (latency and size do not depend on the values), exported with
`islr.export.tflite.convert_to_tflite` in the competition's signature, and timed through
the competition call (`get_signature_runner("serving_default")(inputs=frames)`) with
LiteRT on ONE thread, at T = 32 and T = 384 frames of a generated recording. The
`cnn_transformer_noaug` run has the `cnn_transformer` architecture and is not repeated.

    python benchmarks/tflite_latency.py
    python benchmarks/tflite_latency.py --scales full --frames 32 384 543 --repeats 50
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from islr.data.synth import make_participants, simulate_recording
from islr.export.tflite import MB, TFLiteClassifier, convert_to_tflite
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


def recording(frames: int) -> np.ndarray:
    """A generated recording (missing hands included) repeated to exactly `frames`."""
    base = simulate_recording("hello", make_participants(1, 0)[0], 0, 0)[0].astype(np.float32)
    return base[np.arange(frames) % len(base)]


def time_calls(classifier: TFLiteClassifier, frames: np.ndarray, warmup: int, repeats: int):
    for _ in range(warmup):
        classifier.runner(inputs=frames)
    ms = []
    for _ in range(repeats):
        started = time.perf_counter()
        classifier.runner(inputs=frames)
        ms.append((time.perf_counter() - started) * 1000.0)
    return float(np.mean(ms)), float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=["quickstart", "full"])
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument("--frames", nargs="+", type=int, default=[32, 384])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    inputs = {t: recording(t) for t in args.frames}
    rows = []
    started = time.perf_counter()
    for scale in args.scales:
        for arch in args.architectures:
            config = load_run_config(
                REPO / "configs" / "runs" / f"{arch}.yaml",
                REPO / "configs" / "scales" / f"{scale}.yaml",
            )
            model = build_model(config.model)
            t0 = time.perf_counter()
            content = convert_to_tflite(model)
            convert_s = time.perf_counter() - t0
            classifier = TFLiteClassifier(content, num_threads=1)
            for t, frames in inputs.items():
                mean, p50, p95 = time_calls(classifier, frames, args.warmup, args.repeats)
                rows.append(
                    {
                        "scale": scale,
                        "architecture": arch,
                        "dim": config.model.dim,
                        "max_len": config.model.max_len,
                        "params": model.count_params(),
                        "MB": len(content) / MB,
                        "T": t,
                        "mean ms": mean,
                        "p50 ms": p50,
                        "p95 ms": p95,
                        "convert s": convert_s,
                    }
                )
            print(f"{scale} {arch}: {len(content) / MB:.2f} MB", flush=True)
    print()
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))
    print(f"\n{time.perf_counter() - started:.0f} s in all (1 thread, untrained weights)")


if __name__ == "__main__":
    main()
