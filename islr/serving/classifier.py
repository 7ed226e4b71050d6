"""Sign classifiers for serving: the champion from the MLflow registry, or a model file.

Every source is wrapped in a `SignClassifier` that takes one recording as raw frames
(T, 543, 3) float32 (NaN where a landmark was not detected) and returns 250 class
probabilities, so the app does not care where the model came from:

- a registered version (`models:/<name>@<alias>`), a Keras 3 model logged with
  `mlflow.keras.log_model`: logits, turned into probabilities with a softmax;
- a `.keras` file: the same;
- a `.tflite` file with the competition's signature `serving_default` (input `inputs`
  (T, 543, 3), output `outputs` (250)): its scores are used as they are when they
  already are probabilities, else passed through a softmax.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import numpy as np
from pydantic import BaseModel

from islr.data.format import N_CLASSES, index_to_sign
from islr.evaluation.registry_names import CHAMPION, MODEL_NAME
from islr.export.errors import ExportError
from islr.export.runtime import TFLiteClassifier, check_frames, softmax
from islr.serving.errors import ModelSourceError, NoChampionError

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".keras", ".tflite")


class Prediction(BaseModel):
    """One of the top-k signs of a recording."""

    sign: str
    index: int
    probability: float


class ModelInfo(BaseModel):
    """Where the served model came from, for the page and the logs."""

    kind: Literal["registry", "keras", "tflite"]
    description: str
    model_name: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    tracking_uri: str | None = None
    path: str | None = None


def to_probabilities(scores: np.ndarray, atol: float = 1e-3) -> np.ndarray:
    """Scores -> probabilities: kept when they already are a distribution (non-negative,
    summing to 1), else a softmax. A TFLite export may end in a softmax or not."""
    scores = np.asarray(scores, dtype=np.float64)
    if np.all(scores >= 0) and abs(float(scores.sum()) - 1.0) <= atol:
        return scores
    return softmax(scores)


def top_k(
    probabilities: np.ndarray, k: int = 5, signs: list[str] | None = None
) -> list[Prediction]:
    """The k most probable signs, most probable first (ties: lower class index first)."""
    probabilities = np.asarray(probabilities)
    signs = signs or index_to_sign()
    if probabilities.shape != (len(signs),):
        raise ValueError(
            f"expected {len(signs)} class probabilities, got shape {probabilities.shape}"
        )
    k = max(1, min(int(k), len(signs)))
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [
        Prediction(sign=signs[i], index=int(i), probability=float(probabilities[i])) for i in order
    ]


class SignClassifier:
    """A loaded model and where it came from; `predict` returns 250 probabilities."""

    def __init__(self, info: ModelInfo) -> None:
        self.info = info
        self.signs = index_to_sign()
        # Streamlit serves every session from threads sharing one cached classifier; a
        # TFLite interpreter is not thread-safe, and serialising Keras calls costs little.
        self._lock = threading.Lock()

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Class probabilities (250,) of one recording (T, 543, 3)."""
        frames = check_frames(frames)
        with self._lock:
            probs = self.probabilities(frames)
        probs = np.asarray(probs, dtype=np.float64).reshape(-1)
        if probs.shape != (N_CLASSES,):
            raise ModelSourceError(
                self.info.description,
                f"the model returned {probs.shape[0]} scores per recording, expected {N_CLASSES}",
                "Serve a model trained on the 250-sign map",
            )
        return probs

    def top_k(self, frames: np.ndarray, k: int = 5) -> list[Prediction]:
        return top_k(self.predict(frames), k, self.signs)


class KerasClassifier(SignClassifier):
    """A Keras 3 model returning logits (batch, 250) for frames (batch, T, 543, 3)."""

    def __init__(self, model: Any, info: ModelInfo) -> None:
        super().__init__(info)
        self.model = model

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        import keras

        # A direct call (not `predict`) avoids retracing a tf.function for every new T.
        logits = keras.ops.convert_to_numpy(self.model(frames[None], training=False))
        return softmax(np.asarray(logits, dtype=np.float64)[0])


class TFLiteFileClassifier(SignClassifier):
    """A `.tflite` file in the competition's signature, run by LiteRT (the exporter's own
    runner, so the app checks a file exactly as the export step does)."""

    def __init__(self, path: Path, info: ModelInfo) -> None:
        super().__init__(info)
        try:
            self.runner = TFLiteClassifier(path)
        except ExportError as exc:
            raise ModelSourceError(
                str(path),
                f"not a TFLite model LiteRT can load in the serving signature ({exc})",
                "Export with `islr export tflite MODEL.keras OUT.tflite`",
            ) from exc

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        # The signature runner resizes its input to each recording's frame count.
        return to_probabilities(np.asarray(self.runner.predict(frames)).reshape(-1))


def _load_keras(path: Path, description: str) -> Any:
    import keras

    # Registers the project's layers (package "islr") so `safe_mode` loading finds them.
    import islr.models.zoo  # noqa: F401

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many kinds (ValueError, TypeError, OSError, ...)
        raise ModelSourceError(
            description, f"cannot load the Keras model ({type(exc).__name__}: {exc})"
        ) from exc


def load_model_file(path: str | os.PathLike[str]) -> SignClassifier:
    """A classifier from a `.keras` or `.tflite` file."""
    path = Path(path).expanduser()
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelSourceError(
            str(path),
            f"unknown model file type {path.suffix or '(none)'!r}",
            f"Pass a {' or '.join(MODEL_SUFFIXES)} file",
        )
    if not path.is_file():
        raise ModelSourceError(str(path), "model file does not exist")
    path = path.resolve()
    if path.suffix == ".tflite":
        info = ModelInfo(kind="tflite", description=f"TFLite file {path}", path=str(path))
        return TFLiteFileClassifier(path, info)
    info = ModelInfo(kind="keras", description=f"Keras file {path}", path=str(path))
    return KerasClassifier(_load_keras(path, str(path)), info)


def _sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (None for other stores)."""
    if not uri.startswith("sqlite:"):
        return None
    # sqlite:////abs/db -> path "//abs/db"; sqlite:///rel/db -> "/rel/db": drop one slash.
    path = unquote(urlparse(uri).path)
    return Path(path[1:]) if path.startswith("/") else None


def load_registered_model(
    tracking_uri: str | None = None, model_name: str = MODEL_NAME, alias: str = CHAMPION
) -> SignClassifier:
    """The version of `model_name` that carries `alias` in the MLflow registry.

    Raises `NoChampionError` when the registry has no such model or alias (or no
    database at all: an sqlite store is never created by looking into it).
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = tracking_uri or mlflow.get_tracking_uri()
    db = _sqlite_file(uri)
    if db is not None and not db.is_file():
        raise NoChampionError(model_name, alias, uri, f"no MLflow database at {db}")
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        version = client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise NoChampionError(model_name, alias, uri, exc.message) from exc
        raise ModelSourceError(
            f"models:/{model_name}@{alias}", f"MLflow registry error at {uri}: {exc.message}"
        ) from exc
    description = f"{model_name} version {version.version} (@{alias})"
    info = ModelInfo(
        kind="registry",
        description=description,
        model_name=model_name,
        version=str(version.version),
        alias=alias,
        run_id=version.run_id,
        tracking_uri=uri,
    )
    log.info("loading %s from %s", description, uri)
    with tempfile.TemporaryDirectory(prefix="islr-model-") as tmp:
        try:
            # The version's own artifact location, not a `models:/` URI: that one would be
            # resolved against the process-wide registry URI instead of `uri`.
            source = client.get_model_version_download_uri(model_name, version.version)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, tracking_uri=uri, dst_path=tmp
            )
        except (MlflowException, OSError) as exc:
            raise ModelSourceError(
                description, f"cannot download the model's files from {uri} ({exc})"
            ) from exc
        keras_file = Path(local) / "data" / "model.keras"
        if not keras_file.is_file():
            raise ModelSourceError(
                description,
                "the registered model has no data/model.keras",
                "Register a Keras 3 model logged with mlflow.keras.log_model",
            )
        model = _load_keras(keras_file, description)
    return KerasClassifier(model, info)


def load_classifier(
    model_path: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
    model_name: str = MODEL_NAME,
    alias: str = CHAMPION,
) -> SignClassifier:
    """A model file when one is given, else the registry's `alias` version."""
    if model_path:
        return load_model_file(model_path)
    return load_registered_model(tracking_uri, model_name, alias)
