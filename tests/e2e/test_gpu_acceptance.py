"""The GPU acceptance script runs on a CPU: shards made by the project's data commands,
the real trainer, the figures and the projection it prints and writes."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

FULL_RECORDINGS = 94_477


@pytest.fixture(scope="module")
def acceptance(synth_dir, tmp_path_factory, repo_root):
    """One call of the one command, on a small generated set at the quickstart scale."""
    out = tmp_path_factory.mktemp("acceptance")
    done = subprocess.run(
        [
            *("bash", str(repo_root / "benchmarks/gpu_acceptance.sh")),
            *("--data-dir", str(synth_dir), "--out", str(out), "--runs", "cnn_bilstm"),
            *("--scale", str(repo_root / "configs/scales/quickstart.yaml")),
            *("--steps", "2", "--warmup-steps", "1", "--json", str(out / "report.json")),
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, out


def test_gpu_acceptance_runs_on_cpu_and_reports_every_figure(acceptance):
    done, out = acceptance
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ACCEPTED" in done.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["gpus_visible"] == 0 and report["device"].startswith("CPU")
    (phase,) = report["phases"]
    assert phase["placement"] == "mirrored"
    (run,) = phase["runs"]
    assert run["error"] is None
    assert run["run"] == "cnn_bilstm" and run["parameters"] == 89_925
    # what the trainer chose on a CPU: one replica, float32, no XLA
    assert run["replicas"] == 1 and run["precision"] == "float32" and not run["jit_compile"]
    assert run["global_batch"] == 32 and run["steps"] == 2
    assert run["loss_finite"] and run["weights_finite"] and math.isfinite(run["loss"])
    assert run["recordings_per_s"] == pytest.approx(run["steps_per_s"] * run["global_batch"])
    assert run["memory_kind"] == "max RSS" and run["peak_memory_bytes"] > 100 * 2**20
    # shards written by `islr data tfrecords`: 4 grouped folds of 6 signers, 4 train
    assert (out / "tfrecords" / "splits.json").exists()
    assert run["train_share"] == pytest.approx(4 / 6)

    # the projection follows from the measured rate: epochs x recordings x train share
    proj = report["projection"]
    (row,) = proj["runs"]
    recordings = run["recipe_epochs"] * FULL_RECORDINGS * run["train_share"]
    one_gpu = recordings / run["recordings_per_s"] / 3600
    assert run["recipe_epochs"] == 30  # the quickstart scale's epochs
    assert row["recordings"] == round(recordings)
    assert row["hours"]["1"] == pytest.approx(one_gpu)
    assert row["hours"]["8"] == pytest.approx(one_gpu / 8)  # linear scaling, as stated
    assert proj["all_runs"]["one_run_per_gpu"]["4"] == pytest.approx(one_gpu)
    assert "assumes linear data-parallel scaling" in done.stdout
    assert "| cnn_bilstm | 89,925 | 1 | 32 | float32 | off |" in done.stdout


@pytest.mark.slow
def test_both_placements_in_child_processes_and_a_failed_run_reported(
    acceptance, tmp_path, repo_root
):
    """`--placement both` on two named devices (CPU here): each run in its own child,
    one after another, then pinned one per device at twice the batch; a broken run file
    is reported in both phases without a child started for it, and does not stop the
    good one."""
    _, shards = acceptance
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: {architecture: cnn}\ntrain: {epoch: 5}\n")
    done = subprocess.run(
        [
            *(sys.executable, str(repo_root / "benchmarks/gpu_acceptance.py")),
            *("--tfrecords", str(shards / "tfrecords"), "--out", str(tmp_path)),
            *("--runs", "cnn", str(broken), "--placement", "both", "--gpus", "0,1"),
            *("--scale", str(repo_root / "configs/scales/quickstart.yaml")),
            *("--steps", "2", "--warmup-steps", "1", "--json", str(tmp_path / "r.json")),
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "NOT ACCEPTED" in done.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    phases = {p["placement"]: p for p in report["phases"]}
    assert list(phases) == ["mirrored", "one_run_per_gpu"]
    for placement, phase in phases.items():
        assert phase["wall_s"] > 0
        runs = {r["run"]: r for r in phase["runs"]}
        assert set(runs) == {"cnn", "broken"}
        assert runs["broken"]["error"] and "epoch" in runs["broken"]["error"]
        assert runs["broken"]["device_slot"] == "not started"
        good = runs["cnn"]
        assert good["error"] is None and good["loss_finite"] and good["weights_finite"]
        if placement == "one_run_per_gpu":
            assert good["device_slot"] in ("GPU 0", "GPU 1")
            # the same global batch as mirrored over the two devices: 2 x 32 on one
            assert good["global_batch"] == 64
        else:
            assert good["device_slot"] == "all devices" and good["global_batch"] == 32
