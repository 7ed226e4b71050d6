"""Augmentations of one raw recording (T, 543, 3), run in tf.data before batching.

Each augmentation has its own probability and range (`AugmentConfig`); a config with
every probability at 0 (the `noaug` run) returns the input unchanged. They work on raw
MediaPipe coordinates, before the model's preprocessing layer, so that layer sees
augmented data exactly as it sees real data. Removing a frame means setting all its
coordinates to NaN: the preprocessing layer then treats it as absent (masked).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator

from islr.data.format import PART_SLICES


class AugmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # temporal rescale by a factor U(lo, hi), linear interpolation between frames
    rescale_p: float = Field(0.8, ge=0, le=1)
    rescale_range: tuple[float, float] = (0.5, 1.5)
    # random temporal masking: each frame removed with probability U(0, max)
    mask_p: float = Field(0.5, ge=0, le=1)
    mask_max_ratio: float = Field(0.2, ge=0, lt=1)
    # horizontal flip: x -> 1 - x, left and right hands (and pose sides) swapped
    flip_p: float = Field(0.5, ge=0, le=1)
    # one affine transform of x, y per recording (every frame): rotation, shift,
    # scale, shear around the image centre
    affine_p: float = Field(0.75, ge=0, le=1)
    rotate_deg: float = Field(15.0, ge=0)
    shift: float = Field(0.1, ge=0)
    scale_range: tuple[float, float] = (0.8, 1.2)
    shear: float = Field(0.15, ge=0)
    # cutout: a contiguous block of up to `cutout_max_ratio` of the frames removed
    cutout_p: float = Field(0.5, ge=0, le=1)
    cutout_max_ratio: float = Field(0.2, ge=0, lt=1)

    @field_validator("rescale_range", "scale_range")
    @classmethod
    def _low_then_high(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 < low <= high:
            raise ValueError(f"expected 0 < low <= high, got ({low}, {high})")
        return value

    @classmethod
    def off(cls) -> AugmentConfig:
        """Every augmentation disabled (the `noaug` run)."""
        return cls(rescale_p=0, mask_p=0, flip_p=0, affine_p=0, cutout_p=0)


# Pose landmarks of the left and right side of the body (MediaPipe Pose topology).
_POSE_PAIRS = [
    (1, 4),
    (2, 5),
    (3, 6),
    (7, 8),
    (9, 10),
    (11, 12),
    (13, 14),
    (15, 16),
    (17, 18),
    (19, 20),
    (21, 22),
    (23, 24),
    (25, 26),
    (27, 28),
    (29, 30),
    (31, 32),
]


def flip_permutation(face_pairs: list[tuple[int, int]] = ()) -> list[int]:
    """Row permutation of the 543 rows that mirrors a frame left-right: hands swap, pose
    sides swap, and the given face-mesh pairs (e.g. eyes and lips) swap."""
    perm = list(range(543))
    lh, rh, pose = PART_SLICES["left_hand"], PART_SLICES["right_hand"], PART_SLICES["pose"]
    for i in range(21):
        perm[lh.start + i], perm[rh.start + i] = rh.start + i, lh.start + i
    for a, b in _POSE_PAIRS:
        perm[pose.start + a], perm[pose.start + b] = pose.start + b, pose.start + a
    for a, b in face_pairs:
        perm[a], perm[b] = b, a
    return perm


def _coin(p: float, seed=None):
    import tensorflow as tf

    return tf.random.uniform([], seed=seed) < p


def temporal_rescale(frames, factor):
    """Resample to round(T * factor) frames (at least 1) by linear interpolation."""
    import tensorflow as tf

    t = tf.shape(frames)[0]
    new_t = tf.maximum(1, tf.cast(tf.round(tf.cast(t, tf.float32) * factor), tf.int32))
    pos = tf.linspace(0.0, tf.cast(t - 1, tf.float32), new_t)
    lo = tf.cast(tf.floor(pos), tf.int32)
    hi = tf.minimum(lo + 1, t - 1)
    w = (pos - tf.cast(lo, tf.float32))[:, None, None]
    a, b = tf.gather(frames, lo), tf.gather(frames, hi)
    # where the next frame lacks a part, keep the nearer frame's value rather than NaN
    return tf.where(tf.math.is_nan(b), a, a * (1.0 - w) + b * w)


def remove_frames(frames, drop):
    """Set the frames where `drop` is true to NaN (absent), keeping at least one."""
    import tensorflow as tf

    drop = tf.logical_and(drop, tf.reduce_sum(tf.cast(~drop, tf.int32)) > 0)
    return tf.where(drop[:, None, None], tf.constant(math.nan, frames.dtype), frames)


def flip(frames, permutation):
    import tensorflow as tf

    flipped = tf.gather(frames, permutation, axis=1)
    x = 1.0 - flipped[..., :1]
    return tf.concat([x, flipped[..., 1:]], axis=-1)


def affine(frames, angle, shift_xy, scale, shear):
    """Rotate, shear, scale (about the image centre) and shift x, y of every frame."""
    import tensorflow as tf

    xy = frames[..., :2] - 0.5
    c, s = tf.cos(angle), tf.sin(angle)
    m = tf.stack([[c, -s], [s, c]]) @ tf.stack([[1.0, shear], [0.0, 1.0]]) * scale
    xy = tf.einsum("tnk,jk->tnj", xy, m) + 0.5 + shift_xy
    return tf.concat([xy, frames[..., 2:]], axis=-1)


def make_augment(config: AugmentConfig, face_pairs: list[tuple[int, int]] = ()):
    """Return `augment(frames) -> frames` applying each augmentation with its probability."""
    import tensorflow as tf

    permutation = tf.constant(flip_permutation(face_pairs), tf.int32)

    def augment(frames):
        frames = tf.convert_to_tensor(frames, tf.float32)
        if config.rescale_p > 0:
            lo, hi = config.rescale_range
            factor = tf.random.uniform([], lo, hi)
            frames = tf.cond(
                _coin(config.rescale_p), lambda: temporal_rescale(frames, factor), lambda: frames
            )
        if config.flip_p > 0:
            frames = tf.cond(
                _coin(config.flip_p), lambda: flip(frames, permutation), lambda: frames
            )
        if config.affine_p > 0:
            angle = tf.random.uniform([], -1.0, 1.0) * config.rotate_deg * math.pi / 180
            shift = tf.random.uniform([2], -config.shift, config.shift)
            scale = tf.random.uniform([], *config.scale_range)
            shear = tf.random.uniform([], -config.shear, config.shear)
            frames = tf.cond(
                _coin(config.affine_p),
                lambda: affine(frames, angle, shift, scale, shear),
                lambda: frames,
            )
        t = tf.shape(frames)[0]
        if config.mask_p > 0:
            ratio = tf.random.uniform([], 0.0, config.mask_max_ratio)
            drop = tf.random.uniform([t]) < ratio
            frames = tf.cond(
                _coin(config.mask_p), lambda: remove_frames(frames, drop), lambda: frames
            )
        if config.cutout_p > 0:
            length = tf.cast(
                tf.cast(t, tf.float32) * tf.random.uniform([], 0.0, config.cutout_max_ratio),
                tf.int32,
            )
            start = tf.random.uniform([], 0, tf.maximum(1, t - length + 1), tf.int32)
            idx = tf.range(t)
            block = (idx >= start) & (idx < start + length)
            frames = tf.cond(
                _coin(config.cutout_p), lambda: remove_frames(frames, block), lambda: frames
            )
        return frames

    return augment
