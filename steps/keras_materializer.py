"""ZenML materializer for Keras 3 models: `.keras` files, not pickle.

Kept apart from `steps.materializers` so pipelines that never touch a model do not import
Keras and TensorFlow. Importing this module registers it for every `keras.Model`.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, ClassVar

import keras
from zenml.enums import ArtifactType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer


class KerasModelMaterializer(BaseMaterializer):
    """Saves with `model.save(...keras)`; loads with `safe_mode=True`, so only layers
    registered as serializable come back, never arbitrary code."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (keras.Model,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL
    FILENAME = "model.keras"

    def save(self, data: keras.Model) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, self.FILENAME)
            data.save(local)
            fileio.makedirs(self.uri)
            fileio.copy(local, os.path.join(self.uri, self.FILENAME), overwrite=True)

    def load(self, data_type: type[Any]) -> keras.Model:
        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, self.FILENAME)
            fileio.copy(os.path.join(self.uri, self.FILENAME), local, overwrite=True)
            return keras.saving.load_model(local, safe_mode=True)

    def extract_metadata(self, data: keras.Model) -> dict[str, Any]:
        return {"parameters": int(data.count_params())}
