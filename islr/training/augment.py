"""Augmentations of raw recordings (T, 543, 3): the study's five (§2.5), with the
1st-place solution's ranges and probabilities where the study gives none
(`docs/recipe.md` has the table): temporal rescaling, horizontal flip, affine transform,
random temporal masking and cutout. A config with every probability at 0 (the `noaug`
run) returns the input unchanged. They work on raw MediaPipe coordinates, before the
model's preprocessing layer, so that layer sees augmented data exactly as it sees real
data. Removing a frame means setting all its coordinates to NaN: the preprocessing layer
then drops it, as it drops a frame in which nothing was detected.

Each transform is a pure function of its drawn parameters (`temporal_rescale`, `flip`,
`affine`, `remove_frames`), so tests can check it against values worked out by hand.

Two ways to apply them, with the same semantics (same transforms, order, draws and
probabilities, one set of draws per recording):

- `Augment.per_recording(frames)`: one recording at a time, composed of the functions
  above; what a `tf.data` `map` over recordings can call.
- `Augment.select` per recording, then `Augment.batch` on a batch of them: what the
  training pipeline (`islr.training.data.make_batches`) uses. A `map` over recordings
  runs some 40 small ops per recording and was the pipeline's bottleneck (about 900
  recordings/s on 2 cores); over a batch the op overhead is paid once per 64
  recordings. `select` keeps the rows the model reads (`model_rows`; all 543 when no
  rows are given), mirrored when the recording's flip coin says so. `batch_transform`
  is the batch's pure function of drawn parameters, on the recordings' frames laid end
  to end (a ragged batch, so padding costs nothing): the rescale becomes two gathers in
  time and a linear blend (the arithmetic of `tf.image.resize`), flip (x -> 1 - x) and
  affine one per-frame 2x2 map plus offset on x and y (z scaled and shifted), the
  removals a gather from a NaN frame; the blend, the map and the spread of the computed
  rows over the 543 (NaN in the rows the model does not read) run as one XLA-compiled
  pass. The result is the model's usual input: (B, T, 543, 3), NaN-padded.

Draws are keyed when a key is given (`draw_key`; `make_batches` derives one per
recording and per batch from the run's seed): stateless random ops on the key, so a
seeded run draws the same augmentations every time, however many threads `tf.data`
runs them on. Without a key they are TensorFlow's stateful random ops.
"""

from __future__ import annotations

import functools
import math

import numpy as np
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


def model_rows(landmarks, center_index: int = 17) -> list[int]:
    """The rows of the 543 that the model's preprocessing reads: its landmark subset
    and the row it centres on (`islr.models.preprocessing.Preprocess`)."""
    return sorted({int(i) for i in landmarks} | {int(center_index)})


def select_rows(frames, rows, flipped_rows, flipped):
    """One recording's frames on the computed rows: `frames[:, rows]`, or, when
    `flipped`, `frames[:, flipped_rows]` (each row's mirror, `flipped_rows[k] =
    permutation[rows[k]]`). This is the flip's row permutation; `batch_transform`
    does its x -> 1 - x."""
    import tensorflow as tf

    index = tf.where(
        tf.cast(flipped, tf.bool),
        tf.constant(flipped_rows, tf.int32),
        tf.constant(rows, tf.int32),
    )
    return tf.gather(frames, index, axis=1)


def rescaled_length(lengths, factor):
    """max(1, floor(T * factor)) per recording, as `temporal_rescale` computes it."""
    import tensorflow as tf

    t = tf.cast(lengths, tf.float32)
    return tf.maximum(1, tf.cast(t * tf.cast(factor, tf.float32), tf.int32))


def batch_transform(
    frames,
    lengths,
    factor,
    flipped,
    scale,
    shear_x,
    shear_y,
    degrees,
    shift,
    removals,
    max_len: int,
    rows=None,
):
    """`per_recording`'s transforms on a batch of recordings, for given parameters.

    frames: a RaggedTensor (B, None, R, 3), or a padded (B, L, R, 3) array, holding
    recording b's first frames (all of them, or at least those its output can read) on
    the computed rows as `select_rows` gives them: output rows `rows` (all 543 when
    None), mirrored already for the recordings that are `flipped`; lengths (B,): the
    recordings' full frame counts.
    Per recording: `factor` (B,) the temporal rescale (1.0: none), `flipped` (B,) bool,
    the affine parameters (B,) or (B, F) with F the output frames (one draw per frame;
    the identity is scale 1 and the rest 0), `removals` a list of (B, max new length)
    bool masks, each applied as `remove_frames` applies it (never all frames of a
    recording at once). Returns (B, min(max new length, max_len), 543, 3): frames past
    a recording's new length, removed frames and rows outside `rows` are NaN.

    Equal to `temporal_rescale`, then `flip`, `affine`, and `remove_frames` per mask,
    then truncation to `max_len`, up to float rounding (1e-7 on coordinates near 1):
    flip and affine are composed into one map before being applied. The work is done
    on the output frames of all recordings laid end to end, so a batch costs what its
    frames cost, not its longest recording times the batch size."""
    import tensorflow as tf

    nan = tf.constant(math.nan, tf.float32)
    lengths = tf.cast(lengths, tf.int32)
    if isinstance(frames, tf.RaggedTensor):
        ragged = frames
    else:
        frames = tf.convert_to_tensor(frames, tf.float32)
        held = tf.minimum(lengths, tf.shape(frames)[1])
        ragged = tf.RaggedTensor.from_tensor(frames, lengths=held)
    source = tf.cast(ragged.flat_values, tf.float32)  # (N, R, 3)
    starts = tf.cast(ragged.row_starts(), tf.int32)
    held = tf.cast(ragged.row_lengths(), tf.int32)
    new = rescaled_length(lengths, factor)
    longest = tf.reduce_max(new)
    out_len = tf.minimum(new, max_len)
    steps = tf.ragged.range(out_len)  # output frame j of recording b, end to end
    j = steps.flat_values
    b = tf.cast(steps.value_rowids(), tf.int32)

    # Time, as tf.image.resize (bilinear, half-pixel centres) computes it: output frame
    # j reads position p = (j + 0.5) * T / T' - 0.5 between frames floor(p) and
    # ceil(p), clamped to [0, T - 1], as lower + (upper - lower) * (p - floor(p)).
    # With T' = T, p = j exactly: the frame itself.
    ratio = tf.cast(lengths, tf.float32) / tf.cast(new, tf.float32)
    position = (tf.cast(j, tf.float32) + 0.5) * tf.gather(ratio, b) - 0.5
    below = tf.floor(position)
    last = tf.gather(tf.minimum(lengths, held), b) - 1
    lower = tf.minimum(tf.maximum(tf.cast(below, tf.int32), 0), last)
    upper = tf.minimum(tf.cast(tf.math.ceil(position), tf.int32), last)
    weight = position - below

    # Removed frames read an appended NaN frame (index N).
    valid = tf.range(longest)[None] < new[:, None]
    removed = tf.zeros_like(valid)
    for drop in removals:
        drop = tf.logical_and(tf.cast(drop, tf.bool), valid)
        keep_one = tf.reduce_any(valid & ~drop, axis=1, keepdims=True)
        removed = removed | (drop & keep_one)
    gone = tf.gather(tf.reshape(removed, [-1]), b * longest + j)
    base = tf.gather(starts, b)
    n_source = tf.shape(source)[0]
    lower = tf.where(gone, n_source, base + lower)
    upper = tf.where(gone, n_source, base + upper)
    # The output frames are padded to a multiple of FRAME_BUCKET (reading the NaN
    # frame) so that the compiled part below meets few distinct shapes.
    n_frames = tf.shape(j)[0]
    padding = -n_frames % FRAME_BUCKET
    lower = tf.pad(lower, [[0, padding]], constant_values=n_source)
    upper = tf.pad(upper, [[0, padding]], constant_values=n_source)
    source = tf.concat([source, tf.fill([1, tf.shape(source)[1], 3], nan)], axis=0)
    first = tf.gather(source, lower)
    second = tf.gather(source, upper)

    # Flip (x -> 1 - x) and affine as one map per frame: x' = ax x + ay y + x0,
    # y' = bx x + by y + y0, z' = scale z + shift, with x the flipped x. The
    # coefficients are the expansion of `affine`: scale, shear, rotation about the
    # sheared centre (0.5 + shear_y, 0.5 + shear_x), shift.
    def per_frame(v):
        v = tf.cast(tf.convert_to_tensor(v), tf.float32)
        v = v[:, None] if v.shape.rank == 1 else v  # (B, F), F = 1 or the output frames
        width = tf.shape(v)[1]
        return tf.gather(tf.reshape(v, [-1]), b * width + tf.minimum(j, width - 1))

    scale, shear_x, shear_y, shift = map(per_frame, (scale, shear_x, shear_y, shift))
    angle = per_frame(degrees) * (math.pi / 180.0)
    c, s = tf.cos(angle), tf.sin(angle)
    flipped = tf.cast(flipped, tf.bool)
    mirrored = tf.gather(flipped, b)
    sign = tf.where(mirrored, -1.0, 1.0)
    offset = tf.where(mirrored, 1.0, 0.0)
    centre_x, centre_y = 0.5 + shear_y, 0.5 + shear_x
    ax = scale * (c - s * shear_x)
    ay = scale * (c * shear_y - s)
    bx = scale * (s + c * shear_x)
    by = scale * (s * shear_y + c)
    x0 = ax * offset + centre_x - c * centre_x + s * centre_y + shift
    y0 = bx * offset + centre_y - s * centre_x - c * centre_y + shift
    coefficients = tf.stack([weight, ax * sign, ay, x0, bx * sign, by, y0, scale, shift], 1)
    coefficients = tf.pad(coefficients, [[0, padding], [0, 0]])
    frames = _blend_map_rows(None if rows is None else tuple(int(r) for r in rows))(
        first, second, coefficients
    )[:n_frames]
    frames = tf.RaggedTensor.from_row_lengths(frames, out_len).to_tensor(nan)
    return tf.ensure_shape(frames, (None, None, ROWS_PER_FRAME, 3))


# Output frames of a batch are processed in multiples of this many, so that the
# compiled function meets a few shapes (one compilation each) instead of one per batch.
FRAME_BUCKET = 512


@functools.lru_cache(maxsize=8)
def _blend_map_rows(rows: tuple[int, ...] | None):
    """The element-wise heart of `batch_transform`, compiled with XLA: the linear blend
    in time, the per-frame map of x, y and z, and the spread of the computed rows over
    the 543 (NaN elsewhere), fused into one pass over the output. TensorFlow's own
    kernels spend most of their time on the 3-float slices of the last two steps
    (measured: about 6x slower on 2 cores)."""
    import tensorflow as tf

    position = None
    if rows is not None:
        position = np.full(ROWS_PER_FRAME, len(rows), np.int32)
        position[np.asarray(rows, np.int64)] = np.arange(len(rows), dtype=np.int32)

    @tf.function(jit_compile=True)
    def run(first, second, coefficients):
        # coefficients (frames, 9): weight, ax (sign included), ay, x0, bx (sign
        # included), by, y0, scale, shift
        k = [coefficients[:, i : i + 1] for i in range(9)]
        frames = first + (second - first) * k[0][:, :, None]
        x, y, z = tf.unstack(frames, axis=-1)  # (frames, R) each
        # multiply_no_nan: a zero coefficient (no shear, no rotation) leaves the other
        # coordinate's NaN out, so an unaugmented point stays exactly itself.
        new_x = k[1] * x + tf.math.multiply_no_nan(y, k[2]) + k[3]
        new_y = tf.math.multiply_no_nan(x, k[4]) + k[5] * y + k[6]
        new_z = k[7] * z + k[8]
        frames = tf.stack([new_x, new_y, new_z], axis=-1)
        if position is None:
            return frames
        nan_row = tf.fill([tf.shape(frames)[0], 1, 3], float("nan"))
        return tf.gather(tf.concat([frames, nan_row], axis=1), position, axis=1)

    return run


# Streams of keys `make_batches` derives from a run's seed: one per recording (the flip
# coin) and one per batch (the other draws), so the two never share a key.
RECORD_STREAM, BATCH_STREAM = 1, 2


def draw_key(seed, stream: int, index):
    """The key of the `index`-th recording or batch of a stream (RECORD_STREAM,
    BATCH_STREAM) under a run's seed: a stateless-op seed of shape (2,)."""
    import tensorflow as tf

    base = tf.stack([tf.cast(seed, tf.int64), tf.constant(stream, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, tf.cast(index, tf.int64))


class _Draws:
    """Uniform draws for one recording or one batch.

    With a key (`draw_key`), each draw is a stateless op on its own sub-key (the key
    folded with the draw's number): its numbers depend on the key and the draw's place
    in the code only, never on which thread of a parallel `map` ran first. A stateful
    op would also make tf.data run the whole `map` serially under op determinism
    (`tf.config.experimental.enable_op_determinism`); stateless ones leave it parallel.
    Without a key: TensorFlow's stateful ops, seeded by the global seed."""

    def __init__(self, key=None):
        self.key = key
        self.count = 0

    def uniform(self, shape, minval=0.0, maxval=None, dtype=None):
        import tensorflow as tf

        dtype = dtype or tf.float32
        if self.key is None:
            return tf.random.uniform(shape, minval, maxval, dtype)
        # Numbered while the graph is traced: every call site has its own sub-key.
        self.count += 1
        sub_key = tf.random.experimental.stateless_fold_in(self.key, self.count)
        return tf.random.stateless_uniform(shape, sub_key, minval, maxval, dtype)


class Augment:
    """The augmentations of `config`, drawn independently for each recording.

    `per_recording(frames)` augments one (T, 543, 3) recording; calling the object does
    the same. `batch(frames, lengths, max_len)` augments a padded batch of recordings
    reduced to `source_rows` by `select` (see the module docstring); the training
    pipeline uses it. `rows`: the rows the model reads (`model_rows`); None keeps all
    543 in the batched output, otherwise the other rows are NaN there."""

    def __init__(
        self, config: AugmentConfig, face_pairs: list[tuple[int, int]] = (), rows=None
    ) -> None:
        self.config = config
        self.permutation = flip_permutation(face_pairs)
        self.rows = None if rows is None else sorted({int(r) for r in rows})
        computed = range(ROWS_PER_FRAME) if self.rows is None else self.rows
        self.computed_rows = list(computed)
        self.flipped_rows = [self.permutation[r] for r in computed]

    def __call__(self, frames):
        return self.per_recording(frames)

    def frames_needed(self, max_len: int) -> int:
        """Frames of a recording that can reach the first `max_len` after rescaling: a
        factor s reads about max_len / s input frames."""
        low = self.config.rescale_range[0] if self.config.rescale_p > 0 else 1.0
        return max_len if low >= 1.0 else math.ceil((max_len + 2) / low) + 4

    def draw_flip(self, key=None):
        """The per-recording flip coin (`select` needs it before batching); `key`
        (`draw_key`) makes it a stateless draw."""
        import tensorflow as tf

        if self.config.flip_p <= 0:
            return tf.constant(False)
        return _Draws(key).uniform([]) < self.config.flip_p

    def select(self, frames, max_len: int, flipped):
        """One recording reduced to what `batch` reads: its first `frames_needed`
        frames on the computed rows, mirrored when `flipped` (`select_rows`). Pair it
        with the recording's full length and `flipped`."""
        frames = frames[: self.frames_needed(max_len)]
        return select_rows(frames, self.computed_rows, self.flipped_rows, flipped)

    def per_recording(self, frames, key=None):
        """Augment one recording; `key` (`draw_key`) makes every draw stateless."""
        import tensorflow as tf

        config = self.config
        permutation = tf.constant(self.permutation, tf.int32)
        draws = _Draws(key)

        def coin(p):
            return draws.uniform([]) < p

        def draw_affine(frames):
            n = tf.shape(frames)[0] if config.affine_per_frame else 1
            scale, shear_x, shear_y, degrees, shift = self._affine_draws([n], draws)
            return affine(frames, scale, shear_x, shear_y, degrees, shift)

        def draw_cutout(frames):
            t = tf.shape(frames)[0]
            share = draws.uniform([], *config.cutout_range)
            length = tf.cast(tf.cast(t, tf.float32) * share, tf.int32)
            start = draws.uniform([], 0, tf.maximum(1, t - length + 1), tf.int32)
            idx = tf.range(t)
            return remove_frames(frames, (idx >= start) & (idx < start + length))

        def draw_mask(frames):
            ratio = draws.uniform([], 0.0, config.mask_max_ratio)
            return remove_frames(frames, draws.uniform([tf.shape(frames)[0]]) < ratio)

        frames = tf.convert_to_tensor(frames, tf.float32)
        if config.rescale_p > 0:
            factor = draws.uniform([], *config.rescale_range)
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

    def _affine_draws(self, shape, draws: _Draws):
        import tensorflow as tf

        config = self.config
        scale = draws.uniform(shape, *config.scale_range)
        amount = draws.uniform(shape, -config.shear, config.shear)
        along_y = draws.uniform(shape) < 0.5  # the reference zeroes shear_x half the time
        shear_x = tf.where(along_y, 0.0, amount)
        shear_y = tf.where(along_y, amount, 0.0)
        degrees = draws.uniform(shape, -config.rotate_deg, config.rotate_deg)
        shift = draws.uniform(shape, -config.shift, config.shift)
        return scale, shear_x, shear_y, degrees, shift

    def batch(self, frames, lengths, flipped, max_len: int, key=None):
        """Augment a batch: frames (B, None, R, 3) from `select`, ragged or padded,
        lengths (B,) the recordings' full frame counts, flipped (B,) their flip coins.
        Returns (B, T, 543, 3) with T <= max_len, NaN after each recording's frames.
        Draws what `per_recording` draws, per recording, then applies
        `batch_transform`; `key` (`draw_key`) makes every draw stateless."""
        import tensorflow as tf

        config = self.config
        lengths = tf.cast(lengths, tf.int32)
        batch = tf.shape(lengths)[0]
        draws = _Draws(key)

        def coin(p):
            return draws.uniform([batch]) < p

        factor = tf.ones([batch])
        if config.rescale_p > 0:
            drawn = draws.uniform([batch], *config.rescale_range)
            factor = tf.where(coin(config.rescale_p), drawn, factor)
        new = rescaled_length(lengths, factor)
        longest = tf.reduce_max(new)
        n_out = tf.minimum(longest, max_len)

        ones, zeros = tf.ones([batch, 1]), tf.zeros([batch, 1])
        params = (ones, zeros, zeros, zeros, zeros)  # the identity
        if config.affine_p > 0:
            on = coin(config.affine_p)[:, None]
            shape = [batch, n_out if config.affine_per_frame else 1]
            drawn = self._affine_draws(shape, draws)
            params = tuple(tf.where(on, d, i) for d, i in zip(drawn, params, strict=True))

        frame = tf.range(longest)[None]
        removals = []
        if config.mask_p > 0:
            ratio = draws.uniform([batch, 1], 0.0, config.mask_max_ratio)
            drop = draws.uniform([batch, longest]) < ratio
            removals.append(drop & coin(config.mask_p)[:, None])
        if config.cutout_p > 0:
            share = draws.uniform([batch], *config.cutout_range)
            length = tf.cast(tf.cast(new, tf.float32) * share, tf.int32)
            span = tf.maximum(1, new - length + 1)  # start ~ U{0, ..., span - 1}
            start = tf.cast(draws.uniform([batch]) * tf.cast(span, tf.float32), tf.int32)
            start = tf.minimum(start, span - 1)[:, None]
            block = (frame >= start) & (frame < start + length[:, None])
            removals.append(block & coin(config.cutout_p)[:, None])

        out = batch_transform(
            frames,
            lengths,
            factor,
            flipped,
            *params,
            removals,
            max_len,
            self.rows,
        )
        return out


def make_augment(
    config: AugmentConfig, face_pairs: list[tuple[int, int]] = (), rows=None
) -> Augment:
    """The augmentations of `config` (an `Augment`: call it on one recording, or hand it
    to `make_batches`, which applies it per batch). `rows`: see `Augment`."""
    return Augment(config, face_pairs, rows)
