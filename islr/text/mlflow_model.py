"""The tuned composer as an MLflow model: logged with its checkpoint, registered by name.

It is a pyfunc model whose artifact is the checkpoint directory, so it works with any
MLflow tracking/registry store, offline. Loading it needs the `islr` package (this
module) in the serving environment:

    model = mlflow.pyfunc.load_model("models:/islr-sentence-composer/1")
    model.predict(pd.DataFrame({"glosses": ["hello thankyou"]}))   # -> ["..."]
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from islr.text.config import ComposerConfig

log = logging.getLogger(__name__)

MODEL_NAME = "islr-sentence-composer"
ARTIFACT_NAME = "composer"
CONFIG_ARTIFACT = "composer_config"
CHECKPOINT_ARTIFACT = "checkpoint"
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "glosses")]),
    outputs=Schema([ColSpec("string", "sentence")]),
)


class ComposerModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: a `glosses` column of space-separated sign names -> sentences."""

    def load_context(self, context: Any) -> None:
        from islr.text.composer import Composer

        config = json.loads(Path(context.artifacts[CONFIG_ARTIFACT]).read_text())
        config["checkpoint"] = context.artifacts[CHECKPOINT_ARTIFACT]
        self.composer = Composer(ComposerConfig.model_validate(config))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> list[str]:
        rows = model_input["glosses"].tolist()
        sequences = [r.split() if isinstance(r, str) else list(r) for r in rows]
        return [c.sentence for c in self.composer.compose_many(sequences)]


def _requirements() -> list[str]:
    names = ("torch", "transformers", "sentencepiece", "pandas", "pydantic", "mlflow")
    return [f"{name}=={metadata.version(name)}" for name in names]


def log_composer(
    checkpoint_dir: str | os.PathLike[str],
    config: ComposerConfig,
    registered_model_name: str | None = MODEL_NAME,
    tags: dict[str, str] | None = None,
) -> tuple[str, str | None]:
    """Log the checkpoint as a pyfunc model in the active MLflow run (one is started if
    none is active) and register it. Returns (model URI, registered version or None);
    the URI is `models:/NAME/VERSION` when registered."""
    settings = config.model_dump(exclude={"checkpoint", "fallback"})
    with tempfile.TemporaryDirectory(prefix="islr-composer-") as tmp:
        config_path = Path(tmp) / "composer_config.json"
        config_path.write_text(json.dumps(settings, indent=2))
        info = mlflow.pyfunc.log_model(
            name=ARTIFACT_NAME,
            # A "model from code": MLflow stores the entry file, not a pickle.
            python_model=str(Path(__file__).with_name("mlflow_entry.py")),
            artifacts={
                CHECKPOINT_ARTIFACT: str(checkpoint_dir),
                CONFIG_ARTIFACT: str(config_path),
            },
            signature=SIGNATURE,
            # Listed explicitly: inferring them would load the model in a subprocess.
            pip_requirements=_requirements(),
            registered_model_name=registered_model_name,
        )
    version = None
    if registered_model_name:
        version = str(info.registered_model_version)
        client = mlflow.MlflowClient()
        for key, value in (tags or {}).items():
            client.set_model_version_tag(registered_model_name, version, key, str(value))
        log.info("registered %s version %s (%s)", registered_model_name, version, info.model_uri)
    uri = f"models:/{registered_model_name}/{version}" if version else info.model_uri
    return uri, version
