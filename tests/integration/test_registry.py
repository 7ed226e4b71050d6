"""Registry and champion gate on a real MLflow sqlite store.

Four tiny models are logged the way the training step logs them (lineage tags, `model`
via mlflow.keras). Their output biases fix their accuracy on two crafted splits, whose
validation halves hold the same labels as their test halves (other records), so the
gate's default metric (validation accuracy) ranks them as below:

    model   predicts  split 1 (labels 0,0,0,1,1,2)   split 2 (other records: 0,1,1,2,2,2)
    a       0         0.5                            1/6
    b       1         1/3                            1/3
    c       2         1/6                            0.5
    none    5         0                              0

A third split has validation labels 2,2,2,1,1,0 and test labels 0,0,0,1,1,2: `c` is the
best on validation (0.5) and the worst on test (1/6).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from conftest import mlflow_store
from crafted_models import base_manifest, biased_model, crafted_manifest, write_set
from mlflow import MlflowClient

from islr.data.format import read_recording
from islr.evaluation.errors import RegistryError, TestSplitMismatchError
from islr.evaluation.metrics import EvaluationConfig, evaluate_model, run_lineage
from islr.evaluation.registry import (
    RegistryConfig,
    load_champion,
    log_decision,
    register_evaluations,
)
from islr.evaluation.registry_names import MODEL_NAME
from islr.training.tracking import model_signature

PREDICTS = {"a": 0, "b": 1, "c": 2, "none": 5}
FAST = EvaluationConfig(latency_samples=0)


def _log_like_training(model: keras.Model, run: str) -> str:
    with mlflow.start_run(run_name=run) as active:
        mlflow.set_tags(
            {
                "run": run,
                "architecture": "cnn",
                "scale": "tiny",
                "data_md5": "0123456789abcdef.dir",
                "git_commit": "f" * 40,
                "fold_manifest_hash": "feedfacefeedface",
                "config_hash": f"hash-{run}",
            }
        )
        example = np.random.default_rng(0).random((1, 8, 543, 3)).astype("float32")
        # explicit requirements: inferring them costs ~7 s per model and the registry
        # does not read them
        mlflow.keras.log_model(
            model, name="model", signature=model_signature(), pip_requirements=["keras==3.15.1"]
        )
        # as the training step does: an input example beside the model, in the run's
        # own artifacts under the same path (registration must still find the model)
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "input_example.npy", example)
            mlflow.log_artifact(str(Path(tmp) / "input_example.npy"), artifact_path="model")
    return active.info.run_id


@pytest.fixture(scope="module")
def world(synth_dir, tmp_path_factory):
    """Tracking store, two test splits, the four logged models and their evaluations."""
    tmp = tmp_path_factory.mktemp("registry")
    with mlflow_store(tmp):
        yield _world(synth_dir, tmp)


def _world(synth_dir: Path, tmp: Path) -> dict:
    manifest = base_manifest(synth_dir)
    one, two = {0: 3, 1: 2, 2: 1}, {0: 1, 1: 2, 2: 3}
    split1 = write_set(
        crafted_manifest(manifest, one, val_counts=one, val_offset=6), synth_dir, tmp / "s1"
    )
    split2 = write_set(
        crafted_manifest(manifest, two, offset=3, val_counts=two, val_offset=9),
        synth_dir,
        tmp / "s2",
    )
    split3 = write_set(
        crafted_manifest(manifest, one, val_counts={0: 1, 1: 2, 2: 3}, val_offset=6),
        synth_dir,
        tmp / "s3",
    )
    models, run_ids, evals1, evals2, evals3 = {}, {}, {}, {}, {}
    for run, cls in PREDICTS.items():
        models[run] = biased_model([cls], seed=len(models), name="cnn")
        run_ids[run] = _log_like_training(models[run], run)
        for split, out in ((split1, evals1), (split2, evals2), (split3, evals3)):
            out[run] = evaluate_model(
                models[run],
                split,
                run=run,
                config=FAST,
                mlflow_run_id=run_ids[run],
                lineage=run_lineage(run_ids[run]),
            ).evaluation
    return {
        "split1": split1,
        "split2": split2,
        "models": models,
        "e1": evals1,
        "e2": evals2,
        "e3": evals3,
    }


def _aliases(name: str) -> dict[str, str]:
    model = MlflowClient().get_registered_model(name)
    return {alias: str(version) for alias, version in model.aliases.items()}


def _tags(name: str, version: str) -> dict[str, str]:
    return MlflowClient().get_model_version(name, version).tags


def test_scores_of_the_crafted_models(world):
    accuracy1 = {r: e.metrics.accuracy for r, e in world["e1"].items()}
    accuracy2 = {r: e.metrics.accuracy for r, e in world["e2"].items()}
    assert accuracy1 == pytest.approx({"a": 0.5, "b": 1 / 3, "c": 1 / 6, "none": 0.0})
    assert accuracy2 == pytest.approx({"a": 1 / 6, "b": 1 / 3, "c": 0.5, "none": 0.0})
    assert world["e1"]["a"].test_split_id != world["e2"]["a"].test_split_id


def test_first_run_becomes_champion_and_a_worse_one_challenger(world, tmp_path):
    config = RegistryConfig(model_name="gate-first")
    first = register_evaluations(
        [world["e1"]["c"]], config, tflite_uris={"c": "s3://bucket/c/model.tflite"}
    )
    assert first.promoted and first.version == "1" and first.champion_version == "1"
    assert first.previous_champion_version is None and first.challenger_version is None
    assert "no champion yet" in first.reason
    assert _aliases("gate-first") == {"champion": "1"}
    tags = _tags("gate-first", "1")
    assert tags["run"] == "c" and tags["architecture"] == "cnn"
    assert float(tags["test_accuracy"]) == pytest.approx(1 / 6)
    assert tags["data_md5"] == "0123456789abcdef.dir" and tags["git_commit"] == "f" * 40
    assert tags["config_hash"] == "hash-c" and tags["fold_manifest_hash"] == "feedfacefeedface"
    assert tags["test_split_id"] == world["e1"]["c"].test_split_id
    assert tags["tflite_uri"] == "s3://bucket/c/model.tflite"
    assert tags["gate_outcome"] == "champion"

    worse = register_evaluations([world["e1"]["none"]], config)
    assert not worse.promoted and worse.version == "2"
    assert worse.champion_version == "1" and worse.challenger_version == "2"
    assert worse.new_value == 0.0 and worse.champion_value == pytest.approx(1 / 6)
    assert not worse.champion_reevaluated
    assert worse.reason.startswith("not promoted: none (v2) val_accuracy 0.0000 vs champion v1")
    assert _aliases("gate-first") == {"champion": "1", "challenger": "2"}
    assert _tags("gate-first", "2")["gate_outcome"] == "challenger"
    registered = MlflowClient().get_registered_model("gate-first")
    assert registered.tags["last_gate_decision"] == worse.reason

    # the decision goes to an MLflow run as tags and a JSON artifact
    with mlflow.start_run() as run:
        log_decision(worse)
    logged = MlflowClient().get_run(run.info.run_id).data.tags
    assert logged["gate_promoted"] == "false" and logged["gate_reason"] == worse.reason
    path = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="promotion_decision.json", dst_path=str(tmp_path)
    )
    assert json.loads(Path(path).read_text())["challenger_version"] == "2"


def test_a_better_run_takes_champion(world):
    config = RegistryConfig(model_name="gate-better")
    register_evaluations([world["e1"]["c"]], config)  # v1 champion (1/6)
    register_evaluations([world["e1"]["none"]], config)  # v2 challenger (0)
    # two new runs at once: the best (a, 0.5) is promoted, the runner-up (b) challenges
    decision = register_evaluations([world["e1"]["b"], world["e1"]["a"]], config)
    assert decision.registered == {"b": "3", "a": "4"}
    assert decision.promoted and decision.run == "a" and decision.champion_version == "4"
    assert decision.previous_champion_version == "1" and decision.challenger_version == "3"
    assert decision.reason.startswith("promoted: a (v4) val_accuracy 0.5000 vs champion v1")
    assert _aliases("gate-better") == {
        "champion": "4",
        "challenger": "3",
        "previous_champion": "1",
    }

    # a lone winner leaves no loser: the stale challenger alias is removed
    lone = RegistryConfig(model_name="gate-lone")
    register_evaluations([world["e1"]["c"]], lone)
    register_evaluations([world["e1"]["none"]], lone)
    register_evaluations([world["e1"]["b"]], lone)
    assert _aliases("gate-lone") == {"champion": "3", "previous_champion": "1"}


def test_a_rerun_of_the_same_training_runs_registers_nothing_twice(world):
    """A pipeline re-run whose training steps were cached brings the same MLflow runs
    again: their versions are reused, and the champion is not its own challenger."""
    config = RegistryConfig(model_name="gate-rerun")
    register_evaluations([world["e1"]["a"]], config)  # v1 champion
    again = register_evaluations([world["e1"]["a"], world["e1"]["b"]], config)
    assert again.registered == {"a": "1", "b": "2"}
    assert not again.promoted and again.champion_version == "1"
    assert "champion already" in again.reason
    assert again.challenger_version == "2"
    assert _aliases("gate-rerun") == {"champion": "1", "challenger": "2"}
    assert _tags("gate-rerun", "1")["gate_outcome"] == "champion"
    assert len(MlflowClient().search_model_versions("name = 'gate-rerun'")) == 2


def test_minimum_improvement_and_other_metrics(world):
    config = RegistryConfig(model_name="gate-margin", min_improvement=0.2)
    register_evaluations([world["e1"]["c"]], config)  # champion 1/6
    decision = register_evaluations([world["e1"]["b"]], config)  # 1/3: +1/6 < 0.2
    assert not decision.promoted and _aliases("gate-margin")["champion"] == "1"
    assert "improvement +0.1667, required > 0 and >= 0.2" in decision.reason
    decision = register_evaluations([world["e1"]["a"]], config)  # 0.5: +1/3
    assert decision.promoted and _aliases("gate-margin")["champion"] == "3"

    equal = RegistryConfig(model_name="gate-equal", metric="test_micro_f1")
    register_evaluations([world["e1"]["b"]], equal)
    tie = register_evaluations([world["e1"]["b"]], equal)  # the same score does not beat it
    assert not tie.promoted and tie.metric == "test_micro_f1"


def test_champion_from_another_split_is_reevaluated(world):
    config = RegistryConfig(model_name="gate-split")
    register_evaluations([world["e1"]["a"]], config)  # champion: 0.5 on split 1
    # b on split 2 (1/3) is worse than a's recorded 0.5, but a scores 1/6 on split 2
    with pytest.raises(
        RegistryError, match=r"not measured on the new runs' records .* pass the TFRecord set"
    ):
        register_evaluations([world["e2"]["b"]], config)
    assert len(MlflowClient().search_model_versions("name='gate-split'")) == 1  # unchanged
    with pytest.raises(RegistryError, match="its evaluated split is"):
        register_evaluations([world["e2"]["b"]], config, tfrecords=world["split1"])

    decision = register_evaluations([world["e2"]["b"]], config, tfrecords=world["split2"])
    assert decision.champion_reevaluated
    assert decision.champion_value == pytest.approx(1 / 6)
    assert decision.promoted and decision.champion_version == "2"
    split2 = world["e2"]["b"].val_split_id
    assert f"re-evaluated on {split2}" in decision.reason
    assert float(_tags("gate-split", "1")[f"val_accuracy_on_{split2}"]) == pytest.approx(1 / 6)


def test_champion_loads_from_the_registry_and_predicts_raw_frames(world, real_data_dir):
    decision = register_evaluations([world["e1"]["a"]])
    assert decision.model_name == MODEL_NAME == "islr-sign-classifier"
    model = mlflow.keras.load_model("models:/islr-sign-classifier@champion")
    frames = read_recording(next(Path(real_data_dir).rglob("*.parquet")))[None]
    assert np.isnan(frames).any()  # raw MediaPipe output: undetected parts are NaN
    logits = keras.ops.convert_to_numpy(model(frames))
    assert logits.shape == (1, 250) and logits.argmax() == PREDICTS["a"]
    expected = keras.ops.convert_to_numpy(world["models"]["a"](frames))
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(load_champion()(frames)), expected, rtol=1e-5, atol=1e-5
    )
    # pyfunc, as a serving tool would load it: the signature admits recordings of any length
    pyfunc = mlflow.pyfunc.load_model("models:/islr-sign-classifier@champion")
    np.testing.assert_allclose(pyfunc.predict(frames), expected, rtol=1e-5, atol=1e-5)
    for length in (1, 37):
        other = np.resize(frames, (1, length, *frames.shape[2:]))
        np.testing.assert_allclose(
            pyfunc.predict(other),
            keras.ops.convert_to_numpy(world["models"]["a"](other)),
            rtol=1e-5,
            atol=1e-5,
        )


def test_bad_input_is_refused_before_registering(world):
    config = RegistryConfig(model_name="gate-bad")
    no_run = world["e1"]["a"].model_copy(update={"mlflow_run_id": None})
    with pytest.raises(RegistryError, match=r"a: Evaluation\.mlflow_run_id is empty"):
        register_evaluations([no_run], config)
    with pytest.raises(TestSplitMismatchError, match="different test records"):
        register_evaluations([world["e1"]["a"], world["e2"]["b"]], config)
    with pytest.raises(RegistryError, match=r"RegistryConfig\.metric: .*'test_f1'"):
        register_evaluations([world["e1"]["a"]], RegistryConfig(model_name="x", metric="test_f1"))
    with pytest.raises(RegistryError, match=r"tflite_uris: no evaluated run named \['zz'\]"):
        register_evaluations([world["e1"]["a"]], config, tflite_uris={"zz": "/m.tflite"})
    assert not MlflowClient().search_registered_models("name='gate-bad'")


def test_a_run_over_the_serving_budget_may_not_become_champion(world):
    e1 = world["e1"]
    config = RegistryConfig(model_name="gate-serving")
    over = "its TFLite file failed the serving gate (size 41.2 MB > 40 MB)"
    decision = register_evaluations([e1["a"], e1["b"], e1["c"]], config, ineligible={"a": over})
    # a has the best accuracy, but b is the best run that may be deployed
    assert decision.promoted and decision.run == "b"
    assert f"a may not be champion: {over}" in decision.reason
    aliases = _aliases("gate-serving")
    assert aliases["champion"] == decision.registered["b"]
    assert aliases["challenger"] == decision.registered["c"]  # never the ineligible a
    assert _tags("gate-serving", decision.registered["a"])["gate_outcome"] == "ineligible"

    # no run may be champion: all are registered, nothing moves
    none = register_evaluations(
        [e1["c"]], RegistryConfig(model_name="gate-none"), ineligible={"c": over}
    )
    assert not none.promoted and none.champion_version is None
    assert "no run may become champion" in none.reason
    assert _aliases("gate-none") == {}
    with pytest.raises(RegistryError, match=r"ineligible: no evaluated run named \['zz'\]"):
        register_evaluations([e1["a"]], config, ineligible={"zz": over})


def test_the_champion_is_chosen_on_validation_and_the_test_split_only_reported(world):
    """On split 3, c is the best run on validation and the worst on test: the default
    gate promotes c; ranking by test accuracy (biased selection) would pick a."""
    e3 = world["e3"]
    assert e3["c"].metric("val_accuracy") == pytest.approx(0.5)
    assert e3["c"].metric("test_accuracy") == pytest.approx(1 / 6)
    assert e3["a"].metric("val_accuracy") == pytest.approx(1 / 6)
    decision = register_evaluations([e3["a"], e3["c"]], RegistryConfig(model_name="gate-val"))
    assert decision.run == "c" and decision.promoted
    assert decision.metric == "val_accuracy" and decision.new_value == pytest.approx(0.5)
    assert decision.split_id == e3["c"].val_split_id != e3["c"].test_split_id
    assert _aliases("gate-val")["champion"] == decision.registered["c"]
    tags = _tags("gate-val", decision.registered["c"])
    assert float(tags[f"val_accuracy_on_{e3['c'].val_split_id}"]) == pytest.approx(0.5)
