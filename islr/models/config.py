"""A model's configuration: what `islr.models.zoo.build_model` builds, validated when a
run file is read. No Keras here: reading a job or run file (`islr data validate`, the
pipelines' parameters) must not import TensorFlow."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from islr.data.format import N_CLASSES, ROWS_PER_FRAME
from islr.models.landmarks import DEFAULT_LANDMARKS

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
