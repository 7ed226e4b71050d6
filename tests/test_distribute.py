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


@pytest.mark.slow
def test_two_worker_processes_only_chief_saves(tmp_path):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        }
        out = tmp_path / f"w{index}"
        out.mkdir()
        procs.append(
            (
                out,
                subprocess.Popen(
                    [sys.executable, JOB, str(out), "auto"],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    for _, proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    (chief,), (other,) = results(procs[0][0]), results(procs[1][0])
    assert chief["chief"] and not other["chief"]
    assert chief["replicas"] == other["replicas"] == 2 and chief["global_batch"] == 8
    assert chief["loss"] == pytest.approx(other["loss"])  # one synchronised model
    assert (procs[0][0] / "model.keras").exists()
    assert not (procs[1][0] / "model.keras").exists()


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
