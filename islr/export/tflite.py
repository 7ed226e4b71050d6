"""TensorFlow Lite export in the Google ISLR competition's serving signature.

The exported file is called exactly as the competition harness called it:

    runner = interpreter.get_signature_runner("serving_default")
    probabilities = runner(inputs=frames)["outputs"]

- `inputs`: float32 (T, 543, 3), the raw landmarks of ONE recording as the competition
  loader reads them (x, y, z; NaN where a part was not detected), any T >= 1. Frames past
  the model's `max_len` are dropped by the in-model preprocessing, as in training.
- `outputs`: float32 (250,) softmax probabilities (they sum to 1); index i is the class
  of `sign_to_prediction_index_map.json`. Probabilities rather than logits: the argmax
  the competition ranked by is the same, and an app can show and threshold them as
  confidences without knowing that a softmax is missing.

Both `ai_edge_litert.interpreter.Interpreter` and the deprecated `tf.lite.Interpreter`
run the file. Every architecture is rebuilt with a fixed batch of 1 before conversion,
so that recurrent layers lower to built-in TFLite ops (the converter runs with
`TFLITE_BUILTINS` only: a model needing `SELECT_TF_OPS` would convert but the stock
interpreter refuses to run it).

`export_keras_to_tflite` converts, checks parity with the Keras model on real and generated
recordings (one frame, longer than `max_len`, no hands), measures single-thread latency,
applies the serving gate (size, latency, parity) and writes the file and a JSON report.

Serving variants (`VARIANTS`), each converted from the same float32 model:

- `float32`: the reference; its parity with Keras is the conversion check.
- `float16`: weights stored as float16, dequantised to float32 at load time.
- `dynamic_int8`: the converter's dynamic-range quantisation, weights int8, activations
  quantised on the fly in the matrix products.
- `int8`: full-integer quantisation calibrated on a representative set of training
  recordings, built-in ops only, float input and output (ops without an int8 kernel
  stay float).

The export measures every variant (size, latency on the same recordings, top-1
agreement with the Keras model and accuracy on the test split) and publishes one: the
smallest variant, at most `latency_tolerance` times float32's mean latency, whose
agreement is at least `min_variant_agreement` and whose test accuracy is within
`max_accuracy_drop` of float32's (`choose_variant`). float32 always qualifies.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
from pydantic import BaseModel, Field

from islr.data.format import PART_SLICES, ROWS_PER_FRAME, atomic_write_bytes_via, read_recording
from islr.errors import RecordingError

# The settings live in a module without Keras (a job file is read without it) and are
# importable from here too.
from islr.export.config import VARIANTS, ExportConfig, GateConfig, Variant  # noqa: F401
from islr.export.errors import (
    ConversionError,
    ExportError,
    ExportGateError,
    MlflowLogError,
)

# The runtime side (no Keras) lives in islr.export.runtime, so a serving image without
# TensorFlow can run exported files; it is re-exported here for the exporter's users.
from islr.export.runtime import (
    INPUT_NAME,
    OUTPUT_NAME,
    SIGNATURE_KEY,
    TFLiteClassifier,
    check_frames,
)
from islr.models.inference import traced_predict

log = logging.getLogger(__name__)

OUTPUT_KIND = "probabilities"
ARTIFACT_PATH = "tflite"
MB = 1_000_000  # decimal megabytes: the stricter reading of the competition's "40 MB"
DEFAULT_MAX_LEN = 384  # used only for models without a Preprocess layer


class ParityRow(BaseModel):
    name: str
    frames: int
    max_abs_diff: float
    keras_argmax: int
    tflite_argmax: int


class ParityReport(BaseModel):
    rows: list[ParityRow]
    max_abs_diff: float
    argmax_agreement: float


class LatencyReport(BaseModel):
    mean_ms: float
    p50_ms: float
    p95_ms: float
    n_calls: int
    num_threads: int


class VariantReport(BaseModel):
    """One serving variant, measured: what `choose_variant` compares."""

    variant: str
    size_bytes: int
    mean_latency_ms: float
    p50_latency_ms: float
    p95_latency_ms: float
    # top-1 agreement with the Keras model: on the test split when one was given,
    # otherwise on the parity recordings (`agreement_on` says which)
    agreement: float
    agreement_on: str
    n_agreement: int
    test_accuracy: float | None = None
    parity_max_diff: float
    eligible: bool = False
    reason: str = ""

    @property
    def size_mb(self) -> float:
        return self.size_bytes / MB


class TFLiteExport(BaseModel):
    """What an export produced and how it measured up against the gate."""

    path: str
    report_path: str
    model_name: str
    size_bytes: int
    mean_latency_ms: float
    p50_latency_ms: float
    p95_latency_ms: float
    num_threads: int
    parity_max_diff: float
    argmax_agreement: float
    n_parity_recordings: int
    parity: list[ParityRow] = Field(default_factory=list)
    signature: str = SIGNATURE_KEY
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    output: str = OUTPUT_KIND
    published: bool = True  # False: an enforced gate failed, only the report was written
    # set by log_export_to_mlflow: the run it was logged to and the file's runs:/ URI
    mlflow_run_id: str | None = None
    mlflow_uri: str | None = None
    gate_passed: bool
    gate_reason: str
    # the published variant, why it was chosen, and every variant measured; the size
    # and latency fields above are the published file's, parity is float32's (the
    # conversion check)
    variant: str = "float32"
    variant_reason: str = ""
    keras_test_accuracy: float | None = None
    variants: list[VariantReport] = Field(default_factory=list)

    @property
    def size_mb(self) -> float:
        return self.size_bytes / MB

    def variant_report(self, variant: str | None = None) -> VariantReport | None:
        wanted = variant or self.variant
        return next((v for v in self.variants if v.variant == wanted), None)


# --- conversion ---------------------------------------------------------------------


def _float32_config(node: Any) -> Any:
    """The model config with mixed-precision policies and tensor dtypes set to float32:
    a model trained in bfloat16/float16 is served in float32 (its variables are float32
    already), which every TFLite kernel supports."""
    if isinstance(node, dict):
        if node.get("class_name") == "DTypePolicy" and str(
            node.get("config", {}).get("name", "")
        ).startswith("mixed_"):
            return "float32"
        return {
            key: "float32"
            if key == "dtype" and value in ("bfloat16", "float16")
            else _float32_config(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_float32_config(v) for v in node]
    return node


def serving_model(model: keras.Model) -> keras.Model:
    """A float32 copy of `model` with a fixed batch of 1 and any T, the weights copied.

    A fixed batch lets the recurrent layers convert to built-in ops, and costs nothing
    since the competition signature takes one recording at a time.
    """
    config = model.get_config()
    input_layers = [
        layer
        for layer in (config.get("layers") or [])
        if isinstance(layer, dict) and layer.get("class_name") == "InputLayer"
    ]
    if len(input_layers) != 1:
        raise ConversionError(
            f"model {model.name!r}: expected a functional Keras model with one input "
            f"(raw frames), found {len(input_layers)} input layers"
        )
    shape = input_layers[0]["config"].get("batch_shape")
    if shape is None or len(shape) != 4 or list(shape[2:]) != [ROWS_PER_FRAME, 3]:
        raise ConversionError(
            f"model {model.name!r}: input shape {shape}, expected (batch, T, "
            f"{ROWS_PER_FRAME}, 3) raw landmark frames (islr.models.zoo.build_model)"
        )
    input_layers[0]["config"]["batch_shape"] = [1, None, ROWS_PER_FRAME, 3]
    try:
        rebuilt = type(model).from_config(_float32_config(config))
        rebuilt.set_weights(model.get_weights())
    except Exception as exc:  # any Keras failure: the model cannot be rebuilt
        raise ConversionError(
            f"model {model.name!r}: cannot rebuild it with a batch of 1 ({exc})"
        ) from exc
    return rebuilt


def _converter_summary(exc: Exception) -> str:
    """The converter's message without its MLIR dump: the lines that name the ops."""
    lines = [
        line.strip()
        for line in str(exc).splitlines()
        if " op" in f" {line.lower()}" and len(line) < 300 and "current operation" not in line
    ]
    return " ".join(lines[:10]) if lines else str(exc).strip()[:1000]


def _configure(converter, variant: str, representative) -> None:
    """Converter settings of one serving variant (see the module docstring)."""
    import tensorflow as tf

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant == "float32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        if not representative:
            raise ConversionError(
                "the int8 variant needs representative recordings (training shards): "
                "pass representative=[frames, ...] or leave int8 out of the variants"
            )

        def calibration():
            for frames in representative:
                yield {INPUT_NAME: np.ascontiguousarray(frames, np.float32)}

        converter.representative_dataset = calibration
    elif variant != "dynamic_int8":
        raise ConversionError(f"unknown TFLite variant {variant!r}; choose from {VARIANTS}")


def convert_variants(
    model: keras.Model,
    variants=("float32",),
    representative: list[np.ndarray] | None = None,
) -> dict[str, bytes]:
    """The TFLite flatbuffer of `model` in the competition's serving signature, for each
    of `variants` (`VARIANTS`); `representative`: recordings calibrating `int8`."""
    import tensorflow as tf

    serving = serving_model(model)

    def serve(inputs):
        logits = serving(keras.ops.expand_dims(inputs, 0), training=False)
        probabilities = keras.ops.softmax(keras.ops.cast(logits, "float32"), axis=-1)
        return {OUTPUT_NAME: probabilities[0]}

    spec = tf.TensorSpec([None, ROWS_PER_FRAME, 3], tf.float32, name=INPUT_NAME)
    # Keras's ExportArchive tracks the Keras 3 variables so that the converter freezes
    # them; a plain tf.Module or concrete function leaves them as resource variables,
    # which the interpreter then cannot read.
    archive = keras.export.ExportArchive()
    archive.track(serving)
    archive.add_endpoint(SIGNATURE_KEY, serve, [spec])
    out = {}
    with tempfile.TemporaryDirectory(prefix="islr-tflite-") as tmp:
        # written once, converted once per variant
        archive.write_out(tmp, verbose=False)
        for variant in variants:
            started = time.perf_counter()
            try:
                converter = tf.lite.TFLiteConverter.from_saved_model(
                    tmp, signature_keys=[SIGNATURE_KEY]
                )
                _configure(converter, variant, representative)
                out[variant] = converter.convert()
            except ConversionError:
                raise
            except Exception as exc:  # the converter's own errors carry no common base
                raise ConversionError(
                    f"model {model.name!r}: TFLite conversion ({variant}) with built-in ops "
                    f"only failed: {_converter_summary(exc)}. Replace the layers using these "
                    "ops by ones TFLite supports "
                    "(https://ai.google.dev/edge/litert/models/ops_compatibility)"
                ) from exc
            log.info(
                "converted %s to TFLite (%s): %.2f MB in %.1f s",
                model.name,
                variant,
                len(out[variant]) / MB,
                time.perf_counter() - started,
            )
    return out


def representative_recordings(files: list[str], n: int, max_len: int, seed: int = 0):
    """Up to `n` recordings from TFRecord shards (the training split), truncated to
    `max_len` frames: the int8 variant's calibration set."""
    from islr.data.tfrecord import make_dataset

    ds = make_dataset(files, shuffle_files=True, seed=seed).take(n)
    return [record["coordinates"].numpy()[:max_len] for record in ds]


def load_keras_model(path: str | os.PathLike[str]) -> keras.Model:
    """Load a `.keras` model of the zoo in safe mode (only registered layers)."""
    import islr.models.zoo  # noqa: F401  (registers the islr layers for deserialization)

    file = Path(path)
    if not file.is_file():
        raise ExportError(f"{file}: no such model file; pass a .keras file saved by training")
    try:
        return keras.saving.load_model(file, safe_mode=True)
    except Exception as exc:
        raise ExportError(f"{file}: not a loadable .keras model ({exc})") from exc


# --- parity and latency -------------------------------------------------------------


def model_max_len(model: keras.Model) -> int:
    """The `max_len` of the model's Preprocess layer (frames kept per recording)."""
    from islr.models.preprocessing import Preprocess

    for layer in model.layers:
        if isinstance(layer, Preprocess):
            return layer.max_len
    log.warning(
        "model %s has no Preprocess layer; assuming max_len %d", model.name, DEFAULT_MAX_LEN
    )
    return DEFAULT_MAX_LEN


def _real_recordings(data_dir: str | os.PathLike[str], n: int, seed: int):
    from islr.data.ingest import read_index

    index = read_index(data_dir)
    index = index[index["file"].notna() & index["path_missing"].isna()]
    if len(index) > n:
        index = index.sample(n, random_state=seed).sort_index()
    out = []
    for row in index.itertuples():
        try:
            out.append((f"real:{row.path}", read_recording(row.file)))
        except RecordingError as exc:  # quarantined by validation; not a parity input
            log.warning("parity check skips %s", exc)
    return out


def _generated_recordings(n: int, seed: int):
    from islr.data.synth import make_participants, select_signs, simulate_recording

    signs, people = select_signs(n), make_participants(n, seed)
    return [
        (f"generated:{sign}", simulate_recording(sign, person, seed, 0)[0].astype(np.float32))
        for sign, person in zip(signs, people, strict=True)
    ]


def parity_recordings(
    max_len: int,
    data_dir: str | os.PathLike[str] | None = None,
    n_real: int = 16,
    n_generated: int = 4,
    seed: int = 0,
) -> list[tuple[str, np.ndarray]]:
    """Named (T, 543, 3) recordings for the parity and latency checks: up to `n_real`
    from an asl-signs folder, `n_generated` generated ones, and the edge cases a served
    model meets: a single frame, a recording longer than `max_len`, no hands at all."""
    recordings = []
    if data_dir is not None and n_real > 0:
        recordings += _real_recordings(data_dir, n_real, seed)
    recordings += _generated_recordings(n_generated, seed) if n_generated else []
    # The edge cases derive from the longest recording: the most real frames to repeat.
    base = (
        max((f for _, f in recordings), key=len)
        if recordings
        else _generated_recordings(1, seed)[0][1]
    )
    repeats = -(-(max_len + max(8, max_len // 4)) // len(base))  # ceil division
    no_hands = base.copy()
    no_hands[:, PART_SLICES["left_hand"]] = np.nan
    no_hands[:, PART_SLICES["right_hand"]] = np.nan
    recordings += [
        ("edge:one_frame", base[:1].copy()),
        (f"edge:longer_than_max_len_{max_len}", np.concatenate([base] * repeats)),
        ("edge:no_hands", no_hands),
    ]
    return recordings


def keras_probabilities(model: keras.Model, frames: np.ndarray) -> np.ndarray:
    """The Keras model's probabilities (250,) for one recording: the parity reference."""
    logits = model(frames[None], training=False)
    probabilities = keras.ops.softmax(keras.ops.cast(logits, "float32"), axis=-1)
    return keras.ops.convert_to_numpy(probabilities)[0]


def _graph_probabilities(model: keras.Model):
    """`keras_probabilities` through the model's traced forward pass
    (`islr.models.inference.traced_predict`): the recurrent layers run as a graph loop
    instead of Python steps (10x faster on CPU), and one trace serves every length."""
    predict = traced_predict(model)

    def probabilities(frames: np.ndarray) -> np.ndarray:
        logits = keras.ops.cast(predict(frames[None]), "float32")
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))[0]

    return probabilities


def _parity(expected_probabilities, classifier, recordings) -> ParityReport:
    """Keras (`expected_probabilities`, one per recording) vs TFLite probabilities on each
    recording: max |difference| and argmax."""
    rows = []
    for expected, (name, frames) in zip(expected_probabilities, recordings, strict=True):
        got = classifier.predict(frames)
        rows.append(
            ParityRow(
                name=name,
                frames=len(frames),
                max_abs_diff=float(np.max(np.abs(expected - got))),
                keras_argmax=int(np.argmax(expected)),
                tflite_argmax=int(np.argmax(got)),
            )
        )
    return ParityReport(
        rows=rows,
        max_abs_diff=max(r.max_abs_diff for r in rows),
        argmax_agreement=float(np.mean([r.keras_argmax == r.tflite_argmax for r in rows])),
    )


def measure_tflite_latency(
    classifier: TFLiteClassifier,
    recordings: list[tuple[str, np.ndarray]],
    warmup: int = 2,
    repeats: int = 5,
) -> LatencyReport:
    """Wall time of the competition call per recording (input resize included, as the
    harness paid it), over `repeats` passes after `warmup` untimed calls."""
    frames = [check_frames(f) for _, f in recordings]
    for i in range(warmup):
        classifier.predict(frames[i % len(frames)])
    times = []
    for _ in range(repeats):
        for x in frames:
            started = time.perf_counter()
            classifier.runner(**{INPUT_NAME: x})
            times.append((time.perf_counter() - started) * 1000.0)
    ms = np.asarray(times)
    return LatencyReport(
        mean_ms=float(ms.mean()),
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        n_calls=len(times),
        num_threads=classifier.num_threads,
    )


# --- gate and export ----------------------------------------------------------------


def apply_gate(export: TFLiteExport, gate: GateConfig) -> TFLiteExport:
    """A copy of `export` with `gate_passed` and a reason naming every measured value
    against its limit; raises ExportGateError when it fails and `gate.enforce` is set."""
    checks = [
        (
            export.size_bytes <= gate.max_size_mb * MB,
            f"size {export.size_mb:.2f} MB (limit {gate.max_size_mb:g} MB)",
        ),
        (
            export.mean_latency_ms <= gate.max_mean_latency_ms,
            f"mean latency {export.mean_latency_ms:.2f} ms with {export.num_threads} "
            f"thread(s) (limit {gate.max_mean_latency_ms:g} ms)",
        ),
        (
            export.parity_max_diff <= gate.max_parity_diff,
            f"parity max |diff| {export.parity_max_diff:.2e} (limit {gate.max_parity_diff:g})",
        ),
        (
            export.argmax_agreement >= gate.min_argmax_agreement,
            f"argmax agreement {export.argmax_agreement:.3f} "
            f"(minimum {gate.min_argmax_agreement:g})",
        ),
    ]
    failed = [text for ok, text in checks if not ok]
    reason = (
        "failed: " + "; ".join(failed)
        if failed
        else "passed: " + "; ".join(text for _, text in checks)
    )
    result = export.model_copy(update={"gate_passed": not failed, "gate_reason": reason})
    if failed and gate.enforce:
        raise _gate_error(result)
    return result


def _gate_error(export: TFLiteExport) -> ExportGateError:
    return ExportGateError(
        f"{export.path}: TFLite export of {export.model_name!r} {export.gate_reason}. "
        f"Report: {export.report_path}. Shrink the model (dim, blocks) or relax the gate "
        "(ExportConfig.gate; --max-size-mb/--max-latency-ms on the command line); with "
        "enforce off a failed gate is only reported."
    )


def report_path_for(out_path: str | os.PathLike[str]) -> Path:
    """Where the JSON report of an export to `out_path` goes: beside it."""
    out = Path(out_path)
    return out.with_name(f"{out.stem}.export.json")


def _write_text(path: Path, text: str) -> None:
    atomic_write_bytes_via(path, lambda tmp: Path(tmp).write_text(text))


def test_recordings(tfrecords, n: int | None = None) -> list[tuple[np.ndarray, int]]:
    """(frames, sign) of the test split of a TFRecord set, in file order."""
    from islr.data.tfrecord import make_dataset

    ds = make_dataset(tfrecords.paths("test"))
    if n is not None:
        ds = ds.take(n)
    return [(r["coordinates"].numpy(), int(r["sign"].numpy())) for r in ds]


def keras_top1(model: keras.Model, recordings: list[np.ndarray], batch: int = 32) -> np.ndarray:
    """The Keras model's top-1 class per recording, in NaN-padded batches (the padding
    contract of the preprocessing layer: padded frames change no valid output), through
    its traced forward pass."""
    predict = traced_predict(model)
    out = []
    for i in range(0, len(recordings), batch):
        chunk = recordings[i : i + batch]
        longest = max(len(r) for r in chunk)
        frames = np.full((len(chunk), longest, ROWS_PER_FRAME, 3), np.nan, np.float32)
        for k, r in enumerate(chunk):
            frames[k, : len(r)] = r
        logits = keras.ops.convert_to_numpy(predict(frames))
        out.append(np.argmax(logits, axis=-1))
    return np.concatenate(out) if out else np.zeros(0, int)


def choose_variant(reports: list[VariantReport], gate: GateConfig) -> tuple[str, str]:
    """Mark each variant eligible or not and return (chosen variant, why).

    Eligible: float32 always; another variant when its top-1 agreement with Keras is at
    least `gate.min_variant_agreement`, its test accuracy at most
    `gate.max_accuracy_drop` below float32's (when both were measured), and its mean
    latency at most `gate.latency_tolerance` times float32's. The chosen one is the
    smallest eligible file, the faster on a tie."""
    by_name = {r.variant: r for r in reports}
    base = by_name.get("float32")
    if base is None:
        raise ExportError("the variant choice needs the float32 variant as its reference")
    for r in reports:
        why = []
        if r.variant != "float32":
            if r.agreement < gate.min_variant_agreement:
                why.append(
                    f"agreement {r.agreement:.4f} < {gate.min_variant_agreement:g} "
                    f"({r.agreement_on})"
                )
            if (
                r.test_accuracy is not None
                and base.test_accuracy is not None
                and base.test_accuracy - r.test_accuracy > gate.max_accuracy_drop + 1e-9
            ):
                why.append(
                    f"test accuracy {r.test_accuracy:.4f} vs float32 {base.test_accuracy:.4f}"
                    f" (drop limit {gate.max_accuracy_drop:g})"
                )
            if r.mean_latency_ms > gate.latency_tolerance * base.mean_latency_ms:
                why.append(
                    f"mean latency {r.mean_latency_ms:.2f} ms > {gate.latency_tolerance:g} x "
                    f"float32's {base.mean_latency_ms:.2f} ms"
                )
        r.eligible = not why
        r.reason = "; ".join(why) if why else "eligible"
    chosen = min(
        (r for r in reports if r.eligible), key=lambda r: (r.size_bytes, r.mean_latency_ms)
    )
    reason = (
        f"{chosen.variant}: {chosen.size_mb:.2f} MB, mean {chosen.mean_latency_ms:.2f} ms "
        f"(float32 {base.size_mb:.2f} MB, {base.mean_latency_ms:.2f} ms), agreement "
        f"{chosen.agreement:.4f} on {chosen.n_agreement} {chosen.agreement_on} recordings"
        + (
            f", test accuracy {chosen.test_accuracy:.4f} (float32 {base.test_accuracy:.4f})"
            if chosen.test_accuracy is not None and base.test_accuracy is not None
            else ""
        )
        + "; not chosen: "
        + ("; ".join(f"{r.variant} ({r.reason})" for r in reports if r is not chosen) or "none")
    )
    return chosen.variant, reason


def measure_variants(
    contents: dict[str, bytes],
    reference: keras.Model,
    recordings: list[tuple[str, np.ndarray]],
    test: list[tuple[np.ndarray, int]] | None = None,
    config: ExportConfig | None = None,
) -> tuple[list[VariantReport], dict[str, ParityReport], float | None]:
    """Size, latency on `recordings`, parity with `reference` on them, and, on `test`
    (frames, sign), top-1 agreement with `reference` and accuracy, per variant. Returns
    the reports, the parity reports and the Keras model's own test accuracy."""
    config = config or ExportConfig()
    graph = _graph_probabilities(reference)
    expected = [graph(check_frames(frames)) for _, frames in recordings]
    keras_accuracy = None
    if test:
        keras_labels = keras_top1(reference, [f for f, _ in test])
        signs = np.array([s for _, s in test])
        keras_accuracy = float(np.mean(keras_labels == signs))
    reports, parities = [], {}
    for variant, content in contents.items():
        classifier = TFLiteClassifier(content, num_threads=config.num_threads)
        parity = _parity(expected, classifier, recordings)
        latency = measure_tflite_latency(
            classifier, recordings, config.latency_warmup, config.latency_repeats
        )
        if test:
            labels = np.array([int(np.argmax(classifier.predict(f))) for f, _ in test])
            agreement, on, n = float(np.mean(labels == keras_labels)), "test", len(test)
            accuracy = float(np.mean(labels == signs))
        else:
            agreement, on, n = parity.argmax_agreement, "parity", len(parity.rows)
            accuracy = None
        parities[variant] = parity
        reports.append(
            VariantReport(
                variant=variant,
                size_bytes=len(content),
                mean_latency_ms=latency.mean_ms,
                p50_latency_ms=latency.p50_ms,
                p95_latency_ms=latency.p95_ms,
                agreement=agreement,
                agreement_on=on,
                n_agreement=n,
                test_accuracy=accuracy,
                parity_max_diff=parity.max_abs_diff,
            )
        )
    return reports, parities, keras_accuracy


def export_keras_to_tflite(
    model: keras.Model,
    out_path: str | os.PathLike[str],
    config: ExportConfig | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    tfrecords=None,
) -> TFLiteExport:
    """Convert each serving variant, check parity (real recordings from `data_dir` when
    given, generated and edge-case ones always), measure latency, agreement and, with
    `tfrecords` (a TFRecordSet), test accuracy and the int8 calibration set; choose the
    variant to publish (`choose_variant`), gate, and write `out_path` + its report.

    The model is checked from memory before anything is written. When the gate fails
    and `config.gate.enforce` is set, only the report is written (the .tflite is not
    published) and ExportGateError is raised; otherwise both are written, atomically.
    """
    config = config or ExportConfig()
    out = Path(out_path)
    report = report_path_for(out)
    max_len = model_max_len(model)
    variants = list(dict.fromkeys(["float32", *config.variants]))
    representative = None
    if "int8" in variants:
        if tfrecords is not None and "train" in tfrecords.files:
            representative = representative_recordings(
                tfrecords.paths("train"), config.n_representative, max_len, config.seed
            )
        else:
            log.warning("no training shards to calibrate the int8 variant: int8 left out")
            variants.remove("int8")
    contents = convert_variants(model, variants, representative)
    recordings = parity_recordings(
        max_len, data_dir, config.n_real, config.n_generated, config.seed
    )
    test = (
        test_recordings(tfrecords, config.n_test)
        if tfrecords is not None and "test" in tfrecords.files
        else None
    )
    # A model trained in mixed precision is served in float32 (see serving_model): the
    # reference is then its float32 copy, so that parity measures the conversion and
    # not bfloat16 rounding.
    mixed = any(getattr(layer, "compute_dtype", "float32") != "float32" for layer in model.layers)
    reference = serving_model(model) if mixed else model
    reports, parities, keras_accuracy = measure_variants(
        contents, reference, recordings, test, config
    )
    chosen, reason = choose_variant(reports, config.gate)
    published = next(r for r in reports if r.variant == chosen)
    float32 = parities["float32"]
    export = TFLiteExport(
        path=str(out),
        report_path=str(report),
        model_name=model.name,
        size_bytes=published.size_bytes,
        mean_latency_ms=published.mean_latency_ms,
        p50_latency_ms=published.p50_latency_ms,
        p95_latency_ms=published.p95_latency_ms,
        num_threads=config.num_threads,
        parity_max_diff=float32.max_abs_diff,
        argmax_agreement=float32.argmax_agreement,
        n_parity_recordings=len(float32.rows),
        parity=float32.rows,
        gate_passed=False,
        gate_reason="not evaluated",
        variant=chosen,
        variant_reason=reason,
        keras_test_accuracy=keras_accuracy,
        variants=reports,
    )
    export = apply_gate(export, config.gate.model_copy(update={"enforce": False}))
    if not export.gate_passed and config.gate.enforce:
        export = export.model_copy(update={"published": False})
        _write_text(report, export.model_dump_json(indent=2))
        raise _gate_error(export)
    content = contents[chosen]
    atomic_write_bytes_via(out, lambda tmp: Path(tmp).write_bytes(content))
    _write_text(report, export.model_dump_json(indent=2))
    log.info("wrote %s (%s; %s; gate %s)", out, model.name, reason, export.gate_reason)
    return export


def log_export_to_mlflow(
    export: TFLiteExport,
    run_id: str,
    tracking_uri: str | None = None,
    artifact_path: str = ARTIFACT_PATH,
) -> TFLiteExport:
    """Log the .tflite and its report as artifacts under `artifact_path` of an existing
    MLflow run (e.g. the run that trained the model), with the gate figures as metrics.

    Returns the export with `mlflow_run_id` and `mlflow_uri` (`runs:/<id>/tflite/<file>`,
    None when the model was not published) set; the logged report carries them too."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri)
    try:
        client.get_run(run_id)
    except MlflowException as exc:
        raise MlflowLogError(
            f"MLflow run {run_id!r} not found at {tracking_uri or mlflow.get_tracking_uri()} "
            f"({exc.message}); pass the id of the run that trained the model"
        ) from exc
    files = [Path(export.report_path)] + ([Path(export.path)] if export.published else [])
    for file in files:
        if not file.is_file():
            raise MlflowLogError(f"{file}: file of the export is missing; export again")
    uri = f"runs:/{run_id}/{artifact_path}/{Path(export.path).name}" if export.published else None
    export = export.model_copy(update={"mlflow_run_id": run_id, "mlflow_uri": uri})
    _write_text(Path(export.report_path), export.model_dump_json(indent=2))
    for file in files:
        client.log_artifact(run_id, str(file), artifact_path)
    now = int(time.time() * 1000)
    figures = {
        "tflite_size_mb": export.size_mb,
        "tflite_mean_latency_ms": export.mean_latency_ms,
        "tflite_p50_latency_ms": export.p50_latency_ms,
        "tflite_p95_latency_ms": export.p95_latency_ms,
        "tflite_parity_max_diff": export.parity_max_diff,
        "tflite_argmax_agreement": export.argmax_agreement,
        "tflite_gate_passed": float(export.gate_passed),
    }
    # every variant measured, and the published one's agreement and accuracy
    for r in export.variants:
        figures[f"tflite_{r.variant}_size_mb"] = r.size_mb
        figures[f"tflite_{r.variant}_mean_latency_ms"] = r.mean_latency_ms
        figures[f"tflite_{r.variant}_p95_latency_ms"] = r.p95_latency_ms
        figures[f"tflite_{r.variant}_agreement"] = r.agreement
        if r.test_accuracy is not None:
            figures[f"tflite_{r.variant}_test_accuracy"] = r.test_accuracy
    published = export.variant_report()
    if published is not None:
        figures["tflite_variant_agreement"] = published.agreement
        if published.test_accuracy is not None:
            figures["tflite_variant_test_accuracy"] = published.test_accuracy
    if export.keras_test_accuracy is not None:
        figures["tflite_keras_test_accuracy"] = export.keras_test_accuracy
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in figures.items()])
    client.set_tag(run_id, "tflite_gate", export.gate_reason[:5000])
    client.set_tag(run_id, "tflite_variant", export.variant)
    if export.variant_reason:
        client.set_tag(run_id, "tflite_variant_reason", export.variant_reason[:5000])
    log.info("logged %s to MLflow run %s under %s/", export.path, run_id, artifact_path)
    return export


def read_export_report(path: str | os.PathLike[str]) -> TFLiteExport:
    """Read a report written by `export_keras_to_tflite` (e.g. to show it in an app)."""
    try:
        return TFLiteExport.model_validate(json.loads(Path(path).read_text()))
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: not a readable TFLite export report ({exc})") from exc


def publish_tflite(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Copy a published .tflite to a served path atomically (temporary name, then
    rename), so a reader never sees a half-written model."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(Path(source).read_bytes())
    tmp.replace(target)
    return target
