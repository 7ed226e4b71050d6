"""Choosing the tf.distribute strategy a training run uses.

`auto` picks, in order: a TPU when one is reachable, `MultiWorkerMirroredStrategy` when
`TF_CONFIG` describes a cluster (Kubeflow TFJob and similar launchers set it),
`MirroredStrategy` on a machine with several GPUs, and the default (one device)
otherwise. A config can force any of them. The global batch is the per-replica batch
times the number of replicas, so a config written for 8 replicas keeps its per-device
memory on 1.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Literal

log = logging.getLogger(__name__)

StrategyKind = Literal["auto", "tpu", "multi_worker", "mirrored", "default"]


def split_cpu(n: int) -> None:
    """Expose the CPU as `n` logical devices, so `mirrored` runs `n` replicas on a laptop
    or in CI. Must run before TensorFlow initialises its devices."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
    )


def _tpu_resolver():
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return resolver
    except (ValueError, RuntimeError, tf.errors.NotFoundError):
        return None


def has_cluster_config() -> bool:
    """True when TF_CONFIG describes more than one task."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return False
    cluster = json.loads(raw).get("cluster", {})
    return sum(len(tasks) for tasks in cluster.values()) > 1


def is_chief() -> bool:
    """Whether this process saves checkpoints and logs: the chief, or worker 0 of a
    cluster without one, or the only process."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    config = json.loads(raw)
    task = config.get("task", {})
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    if "chief" in config.get("cluster", {}):
        return kind == "chief"
    return kind == "worker" and index == 0


def select_strategy(kind: StrategyKind = "auto", devices: list[str] | None = None):
    """Return a tf.distribute strategy; see the module docstring for `auto`."""
    import tensorflow as tf

    if kind in ("auto", "tpu"):
        resolver = _tpu_resolver() if kind == "tpu" or os.environ.get("TPU_NAME") else None
        if resolver is not None:
            log.info("strategy: TPUStrategy")
            return tf.distribute.TPUStrategy(resolver)
        if kind == "tpu":
            raise RuntimeError("strategy 'tpu' requested but no TPU is reachable")
    if kind == "multi_worker" or (kind == "auto" and has_cluster_config()):
        log.info("strategy: MultiWorkerMirroredStrategy (TF_CONFIG)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if kind == "mirrored" or (kind == "auto" and len(gpus) > 1):
        if devices is None and not gpus:
            cpus = tf.config.list_logical_devices("CPU")  # see split_cpu
            devices = [d.name for d in cpus] if len(cpus) > 1 else None
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        log.info("strategy: MirroredStrategy with %d replicas", strategy.num_replicas_in_sync)
        return strategy
    log.info("strategy: default (one device)")
    return tf.distribute.get_strategy()


def global_batch_size(per_replica: int, strategy) -> int:
    return per_replica * strategy.num_replicas_in_sync
