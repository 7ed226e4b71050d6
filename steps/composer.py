"""Steps of the composer fine-tuning pipeline: thin adapters over `islr.text`.

load_pairs -> evaluate_before -> finetune_composer -> evaluate_after -> register_composer.
The tracked steps share one MLflow run per pipeline run (ZenML's MLflow tracker resumes
it by run name): params, per-epoch loss, before/after BLEU and chrF, predictions, and
the tuned composer registered as an MLflow model.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from typing import Annotated, Any, ClassVar

import mlflow
import pandas as pd
from pydantic import BaseModel
from zenml import get_step_context, step
from zenml.enums import ArtifactType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer

from islr.text import pairs
from islr.text.composer import Composer
from islr.text.config import ComposerConfig, FinetuneConfig
from islr.text.finetune import TRAINING_FILE, ComposerCheckpoint, finetune
from islr.text.metrics import Scores, evaluate_composer
from islr.text.mlflow_model import MODEL_NAME, log_composer

log = logging.getLogger(__name__)


class ComposerCheckpointMaterializer(BaseMaterializer):
    """Stores the checkpoint folder itself as the artifact (no pickling, no tarball).

    The fine-tuning step writes straight into the artifact's folder when the store is
    local; a checkpoint saved elsewhere is copied in. Loading points at the artifact
    folder, or at a local copy when the store is remote (transformers reads local files).
    """

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (ComposerCheckpoint,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def save(self, data: ComposerCheckpoint) -> None:
        if os.path.normpath(data.directory) != os.path.normpath(self.uri):
            fileio.makedirs(self.uri)
            for name in sorted(os.listdir(data.directory)):
                fileio.copy(
                    os.path.join(data.directory, name), os.path.join(self.uri, name), overwrite=True
                )
        if not fileio.exists(os.path.join(self.uri, TRAINING_FILE)):
            raise FileNotFoundError(f"{self.uri}: composer checkpoint has no {TRAINING_FILE}")

    def load(self, data_type: type[Any]) -> ComposerCheckpoint:
        directory = self.uri
        if "://" in self.uri:
            directory = tempfile.mkdtemp(prefix="islr-composer-")
            for name in fileio.listdir(self.uri):
                fileio.copy(os.path.join(self.uri, str(name)), os.path.join(directory, str(name)))
        with open(os.path.join(directory, TRAINING_FILE)) as fh:
            info = json.load(fh)
        info["directory"] = directory
        return ComposerCheckpoint.model_validate(info)

    def extract_metadata(self, data: ComposerCheckpoint) -> dict[str, Any]:
        return {
            "base_checkpoint": data.base_checkpoint,
            "n_train": data.n_train,
            "steps": data.steps,
            "final_loss": data.epoch_losses[-1],
        }


class RegisteredComposer(BaseModel):
    name: str
    version: str | None
    model_uri: str
    mlflow_run_id: str


@step
def load_pairs(
    pairs_path: str | None = None, max_test_pairs: int | None = None
) -> tuple[Annotated[pd.DataFrame, "train_pairs"], Annotated[pd.DataFrame, "test_pairs"]]:
    """The pairs CSV (default: the shipped one), checked and split into train/test."""
    train, test = pairs.split_pairs(pairs.load_pairs(pairs_path))
    if max_test_pairs is not None:
        test = test.head(max_test_pairs)
    get_step_context().add_output_metadata({"n_pairs": len(train)}, "train_pairs")
    get_step_context().add_output_metadata({"n_pairs": len(test)}, "test_pairs")
    return train, test


def _evaluate(test_pairs: pd.DataFrame, config: ComposerConfig, stage: str) -> Scores:
    evaluation = evaluate_composer(Composer(config), test_pairs)
    scores = evaluation.scores
    mlflow.log_metrics({f"bleu_{stage}": scores.bleu, f"chrf_{stage}": scores.chrf})
    mlflow.log_table(evaluation.table(test_pairs), artifact_file=f"predictions_{stage}.json")
    log.info(
        "%s fine-tuning: BLEU %.2f, chrF %.2f on %d pairs",
        stage,
        scores.bleu,
        scores.chrf,
        scores.n,
    )
    return scores


@step(experiment_tracker=True)
def evaluate_before(
    test_pairs: pd.DataFrame, composer: ComposerConfig
) -> Annotated[Scores, "scores_before"]:
    """BLEU and chrF of the base checkpoint on the held-out pairs."""
    return _evaluate(test_pairs, composer, "before")


@step(
    experiment_tracker=True,
    output_materializers={"tuned_checkpoint": ComposerCheckpointMaterializer},
)
def finetune_composer(
    train_pairs: pd.DataFrame, composer: ComposerConfig, training: FinetuneConfig
) -> Annotated[ComposerCheckpoint, "tuned_checkpoint"]:
    """Fine-tune the base checkpoint; the tuned folder is the output artifact."""
    mlflow.log_params(
        {
            "base_checkpoint": composer.checkpoint,
            "prompt_template": composer.prompt_template,
            **{f"decoding.{k}": v for k, v in composer.decoding.model_dump().items()},
            **{f"training.{k}": v for k, v in training.model_dump().items()},
            "n_train_pairs": len(train_pairs),
        }
    )
    uri = get_step_context().get_output_artifact_uri("tuned_checkpoint")
    if "://" in uri:  # remote store: train into a local folder, the materializer uploads it
        out_dir = os.path.join(tempfile.mkdtemp(prefix="islr-composer-"), "checkpoint")
    else:
        out_dir = uri

    def log_loss(epoch: int, loss: float) -> None:
        mlflow.log_metric("train_loss", loss, step=epoch)

    return finetune(train_pairs, out_dir, composer, training, on_epoch_end=log_loss)


@step(experiment_tracker=True)
def evaluate_after(
    test_pairs: pd.DataFrame, checkpoint: ComposerCheckpoint, composer: ComposerConfig
) -> Annotated[Scores, "scores_after"]:
    """BLEU and chrF of the tuned checkpoint on the same held-out pairs."""
    tuned = composer.model_copy(update={"checkpoint": checkpoint.directory})
    return _evaluate(test_pairs, tuned, "after")


@step(experiment_tracker=True, enable_cache=False)
def register_composer(
    checkpoint: ComposerCheckpoint,
    composer: ComposerConfig,
    scores_before: Scores,
    scores_after: Scores,
    model_name: str = MODEL_NAME,
) -> Annotated[RegisteredComposer, "registered_composer"]:
    """Log the tuned composer as an MLflow model and register a new version of it."""
    gain = {
        "bleu_gain": scores_after.bleu - scores_before.bleu,
        "chrf_gain": scores_after.chrf - scores_before.chrf,
    }
    mlflow.log_metrics(gain)
    tags = {
        "base_checkpoint": checkpoint.base_checkpoint,
        "bleu_before": scores_before.bleu,
        "chrf_before": scores_before.chrf,
        "bleu_after": scores_after.bleu,
        "chrf_after": scores_after.chrf,
        "zenml_pipeline_run": get_step_context().pipeline_run.name,
    }
    model_uri, version = log_composer(checkpoint.directory, composer, model_name, tags)
    run = mlflow.active_run()
    return RegisteredComposer(
        name=model_name,
        version=version,
        model_uri=model_uri,
        mlflow_run_id=run.info.run_id if run else "",
    )
