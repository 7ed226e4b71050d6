"""Errors of the TFLite export: each names the file or model, the value and what to do."""

from __future__ import annotations

from islr.errors import IslrError


class ExportError(IslrError):
    """Base class of the export errors."""


class ConversionError(ExportError):
    """The Keras model cannot be turned into a TFLite model with built-in ops only."""


class ServingInputError(ExportError):
    """Frames given to the exported model are not a (T, 543, 3) float array with T >= 1."""


class ExportGateError(ExportError):
    """The exported model breaks the serving budget (size, latency) or its parity check,
    and the gate is configured to enforce."""


class MlflowLogError(ExportError):
    """The export cannot be logged to the MLflow run it names."""
