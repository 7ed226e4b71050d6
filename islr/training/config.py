"""Run configuration: one YAML per training run (`configs/runs/*.yaml`), validated here.

A run file names the architecture and may override any model, training or augmentation
field; a scale file (`configs/scales/*.yaml`) sets what differs between a CPU smoke test
and the full GPU recipe (epochs, batch, model width). Scale values apply first, the
run's own values on top.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from islr.errors import ConfigError, read_yaml_mapping
from islr.models.config import ModelConfig
from islr.training.augment import AugmentConfig
from islr.training.distribute import StrategyKind
from islr.training.precision import Precision


class TrainConfig(BaseModel):
    # A misspelt key (`epoch: 5`) is an error, not a silently ignored default.
    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(120, ge=1)
    batch_per_replica: int = Field(64, ge=1)
    # Peak learning rate for every `lr_batch` recordings of the global batch: the rate in
    # force is lr_max * global_batch / lr_batch (the reference: 5e-4 x 8 replicas of 64
    # = 4e-3 at batch 512). `lr_batch: null` uses lr_max as it is.
    lr_max: float = Field(5e-4, gt=0)
    lr_batch: int | None = Field(64, ge=1)
    lr_min: float = Field(1e-6, ge=0)
    warmup_fraction: float = Field(0.1, ge=0, lt=1)
    # Weight decay as a share of the learning rate: its own one-cycle schedule with peak
    # weight_decay * lr (the reference's OneCycleLR(lr * 0.1)), applied decoupled as
    # w <- w - lr_t * wd_t * w, as tfa's RectifiedAdam did.
    weight_decay: float = Field(0.1, ge=0)
    radam_sma_threshold: float = Field(4.0, ge=0)
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    awp_lambda: float = Field(0.2, ge=0)
    awp_start_epoch: int = Field(15, ge=0)
    # LateDropout in the head switches on after this many epochs of optimizer steps (the
    # trainer turns it into `model.late_dropout_step`); None keeps the model's own step.
    late_dropout_start_epoch: int | None = Field(None, ge=0)
    lookahead_sync_period: int = Field(5, ge=1)
    lookahead_alpha: float = Field(0.5, gt=0, le=1)
    clipnorm: float | None = None
    # A killed run resumes from the last backup, written every this many epochs.
    backup_every_epochs: int = Field(1, ge=1)
    precision: Precision = "auto"
    strategy: StrategyKind = "auto"
    # Seeds weight initialisation, dropout, the order of shards and records and every
    # augmentation draw; with `deterministic` a rerun on the same machine reproduces
    # the run's weights bit for bit (docs/training.md, "Reproducibility").
    seed: int = 42
    # TensorFlow's op determinism for the run: kernels without a deterministic
    # algorithm (some cuDNN ones on a GPU) raise, others pick a slower deterministic
    # one. False trades bit-identical reruns for speed on a GPU.
    deterministic: bool = True

    def peak_lr(self, global_batch: int) -> float:
        """The peak learning rate for a global batch (see `lr_batch`)."""
        if self.lr_batch is None:
            return self.lr_max
        return self.lr_max * global_batch / self.lr_batch

    @model_validator(mode="after")
    def _floor_below_peak(self) -> TrainConfig:
        if self.lr_min > self.lr_max:
            raise ValueError(f"lr_min ({self.lr_min}) must not exceed lr_max ({self.lr_max})")
        return self


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    augmentation: bool = True  # false: the noaug run


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            _merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


def load_run_config(
    run_file: str | os.PathLike[str], scale_file: str | os.PathLike[str] | None = None
) -> RunConfig:
    """Read a run YAML (and optionally a scale YAML under it) into a RunConfig."""
    data: dict = {}
    for path in (scale_file, run_file):
        if path is None:
            continue
        data = _merge(data, read_yaml_mapping(path, "run config"))
    data.setdefault("name", Path(run_file).stem)
    try:
        return RunConfig.model_validate(data)
    except Exception as exc:  # pydantic's message names the field and the value
        raise ConfigError(f"{run_file}: {exc}") from exc
