"""Exceptions raised by the islr library.

Every error names what is wrong (file, field, observed value) and what to do about it,
so that a user reading only the message can fix the input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class IslrError(Exception):
    """Base class of every error the library raises on purpose."""


class DataFolderError(IslrError):
    """The data folder is missing or is not in the asl-signs layout."""


class MetadataError(IslrError):
    """`train.csv` is unreadable, empty, or has missing/invalid columns."""


class RecordingError(IslrError):
    """A landmark parquet file cannot be read or breaks the asl-signs contract."""

    def __init__(self, path: str, check: str, observed: object, hint: str = "") -> None:
        self.path = str(path)
        self.check = check
        self.observed = observed
        message = f"{self.path}: {check} (observed: {observed})"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class ValidationFailedError(IslrError):
    """Too many recordings failed validation; the data gate refuses to continue."""


class ConfigError(IslrError):
    """A configuration file or value is invalid."""


def field_problems(exc: ValidationError, prefix: str = "") -> str:
    """One `field: message (got value)` per wrong field of a pydantic ValidationError,
    joined by "; ", each field's dotted path after `prefix` (e.g. "tfjob.")."""
    return "; ".join(
        f"{prefix}{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (got {err.get('input')!r})"
        for err in exc.errors()
    )


def read_yaml_mapping(path, what: str) -> dict:
    """The mapping a YAML config file holds (an empty file: {}); a ConfigError names the
    file and `what` it should have been when it cannot be read or is not a mapping."""
    from pathlib import Path

    import yaml

    try:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc})") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping, got {type(loaded).__name__}")
    return loaded


class DataIntegrityError(IslrError):
    """Data on disk does not match the checksum recorded for it (e.g. in `data.dvc`)."""


class TrainingDivergedError(IslrError):
    """A training run's loss became NaN/Inf before any epoch gave usable weights."""


class SignMapError(IslrError):
    """`sign_to_prediction_index_map.json` is unreadable or not a one-to-one map of the
    signs onto the class indices 0..N-1."""


class OutputFolderError(IslrError):
    """An output folder cannot be used: it exists and is not empty, lies inside the data
    folder, or cannot be created."""
