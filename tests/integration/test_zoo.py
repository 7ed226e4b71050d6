"""Every architecture builds from its config, ignores padding end to end, trains, and
reloads in safe mode."""

import keras
import numpy as np
import pytest

from islr.models.zoo import ModelConfig, build_model

ARCHS = ["cnn", "transformer", "cnn_transformer", "cnn_bilstm", "cnn_bigru", "cnn_linformer"]
TINY = {
    "dim": 16,
    "max_len": 32,
    "conv_blocks": 1,
    "num_heads": 2,
    "rnn_units": 8,
    "linformer_k": 4,
    "n_classes": 5,
}


def recordings(rng, lengths, pad_to):
    x = np.full((len(lengths), pad_to, 543, 3), np.nan, "float32")
    for i, n in enumerate(lengths):
        x[i, :n] = rng.random((n, 543, 3))
        x[i, :n, 468:489] = np.nan  # left hand never detected
    return x


@pytest.mark.parametrize("arch", ARCHS)
def test_architecture_trains_and_ignores_padding(arch, tmp_path):
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(architecture=arch, **TINY))
    rng = np.random.default_rng(0)
    x = recordings(rng, [12, 1, 7, 20], 20)
    # padding: the same recordings padded further give the same logits
    out = keras.ops.convert_to_numpy(model(x, training=False))
    more = np.concatenate([x, np.full((4, 9, 543, 3), np.nan, "float32")], axis=1)
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(model(more)), atol=1e-4)
    assert out.shape == (4, 5) and np.isfinite(out).all()

    y = keras.utils.to_categorical([0, 1, 2, 3], 5)
    model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=3, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()

    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(loaded(x)), atol=1e-5
    )


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
