"""TFLite export: the architecture of each of the seven runs converts with built-in ops only,
answers the competition's call with both interpreters, matches Keras, and is gated on
size, latency and parity; failures leave nothing half-written behind."""

from __future__ import annotations

import argparse
import json
import shutil
import warnings
from pathlib import Path
from typing import Annotated

import keras
import numpy as np
import pytest
from zenml import pipeline, step

from islr.data.format import read_recording
from islr.export.errors import (
    ConversionError,
    ExportError,
    ExportGateError,
    MlflowLogError,
    ServingInputError,
)
from islr.export.tflite import (
    ExportConfig,
    GateConfig,
    TFLiteClassifier,
    apply_gate,
    export_keras_to_tflite,
    keras_probabilities,
    log_export_to_mlflow,
    read_export_report,
)
from islr.job import STUDY_ORDER
from islr.models.zoo import build_model
from islr.training.config import load_run_config
from islr.training.trainer import TrainResult
from steps.export import export_tflite
from steps.keras_materializer import KerasModelMaterializer


def one_run_per_architecture() -> list[str]:
    """The study's runs, one per architecture: cnn_transformer_noaug is cnn_transformer
    trained without augmentation, which the exported graph does not contain."""
    runs: dict[str, str] = {}
    for run in STUDY_ORDER:
        config = load_run_config(Path(__file__).parents[2] / "configs" / "runs" / f"{run}.yaml")
        runs.setdefault(config.model.architecture, run)
    return list(runs.values())


RUNS = one_run_per_architecture()
TINY = {
    "dim": 16,
    "max_len": 32,
    "conv_blocks": 1,
    "num_heads": 2,
    "rnn_units": 8,
    "linformer_k": 4,
}
# float32 only: these tests check the conversion itself (the serving variants have
# their own tests below)
FAST = ExportConfig(latency_warmup=1, latency_repeats=1, variants=["float32"])
# Probabilities of the same float32 model computed by TensorFlow and by TFLite kernels
# (other op order, XNNPACK) differ by ~1e-8 here; 1e-5 leaves room for that rounding,
# while a wrong preprocessing, a lost layer or uncopied weights move them by > 1e-2.
ATOL = 1e-5
N_REAL = 9  # tests/data/asl-signs-real
N_EDGE = 3  # one frame, longer than max_len, no hands


def tiny_model(repo_root: Path, run: str, **overrides) -> keras.Model:
    """The run's architecture at a tiny size, its head scaled up so the probabilities are
    peaked (untrained ones are near-uniform, where any comparison passes)."""
    config = load_run_config(repo_root / "configs" / "runs" / f"{run}.yaml")
    keras.utils.set_random_seed(0)
    model = build_model(config.model.model_copy(update={**TINY, **overrides}))
    dense = model.get_layer("head").logits
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 40.0, bias])
    return model


@pytest.fixture(scope="module")
def exported(repo_root, real_data_dir, tmp_path_factory):
    """Each run's tiny model exported once: {run: (model, TFLiteExport)}."""
    out = tmp_path_factory.mktemp("tflite")
    results = {}
    for run in RUNS:
        model = tiny_model(repo_root, run)
        results[run] = (
            model,
            export_keras_to_tflite(model, out / f"{run}.tflite", FAST, real_data_dir),
        )
    return results


def competition_frames(real_data_dir: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    real = read_recording(real_data_dir / "train_landmark_files/16069/10042041.parquet")
    frames = {"real_105": real}
    for t in (1, 10, TINY["max_len"] + 13):
        x = real[np.arange(t) % len(real)] + rng.normal(0, 0.01, (t, 543, 3)).astype("float32")
        x[:, 468:489] = np.nan  # left hand not detected
        frames[f"T{t}"] = x
    return frames


def interpreters(path: Path):
    """The harness's two ways to open the file: LiteRT and TensorFlow's own."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tf.lite.Interpreter is deprecated
        legacy = tf.lite.Interpreter(model_path=str(path), num_threads=1)
    return {"litert": Interpreter(model_path=str(path), num_threads=1), "tf.lite": legacy}


@pytest.mark.parametrize("run", RUNS)
def test_competition_call_matches_keras(run, exported, real_data_dir):
    model, export = exported[run]
    frames_by_label = competition_frames(real_data_dir)
    expected = {label: keras_probabilities(model, x) for label, x in frames_by_label.items()}
    outputs = {}
    for name, interpreter in interpreters(Path(export.path)).items():
        assert interpreter.get_signature_list() == {
            "serving_default": {"inputs": ["inputs"], "outputs": ["outputs"]}
        }, name
        (detail,) = interpreter.get_input_details()
        assert list(detail["shape_signature"]) == [-1, 543, 3] and detail["dtype"] == np.float32
        # built-in ops only: no Flex (SELECT_TF_OPS) and no custom op in the graph
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        assert not {op for op in ops if op.startswith("Flex") or op == "CUSTOM"}, ops
        runner = interpreter.get_signature_runner("serving_default")
        for label, frames in frames_by_label.items():
            got = runner(inputs=frames)["outputs"]
            assert got.shape == (250,) and got.dtype == np.float32, (name, label)
            assert got.sum() == pytest.approx(1.0, abs=1e-5)
            want = expected[label]
            np.testing.assert_allclose(got, want, atol=ATOL, err_msg=f"{name} {label}")
            assert got.argmax() == want.argmax()
            outputs[name, label] = got
    for label in frames_by_label:
        np.testing.assert_allclose(outputs["litert", label], outputs["tf.lite", label], atol=1e-6)
    # the head scaling makes the comparison meaningful: the winning class stands out
    assert max(o.max() for o in outputs.values()) > 0.2


@pytest.mark.parametrize("run", RUNS)
def test_export_report_and_gate(run, exported):
    _, export = exported[run]
    path = Path(export.path)
    assert export.size_bytes == path.stat().st_size > 0
    assert read_export_report(export.report_path) == export
    assert export.output == "probabilities" and export.published
    # 9 real recordings, 4 generated (FAST keeps the default), the 3 edge cases
    assert export.n_parity_recordings == N_REAL + FAST.n_generated + N_EDGE
    names = [row.name for row in export.parity]
    assert "edge:one_frame" in names and "edge:longer_than_max_len_32" in names
    frames = {row.name: row.frames for row in export.parity}
    assert frames["edge:one_frame"] == 1 and frames["edge:longer_than_max_len_32"] > 32
    assert export.parity_max_diff <= ATOL and export.argmax_agreement == 1.0
    assert 0 < export.p50_latency_ms <= export.p95_latency_ms
    assert export.mean_latency_ms > 0 and export.num_threads == 1
    assert export.gate_passed, export.gate_reason
    assert export.gate_reason.startswith("passed:") and "MB (limit 40 MB)" in export.gate_reason
    # the same figures against a tighter budget fail, naming the value and the limit
    strict = apply_gate(export, GateConfig(max_mean_latency_ms=export.mean_latency_ms / 2))
    assert not strict.gate_passed and "mean latency" in strict.gate_reason
    assert "size" not in strict.gate_reason  # only what failed is named
    with pytest.raises(ExportGateError, match=r"size .* MB \(limit 0.001 MB\)"):
        apply_gate(export, GateConfig(max_size_mb=0.001, enforce=True))


def test_enforced_gate_publishes_no_model(exported, tmp_path):
    model, _ = exported["cnn"]
    out = tmp_path / "cnn.tflite"
    config = FAST.model_copy(update={"gate": GateConfig(max_size_mb=0.001, enforce=True)})
    with pytest.raises(ExportGateError) as error:
        export_keras_to_tflite(model, out, config)
    assert str(out) in str(error.value) and "limit 0.001 MB" in str(error.value)
    assert not out.exists()
    report = read_export_report(tmp_path / "cnn.export.json")
    assert not report.gate_passed and not report.published
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.export.json"]


@keras.saving.register_keras_serializable(package="test_export")
class SingularValues(keras.layers.Layer):
    """An op TFLite has no built-in kernel for (SVD)."""

    def call(self, x):
        return keras.ops.svd(x[:, :3, :, 0], compute_uv=False)[:, :3]

    def compute_output_shape(self, shape):
        return (shape[0], 3)


def test_failed_conversion_leaves_nothing_behind(tmp_path):
    inputs = keras.Input((None, 543, 3), name="inputs")
    model = keras.Model(inputs, keras.layers.Dense(250)(SingularValues()(inputs)), name="svd")
    out = tmp_path / "m.tflite"
    out.write_bytes(b"previous export")
    with pytest.raises(ConversionError, match=r"'svd'.*built-in ops only.*Svd"):
        export_keras_to_tflite(model, out, FAST)
    assert out.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["m.tflite"]

    features = keras.Input((None, 10))
    flat = keras.Model(features, keras.layers.Dense(250)(features))
    with pytest.raises(ConversionError, match=r"input shape \(None, None, 10\)"):
        export_keras_to_tflite(flat, tmp_path / "flat.tflite", FAST)


def test_bad_serving_input_is_named(exported, tmp_path):
    _, export = exported["cnn"]
    classifier = TFLiteClassifier(export.path)
    for bad in (np.zeros((0, 543, 3)), np.zeros((5, 543)), np.zeros((1, 5, 543, 3))):
        with pytest.raises(ServingInputError, match=r"frames: shape .* expected \(T, 543, 3\)"):
            classifier.predict(bad)
    with pytest.raises(ServingInputError, match="not a numeric array"):
        classifier.predict([["a"]])
    assert classifier.predict(np.zeros((2, 543, 3), "float64")).shape == (250,)
    with pytest.raises(ExportError, match="no such TFLite file"):
        TFLiteClassifier(tmp_path / "missing.tflite")
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(ExportError, match=r"junk\.tflite: not a TFLite model"):
        TFLiteClassifier(tmp_path / "junk.tflite")


def test_mixed_precision_model_serves_in_float32(repo_root, tmp_path):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = tiny_model(repo_root, "cnn")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("stem").compute_dtype == "bfloat16"
    export = export_keras_to_tflite(model, tmp_path / "mixed.tflite", FAST)
    assert export.gate_passed, export.gate_reason
    details = TFLiteClassifier(export.path).interpreter.get_output_details()
    assert details[0]["dtype"] == np.float32
    # bfloat16 Keras and the float32 export still agree on the class of each recording
    frames = np.random.default_rng(0).random((12, 543, 3)).astype("float32")
    bf16 = keras_probabilities(model, frames)
    assert TFLiteClassifier(export.path).predict(frames).argmax() == bf16.argmax()


def test_log_to_an_existing_mlflow_run(exported, tmp_path):
    from mlflow import MlflowClient

    # a copy, since logging rewrites the report with the run it went to
    _, original = exported["cnn_bilstm"]
    files = tmp_path / "export"
    files.mkdir()
    export = original.model_copy(
        update={
            "path": shutil.copy(original.path, files),
            "report_path": shutil.copy(original.report_path, files),
        }
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("export", artifact_location=str(tmp_path / "art"))
    run_id = client.create_run(experiment).info.run_id
    client.set_terminated(run_id)  # training has finished before the export

    logged = log_export_to_mlflow(export, run_id, uri)
    assert logged.mlflow_uri == f"runs:/{run_id}/tflite/cnn_bilstm.tflite"
    assert read_export_report(export.report_path).mlflow_run_id == run_id
    listed = {a.path for a in client.list_artifacts(run_id, "tflite")}
    assert listed == {"tflite/cnn_bilstm.tflite", "tflite/cnn_bilstm.export.json"}
    local = client.download_artifacts(run_id, "tflite/cnn_bilstm.tflite", str(tmp_path))
    assert Path(local).read_bytes() == Path(export.path).read_bytes()
    run = client.get_run(run_id)
    assert run.data.metrics["tflite_size_mb"] == pytest.approx(export.size_mb)
    assert run.data.metrics["tflite_gate_passed"] == 1.0
    assert run.data.tags["tflite_gate"].startswith("passed:")
    assert run.data.tags["tflite_variant"] == "float32"
    assert run.data.metrics["tflite_float32_size_mb"] == pytest.approx(export.size_mb)
    assert run.data.metrics["tflite_variant_agreement"] == 1.0

    with pytest.raises(MlflowLogError, match="run 'no-such-run' not found"):
        log_export_to_mlflow(export, "no-such-run", uri)


def test_cli_reports_a_failed_gate_with_exit_1(exported, real_data_dir, tmp_path, capsys):
    from islr.export import commands

    model, _ = exported["cnn"]
    model.save(tmp_path / "cnn.keras")
    parser = argparse.ArgumentParser(prog="islr")
    commands.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "out" / "cnn.tflite"
    args = parser.parse_args(
        [
            "export",
            "tflite",
            str(tmp_path / "cnn.keras"),
            str(out),
            "--data-dir",
            str(real_data_dir),
            "--n-real",
            "2",
            "--max-latency-ms",
            "1e-6",
            "--repeats",
            "1",
            "--variants",
            "float32",
            "--json",
        ]
    )
    assert args.func(args) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["gate_passed"] is False and "mean latency" in printed["gate_reason"]
    assert printed["n_parity_recordings"] == 2 + FAST.n_generated + N_EDGE
    # not enforced: the model is published all the same, and serves the Keras answers
    frames = read_recording(real_data_dir / "train_landmark_files/2044/3902070209.parquet")
    np.testing.assert_allclose(
        TFLiteClassifier(out).predict(frames), keras_probabilities(model, frames), atol=ATOL
    )
    missing = parser.parse_args(["export", "tflite", str(tmp_path / "nope.keras"), str(out)])
    with pytest.raises(ExportError, match=r"nope\.keras: no such model file"):
        missing.func(missing)


# --- serving variants -------------------------------------------------------------------


@pytest.fixture(scope="module")
def record_set(real_data_dir, tmp_path_factory):
    """The real recordings as TFRecords: 5 for training (int8 calibration), 4 for test."""
    from islr.data.ingest import ingest, sign_map_for
    from islr.data.split import SplitConfig, assign_folds
    from islr.data.tfrecord import TFRecordConfig, write_tfrecords
    from islr.data.validate import ValidationConfig, validate_recordings

    recordings = ingest(real_data_dir, workers=1, progress=False)
    valid, _ = validate_recordings(
        recordings, ValidationConfig(), sign_map_for(real_data_dir), str(real_data_dir)
    )
    manifest = assign_folds(valid, SplitConfig(mode="random", n_folds=2, seed=1))
    manifest = manifest.assign(split=["train"] * 5 + ["test"] * (len(manifest) - 5))
    out = tmp_path_factory.mktemp("tfr") / "shards"
    return write_tfrecords(
        manifest, real_data_dir, out, TFRecordConfig(records_per_shard=4), progress=False
    )


def test_every_variant_is_measured_and_one_published(
    repo_root, real_data_dir, record_set, tmp_path
):
    model = tiny_model(repo_root, "cnn_transformer", dim=64)
    config = ExportConfig(latency_warmup=1, latency_repeats=1, n_representative=5)
    export = export_keras_to_tflite(model, tmp_path / "m.tflite", config, real_data_dir, record_set)
    reports = {r.variant: r for r in export.variants}
    assert list(reports) == ["float32", "float16", "dynamic_int8", "int8"]
    # weights are most of the file: 2 bytes each in float16, 1 in the int8 variants
    # (tensors under 1,024 values, biases and norms, stay float in dynamic_int8)
    assert reports["float16"].size_bytes < 0.6 * reports["float32"].size_bytes
    assert reports["dynamic_int8"].size_bytes < 0.7 * reports["float16"].size_bytes
    assert reports["int8"].size_bytes < 0.7 * reports["float16"].size_bytes
    for r in reports.values():
        assert r.agreement_on == "test" and r.n_agreement == 4
        assert r.test_accuracy is not None and r.mean_latency_ms > 0
    assert reports["float32"].agreement == 1.0 and reports["float32"].parity_max_diff < ATOL
    # the published file is the chosen variant, its figures are the report's
    chosen = reports[export.variant]
    assert chosen.eligible and export.size_bytes == chosen.size_bytes
    assert Path(export.path).stat().st_size == chosen.size_bytes
    # parity and the gate's parity check stay float32's (the conversion check)
    assert export.parity_max_diff == reports["float32"].parity_max_diff
    assert read_export_report(export.report_path).variant == export.variant


def test_int8_needs_training_shards(repo_root, real_data_dir, tmp_path):
    model = tiny_model(repo_root, "cnn")
    config = ExportConfig(latency_warmup=1, latency_repeats=1, variants=["int8"])
    export = export_keras_to_tflite(model, tmp_path / "m.tflite", config, real_data_dir)
    # no shards: float32 (always measured) alone, agreement on the parity recordings
    assert [r.variant for r in export.variants] == ["float32"]
    assert export.variants[0].agreement_on == "parity" and export.variant == "float32"


# --- the ZenML step, in a pipeline on the project's stack --------------------------------


@step(experiment_tracker=True, output_materializers={"model": KerasModelMaterializer})
def tiny_training(
    repo_root: str,
) -> tuple[Annotated[keras.Model, "model"], Annotated[TrainResult, "train_result"]]:
    import mlflow

    model = tiny_model(Path(repo_root), "cnn")
    result = TrainResult(
        name="cnn",
        model_path=None,
        history={},
        best_epoch=0,
        diverged=False,
        parameters=model.count_params(),
        global_batch=1,
        replicas=1,
        precision="float32",
        mlflow_run_id=mlflow.active_run().info.run_id,
    )
    return model, result


@pipeline(enable_cache=False)
def tiny_export_pipeline(repo_root: str, data_dir: str, out_root: str):
    model, result = tiny_training(repo_root)
    export_tflite(model, result, config=FAST, data_dir=data_dir, out_root=out_root, id="export_cnn")


@pytest.mark.slow
def test_export_step_logs_to_the_training_run(
    zenml_stack, repo_root, real_data_dir, tmp_path, monkeypatch
):
    from mlflow import MlflowClient

    monkeypatch.chdir(repo_root)
    run = tiny_export_pipeline(
        repo_root=str(repo_root), data_dir=str(real_data_dir), out_root=str(tmp_path)
    )
    assert str(run.status).endswith("completed")
    export = run.steps["export_cnn"].outputs["tflite_export"][0].load()
    result = run.steps["tiny_training"].outputs["train_result"][0].load()
    assert Path(export.path) == tmp_path / str(run.id) / "cnn.tflite"
    assert export.gate_passed and export.n_parity_recordings == N_REAL + 4 + N_EDGE
    client = MlflowClient(zenml_stack.active_stack.experiment_tracker.get_tracking_uri())
    listed = {a.path for a in client.list_artifacts(result.mlflow_run_id, "tflite")}
    assert listed == {"tflite/cnn.tflite", "tflite/cnn.export.json"}
    assert export.mlflow_uri == f"runs:/{result.mlflow_run_id}/tflite/cnn.tflite"
    metadata = run.steps["export_cnn"].outputs["tflite_export"][0].run_metadata
    assert metadata["gate_passed"] is True and metadata["run"] == "cnn"
