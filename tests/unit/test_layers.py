"""Layers: causality, masking of padded frames, LateDropout's switch, safe_mode reload."""

import keras
import numpy as np
import pytest

from islr.models.layers import (
    ECA,
    BiRNNBlock,
    CausalDWConv1D,
    ClassifierHead,
    Conv1DBlock,
    LateDropout,
    LinformerBlock,
    TransformerBlock,
)

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("dilation", [1, 3])
def test_causal_conv_never_sees_later_frames(dilation):
    layer = CausalDWConv1D(kernel_size=5, dilation_rate=dilation)
    x = RNG.normal(size=(2, 20, 8)).astype("float32")
    base = keras.ops.convert_to_numpy(layer(x))
    for t in (0, 7, 18):
        changed = x.copy()
        changed[:, t + 1 :] = RNG.normal(size=changed[:, t + 1 :].shape)
        out = keras.ops.convert_to_numpy(layer(changed))
        np.testing.assert_allclose(out[:, : t + 1], base[:, : t + 1], atol=1e-6)
    # ...but does see earlier ones (frame 0 is `dilation` frames before frame `dilation`)
    changed = x.copy()
    changed[:, 0] += 1.0
    out = keras.ops.convert_to_numpy(layer(changed))
    assert not np.allclose(out[:, dilation], base[:, dilation])


def masked_model(block):
    inputs = keras.Input((None, 16))
    x = keras.layers.Masking(mask_value=0.0)(inputs)
    x = block(x)
    pooled = keras.layers.GlobalAveragePooling1D()(x)  # respects the mask
    return keras.Model(inputs, pooled)


BLOCKS = {
    "conv": lambda: Conv1DBlock(dim=16, kernel_size=5),
    "eca": ECA,
    "transformer": lambda: TransformerBlock(dim=16, num_heads=2),
    "linformer": lambda: LinformerBlock(dim=16, num_heads=2, k=8, max_len=32),
    "bilstm": lambda: BiRNNBlock(dim=16, units=8, cell="lstm"),
    "bigru": lambda: BiRNNBlock(dim=16, units=8, cell="gru"),
}


@pytest.mark.parametrize("make", list(BLOCKS.values()), ids=list(BLOCKS))
def test_blocks_ignore_padded_frames(make):
    model = masked_model(make())
    x = RNG.normal(size=(1, 9, 16)).astype("float32")
    padded = np.concatenate([x, np.zeros((1, 6, 16), "float32")], axis=1)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)),
        keras.ops.convert_to_numpy(model(padded)),
        atol=1e-5,
    )


def test_late_dropout_switches_on_at_its_step():
    layer = LateDropout(0.9, start_step=3)
    x = np.ones((4, 64), "float32")
    for _ in range(3):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=True)), x)
    dropped = keras.ops.convert_to_numpy(layer(x, training=True))
    assert (dropped == 0).mean() > 0.5
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)


def test_safe_mode_round_trip(tmp_path):
    inputs = keras.Input((None, 16))
    x = Conv1DBlock(dim=16, kernel_size=5)(inputs)
    x = LateDropout(0.5, start_step=10)(x)
    model = keras.Model(inputs, x)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    sample = RNG.normal(size=(2, 7, 16)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(sample)),
        keras.ops.convert_to_numpy(loaded(sample)),
        atol=1e-6,
    )
    assert loaded.layers[1].get_config()["kernel_size"] == 5


def test_head_averages_valid_frames_only():
    inputs = keras.Input((None, 16))
    x = keras.layers.Masking(mask_value=0.0)(inputs)
    model = keras.Model(inputs, ClassifierHead(dim=16, n_classes=5)(x))
    x = RNG.normal(size=(1, 9, 16)).astype("float32")
    padded = np.concatenate([x, np.zeros((1, 4, 16), "float32")], axis=1)
    out = keras.ops.convert_to_numpy(model(x))
    assert out.shape == (1, 5)
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(model(padded)), atol=1e-5)


@pytest.mark.parametrize("name", ["transformer", "linformer", "bilstm"])
def test_sequence_blocks_reload_in_safe_mode(name, tmp_path):
    inputs = keras.Input((None, 16))
    model = keras.Model(inputs, BLOCKS[name]()(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    sample = RNG.normal(size=(2, 7, 16)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(sample)),
        keras.ops.convert_to_numpy(loaded(sample)),
        atol=1e-5,
    )
