"""Running an exported `.tflite` file in the competition's signature, with no Keras or
TensorFlow needed: LiteRT (`ai_edge_litert`) runs it. The app image serves models
through this module alone."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np

from islr.data.format import ROWS_PER_FRAME
from islr.export.errors import ExportError, ServingInputError

SIGNATURE_KEY = "serving_default"
INPUT_NAME = "inputs"
OUTPUT_NAME = "outputs"

Runtime = Literal["litert", "tensorflow"]


def load_interpreter(
    model: str | os.PathLike[str] | bytes, num_threads: int = 1, runtime: Runtime = "litert"
):
    """An interpreter for a `.tflite` file or its bytes: LiteRT (`ai_edge_litert`, the
    default) or TensorFlow's own, deprecated `tf.lite.Interpreter`."""
    source = (
        {"model_content": bytes(model)}
        if isinstance(model, bytes | bytearray)
        else {"model_path": str(model)}
    )
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter(num_threads=num_threads, **source)
    if runtime == "tensorflow":
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the deprecation notice
            return tf.lite.Interpreter(num_threads=num_threads, **source)
    raise ValueError(f"runtime must be 'litert' or 'tensorflow', got {runtime!r}")


def softmax(scores: np.ndarray) -> np.ndarray:
    """Probabilities along the last axis, in float64. Here, with no Keras import, so that
    the evaluation and the app (whose image has no TensorFlow) turn logits into
    probabilities the same way."""
    z = np.asarray(scores, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def check_frames(frames: Any) -> np.ndarray:
    """`frames` as a contiguous float32 (T, 543, 3) array, T >= 1, or ServingInputError."""
    try:
        array = np.ascontiguousarray(frames, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ServingInputError(f"frames: not a numeric array ({exc})") from exc
    if array.ndim != 3 or array.shape[1:] != (ROWS_PER_FRAME, 3) or array.shape[0] < 1:
        raise ServingInputError(
            f"frames: shape {array.shape}, expected (T, {ROWS_PER_FRAME}, 3) with T >= 1: "
            "one recording as read by islr.data.format.read_recording"
        )
    return array


class TFLiteClassifier:
    """An exported model behind the competition call; `predict` returns probabilities.

    An interpreter is not thread-safe: use one classifier per thread.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | bytes,
        num_threads: int = 1,
        runtime: Runtime = "litert",
    ) -> None:
        self.source = "<bytes>" if isinstance(model, bytes | bytearray) else str(model)
        if not isinstance(model, bytes | bytearray) and not Path(model).is_file():
            raise ExportError(f"{model}: no such TFLite file")
        try:
            self.interpreter = load_interpreter(model, num_threads, runtime)
        except ValueError as exc:
            raise ExportError(f"{self.source}: not a TFLite model ({exc})") from exc
        signatures = self.interpreter.get_signature_list()
        found = signatures.get(SIGNATURE_KEY)
        if found is None or found["inputs"] != [INPUT_NAME] or found["outputs"] != [OUTPUT_NAME]:
            raise ExportError(
                f"{self.source}: signature {SIGNATURE_KEY!r} with input {INPUT_NAME!r} and "
                f"output {OUTPUT_NAME!r} expected, found {signatures}; export the model "
                "with `islr export tflite`"
            )
        self.runner = self.interpreter.get_signature_runner(SIGNATURE_KEY)
        self.num_threads = num_threads

    def predict(self, frames: Any) -> np.ndarray:
        """Class probabilities (250,) of one recording of shape (T, 543, 3)."""
        return self.runner(**{INPUT_NAME: check_frames(frames)})[OUTPUT_NAME]
