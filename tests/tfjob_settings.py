"""The TFJob tests' launcher settings and job config (shared by the manifest tests and the
tests against a Kubernetes API served on loopback)."""

from __future__ import annotations

from islr.cluster.tfjob import TFJobSettings, tfjob_config_for_run


def settings_for(operator, **overrides) -> TFJobSettings:
    """Launcher settings; `operator` is the fake API server (its kubeconfig) or None."""
    values = {
        "image": "registry.example.com/islr-train:1",
        "namespace": "ml",
        "workers": 3,
        "resources": {"gpus": 2, "cpu": "6", "memory": "40Gi"},
        "node_selector": {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
        "poll_interval_s": 0.01,
        "timeout_s": 5,
        "kubeconfig": str(operator.kubeconfig) if operator else None,
    }
    return TFJobSettings.model_validate({**values, **overrides})


def job_for(run_config, operator, **overrides):
    return tfjob_config_for_run(
        run_config,
        settings_for(operator, **overrides),
        tfrecords_uri="gs://bucket/islr/tfrecords/abc",
        out_uri="gs://bucket/islr/tfjobs/run1/cnn_transformer/",
        suffix="1A2B3C4D",
    )
