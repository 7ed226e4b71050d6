"""TF_CONFIG as a Kubeflow TFJob sets it: whether there is a cluster, and which task is
the chief (training under tf.distribute is tests/integration/test_distribute.py)."""

from __future__ import annotations

import json

from islr.training.distribute import has_cluster_config, is_chief


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
