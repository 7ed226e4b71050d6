"""Evaluation of one model on the test split of a TFRecord set (seed study §4.2).

Scores: categorical accuracy, top-5 accuracy, macro F1 and micro F1 (scikit-learn, as
in the seed study), per-class precision/recall/F1/support, the most confused
(true, predicted) pairs, inference latency per recording at batch 1, parameter count and
model file size.

Test records are read in the shards' order and then sorted by `sequence_id` (unique in
asl-signs), so every model evaluated on the same test split sees the same records in the
same order: their probabilities can be averaged into an ensemble row by row. The
`test_split_id` is a hash of those (sequence_id, sign) pairs; it identifies the exact
test records wherever the shards live, and is what the registry's champion gate compares.

Each recording is fed whole (no truncation): the model truncates to its own `max_len`
after computing its per-recording statistics, exactly as when it is served.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from islr.data.format import ROWS_PER_FRAME, atomic_write_bytes_via, index_to_sign
from islr.data.tfrecord import TFRecordSet, make_dataset
from islr.evaluation.errors import EvaluationError
from islr.export.runtime import softmax
from islr.models.inference import traced_predict

if TYPE_CHECKING:
    import keras
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

# The lineage tags the training step sets on its MLflow run, copied into an Evaluation.
LINEAGE_TAGS: tuple[str, ...] = (
    "data_md5",
    "fold_manifest_hash",
    "git_commit",
    "config_hash",
    "architecture",
)
PER_CLASS_FILE = "per_class.csv"
CONFUSED_PAIRS_FILE = "confused_pairs.png"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
EVALUATION_FILE = "evaluation.json"
# Artifact folder of the evaluation files inside the training run.
MLFLOW_ARTIFACT_DIR = "evaluation"


class EvaluationConfig(BaseModel):
    batch_size: int = Field(32, ge=1, description="recordings per prediction batch")
    # Single recordings timed at batch 1 after `latency_warmup` untimed calls (the first
    # calls trace the graph); 0 skips the latency measurement.
    latency_samples: int = Field(50, ge=0)
    latency_warmup: int = Field(3, ge=0)
    top_confused: int = Field(20, ge=1, description="bars in the most-confused-pairs plot")
    # The confusion matrix shows the classes present in the test labels; above this many,
    # only the classes with the most errors, so that the plot stays readable.
    max_matrix_classes: int = Field(40, ge=2)
    # None: each recording whole, as served. A number caps frames per recording, for
    # memory when recordings are very long.
    max_frames: int | None = Field(None, ge=1)


class Metrics(BaseModel):
    accuracy: float
    top5: float
    macro_f1: float
    micro_f1: float


class Latency(BaseModel):
    """Milliseconds per recording at batch 1 (None when not measured)."""

    p50_ms: float | None = None
    p95_ms: float | None = None
    mean_ms: float | None = None
    n: int = 0


class CrossValidation(BaseModel):
    """A run's scores over the folds of a cross-validation: per fold, mean and sample
    sd, under MLflow metric names (`val_accuracy`, `test_macro_f1`, ...)."""

    folds: list[int]
    split_id: str  # identifies the folds' validation and test records together
    per_fold: dict[str, list[float]]
    mean: dict[str, float]
    sd: dict[str, float]


class Evaluation(BaseModel):
    """One run's scores on one test split (and its validation split, which selection
    uses), with the lineage needed to register it. Under cross-validation, `cv` holds
    the scores over every fold, and the gate reads the fold means."""

    run: str
    architecture: str
    metrics: Metrics
    latency: Latency
    parameters: int
    model_size_bytes: int
    n_test: int
    test_split_id: str
    # class index of each test record, in the fixed (sequence_id) order of the
    # probabilities: what an ensemble of runs is scored against
    labels: list[int] = Field(repr=False)
    mlflow_run_id: str | None = None
    data_md5: str | None = None
    fold_manifest_hash: str | None = None
    git_commit: str | None = None
    config_hash: str | None = None
    files: dict[str, str] = Field(default_factory=dict)  # kind -> local path
    # the validation split's scores: what selection (the champion gate) ranks by, so the
    # test split is only ever reported
    validation: Metrics | None = None
    n_val: int = 0
    val_split_id: str | None = None
    fold: int | None = None  # the evaluated fold
    cv: CrossValidation | None = None

    def mlflow_metrics(self) -> dict[str, float]:
        """The numbers under their MLflow metric names (`test_`, `val_` prefixes; under
        cross-validation also `cv_mean_*` and `cv_sd_*`)."""
        out = {f"test_{k}": float(v) for k, v in self.metrics.model_dump().items()}
        if self.validation is not None:
            out.update({f"val_{k}": float(v) for k, v in self.validation.model_dump().items()})
            out["val_n"] = float(self.n_val)
        if self.cv is not None:
            out.update({f"cv_mean_{k}": v for k, v in self.cv.mean.items()})
            out.update({f"cv_sd_{k}": v for k, v in self.cv.sd.items()})
        for key in ("p50_ms", "p95_ms", "mean_ms"):
            value = getattr(self.latency, key)
            if value is not None:
                out[f"test_latency_{key}"] = float(value)
        out["test_n"] = float(self.n_test)
        out["test_parameters"] = float(self.parameters)
        out["test_model_size_bytes"] = float(self.model_size_bytes)
        return out

    def metric(self, name: str, folds: bool = True) -> float:
        """A metric by its MLflow name (`val_accuracy`, `test_accuracy`) or plain name
        (`accuracy`, read as the test split's). Under cross-validation, with `folds`,
        the mean over the folds."""
        values = self.mlflow_metrics()
        key = name if name in values else f"test_{name}"
        if key not in values:
            raise KeyError(f"{self.run}: no metric {name!r}; available: {sorted(values)}")
        if folds and self.cv is not None and key in self.cv.mean:
            return self.cv.mean[key]
        return values[key]

    def split_id_for(self, name: str, folds: bool = True) -> str:
        """The records `metric(name)` is measured on: the folds' (cross-validation), the
        validation split's (`val_*`) or the test split's."""
        key = name if name in self.mlflow_metrics() else f"test_{name}"
        if folds and self.cv is not None and key in self.cv.mean:
            return self.cv.split_id
        if key.startswith("val_"):
            if self.val_split_id is None:
                raise KeyError(f"{self.run}: no validation split was evaluated")
            return self.val_split_id
        return self.test_split_id


class EvaluationOutput(NamedTuple):
    evaluation: Evaluation
    probabilities: np.ndarray  # (n_test, n_classes) softmax, rows in sequence_id order
    labels: np.ndarray  # (n_test,) int class indices


class Predictions(NamedTuple):
    probabilities: np.ndarray
    labels: np.ndarray
    sequence_ids: np.ndarray
    samples: list[np.ndarray]  # unpadded recordings kept for the latency measurement


# --- scores --------------------------------------------------------------------------------


def _check_scores(probabilities: np.ndarray, labels: np.ndarray) -> None:
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise EvaluationError(
            f"probabilities must be (n_records, n_classes) with one row per label; got "
            f"{probabilities.shape} for {len(labels)} labels"
        )
    if len(labels) == 0:
        raise EvaluationError("no test records to score")
    if labels.min() < 0 or labels.max() >= probabilities.shape[1]:
        raise EvaluationError(
            f"labels must be class indices in 0..{probabilities.shape[1] - 1}; "
            f"got values {labels.min()}..{labels.max()}"
        )


def top_k_accuracy(probabilities: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Share of records whose label is among the k highest scores (a tie with the k-th
    score counts as a hit, as `tf.math.in_top_k` does)."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels, dtype=np.int64)
    true_score = probabilities[np.arange(len(labels)), labels]
    higher = (probabilities > true_score[:, None]).sum(axis=1)
    return float(np.mean(higher < k))


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray) -> Metrics:
    """Accuracy, top-5, macro F1 and micro F1 of scores (probabilities or logits).

    F1 is scikit-learn's over the classes that occur in the labels or the predictions,
    as in the seed study; for single-label predictions micro F1 equals accuracy.
    """
    from sklearn.metrics import f1_score

    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels, dtype=np.int64)
    _check_scores(probabilities, labels)
    predicted = probabilities.argmax(axis=1)
    return Metrics(
        accuracy=float(np.mean(predicted == labels)),
        top5=top_k_accuracy(probabilities, labels, 5),
        macro_f1=float(f1_score(labels, predicted, average="macro", zero_division=0)),
        micro_f1=float(f1_score(labels, predicted, average="micro", zero_division=0)),
    )


def _class_names(n_classes: int) -> list[str]:
    names = index_to_sign()
    return [names[i] if i < len(names) else f"class_{i}" for i in range(n_classes)]


def per_class_report(
    labels: np.ndarray, predicted: np.ndarray, n_classes: int, names: list[str] | None = None
) -> pd.DataFrame:
    """Precision, recall, F1, support and prediction count of every class that occurs in
    the labels or the predictions, sorted by class index."""
    from sklearn.metrics import precision_recall_fscore_support

    names = names or _class_names(n_classes)
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    present = np.union1d(labels, predicted)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=present, zero_division=0
    )
    return pd.DataFrame(
        {
            "class_index": present,
            "sign": [names[i] for i in present],
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support.astype(int),
            "predicted": [int(np.sum(predicted == i)) for i in present],
        }
    )


def confused_pairs(
    labels: np.ndarray, predicted: np.ndarray, top_n: int = 20, names: list[str] | None = None
) -> pd.DataFrame:
    """The most frequent (true, predicted) errors: columns true, predicted, count, and the
    sign names; ties in count ordered by true then predicted class index."""
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    wrong = labels != predicted
    pairs = pd.DataFrame({"true": labels[wrong], "predicted": predicted[wrong]})
    counts = pairs.value_counts().rename("count").reset_index()
    counts = counts.sort_values(["count", "true", "predicted"], ascending=[False, True, True]).head(
        top_n
    )
    if names is not None:
        counts["true_sign"] = [names[i] for i in counts["true"]]
        counts["predicted_sign"] = [names[i] for i in counts["predicted"]]
    return counts.reset_index(drop=True)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def confused_pairs_png(pairs: pd.DataFrame, names: list[str], title: str) -> bytes:
    """Horizontal bar chart of the most confused pairs: readable at any class count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.3 * max(len(pairs), 1)))
    if len(pairs):
        text = [
            f"{names[t]} -> {names[p]}"
            for t, p in zip(pairs["true"], pairs["predicted"], strict=True)
        ]
        ax.barh(range(len(pairs)), pairs["count"], color="tab:red")
        ax.set_yticks(range(len(pairs)), text)
        ax.invert_yaxis()
        ax.set_xlabel("test records (true -> predicted)")
        ax.xaxis.get_major_locator().set_params(integer=True)
    else:
        ax.text(0.5, 0.5, "no errors", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(title)
    fig.tight_layout()
    return _png(fig)


def confusion_matrix_png(
    labels: np.ndarray, predicted: np.ndarray, names: list[str], max_classes: int, title: str
) -> bytes:
    """Confusion matrix over the classes present in the labels (the ones with the most
    errors when there are more than `max_classes`); predictions of any other class fall
    into a last `other` column, so every row still sums to the class's support."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    classes = np.unique(labels)
    if len(classes) > max_classes:
        errors = np.array([np.sum((labels == c) & (predicted != c)) for c in classes])
        order = np.lexsort((classes, -errors))  # most errors first, then class index
        classes = np.sort(classes[order[:max_classes]])
    position = {int(c): i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes) + 1), dtype=int)
    for t, p in zip(labels, predicted, strict=True):
        if int(t) in position:
            matrix[position[int(t)], position.get(int(p), len(classes))] += 1
    size = 3 + 0.25 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="Blues")
    tick_names = [names[c] for c in classes]
    ax.set_xticks(range(len(classes) + 1), [*tick_names, "other"], rotation=90, fontsize=7)
    ax.set_yticks(range(len(classes)), tick_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _png(fig)


# --- running the model ---------------------------------------------------------------------


def split_fingerprint(sequence_ids: np.ndarray, labels: np.ndarray) -> str:
    """Identifies a set of test records: hash of the sorted (sequence_id, label) pairs."""
    order = np.argsort(np.asarray(sequence_ids), kind="stable")
    pairs = np.stack([np.asarray(sequence_ids)[order], np.asarray(labels)[order]], axis=1)
    return hashlib.sha256(pairs.astype("<i8").tobytes()).hexdigest()[:16]


def predict_split(
    model: keras.Model,
    tfrecords: TFRecordSet,
    config: EvaluationConfig | None = None,
    split: str = "test",
) -> Predictions:
    """Softmax probabilities of every record of `split`, sorted by sequence_id."""
    import tensorflow as tf

    config = config or EvaluationConfig()
    if split not in tfrecords.files or not tfrecords.counts.get(split):
        raise EvaluationError(
            f"{tfrecords.directory}: the TFRecord set has no {split} split (splits: "
            f"{sorted(tfrecords.files)}); write it from a fold manifest with a {split} split"
        )

    def to_item(record):
        frames = record["coordinates"]
        if config.max_frames is not None:
            frames = frames[: config.max_frames]
        return frames, tf.shape(frames)[0], record["sign"], record["sequence_id"]

    ds = make_dataset(tfrecords.paths(split)).map(to_item)
    # NaN frames are padding to the model's preprocessing layer, which masks them.
    ds = ds.padded_batch(
        config.batch_size,
        padded_shapes=([None, ROWS_PER_FRAME, 3], [], [], []),
        padding_values=(
            tf.constant(float("nan"), tf.float32),
            tf.constant(0, tf.int32),
            tf.constant(0, tf.int64),
            tf.constant(0, tf.int64),
        ),
    )
    predict = traced_predict(model)
    logits, labels, sequence_ids, samples = [], [], [], []
    for frames, lengths, signs, sids in ds:
        logits.append(np.asarray(predict(frames)))
        labels.append(signs.numpy())
        sequence_ids.append(sids.numpy())
        need = config.latency_samples + config.latency_warmup - len(samples)
        if need > 0:
            batch = frames.numpy()
            samples.extend(batch[i, :n] for i, n in enumerate(lengths.numpy()[:need]))
    scores = np.concatenate(logits)
    if scores.ndim != 2:
        raise EvaluationError(f"model output must be (batch, n_classes), got {scores.shape}")
    labels_all = np.concatenate(labels).astype(np.int64)
    sids_all = np.concatenate(sequence_ids).astype(np.int64)
    order = np.argsort(sids_all, kind="stable")
    if len(np.unique(sids_all)) != len(sids_all):
        raise EvaluationError(
            f"{tfrecords.directory}: {split} split has repeated sequence_id values; "
            "each recording must appear once"
        )
    return Predictions(softmax(scores[order]), labels_all[order], sids_all[order], samples)


def measure_keras_latency(
    model: keras.Model, recordings: list[np.ndarray], warmup: int = 3
) -> Latency:
    """Milliseconds per recording, one recording per call (batch 1), after `warmup`
    untimed calls; p50/p95 over the timed ones."""
    if len(recordings) <= warmup:
        return Latency()
    predict = traced_predict(model)
    for frames in recordings[:warmup]:
        np.asarray(predict(frames[None]))
    times = []
    for frames in recordings[warmup:]:
        start = time.perf_counter()
        np.asarray(predict(frames[None]))  # to numpy: waits for the result
        times.append((time.perf_counter() - start) * 1000)
    return Latency(
        p50_ms=float(np.percentile(times, 50)),
        p95_ms=float(np.percentile(times, 95)),
        mean_ms=float(np.mean(times)),
        n=len(times),
    )


def model_file_size(model: keras.Model, model_path: str | None = None) -> int:
    """Bytes of the model's `.keras` file (saved to a temporary folder when no file is
    given or the given one is gone)."""
    import tensorflow as tf

    if model_path and tf.io.gfile.exists(model_path):
        return int(tf.io.gfile.stat(model_path).length)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        return os.path.getsize(path)


def run_lineage(run_id: str, client: MlflowClient | None = None) -> dict[str, str]:
    """The lineage tags of a training run (data md5, fold manifest hash, git commit,
    config hash, architecture) as the training step set them."""
    from mlflow import MlflowClient

    client = client or MlflowClient()
    tags = client.get_run(run_id).data.tags
    return {key: tags[key] for key in LINEAGE_TAGS if key in tags}


def _write(path: Path, data: bytes) -> None:
    def write(tmp: str) -> None:
        Path(tmp).write_bytes(data)

    atomic_write_bytes_via(path, write)


def evaluate_model(
    model: keras.Model,
    tfrecords: TFRecordSet,
    *,
    run: str | None = None,
    architecture: str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    config: EvaluationConfig | None = None,
    model_path: str | None = None,
    mlflow_run_id: str | None = None,
    lineage: dict[str, str] | None = None,
) -> EvaluationOutput:
    """Score `model` on the test split of `tfrecords`.

    `run` and `architecture` default to the model's name (the zoo names models after
    their architecture); `lineage` (data_md5, fold_manifest_hash, git_commit,
    config_hash) is copied into the Evaluation. With `out_dir`, the per-class CSV, the
    two confusion plots and `evaluation.json` are written there, each atomically.
    """
    config = config or EvaluationConfig()
    lineage = dict(lineage or {})
    run = run or model.name
    architecture = architecture or lineage.get("architecture") or model.name
    predictions = predict_split(model, tfrecords, config)
    probabilities, labels = predictions.probabilities, predictions.labels
    metrics = classification_metrics(probabilities, labels)
    validation, val_split_id, n_val = None, None, 0
    if tfrecords.counts.get("val"):
        quiet = config.model_copy(update={"latency_samples": 0, "latency_warmup": 0})
        val = predict_split(model, tfrecords, quiet, "val")
        validation = classification_metrics(val.probabilities, val.labels)
        val_split_id = split_fingerprint(val.sequence_ids, val.labels)
        n_val = len(val.labels)
    latency = (
        measure_keras_latency(model, predictions.samples, config.latency_warmup)
        if config.latency_samples
        else Latency()
    )
    evaluation = Evaluation(
        run=run,
        architecture=architecture,
        metrics=metrics,
        latency=latency,
        parameters=int(model.count_params()),
        model_size_bytes=model_file_size(model, model_path),
        n_test=len(labels),
        test_split_id=split_fingerprint(predictions.sequence_ids, labels),
        labels=[int(v) for v in labels],
        mlflow_run_id=mlflow_run_id,
        **{k: lineage.get(k) for k in ("data_md5", "fold_manifest_hash", "git_commit")},
        config_hash=lineage.get("config_hash"),
        validation=validation,
        n_val=n_val,
        val_split_id=val_split_id,
        fold=tfrecords.eval_fold if tfrecords.eval_fold >= 0 else None,
    )
    if out_dir is not None:
        evaluation.files = write_evaluation_files(evaluation, probabilities, out_dir, config)
    log.info(
        "%s: accuracy %.4f, top-5 %.4f, macro F1 %.4f on %d test records (split %s); p50 %s ms",
        run,
        metrics.accuracy,
        metrics.top5,
        metrics.macro_f1,
        evaluation.n_test,
        evaluation.test_split_id,
        f"{latency.p50_ms:.1f}" if latency.p50_ms is not None else "n/a",
    )
    return EvaluationOutput(evaluation, probabilities, labels)


def write_evaluation_files(
    evaluation: Evaluation,
    probabilities: np.ndarray,
    out_dir: str | os.PathLike[str],
    config: EvaluationConfig | None = None,
) -> dict[str, str]:
    """Per-class CSV, most-confused-pairs and confusion-matrix plots, evaluation.json."""
    config = config or EvaluationConfig()
    out = Path(out_dir)
    labels = np.asarray(evaluation.labels, dtype=np.int64)
    predicted = probabilities.argmax(axis=1)
    names = _class_names(probabilities.shape[1])
    files = {
        "per_class": out / PER_CLASS_FILE,
        "confused_pairs": out / CONFUSED_PAIRS_FILE,
        "confusion_matrix": out / CONFUSION_MATRIX_FILE,
        "evaluation": out / EVALUATION_FILE,
    }
    table = per_class_report(labels, predicted, probabilities.shape[1], names)
    _write(files["per_class"], table.to_csv(index=False).encode())
    pairs = confused_pairs(labels, predicted, config.top_confused)
    title = f"{evaluation.run}: most confused pairs"
    _write(files["confused_pairs"], confused_pairs_png(pairs, names, title))
    title = f"{evaluation.run}: confusion matrix ({evaluation.n_test} test records)"
    _write(
        files["confusion_matrix"],
        confusion_matrix_png(labels, predicted, names, config.max_matrix_classes, title),
    )
    paths = {kind: str(path) for kind, path in files.items()}
    dump = evaluation.model_copy(update={"files": paths}).model_dump(mode="json")
    _write(files["evaluation"], json.dumps(dump, indent=2).encode())
    return paths


def log_evaluation(
    evaluation: Evaluation, run_id: str | None = None, client: MlflowClient | None = None
) -> None:
    """Log an Evaluation to an existing MLflow run (by id; default the evaluation's own
    `mlflow_run_id`): `test_*` metrics, the `test_split_id` tag and its files under
    `evaluation/`. Works whether or not that run is active."""
    from mlflow import MlflowClient

    run_id = run_id or evaluation.mlflow_run_id
    if not run_id:
        raise EvaluationError(
            f"{evaluation.run}: no MLflow run id to log the evaluation to; pass run_id or "
            "evaluate with mlflow_run_id set (TrainResult.mlflow_run_id)"
        )
    client = client or MlflowClient()
    now = int(time.time() * 1000)
    from mlflow.entities import Metric, RunTag

    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in evaluation.mlflow_metrics().items()],
        tags=[
            RunTag(key, str(value))
            for key, value in (
                ("test_split_id", evaluation.test_split_id),
                ("val_split_id", evaluation.val_split_id),
                ("fold", evaluation.fold),
            )
            if value is not None
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        dump = evaluation.model_dump(mode="json")
        Path(tmp, EVALUATION_FILE).write_text(json.dumps(dump, indent=2))
        client.log_artifact(run_id, str(Path(tmp, EVALUATION_FILE)), MLFLOW_ARTIFACT_DIR)
    for kind, path in evaluation.files.items():
        if kind != "evaluation" and os.path.exists(path):
            client.log_artifact(run_id, path, MLFLOW_ARTIFACT_DIR)
    log.info("logged evaluation of %s to MLflow run %s", evaluation.run, run_id)
