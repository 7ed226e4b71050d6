"""Export settings: the serving variants, the gate and how an export is checked. No
Keras here: reading a job file must not import TensorFlow."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Variant = Literal["float32", "float16", "dynamic_int8", "int8"]
VARIANTS: tuple[str, ...] = ("float32", "float16", "dynamic_int8", "int8")


class GateConfig(BaseModel):
    """The serving budget (the competition's: 40 MB, 100 ms per recording) and parity."""

    model_config = ConfigDict(extra="forbid")

    max_size_mb: float = Field(40.0, gt=0, description="file size limit, 1 MB = 10^6 bytes")
    max_mean_latency_ms: float = Field(
        100.0, gt=0, description="mean single-thread latency per recording"
    )
    # float32 kernels in a different order than TensorFlow's: differences of 1e-7..1e-5
    # in a probability; 1e-3 still catches a wrong preprocessing or a lost layer.
    max_parity_diff: float = Field(1e-3, ge=0, description="max |keras - tflite| probability")
    min_argmax_agreement: float = Field(1.0, ge=0, le=1)
    enforce: bool = Field(False, description="raise ExportGateError when the gate fails")
    # The variant choice (choose_variant): what a smaller file may cost.
    min_variant_agreement: float = Field(
        0.995, ge=0, le=1, description="top-1 agreement with the Keras model, at least"
    )
    max_accuracy_drop: float = Field(
        0.005, ge=0, le=1, description="test accuracy below float32's, at most (0.005 = 0.5 pt)"
    )
    latency_tolerance: float = Field(
        1.1, ge=1, description="a variant's mean latency over float32's, at most"
    )


class ExportConfig(BaseModel):
    """How an export is checked. Where users would change values: thresholds in `gate`,
    how many recordings the parity and latency checks use, and how long they run."""

    model_config = ConfigDict(extra="forbid")

    gate: GateConfig = Field(default_factory=GateConfig)
    num_threads: int = Field(1, ge=1, description="interpreter threads (competition: 1)")
    latency_warmup: int = Field(2, ge=0, description="untimed calls before measuring")
    latency_repeats: int = Field(5, ge=1, description="timed passes over the recordings")
    n_real: int = Field(16, ge=0, description="recordings sampled from data_dir, if given")
    n_generated: int = Field(4, ge=0, description="generated recordings (islr.data.synth)")
    seed: int = 0
    variants: list[Variant] = Field(
        default_factory=lambda: list(VARIANTS), description="serving variants to measure"
    )
    n_representative: int = Field(
        64, ge=1, description="training recordings calibrating the int8 variant"
    )
    n_test: int | None = Field(
        None, ge=1, description="test recordings for agreement and accuracy (None: all)"
    )
