"""The in-graph preprocessing layer: raw (batch, T, 543, 3) landmarks -> frame features.

It lives inside the model (its first layer), so training, evaluation and the exported
TFLite model share exactly the same preprocessing (the study's §2.4; `docs/recipe.md`).

Padding contract: to batch recordings of different lengths, pad them at the END with
frames that are NaN in every coordinate (e.g. `padded_batch(..., padding_values=nan)`).
A frame is kept iff at least one of the selected landmarks has a non-NaN coordinate
(and, when an explicit boolean `mask` (batch, T) is given, the mask allows it). Frames
without any selected landmark are dropped and the remaining frames move up, in order,
as the 1st-place solution dropped them before its preprocessing; padding is such a
frame. Dropped frames never affect the statistics nor the features of kept frames; the
output carries a Keras mask of the kept frames, which come first.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from islr.data.format import ROWS_PER_FRAME
from islr.models.landmarks import DEFAULT_LANDMARKS

N_COORDS = 2  # x, y
N_STREAMS = 3  # position, velocity, acceleration


def _kept_frames(points, mask=None):
    """(batch, T) bool: frames where some selected landmark was detected (and `mask`)."""
    kept = ops.any(ops.logical_not(ops.isnan(points)), axis=(2, 3))
    if mask is not None:
        kept = ops.logical_and(kept, ops.cast(mask, "bool"))
    return kept


def _compact(x, kept):
    """Move the kept frames of each recording to the front, in their order.

    A stable partition written as a sort on a unique key (kept frames by their index,
    the others after all of them), so it runs in the graph and in TFLite (TopK)."""
    n_frames = ops.shape(x)[1]
    t = ops.cast(ops.arange(n_frames), "float32")[None, :]
    key = ops.where(kept, t, t + ops.cast(n_frames, "float32"))
    order = ops.argsort(key, axis=1)
    x = ops.take_along_axis(x, order[:, :, None, None], axis=1)
    return x, _prefix_mask(kept)


def _prefix_mask(kept):
    """(batch, T) bool: the first n frames of each row, n = its number of kept frames.
    Written with cumsum, not arange, so it also works on symbolic tensors of unknown T."""
    n_kept = ops.sum(ops.cast(kept, "int32"), axis=1, keepdims=True)
    position = ops.cumsum(ops.ones_like(kept, dtype="int32"), axis=1) - 1
    return position < n_kept


def _nan_mean(x, axis):
    """Mean over `axis` ignoring NaN (keepdims); also returns the non-NaN count."""
    finite = ops.logical_not(ops.isnan(x))
    count = ops.sum(ops.cast(finite, x.dtype), axis=axis, keepdims=True)
    total = ops.sum(ops.where(finite, x, ops.zeros_like(x)), axis=axis, keepdims=True)
    return total / ops.maximum(count, 1.0), count


@keras.saving.register_keras_serializable(package="islr")
class Preprocess(keras.layers.Layer):
    """Landmark subset, centring, scaling, x/y, velocity and acceleration, NaN -> 0.

    Input: raw float32 (batch, T, 543, 3), NaN where a part was not detected and in
    padded frames (see the module docstring). Output: (batch, min(T, max_len), 6 * P)
    with P = len(landmarks): per frame the flattened x/y positions of the P points,
    then their velocities, then their accelerations. The output mask marks kept frames.

    Frames past `max_len` are dropped first, so a long recording looks the same whether
    the training input pipeline truncated it or the whole of it reaches the served model.
    Frames in which no selected landmark was detected are dropped next (the rest move
    up). Then, per recording, over its kept frames, for x and y separately:
    - centre c: nan-mean of row `center_index` (the nose, 17) over frames (0.5 when
      never detected);
    - scale s: sqrt(nan-mean((p - c)^2)) over all selected points and frames, the
      deviation about the centre as in the 1st-place solution (1 when undefined or ~0);
    - position x_t = (p_t - c) / s; velocity Δx_t = x_{t+1} - x_t and acceleration
      Δ²x_t = Δx_{t+1} - Δx_t = x_{t+2} - 2 x_{t+1} + x_t (the study's forward
      differences; 0 where t+1, resp. t+2, is not a kept frame); NaN (undetected
      points, differences touching them) becomes 0.
    """

    def __init__(
        self,
        landmarks: Sequence[int] = DEFAULT_LANDMARKS,
        max_len: int = 384,
        center_index: int = 17,
        **kwargs,
    ):
        super().__init__(**kwargs)
        landmarks = [int(i) for i in landmarks]
        if not landmarks or not all(0 <= i < ROWS_PER_FRAME for i in landmarks):
            raise ValueError(
                f"landmarks must be a non-empty list of rows in 0..{ROWS_PER_FRAME - 1}, "
                f"got {landmarks}"
            )
        if not 0 <= int(center_index) < ROWS_PER_FRAME:
            raise ValueError(
                f"center_index must be a row in 0..{ROWS_PER_FRAME - 1}, got {center_index}"
            )
        if int(max_len) < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        self.landmarks = landmarks
        self.max_len = int(max_len)
        self.center_index = int(center_index)
        self.supports_masking = True

    @property
    def n_features(self) -> int:
        return len(self.landmarks) * N_COORDS * N_STREAMS

    def call(self, inputs, mask=None):
        x = ops.cast(inputs, self.compute_dtype)[:, : self.max_len, :, :N_COORDS]
        if mask is not None:
            mask = mask[:, : self.max_len]
        # Only the selected points and the centre row are read: take them first, so
        # the compaction below moves them and not all 543 rows (the served model's
        # largest cost on short recordings; the outputs are the same).
        n_points = len(self.landmarks)
        rows = list(self.landmarks)
        if self.center_index not in rows:
            rows.append(self.center_index)
        c = rows.index(self.center_index)
        x = ops.take(x, rows, axis=2)  # (B, T, P or P + 1, 2)
        x, kept = _compact(x, _kept_frames(x[:, :, :n_points], mask))
        nan = ops.full_like(x, float("nan"))
        x = ops.where(kept[:, :, None, None], x, nan)  # dropped frames -> NaN

        centre, count = _nan_mean(x[:, :, c : c + 1], (1, 2))
        centre = ops.where(count > 0, centre, ops.full_like(centre, 0.5))  # (B, 1, 1, 2)

        points = x[:, :, :n_points]  # (B, T, P, 2)
        var, count = _nan_mean(ops.square(points - centre), (1, 2))
        std = ops.sqrt(var)
        std = ops.where((count > 0) & (std > 1e-6), std, ops.ones_like(std))
        pos = (points - centre) / std

        n_frames = ops.shape(pos)[1]
        t = ops.arange(n_frames)[None, :, None, None]
        zeros = ops.zeros_like(pos[:, :1])
        # forward differences; the last frame (two for acceleration) has no successor
        vel = ops.concatenate([pos[:, 1:] - pos[:, :-1], zeros], axis=1)
        acc = ops.concatenate([vel[:, 1:] - vel[:, :-1], zeros], axis=1)
        acc = ops.where(t < n_frames - 2, acc, ops.zeros_like(acc))

        batch = ops.shape(pos)[0]
        width = len(self.landmarks) * N_COORDS
        feats = ops.concatenate(
            [ops.reshape(s, (batch, n_frames, width)) for s in (pos, vel, acc)], axis=-1
        )
        feats = ops.where(ops.isnan(feats), ops.zeros_like(feats), feats)
        # Dropped frames (after the kept ones) are zero.
        return ops.where(kept[:, :, None], feats, ops.zeros_like(feats))

    def compute_mask(self, inputs, mask=None):
        x = inputs[:, : self.max_len, :, :N_COORDS]
        kept = _kept_frames(
            ops.take(x, self.landmarks, axis=2), None if mask is None else mask[:, : self.max_len]
        )
        # the kept frames come first: the mask is a prefix of each recording's length
        return _prefix_mask(kept)

    def compute_output_shape(self, input_shape):
        batch, frames = input_shape[0], input_shape[1]
        if frames is not None:
            frames = min(frames, self.max_len)
        return (batch, frames, self.n_features)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            landmarks=list(self.landmarks),
            max_len=self.max_len,
            center_index=self.center_index,
        )
        return config
