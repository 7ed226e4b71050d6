"""The precision policy: `auto` on CPU is float32, and a mixed policy is set and reset."""

import keras

from islr.training.precision import resolve_policy, set_precision


def test_precision_policy():
    assert resolve_policy("auto") == "float32"  # CPU
    assert resolve_policy("mixed_bfloat16") == "mixed_bfloat16"
    try:
        assert set_precision("mixed_bfloat16") == "mixed_bfloat16"
        assert keras.mixed_precision.global_policy().compute_dtype == "bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
