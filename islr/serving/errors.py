"""Errors of the serving layer: each names the model, file or field that is wrong and
what to do, so the app can show the message as it is."""

from __future__ import annotations

from typing import Any

from islr.errors import IslrError


class ServingError(IslrError):
    """Base class of the serving errors."""


class NoChampionError(ServingError):
    """The MLflow registry has no model version under the requested alias (yet)."""

    def __init__(self, model_name: str, alias: str, tracking_uri: str, reason: str) -> None:
        self.model_name = model_name
        self.alias = alias
        self.tracking_uri = tracking_uri
        self.reason = reason
        super().__init__(
            f"no version of model {model_name!r} has the alias {alias!r} in the MLflow "
            f"registry at {tracking_uri} ({reason}). Train, evaluate and register one with "
            "`bash scripts/main.sh`, or start the app with a model file: "
            "`bash scripts/app.sh --model PATH` (.keras or .tflite)."
        )


class ModelSourceError(ServingError):
    """A model file or registered model cannot be loaded or breaks the serving contract
    (input (T, 543, 3) frames, output 250 scores)."""

    def __init__(self, source: str, problem: str, hint: str = "") -> None:
        self.source = str(source)
        self.problem = problem
        message = f"{self.source}: {problem}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class UploadError(ServingError):
    """An uploaded recording is not a valid asl-signs parquet file.

    `issues` holds one mapping per failed check: file, check (the field or rule that
    failed) and the observed value, as in the validation report of the data pipeline.
    """

    def __init__(self, file: str, issues: list[dict[str, Any]]) -> None:
        self.file = file
        self.issues = issues
        shown = "; ".join(f"{i['check']} (observed: {i['observed']})" for i in issues)
        super().__init__(
            f"{file}: not a valid asl-signs recording: {shown}. Upload one "
            "train_landmark_files/<participant>/<sequence>.parquet file of the asl-signs "
            "format (columns frame, row_id, type, landmark_index, x, y, z; 543 rows per frame)."
        )
