"""The seven runs' architectures (seed study §3.5), built from a config.

Every model takes raw frames (batch, T, 543, 3) and returns 250 logits. The layers:
in-graph `Preprocess` -> bias-free Dense to `dim` -> BatchNorm (momentum 0.95) -> the
architecture's blocks -> `ClassifierHead`. For the hybrid runs the blocks are
3 Conv1DBlocks -> sequence layer -> 3 Conv1DBlocks -> sequence layer; `cnn` uses
Conv1DBlocks only and `transformer` TransformerBlocks only, in the same two stages.
"""

from __future__ import annotations

from typing import Literal

import keras
from pydantic import BaseModel, ConfigDict, Field, model_validator

from islr.data.format import N_CLASSES, ROWS_PER_FRAME
from islr.models.landmarks import DEFAULT_LANDMARKS
from islr.models.layers import (
    BiRNNBlock,
    ClassifierHead,
    Conv1DBlock,
    LinformerBlock,
    TransformerBlock,
)
from islr.models.preprocessing import Preprocess

Architecture = Literal[
    "cnn", "transformer", "cnn_transformer", "cnn_bilstm", "cnn_bigru", "cnn_linformer"
]


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    architecture: Architecture = "cnn_transformer"
    dim: int = Field(192, ge=8)
    max_len: int = Field(384, ge=1)
    landmarks: list[int] = Field(default_factory=lambda: list(DEFAULT_LANDMARKS))
    kernel_size: int = Field(17, ge=1)
    conv_blocks: int = Field(3, ge=0, description="Conv1DBlocks before each sequence layer")
    stages: int = Field(2, ge=1)
    num_heads: int = Field(4, ge=1)
    # Transformer feed-forward width as a multiple of dim: 4 as in the seed study; the
    # 1st-place model used 2 (cnn_transformer then has its 1.84 M parameters).
    ffn_expand: int = Field(4, ge=1)
    rnn_units: int = Field(192, ge=1)
    linformer_k: int = Field(128, ge=1)
    drop_rate: float = Field(0.2, ge=0, lt=1)
    late_dropout: float = Field(0.8, ge=0, lt=1)
    late_dropout_step: int = Field(0, ge=0)
    n_classes: int = Field(N_CLASSES, ge=2)

    @model_validator(mode="after")
    def _buildable(self) -> ModelConfig:
        """Refuse, at load time, a model that could only fail (or silently misbehave)
        once built: each message names the field and its value."""
        uses_attention = self.architecture in ("transformer", "cnn_transformer", "cnn_linformer")
        if uses_attention and self.dim % self.num_heads:
            raise ValueError(
                f"num_heads ({self.num_heads}) must divide dim ({self.dim}) for "
                f"architecture {self.architecture}"
            )
        if self.architecture == "cnn_linformer" and self.linformer_k > self.max_len:
            raise ValueError(
                f"linformer_k ({self.linformer_k}) must not exceed max_len ({self.max_len}): "
                "Linformer projects at most max_len frames down to k"
            )
        if not all(0 <= i < ROWS_PER_FRAME for i in self.landmarks):
            bad = [i for i in self.landmarks if not 0 <= i < ROWS_PER_FRAME]
            raise ValueError(f"landmarks must be rows in 0..{ROWS_PER_FRAME - 1}, got {bad}")
        if len(set(self.landmarks)) != len(self.landmarks):
            raise ValueError("landmarks lists a row twice")
        return self


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
