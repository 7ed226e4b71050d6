"""Augmentations of one raw recording (T, 543, 3), run in tf.data before batching.

The study's five (§2.5), with the 1st-place solution's ranges and probabilities where the
study gives none (`docs/recipe.md` has the table): temporal rescaling, horizontal flip,
affine transform, random temporal masking and cutout. A config with every probability at
0 (the `noaug` run) returns the input unchanged. They work on raw MediaPipe coordinates,
before the model's preprocessing layer, so that layer sees augmented data exactly as it
sees real data. Removing a frame means setting all its coordinates to NaN: the
preprocessing layer then drops it, as it drops a frame in which nothing was detected.

Each transform is a pure function of its drawn parameters (`temporal_rescale`, `flip`,
`affine`, `remove_frames`), so tests can check it against values worked out by hand;
`make_augment` only draws the parameters and decides, per recording, which to apply.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator

from islr.data.format import PART_SLICES, ROWS_PER_FRAME
from islr.models.landmarks import POSE_MIRROR_PAIRS


class AugmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # temporal rescale to floor(T * s) frames, s ~ U(lo, hi), linear interpolation
    rescale_p: float = Field(0.8, ge=0, le=1)
    rescale_range: tuple[float, float] = (0.5, 1.5)
    # random temporal masking: each frame removed with probability U(0, max)
    mask_p: float = Field(0.5, ge=0, le=1)
    mask_max_ratio: float = Field(0.2, ge=0, lt=1)
    # horizontal flip: x -> 1 - x, left and right hands (and face and pose sides) swapped
    flip_p: float = Field(0.5, ge=0, le=1)
    # affine transform: scale (x, y, z, about the origin), shear along x or y (one of
    # them, even odds), rotation about the image centre, one shift added to x, y and z;
    # drawn for every frame independently (the study), or once per recording
    affine_p: float = Field(0.75, ge=0, le=1)
    affine_per_frame: bool = True
    scale_range: tuple[float, float] = (0.8, 1.2)
    shear: float = Field(0.15, ge=0)
    rotate_deg: float = Field(30.0, ge=0, le=180)
    shift: float = Field(0.1, ge=0)
    # cutout: a contiguous block of floor(T * U(lo, hi)) frames removed
    cutout_p: float = Field(0.5, ge=0, le=1)
    cutout_range: tuple[float, float] = (0.2, 0.4)

    @field_validator("rescale_range", "scale_range")
    @classmethod
    def _low_then_high(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 < low <= high:
            raise ValueError(f"expected 0 < low <= high, got ({low}, {high})")
        return value

    @field_validator("cutout_range")
    @classmethod
    def _share_of_frames(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 <= low <= high < 1:
            raise ValueError(f"expected 0 <= low <= high < 1, got ({low}, {high})")
        return value

    @classmethod
    def off(cls) -> AugmentConfig:
        """Every augmentation disabled (the `noaug` run)."""
        return cls(rescale_p=0, mask_p=0, flip_p=0, affine_p=0, cutout_p=0)


def flip_permutation(face_pairs: list[tuple[int, int]] = ()) -> list[int]:
    """Row permutation of the 543 rows that mirrors a frame left-right: hands swap, pose
    sides swap, and the given face-mesh pairs (e.g. eyes and lips) swap."""
    perm = list(range(ROWS_PER_FRAME))
    lh, rh, pose = PART_SLICES["left_hand"], PART_SLICES["right_hand"], PART_SLICES["pose"]
    for i in range(21):
        perm[lh.start + i], perm[rh.start + i] = rh.start + i, lh.start + i
    for a, b in POSE_MIRROR_PAIRS:
        perm[pose.start + a], perm[pose.start + b] = pose.start + b, pose.start + a
    for a, b in face_pairs:
        perm[a], perm[b] = b, a
    return perm


def temporal_rescale(frames, factor):
    """Resample to max(1, floor(T * factor)) frames by linear interpolation in time.

    `tf.image.resize` (bilinear, half-pixel centres) on the (T, 543) "image", the
    reference's linear branch: output frame i reads time (i + 0.5) * T / T' - 0.5,
    clamped to [0, T - 1]. A part missing in either neighbour is missing (NaN) there."""
    import tensorflow as tf

    t = tf.shape(frames)[0]
    new_t = tf.maximum(1, tf.cast(tf.cast(t, tf.float32) * factor, tf.int32))
    return tf.image.resize(frames, (new_t, ROWS_PER_FRAME), "bilinear")


def remove_frames(frames, drop):
    """Set the frames where `drop` is true to NaN (absent), keeping at least one."""
    import tensorflow as tf

    drop = tf.logical_and(drop, tf.reduce_sum(tf.cast(~drop, tf.int32)) > 0)
    return tf.where(drop[:, None, None], tf.constant(math.nan, frames.dtype), frames)


def flip(frames, permutation):
    """Mirror left-right: x -> 1 - x, rows permuted by `permutation` (see above)."""
    import tensorflow as tf

    flipped = tf.gather(frames, permutation, axis=1)
    x = 1.0 - flipped[..., :1]
    return tf.concat([x, flipped[..., 1:]], axis=-1)


def affine(frames, scale, shear_x, shear_y, degrees, shift):
    """The reference's `spatial_random_affine` with given parameters, each a scalar or
    one value per frame (shape (T,)):

        xyz <- scale * xyz
        [x, y] <- [x, y] @ [[1, shear_x], [shear_y, 1]]      centre c = (0.5 + shear_y,
        [x, y] <- ([x, y] - c) @ [[cos a, sin a],                        0.5 + shear_x)
                                  [-sin a, cos a]] + c        a = degrees * pi / 180
        xyz <- xyz + shift
    """
    import tensorflow as tf

    def per_frame(v):
        v = tf.cast(tf.convert_to_tensor(v), frames.dtype)
        return tf.reshape(v, (-1, 1)) if v.shape.rank else v  # (T, 1) against (T, 543)

    scale, shear_x, shear_y, shift = map(per_frame, (scale, shear_x, shear_y, shift))
    angle = per_frame(degrees) * (math.pi / 180.0)
    x, y, z = tf.unstack(frames * scale[..., None], axis=-1)
    x, y = x + y * shear_y, x * shear_x + y
    cx, cy = 0.5 + shear_y, 0.5 + shear_x
    c, s = tf.cos(angle), tf.sin(angle)
    x, y = x - cx, y - cy
    x, y = x * c - y * s + cx, x * s + y * c + cy
    return tf.stack([x, y, z], axis=-1) + shift[..., None]


def make_augment(config: AugmentConfig, face_pairs: list[tuple[int, int]] = ()):
    """Return `augment(frames) -> frames` applying each augmentation with its probability."""
    import tensorflow as tf

    permutation = tf.constant(flip_permutation(face_pairs), tf.int32)

    def coin(p):
        return tf.random.uniform([]) < p

    def draw_affine(frames):
        n = tf.shape(frames)[0] if config.affine_per_frame else 1
        scale = tf.random.uniform([n], *config.scale_range)
        amount = tf.random.uniform([n], -config.shear, config.shear)
        along_y = tf.random.uniform([n]) < 0.5  # the reference zeroes shear_x half the time
        shear_x = tf.where(along_y, 0.0, amount)
        shear_y = tf.where(along_y, amount, 0.0)
        degrees = tf.random.uniform([n], -config.rotate_deg, config.rotate_deg)
        shift = tf.random.uniform([n], -config.shift, config.shift)
        return affine(frames, scale, shear_x, shear_y, degrees, shift)

    def draw_cutout(frames):
        t = tf.shape(frames)[0]
        share = tf.random.uniform([], *config.cutout_range)
        length = tf.cast(tf.cast(t, tf.float32) * share, tf.int32)
        start = tf.random.uniform([], 0, tf.maximum(1, t - length + 1), tf.int32)
        idx = tf.range(t)
        return remove_frames(frames, (idx >= start) & (idx < start + length))

    def draw_mask(frames):
        ratio = tf.random.uniform([], 0.0, config.mask_max_ratio)
        return remove_frames(frames, tf.random.uniform([tf.shape(frames)[0]]) < ratio)

    def augment(frames):
        frames = tf.convert_to_tensor(frames, tf.float32)
        if config.rescale_p > 0:
            factor = tf.random.uniform([], *config.rescale_range)
            frames = tf.cond(
                coin(config.rescale_p), lambda: temporal_rescale(frames, factor), lambda: frames
            )
        if config.flip_p > 0:
            frames = tf.cond(coin(config.flip_p), lambda: flip(frames, permutation), lambda: frames)
        if config.affine_p > 0:
            frames = tf.cond(coin(config.affine_p), lambda: draw_affine(frames), lambda: frames)
        if config.mask_p > 0:
            frames = tf.cond(coin(config.mask_p), lambda: draw_mask(frames), lambda: frames)
        if config.cutout_p > 0:
            frames = tf.cond(coin(config.cutout_p), lambda: draw_cutout(frames), lambda: frames)
        return tf.ensure_shape(frames, (None, ROWS_PER_FRAME, 3))

    return augment
