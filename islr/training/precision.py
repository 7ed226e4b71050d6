"""Mixed precision: bfloat16 where the accelerator supports it, float16 (with loss
scaling, which Keras adds when compiling under that policy) on older GPUs, float32 on CPU
unless asked otherwise."""

from __future__ import annotations

from typing import Literal

Precision = Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"]


def resolve_policy(precision: Precision = "auto") -> str:
    """The Keras dtype policy name for a requested precision."""
    if precision != "auto":
        return precision
    import tensorflow as tf

    if tf.config.list_logical_devices("TPU"):
        return "mixed_bfloat16"
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "float32"
    capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
    # bfloat16 needs Ampere (8.0) or newer; older GPUs get float16 with loss scaling
    return "mixed_bfloat16" if capability and capability >= (8, 0) else "mixed_float16"


def set_precision(precision: Precision = "auto") -> str:
    """Set the global Keras dtype policy; returns its name."""
    import keras  # here, not at the top: run files are read without Keras

    policy = resolve_policy(precision)
    keras.mixed_precision.set_global_policy(policy)
    return policy
