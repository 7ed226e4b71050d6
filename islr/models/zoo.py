"""The seven runs' architectures (seed study §3.5), built from a config.

Every model takes raw frames (batch, T, 543, 3) and returns 250 logits. The layers:
in-graph `Preprocess` -> bias-free Dense to `dim` -> BatchNorm (momentum 0.95) -> the
architecture's blocks -> `ClassifierHead`. For the hybrid runs the blocks are
3 Conv1DBlocks -> sequence layer -> 3 Conv1DBlocks -> sequence layer; `cnn` uses
Conv1DBlocks only and `transformer` TransformerBlocks only, in the same two stages.
"""

from __future__ import annotations

import keras

# The config lives in a module without Keras, so that reading a job or run file does not
# import TensorFlow; it is importable from here too, beside build_model.
from islr.data.format import ROWS_PER_FRAME
from islr.models.config import Architecture, ModelConfig
from islr.models.layers import (
    BiRNNBlock,
    ClassifierHead,
    Conv1DBlock,
    LinformerBlock,
    TransformerBlock,
)
from islr.models.preprocessing import Preprocess

__all__ = ["Architecture", "ModelConfig", "build_model"]


def _sequence_layer(config: ModelConfig, kind: str) -> keras.layers.Layer:
    d = config.dim
    if kind == "transformer":
        return TransformerBlock(
            d, config.num_heads, expand=config.ffn_expand, drop_rate=config.drop_rate
        )
    if kind == "linformer":
        return LinformerBlock(
            d,
            config.num_heads,
            k=config.linformer_k,
            max_len=config.max_len,
            drop_rate=config.drop_rate,
        )
    return BiRNNBlock(d, config.rnn_units, cell=kind.removeprefix("bi"), drop_rate=config.drop_rate)


def build_model(config: ModelConfig) -> keras.Model:
    """Build the Keras model of one architecture (uncompiled)."""
    arch = config.architecture
    inputs = keras.Input((None, ROWS_PER_FRAME, 3), name="inputs")
    # Preprocessing stays float32 under a mixed policy: centring and scaling raw
    # coordinates in bfloat16 (8 bits of mantissa) would blur neighbouring landmarks.
    x = Preprocess(
        landmarks=config.landmarks, max_len=config.max_len, dtype="float32", name="preprocess"
    )(inputs)
    x = keras.layers.Dense(config.dim, use_bias=False, name="stem")(x)
    x = keras.layers.BatchNormalization(momentum=0.95, name="stem_bn")(x)
    for _ in range(config.stages):
        if arch != "transformer":
            for _ in range(config.conv_blocks):
                x = Conv1DBlock(config.dim, config.kernel_size, drop_rate=config.drop_rate)(x)
        if arch != "cnn":
            x = _sequence_layer(config, arch.removeprefix("cnn_"))(x)
    outputs = ClassifierHead(
        config.dim, config.n_classes, config.late_dropout, config.late_dropout_step, name="head"
    )(x)
    return keras.Model(inputs, outputs, name=arch)
