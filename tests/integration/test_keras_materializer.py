"""Keras models travel between ZenML steps as .keras files, never pickle."""

from typing import Annotated

import keras
import numpy as np
from zenml import pipeline, step

from steps.keras_materializer import KerasModelMaterializer


@step(output_materializers=KerasModelMaterializer)
def build() -> Annotated[keras.Model, "model"]:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


@step
def predict(model: keras.Model) -> Annotated[list, "outputs"]:
    return model(np.ones((1, 4), "float32")).numpy().tolist()


@pipeline(enable_cache=False)
def keras_roundtrip():
    predict(build())


def test_model_artifact_is_a_keras_file(zenml_stack, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    run = keras_roundtrip()
    artifact = run.steps["build"].outputs["model"][0]
    files = list(zenml_stack.active_stack.artifact_store.path and [artifact.uri])
    assert files and artifact.uri
    from zenml.io import fileio

    assert fileio.listdir(artifact.uri) == ["model.keras"]
    model = artifact.load()
    outputs = run.steps["predict"].outputs["outputs"][0].load()
    np.testing.assert_allclose(model(np.ones((1, 4), "float32")).numpy(), outputs, rtol=1e-6)
    assert artifact.run_metadata["parameters"] == 15
