"""The zoo's full-size parameter count, and mixed bfloat16 keeping preprocessing and
logits in float32 (training every architecture is tests/integration/test_zoo_training.py)."""

import keras
import numpy as np
import pytest
from tiny_zoo import TINY, recordings

from islr.models.zoo import ModelConfig, build_model


def test_full_size_parameter_counts():
    """At dim 192 with the 1st-place feed-forward width (2), cnn_transformer has that
    model's 1.84 M parameters."""
    count = build_model(ModelConfig(architecture="cnn_transformer", ffn_expand=2)).count_params()
    assert count == pytest.approx(1.84e6, rel=0.01)


@pytest.mark.parametrize("arch", ["cnn_transformer", "cnn_bigru"])
def test_mixed_bfloat16_keeps_preprocessing_and_logits_in_float32(arch):
    rng = np.random.default_rng(1)
    x = recordings(rng, [12, 5], 16)
    keras.utils.set_random_seed(0)
    reference = build_model(ModelConfig(architecture=arch, **TINY))
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = build_model(ModelConfig(architecture=arch, **TINY))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.set_weights(reference.get_weights())
    assert model.get_layer("preprocess").compute_dtype == "float32"
    assert model.get_layer("stem").compute_dtype == "bfloat16"
    out = model(x, training=False)
    assert out.dtype == "float32"
    # bfloat16 blocks change the logits a little, not the ranking of a clear winner
    expected = keras.ops.convert_to_numpy(reference(x, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), expected, atol=0.15)
