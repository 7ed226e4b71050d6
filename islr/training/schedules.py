"""One-cycle learning-rate schedule and the weight-decay schedule that follows it.

The shape (per optimizer step ``s``, ``0 <= s < total_steps``) is::

    s <= warmup_steps:  lr = lr_start + (lr_max - lr_start) * s / warmup_steps     (linear)
    s >= warmup_steps:  lr = lr_min + (lr_max - lr_min) * (1 + cos(pi * p)) / 2     (cosine)
                        p = (s - warmup_steps) / (total_steps - warmup_steps), clipped to 1

so the rate rises linearly to exactly ``lr_max`` at the end of warm-up, then decays along half
a cosine towards ``lr_min``, which it reaches at step ``total_steps`` (one past the last
step), as the 1st-place solution's ``OneCycleLR`` (hoyso48/tf-utils) does.
``lr_start = lr_max * start_factor``, 0 by default as there. ``warmup_steps`` is
``round(warmup_fraction * total_steps)`` unless given explicitly.

``WeightDecaySchedule`` puts weight decay on the same shape: ``wd_s = wd_max * lr_s / lr_max``.
Keras 3 optimizers apply decoupled weight decay as ``w <- w - lr_s * wd_s * w`` (the decay is
multiplied by the current learning rate, as ``tfa.optimizers.RectifiedAdam`` did), so the
shrink factor per step is ``lr_s * wd_s``.

``one_cycle`` and ``weight_decay_at`` are the same curves in NumPy, for plots and reports.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

__all__ = [
    "OneCycle",
    "WeightDecaySchedule",
    "one_cycle",
    "resolve_warmup_steps",
    "weight_decay_at",
]


def resolve_warmup_steps(
    total_steps: int, warmup_fraction: float = 0.1, warmup_steps: int | None = None
) -> int:
    """Number of warm-up steps: ``warmup_steps`` if given, else ``round(fraction * total)``.

    Raises ``ValueError`` when the numbers cannot describe a schedule.
    """
    if int(total_steps) < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if warmup_steps is None:
        if not 0.0 <= float(warmup_fraction) <= 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1], got {warmup_fraction}")
        warmup_steps = round(float(warmup_fraction) * int(total_steps))
    warmup_steps = int(warmup_steps)
    if not 0 <= warmup_steps <= int(total_steps) - 1:
        raise ValueError(
            f"warmup_steps must be in [0, total_steps - 1 = {int(total_steps) - 1}], "
            f"got {warmup_steps}; lower warmup_fraction or raise total_steps"
        )
    return warmup_steps


def one_cycle(
    step: Any,
    *,
    lr_max: float,
    total_steps: int,
    warmup_fraction: float = 0.1,
    warmup_steps: int | None = None,
    start_factor: float = 0.0,
    lr_min: float = 1e-6,
) -> np.ndarray:
    """NumPy one-cycle learning rate at ``step`` (scalar or array); see the module docstring."""
    w = resolve_warmup_steps(total_steps, warmup_fraction, warmup_steps)
    s = np.asarray(step, dtype=np.float64)
    lr_start = lr_max * start_factor
    warm = lr_start + (lr_max - lr_start) * s / max(w, 1)
    progress = np.clip((s - w) / max(total_steps - w, 1), 0.0, 1.0)
    decay = lr_min + (lr_max - lr_min) * 0.5 * (1.0 + np.cos(math.pi * progress))
    return np.where(s < w, warm, decay)


def weight_decay_at(step: Any, *, wd_max: float, lr_max: float, **one_cycle_kwargs: Any):
    """NumPy weight decay at ``step``: ``wd_max * one_cycle(step) / lr_max``."""
    return wd_max * one_cycle(step, lr_max=lr_max, **one_cycle_kwargs) / lr_max


@keras.saving.register_keras_serializable(package="islr")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``lr_max`` then cosine decay to ``lr_min`` (see module docstring).

    Args:
        lr_max: peak learning rate, reached at step ``warmup_steps``.
        total_steps: number of optimizer steps of the run (epochs * steps per epoch).
        warmup_fraction: share of ``total_steps`` spent warming up (ignored when
            ``warmup_steps`` is given).
        warmup_steps: explicit number of warm-up steps.
        start_factor: the warm-up starts at ``lr_max * start_factor`` (0: from zero).
        lr_min: the floor, approached at the last step.
    """

    def __init__(
        self,
        lr_max: float,
        total_steps: int,
        warmup_fraction: float = 0.1,
        warmup_steps: int | None = None,
        start_factor: float = 0.0,
        lr_min: float = 1e-6,
        name: str = "one_cycle",
    ) -> None:
        if lr_max <= 0:
            raise ValueError(f"lr_max must be > 0, got {lr_max}")
        if not 0 <= lr_min <= lr_max:
            raise ValueError(f"lr_min must be in [0, lr_max={lr_max}], got {lr_min}")
        self.lr_max = float(lr_max)
        self.total_steps = int(total_steps)
        self.warmup_fraction = float(warmup_fraction)
        self.warmup_steps = resolve_warmup_steps(total_steps, warmup_fraction, warmup_steps)
        self.start_factor = float(start_factor)
        self.lr_min = float(lr_min)
        self.name = name

    def __call__(self, step):
        s = ops.cast(step, "float32")
        w = float(self.warmup_steps)
        lr_start = self.lr_max * self.start_factor
        warm = lr_start + (self.lr_max - lr_start) * s / max(w, 1.0)
        span = float(max(self.total_steps - self.warmup_steps, 1))
        progress = ops.clip((s - w) / span, 0.0, 1.0)
        decay = self.lr_min + (self.lr_max - self.lr_min) * 0.5 * (
            1.0 + ops.cos(math.pi * progress)
        )
        return ops.where(s < w, warm, decay)

    def numpy(self, step: Any) -> np.ndarray:
        """The same curve evaluated with NumPy (float64)."""
        return one_cycle(
            step,
            lr_max=self.lr_max,
            total_steps=self.total_steps,
            warmup_steps=self.warmup_steps,
            start_factor=self.start_factor,
            lr_min=self.lr_min,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "lr_max": self.lr_max,
            "total_steps": self.total_steps,
            "warmup_fraction": self.warmup_fraction,
            "warmup_steps": self.warmup_steps,
            "start_factor": self.start_factor,
            "lr_min": self.lr_min,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="islr")
class WeightDecaySchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Weight decay that follows a ``OneCycle``: ``wd_s = wd_max * lr_s / lr_max``.

    Pass it as ``weight_decay=`` to :class:`islr.training.optimizers.RAdam`, which evaluates it
    at the optimizer's step counter on every update (a plain float ``weight_decay`` is frozen
    into the compiled train step and cannot follow a schedule).
    """

    def __init__(self, wd_max: float, lr_schedule: OneCycle | dict, name: str = "wd") -> None:
        if isinstance(lr_schedule, dict):
            lr_schedule = keras.saving.deserialize_keras_object(lr_schedule)
        if not isinstance(lr_schedule, OneCycle):
            raise TypeError(
                f"lr_schedule must be an islr OneCycle, got {type(lr_schedule).__name__}"
            )
        if wd_max < 0:
            raise ValueError(f"wd_max must be >= 0, got {wd_max}")
        self.wd_max = float(wd_max)
        self.lr_schedule = lr_schedule
        self.name = name

    def __call__(self, step):
        return self.lr_schedule(step) * (self.wd_max / self.lr_schedule.lr_max)

    def numpy(self, step: Any) -> np.ndarray:
        return self.lr_schedule.numpy(step) * (self.wd_max / self.lr_schedule.lr_max)

    def get_config(self) -> dict[str, Any]:
        return {
            "wd_max": self.wd_max,
            "lr_schedule": keras.saving.serialize_keras_object(self.lr_schedule),
            "name": self.name,
        }
