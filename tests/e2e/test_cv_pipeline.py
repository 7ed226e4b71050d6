"""Cross-validation in the main job: every run trains and is evaluated on each fold, the
shards written once; the comparison gives fold means ± sd and paired intervals, and the
gate ranks by the fold mean of validation accuracy. Folds the split cannot evaluate fail
before any training."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import yaml
from pipeline_configs import write_config

RUNS = ["cnn", "transformer"]


def _tiny_scale(scales: Path) -> None:
    scales.mkdir(exist_ok=True)
    tiny = yaml.safe_load(Path("configs/scales/quickstart.yaml").read_text())
    tiny["train"].update({"epochs": 2})
    (scales / "tiny.yaml").write_text(yaml.safe_dump(tiny))


@pytest.mark.slow
def test_cross_validation_over_two_folds(
    zenml_stack, embedded_like, tmp_path, monkeypatch, repo_root
):
    monkeypatch.chdir(repo_root)
    _tiny_scale(tmp_path / "scales")
    config = yaml.safe_load(
        write_config(
            tmp_path, embedded_like, RUNS, "tiny", tmp_path / "scales", folds=[1, 3]
        ).read_text()
    )
    config["parameters"]["job"]["registry"] = {"model_name": "islr-cv-test"}
    path = tmp_path / "cv.yaml"
    path.write_text(yaml.safe_dump(config))

    from pipelines.main import main_pipeline

    run = main_pipeline.with_options(config_path=str(path))()
    assert str(run.status).endswith("completed")
    steps = set(run.steps)
    assert {f"train_{r}_fold{k}" for r in RUNS for k in (1, 3)} <= steps
    assert {f"evaluate_{r}_fold{k}" for r in RUNS for k in (1, 3)} <= steps
    # one export per run (its first fold's model); the shards are written once
    assert {s for s in steps if s.startswith("export_")} == {f"export_{r}" for r in RUNS}
    assert len([s for s in steps if s.startswith("write_tfrecord_shards")]) == 1

    evals = {
        (r, k): run.steps[f"evaluate_{r}_fold{k}"].outputs["evaluation"][0].load()
        for r in RUNS
        for k in (1, 3)
    }
    # each fold evaluated on its own records, the same for both runs
    assert evals["cnn", 1].fold == 1 and evals["cnn", 3].fold == 3
    assert evals["cnn", 1].test_split_id != evals["cnn", 3].test_split_id
    assert evals["cnn", 1].val_split_id != evals["cnn", 1].test_split_id
    for k in (1, 3):
        assert evals["cnn", k].test_split_id == evals["transformer", k].test_split_id

    report = run.steps["compare_runs"].outputs["comparison_report"][0].load()
    assert report.folds == [1, 3]
    cv = {row["run"]: row for row in report.cv_rows}
    for r in RUNS:
        per_fold = [evals[r, k].metrics.accuracy for k in (1, 3)]
        assert cv[r]["per_fold"]["test_accuracy"] == pytest.approx(per_fold)
        assert cv[r]["mean"]["test_accuracy"] == pytest.approx(sum(per_fold) / 2)
        assert cv[r]["sd"]["test_accuracy"] == pytest.approx(
            abs(per_fold[0] - per_fold[1]) / 2**0.5
        )
    (pair,) = report.pairs
    assert {pair.run_a, pair.run_b} == set(RUNS)
    assert pair.ci_low <= pair.difference <= pair.ci_high
    markdown = Path(report.markdown_path).read_text()
    assert "## Cross-validation" in markdown and "## Pairwise comparison" in markdown
    assert Path(report.curves_path).read_bytes()[:4] == b"\x89PNG"

    decision = run.steps["register_models"].outputs["promotion_decision"][0].load()
    means = {
        r: (evals[r, 1].validation.accuracy + evals[r, 3].validation.accuracy) / 2 for r in RUNS
    }
    best = max(RUNS, key=lambda r: (means[r], [-ord(c) for c in r]))
    assert decision.metric == "val_accuracy" and decision.run == best
    assert decision.new_value == pytest.approx(means[best])
    assert decision.split_id.startswith("cv-")
    tracking_uri = zenml_stack.active_stack.experiment_tracker.get_tracking_uri()
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    version = client.get_model_version("islr-cv-test", decision.version)
    assert version.tags["cv_folds"] == "1,3" and version.tags["fold"] == "1"
    assert float(version.tags["cv_mean_val_accuracy"]) == pytest.approx(means[best])


@pytest.mark.slow
def test_a_fold_that_does_not_exist_fails_before_training(
    zenml_stack,
    embedded_like,
    tmp_path,
    monkeypatch,
    repo_root,
):
    monkeypatch.chdir(repo_root)
    _tiny_scale(tmp_path / "scales")
    path = write_config(tmp_path, embedded_like, ["cnn"], "tiny", tmp_path / "scales", folds=[0, 7])

    from pipelines.main import main_pipeline

    with pytest.raises(Exception, match="failure in step\\(s\\): check_cv_folds"):
        main_pipeline.with_options(config_path=str(path))()
    assert not (tmp_path / "runs").exists()  # no training step started
    # the step's error names the fold
    from zenml.client import Client

    from islr.data.tfrecord import check_folds, load_tfrecord_set

    run = Client().get_pipeline("main_pipeline").last_run
    assert not any(s.startswith("train_") and run.steps[s].status == "completed" for s in run.steps)
    tfrecords = run.steps["write_tfrecord_shards"].outputs["tfrecords"][0].load()
    with pytest.raises(Exception, match=r"fold\(s\) \[7\] do not exist"):
        check_folds(load_tfrecord_set(tfrecords.directory), [0, 7])
