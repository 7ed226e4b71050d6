"""The in-graph preprocessing layer: raw (batch, T, 543, 3) landmarks -> frame features.

It lives inside the model (its first layer), so training, evaluation and the exported
TFLite model share exactly the same preprocessing.

Padding contract: to batch recordings of different lengths, pad them at the END with
frames that are NaN in every coordinate (e.g. `padded_batch(..., padding_values=nan)`).
A frame is valid iff at least one of its 543 x 3 coordinates is not NaN (a real
recording always has face or pose), unless an explicit boolean `mask` (batch, T) is
given, which then decides alone. Padded frames never affect the statistics nor the
features of valid frames; the output carries a Keras mask of the valid frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from islr.data.format import ROWS_PER_FRAME
from islr.models.landmarks import DEFAULT_LANDMARKS

N_COORDS = 2  # x, y
N_STREAMS = 3  # position, velocity, acceleration


def _valid_frames(inputs, mask=None):
    """(batch, T) bool: the explicit mask, else frames with any non-NaN coordinate."""
    if mask is not None:
        return ops.cast(mask, "bool")
    return ops.any(ops.logical_not(ops.isnan(inputs)), axis=(2, 3))


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
    then their velocities, then their accelerations. The output mask marks valid frames.

    Frames past `max_len` are dropped first, so a long recording looks the same whether
    the training input pipeline truncated it or the whole of it reaches the served model.
    Then, per recording, over its valid frames:
    - centre: nan-mean of x/y of row `center_index` (0.5 when never detected);
    - scale: nan-std, per coordinate, of the subset's x/y (1 when undefined or ~0);
    - position p = (xy - centre) / scale; velocity p[t] - p[t-1] (0 at t = 0);
      acceleration p[t] - 2 p[t-1] + p[t-2] (0 at t < 2); NaN (undetected points,
      differences touching them) becomes 0.
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
        x = ops.cast(inputs, self.compute_dtype)[:, : self.max_len]
        valid = _valid_frames(x, None if mask is None else mask[:, : self.max_len])  # (B, T)
        nan = ops.full_like(x, float("nan"))
        x = ops.where(valid[:, :, None, None], x, nan)[..., :N_COORDS]  # padding -> NaN

        centre, count = _nan_mean(x[:, :, self.center_index : self.center_index + 1], (1, 2))
        centre = ops.where(count > 0, centre, ops.full_like(centre, 0.5))  # (B, 1, 1, 2)

        points = ops.take(x, self.landmarks, axis=2)  # (B, T, P, 2)
        mean, count = _nan_mean(points, (1, 2))
        var, _ = _nan_mean(ops.square(points - mean), (1, 2))
        std = ops.sqrt(var)
        std = ops.where((count > 0) & (std > 1e-6), std, ops.ones_like(std))
        pos = (points - centre) / std

        n_frames = ops.shape(pos)[1]
        t = ops.arange(n_frames)[None, :, None, None]
        zeros = ops.zeros_like(pos[:, :1])
        vel = ops.concatenate([zeros, pos[:, 1:] - pos[:, :-1]], axis=1)
        acc = ops.concatenate([zeros, vel[:, 1:] - vel[:, :-1]], axis=1)
        acc = ops.where(t >= 2, acc, ops.zeros_like(acc))

        batch = ops.shape(pos)[0]
        width = len(self.landmarks) * N_COORDS
        feats = ops.concatenate(
            [ops.reshape(s, (batch, n_frames, width)) for s in (pos, vel, acc)], axis=-1
        )
        feats = ops.where(ops.isnan(feats), ops.zeros_like(feats), feats)
        # Padded frames (explicit mask) are zero even if they held coordinates.
        keep = valid[:, :, None]
        return ops.where(keep, feats, ops.zeros_like(feats))

    def compute_mask(self, inputs, mask=None):
        return _valid_frames(inputs, mask)[:, : self.max_len]

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
