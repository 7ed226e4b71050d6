"""Settings of the sign recognition app: where the model, data and composer come from.

Values come from the command line (`streamlit run app/main.py -- --model PATH ...`,
which `scripts/app.sh` passes through), else from environment variables (handy in a
container), else from the defaults below.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from islr.errors import ConfigError, field_problems
from islr.evaluation.registry_names import CHAMPION, MODEL_NAME
from islr.text.config import ComposerConfig, load_yaml_model

# Environment variable of each setting (the command line wins over these).
ENV: dict[str, str] = {
    "model": "ISLR_APP_MODEL",
    "data_dir": "ISLR_APP_DATA",
    "tracking_uri": "MLFLOW_TRACKING_URI",
    "model_name": "ISLR_APP_MODEL_NAME",
    "alias": "ISLR_APP_ALIAS",
    "composer_config": "ISLR_APP_COMPOSER_CONFIG",
    "composer_checkpoint": "ISLR_APP_COMPOSER_CHECKPOINT",
    "composer_backend": "ISLR_APP_COMPOSER_BACKEND",
    "offline": "ISLR_APP_OFFLINE",
}


class AppSettings(BaseModel):
    """What the app serves and from where."""

    # A .keras or .tflite file; when unset, the registry's `alias` version is served.
    model: Path | None = None
    tracking_uri: str | None = None
    model_name: str = MODEL_NAME
    alias: str = CHAMPION
    # The asl-signs folder whose recordings the app offers (the embedded data by default).
    data_dir: Path = Path("data")
    # A composer YAML (see configs/composer.yaml); the fields below override it.
    composer_config: Path | None = None
    composer_checkpoint: str | None = None
    composer_backend: Literal["t5", "plain"] | None = None
    # With no T5 checkpoint on the machine, compose with the plain backend (labelled as
    # such on the page) instead of refusing to translate.
    composer_fallback: bool = True
    # Never download the T5 model (HF_HUB_OFFLINE=1 does the same for every tool).
    offline: bool = False
    top_k: int = Field(5, ge=1, le=250)
    animation_fps: float = Field(10.0, gt=0)
    animation_max_frames: int = Field(60, ge=1)

    def composer(self) -> ComposerConfig:
        """The composer configuration these settings describe."""
        config = (
            load_yaml_model(ComposerConfig, self.composer_config)
            if self.composer_config
            else ComposerConfig()
        )
        update: dict = {}
        if self.composer_checkpoint:
            update["checkpoint"] = self.composer_checkpoint
        if self.composer_backend:
            update["backend"] = self.composer_backend
        if self.offline:
            update["offline"] = True
        if self.composer_fallback and config.fallback is None:
            update["fallback"] = "plain"
        return config.model_copy(update=update)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="app/main.py",
        description="Sign recognition app: classify asl-signs recordings, compose a sentence.",
    )
    parser.add_argument("--model", help="a .keras or .tflite file (default: the registry)")
    parser.add_argument("--data", dest="data_dir", help="asl-signs data folder (default: data)")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI of the registry")
    parser.add_argument("--model-name", help=f"registered model name (default: {MODEL_NAME})")
    parser.add_argument("--alias", help=f"registry alias to serve (default: {CHAMPION})")
    parser.add_argument("--composer-config", help="composer YAML, e.g. configs/composer.yaml")
    parser.add_argument("--composer-checkpoint", help="T5 checkpoint directory or cached id")
    parser.add_argument("--composer-backend", choices=["t5", "plain"])
    parser.add_argument(
        "--no-composer-fallback",
        dest="composer_fallback",
        action="store_false",
        default=None,
        help="refuse to translate when the T5 checkpoint is missing (default: plain fallback)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help="never download the T5 model; use only the local Hugging Face cache",
    )
    parser.add_argument("--top-k", type=int)
    return parser


def load_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> AppSettings:
    """Settings from command-line arguments over environment variables over defaults.

    Raises `ConfigError` naming the argument or field and the value that is wrong.
    """
    environ = os.environ if environ is None else environ
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv or []))
    except SystemExit as exc:  # argparse exits on bad arguments; the app shows a message
        raise ConfigError(
            f"invalid app arguments {list(argv or [])}: {parser.format_usage().strip()}"
        ) from exc
    values: dict = {field: environ[var] for field, var in ENV.items() if environ.get(var)}
    values.update({k: v for k, v in vars(args).items() if v is not None})
    try:
        return AppSettings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(f"invalid app settings: {field_problems(exc)}") from exc
