"""Distribution strategies on CPU: 2 replicas on 2 logical devices, and 2 real worker
processes on 127.0.0.1 with their own TF_CONFIG, where only the chief saves."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from islr.training.distribute import has_cluster_config, is_chief

JOB = os.path.join(os.path.dirname(__file__), "distributed_job.py")


def results(out):
    return [json.loads(p.read_text()) for p in sorted(out.glob("result-*.json"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_replicas_on_two_logical_cpus(tmp_path):
    done = subprocess.run(
        [sys.executable, JOB, str(tmp_path), "mirrored", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = results(tmp_path)
    assert result["replicas"] == 2 and result["global_batch"] == 8 and result["chief"]
    assert result["loss"][-1] < result["loss"][0]
    assert (tmp_path / "model.keras").exists()


def cluster_env(ports: list[int], index: int) -> dict[str, str]:
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
    return {**os.environ, "TF_CONFIG": json.dumps(tf_config)}


@pytest.fixture(scope="module")
def tiny_tfrecords(synth_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("mw")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "islr.cli", "data", "tfrecords"),
            *(str(synth_dir), str(out / "tfr"), "--report-dir", str(out / "report")),
            *("--n-folds", "3"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    scale = out / "tiny.yaml"
    scale.write_text(
        "model: {dim: 16, max_len: 32, conv_blocks: 1, num_heads: 2}\n"
        "train: {epochs: 2, batch_per_replica: 8, awp_start_epoch: 1}\n"
    )
    return out / "tfr", scale


@pytest.mark.slow
def test_two_worker_processes_train_one_model_and_only_chief_saves(
    tiny_tfrecords, tmp_path, repo_root
):
    """The real trainer (AWP from epoch 2, Lookahead(RAdam), BackupAndRestore) under
    MultiWorkerMirroredStrategy, through `islr train` as a TFJob worker runs it."""
    tfrecords, scale = tiny_tfrecords
    ports = [free_port(), free_port()]
    procs = []
    for index in range(2):
        out = tmp_path / f"w{index}"
        command = [sys.executable, "-m", "islr.cli", "train"]
        command += ["--run", str(repo_root / "configs/runs/cnn_transformer.yaml")]
        command += ["--scale", str(scale), "--tfrecords", str(tfrecords), "--out", str(out)]
        command += ["--keras-verbose", "0"]
        procs.append(
            (
                out,
                subprocess.Popen(
                    command,
                    env=cluster_env(ports, index),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    outputs = []
    for _, proc in procs:
        stdout, err = proc.communicate(timeout=400)
        assert proc.returncode == 0, err[-3000:]
        outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    chief, other = outputs
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["best_epoch"] == other["best_epoch"]
    assert (procs[0][0] / "model.keras").exists() and (procs[0][0] / "train_result.json").exists()
    assert not (procs[1][0] / "model.keras").exists()
    result = json.loads((procs[0][0] / "train_result.json").read_text())
    history = result["history"]
    assert len(history["loss"]) == 2 and all(v > 0 for v in history["loss"])
    assert len(history["val_loss"]) == 2 and result["global_batch"] == 16


def test_cluster_config_parsing(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert not has_cluster_config() and is_chief()
    cluster = {"chief": ["a:1"], "worker": ["b:1"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    )
    assert has_cluster_config() and not is_chief()
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "chief", "index": 0}})
    )
    assert is_chief()
