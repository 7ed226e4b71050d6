"""Evaluation on the test split: metrics against hand-computed values, the fixed record
order, per-class CSV and plots, latency, and logging to an existing MLflow run.

The models are tiny untrained networks whose output bias is set so that a known class
(or five known classes) always wins: their scores on a test split whose composition is
chosen here are known exactly, while their logits still depend on the frames.
"""

from __future__ import annotations

from pathlib import Path

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import mlflow_store
from crafted_models import base_manifest, biased_model, crafted_manifest, write_set

from islr.data.format import index_to_sign, read_recording
from islr.data.tfrecord import TFRecordSet, make_dataset
from islr.evaluation.errors import EvaluationError
from islr.evaluation.metrics import (
    EvaluationConfig,
    classification_metrics,
    confused_pairs,
    evaluate_model,
    log_evaluation,
    per_class_report,
    run_lineage,
    split_fingerprint,
    top_k_accuracy,
)

# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest(synth_dir) -> pd.DataFrame:
    return base_manifest(synth_dir)


@pytest.fixture(scope="module")
def test_set(manifest, synth_dir, tmp_path_factory) -> TFRecordSet:
    # test split: label 0 x3, label 1 x2, label 2 x1 (6 records)
    crafted = crafted_manifest(manifest, {0: 3, 1: 2, 2: 1})
    return write_set(crafted, synth_dir, tmp_path_factory.mktemp("eval") / "set")


def _test_records(record_set: TFRecordSet) -> tuple[np.ndarray, np.ndarray]:
    sids, signs = [], []
    for record in make_dataset(record_set.paths("test")):
        sids.append(int(record["sequence_id"]))
        signs.append(int(record["sign"]))
    order = np.argsort(sids)
    return np.array(sids)[order], np.array(signs)[order]


# --- pure metrics ---------------------------------------------------------------------------


def test_metrics_match_hand_computed_values():
    # 4 records, 6 classes. Predictions (argmax): 0, 1, 1, 3 for labels 0, 1, 2, 2.
    probabilities = np.array(
        [
            [0.50, 0.20, 0.10, 0.10, 0.05, 0.05],
            [0.05, 0.60, 0.10, 0.10, 0.10, 0.05],
            [0.30, 0.35, 0.00, 0.20, 0.10, 0.05],  # label 2 ranks last: not in top 5
            [0.01, 0.02, 0.30, 0.40, 0.20, 0.07],  # label 2 ranks second
        ]
    )
    labels = np.array([0, 1, 2, 2])
    metrics = classification_metrics(probabilities, labels)
    assert metrics.accuracy == pytest.approx(2 / 4)
    assert metrics.top5 == pytest.approx(3 / 4)
    # per class (0, 1, 2, 3): F1 = 1, 2/3, 0, 0 -> macro 5/12; micro = accuracy
    assert metrics.macro_f1 == pytest.approx(5 / 12)
    assert metrics.micro_f1 == pytest.approx(0.5)
    assert top_k_accuracy(probabilities, labels, k=1) == pytest.approx(0.5)

    table = per_class_report(labels, probabilities.argmax(1), 6, names=list("abcdef"))
    assert table["class_index"].tolist() == [0, 1, 2, 3]
    assert table["sign"].tolist() == ["a", "b", "c", "d"]
    assert table["precision"].tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0])
    assert table["recall"].tolist() == pytest.approx([1.0, 1.0, 0.0, 0.0])
    assert table["support"].tolist() == [1, 1, 2, 0]
    assert table["predicted"].tolist() == [1, 2, 0, 1]

    pairs = confused_pairs(labels, probabilities.argmax(1), top_n=5, names=list("abcdef"))
    assert pairs[["true", "predicted", "count"]].values.tolist() == [[2, 1, 1], [2, 3, 1]]
    assert pairs["predicted_sign"].tolist() == ["b", "d"]


def test_metrics_refuse_mismatched_inputs():
    with pytest.raises(EvaluationError, match=r"\(3, 250\) for 2 labels"):
        classification_metrics(np.zeros((3, 250)), np.array([0, 1]))
    with pytest.raises(EvaluationError, match=r"0\.\.249"):
        classification_metrics(np.zeros((1, 250)), np.array([250]))


def test_split_fingerprint_ignores_order_and_sees_any_change():
    sids, labels = np.array([5, 1, 9]), np.array([2, 0, 7])
    same = split_fingerprint(sids[::-1], labels[::-1])
    assert split_fingerprint(sids, labels) == same
    assert split_fingerprint(sids, np.array([2, 0, 6])) != same
    assert split_fingerprint(np.array([5, 1, 8]), labels) != same


# --- a real model on real TFRecords ---------------------------------------------------------


def test_evaluate_model_on_test_split(test_set, tmp_path):
    sids, signs = _test_records(test_set)
    assert sorted(signs.tolist()) == [0, 0, 0, 1, 1, 2]
    model = biased_model([1, 2, 3, 4, 5])  # top-1 class 1; label 0 never in the top 5
    out = evaluate_model(
        model,
        test_set,
        run="biased",
        out_dir=tmp_path,
        config=EvaluationConfig(batch_size=4, latency_samples=3, latency_warmup=1),
        lineage={"data_md5": "abc.dir", "config_hash": "c0ffee"},
        mlflow_run_id="r1",
    )
    evaluation = out.evaluation
    assert evaluation.metrics.accuracy == pytest.approx(2 / 6)
    assert evaluation.metrics.top5 == pytest.approx(3 / 6)
    # class 1: precision 2/6, recall 1 -> F1 0.5; classes 0 and 2: 0 -> macro 0.5 / 3
    assert evaluation.metrics.macro_f1 == pytest.approx(0.5 / 3)
    assert evaluation.metrics.micro_f1 == pytest.approx(2 / 6)
    # records in sequence_id order, whatever the shard order
    np.testing.assert_array_equal(out.labels, signs)
    assert evaluation.labels == signs.tolist() and evaluation.n_test == 6
    assert evaluation.test_split_id == split_fingerprint(sids, signs)
    assert out.probabilities.shape == (6, 250)
    np.testing.assert_allclose(out.probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert evaluation.run == "biased" and evaluation.architecture == "cnn"
    assert evaluation.data_md5 == "abc.dir" and evaluation.config_hash == "c0ffee"
    assert evaluation.mlflow_run_id == "r1"
    assert evaluation.parameters == model.count_params()
    assert evaluation.model_size_bytes > 10_000
    latency = evaluation.latency
    assert latency.n == 3 and 0 < latency.p50_ms <= latency.p95_ms

    per_class = pd.read_csv(evaluation.files["per_class"])
    assert per_class["support"].sum() == 6
    names = index_to_sign()
    assert per_class.set_index("class_index").loc[1, "sign"] == names[1]
    for kind in ("confused_pairs", "confusion_matrix"):
        assert Path(evaluation.files[kind]).read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    # padding in batches does not change the scores: batch 1 gives the same numbers
    again = evaluate_model(
        model, test_set, config=EvaluationConfig(batch_size=1, latency_samples=0)
    )
    np.testing.assert_allclose(again.probabilities, out.probabilities, rtol=1e-4, atol=1e-7)
    assert again.evaluation.latency.p50_ms is None
    assert again.evaluation.test_split_id == evaluation.test_split_id


def test_evaluation_is_logged_to_an_existing_run(test_set, tmp_path):
    with mlflow_store(tmp_path):
        with mlflow.start_run() as run:
            mlflow.set_tags({"data_md5": "m.dir", "git_commit": "deadbeef", "architecture": "cnn"})
        lineage = run_lineage(run.info.run_id)
        assert lineage == {"data_md5": "m.dir", "git_commit": "deadbeef", "architecture": "cnn"}
        out = evaluate_model(
            biased_model([0]),
            test_set,
            out_dir=tmp_path / "files",
            config=EvaluationConfig(latency_samples=0),
            mlflow_run_id=run.info.run_id,
            lineage=lineage,
        )
        assert out.evaluation.metrics.accuracy == pytest.approx(3 / 6)
        log_evaluation(out.evaluation)  # the run is closed: logged by id
        client = mlflow.MlflowClient()
        logged = client.get_run(run.info.run_id).data
        assert logged.metrics["test_accuracy"] == pytest.approx(0.5)
        assert logged.metrics["test_n"] == 6
        assert "test_latency_p50_ms" not in logged.metrics  # not measured, not invented
        assert logged.tags["test_split_id"] == out.evaluation.test_split_id
        files = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
        assert files == {
            "evaluation/evaluation.json",
            "evaluation/per_class.csv",
            "evaluation/confused_pairs.png",
            "evaluation/confusion_matrix.png",
        }


def test_clear_errors(tmp_path, test_set):
    no_test = test_set.model_copy(
        update={"files": {"train": test_set.files["train"]}, "counts": {"train": 1}}
    )
    with pytest.raises(EvaluationError, match=f"{test_set.directory}.*no test split"):
        evaluate_model(biased_model([0]), no_test)
    out = evaluate_model(biased_model([0]), test_set, config=EvaluationConfig(latency_samples=0))
    with pytest.raises(EvaluationError, match="no MLflow run id"):
        log_evaluation(out.evaluation)


def test_raw_real_recording_is_scored(real_data_dir):
    """Real MediaPipe frames with undetected hands (NaN) give finite probabilities."""
    path = next(Path(real_data_dir).rglob("*.parquet"))
    frames = read_recording(path)
    assert np.isnan(frames).any()
    logits = keras.ops.convert_to_numpy(biased_model([7])(frames[None]))
    assert np.isfinite(logits).all() and logits.argmax() == 7
