"""Augmentations against values worked out by hand (the study's §2.5 with the 1st-place
solution's ranges), and their random draws within the configured ranges."""

import math

import numpy as np
import pytest
import tensorflow as tf

from islr.data.format import PART_SLICES, read_recording
from islr.models.landmarks import DEFAULT_LANDMARKS, FACE_MIRROR_PAIRS
from islr.training.augment import (
    AugmentConfig,
    affine,
    batch_transform,
    flip,
    flip_permutation,
    make_augment,
    model_rows,
    remove_frames,
    select_rows,
    temporal_rescale,
)

LH, RH = PART_SLICES["left_hand"], PART_SLICES["right_hand"]


@pytest.fixture(scope="module")
def frames(real_data_dir):
    return read_recording(real_data_dir / "train_landmark_files/4718/913866798.parquet")


def valid_frames(x):
    return ~np.all(np.isnan(x), axis=(1, 2))


def constant_frames(values) -> np.ndarray:
    """One frame per value, every coordinate of the frame equal to it."""
    return np.stack([np.full((543, 3), v, np.float32) for v in values])


def test_noaug_is_identity(frames):
    out = make_augment(AugmentConfig.off())(frames).numpy()
    np.testing.assert_array_equal(out, frames)


@pytest.mark.parametrize(
    ("values", "factor", "expected"),
    [
        # T = 2 -> floor(3.0) = 3 frames at times (i + 0.5) * 2/3 - 0.5 = -1/6, 1/2, 7/6,
        # clamped to [0, 1]
        ([0.2, 0.8], 1.5, [0.2, 0.5, 0.8]),
        # T = 2 -> 1 frame at time 0.5
        ([0.2, 0.8], 0.5, [0.5]),
        # T = 4 -> 5 frames at times 0.8 i - 0.1: -0.1, 0.7, 1.5, 2.3, 3.1
        ([0.0, 1.0, 2.0, 3.0], 1.25, [0.0, 0.7, 1.5, 2.3, 3.0]),
        # T = 3, factor 0.9 -> floor(2.7) = 2 frames at times 1.5 i + 0.25: 0.25, 1.75
        ([0.0, 1.0, 2.0], 0.9, [0.25, 1.75]),
    ],
)
def test_temporal_rescale_by_hand(values, factor, expected):
    out = temporal_rescale(tf.constant(constant_frames(values)), factor).numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, constant_frames(expected), atol=1e-6)


def test_flip_by_hand_with_the_trainers_mirror_pairs():
    # every row carries its own number: x = row / 1000, y = row / 2000, z = row / 3000
    rows = np.arange(543, dtype=np.float32)
    frame = np.stack([rows / 1000, rows / 2000, rows / 3000], axis=-1)[None]
    out = flip(tf.constant(frame), flip_permutation(list(FACE_MIRROR_PAIRS))).numpy()[0]

    def expect(row, source):
        return [1 - source / 1000, source / 2000, source / 3000]

    cases = {
        468: 522,  # left hand wrist <-> right hand wrist
        542: 488,  # right hand 20 <-> left hand 20
        61: 291,  # lip corners
        33: 263,  # outer eye corners
        98: 327,  # nose wings
        500: 501,  # pose: left and right shoulder (pose 11 <-> 12)
        513: 512,  # pose: hips (24 <-> 23)
        1: 1,  # nose tip on the midline stays
        17: 17,  # lower lip centre stays (the centring landmark)
        100: 100,  # a face point with no listed mirror stays
    }
    for row, source in cases.items():
        np.testing.assert_allclose(out[row], expect(row, source), atol=1e-6, err_msg=str(row))
    # the reference's own swap lists (flip_lr) are all swapped here
    right_lip = [314, 405, 321, 375, 291, 409, 270, 269, 267, 317, 402, 318, 324, 308, 415]
    reference = {
        "lips": (
            [84, 181, 91, 146, 61, 185, 40, 39, 37, 87, 178, 88, 95, 78, 191, 80, 81, 82],
            [*right_lip, 310, 311, 312],
        ),
        "pose": ([513, 505, 503, 501], [512, 504, 502, 500]),
        "eyes": (
            [263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398],
            [33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173],
        ),
        "nose": ([98], [327]),
        "hands": (list(range(468, 489)), list(range(522, 543))),
    }
    perm = flip_permutation(list(FACE_MIRROR_PAIRS))
    for name, (left, right) in reference.items():
        for a, b in zip(left, right, strict=True):
            assert perm[a] == b and perm[b] == a, f"{name}: {a} <-> {b}"


def test_affine_by_hand():
    # frame 0: scale 2, shear along x by y (shear_y = 0.1), 90 degrees, shift 0.05;
    # frame 1: the identity
    point = np.array([0.6, 0.5, 0.1], np.float32)
    two = np.broadcast_to(point, (2, 543, 3)).copy()
    out = affine(
        tf.constant(two),
        scale=[2.0, 1.0],
        shear_x=[0.0, 0.0],
        shear_y=[0.1, 0.0],
        degrees=[90.0, 0.0],
        shift=[0.05, 0.0],
    ).numpy()
    # scale: (1.2, 1.0, 0.2); shear: x = 1.2 + 1.0 * 0.1 = 1.3, y = 1.0; centre
    # (0.5 + 0.1, 0.5); rotate (0.7, 0.5) by 90: (-0.5, 0.7) + centre = (0.1, 1.2);
    # shift every coordinate by 0.05
    np.testing.assert_allclose(out[0, 0], [0.15, 1.25, 0.25], atol=1e-6)
    np.testing.assert_allclose(out[1], two[1], atol=1e-6)
    # shear along y by x (shear_x = 0.2), no rotation: y = 0.6 * 0.2 + 0.5 = 0.62
    sheared = affine(tf.constant(two[:1]), 1.0, 0.2, 0.0, 0.0, 0.0).numpy()[0, 0]
    np.testing.assert_allclose(sheared, [0.6, 0.62, 0.1], atol=1e-6)
    # -30 degrees about (0.5, 0.5): (0.1, 0) -> (0.1 cos 30, -0.1 sin 30) ... with the
    # reference's row-vector convention [x, y] @ [[c, s], [-s, c]]
    rot = affine(tf.constant(two[:1]), 1.0, 0.0, 0.0, -30.0, 0.0).numpy()[0, 0]
    c, s = math.cos(math.radians(-30)), math.sin(math.radians(-30))
    np.testing.assert_allclose(rot, [0.5 + 0.1 * c, 0.5 + 0.1 * s, 0.1], atol=1e-6)


def test_remove_frames_marks_them_missing_but_never_all():
    x = tf.constant(constant_frames([0.1, 0.2, 0.3, 0.4]))
    out = remove_frames(x, tf.constant([False, True, True, False])).numpy()
    np.testing.assert_array_equal(valid_frames(out), [True, False, False, True])
    np.testing.assert_array_equal(out[[0, 3]], x.numpy()[[0, 3]])
    kept = remove_frames(x, tf.constant([True] * 4)).numpy()
    np.testing.assert_array_equal(kept, x.numpy())


def _draws(config: AugmentConfig, rec: np.ndarray, n: int = 12) -> list[np.ndarray]:
    tf.random.set_seed(7)
    augment = make_augment(config)
    return [augment(rec).numpy() for _ in range(n)]


def test_affine_is_drawn_per_frame_or_per_recording():
    rec = constant_frames([0.4] * 6)
    rec[:, :, 1] = np.linspace(0.3, 0.7, 543)[None]  # points differ within a frame
    only_affine = AugmentConfig.off().model_copy(update={"affine_p": 1.0})
    for out in _draws(only_affine, rec, 4):  # the study: each frame its own transform
        assert not np.allclose(out[0], out[1])
    per_recording = only_affine.model_copy(update={"affine_per_frame": False})
    for out in _draws(per_recording, rec, 4):
        np.testing.assert_allclose(out, np.broadcast_to(out[0], out.shape), atol=1e-6)
        assert not np.allclose(out[0], rec[0])


def test_draws_stay_within_the_configured_ranges(frames):
    t = len(frames)
    rescale = AugmentConfig.off().model_copy(update={"rescale_p": 1.0})
    lengths = {len(out) for out in _draws(rescale, frames, 20)}
    assert min(lengths) >= math.floor(0.5 * t) and max(lengths) <= math.floor(1.5 * t)
    assert len(lengths) > 3

    cutout = AugmentConfig.off().model_copy(update={"cutout_p": 1.0})
    rec = constant_frames([0.5] * 50)
    for out in _draws(cutout, rec):
        gone = np.flatnonzero(~valid_frames(out))
        # one contiguous block of floor(50 * U(0.2, 0.4)) = 10..19 frames
        assert 10 <= len(gone) <= 20 and np.all(np.diff(gone) == 1)

    angle = AugmentConfig.off().model_copy(
        update={"affine_p": 1.0, "scale_range": (1.0, 1.0), "shear": 0.0, "shift": 0.0}
    )
    probe = constant_frames([0.5] * 40)
    probe[:, 0, :2] = [0.6, 0.5]  # row 0 at distance 0.1 from the centre, angle 0
    for out in _draws(angle, probe, 3):
        deg = np.degrees(np.arctan2(out[:, 0, 1] - 0.5, out[:, 0, 0] - 0.5))
        assert np.abs(deg).max() <= 30 + 1e-3 and np.abs(deg).max() > 10


def test_everything_on_in_tf_data(frames):
    config = AugmentConfig(rescale_p=1, mask_p=1, flip_p=1, affine_p=1, cutout_p=1)
    augment = make_augment(config, list(FACE_MIRROR_PAIRS))
    ds = tf.data.Dataset.from_tensors(frames).repeat(8).map(augment)
    outs = [x.numpy() for x in ds]
    for out in outs:
        assert out.dtype == np.float32 and out.shape[1:] == (543, 3)
        assert valid_frames(out).any()
    assert any(out.shape[0] != len(frames) for out in outs)
    assert not all(np.array_equal(outs[0], o, equal_nan=True) for o in outs[1:])


# --- the batched path: the same hand-worked values through `batch_transform` and
# `Augment.batch`, which the training pipeline uses ------------------------------------

PERMUTATION = flip_permutation(list(FACE_MIRROR_PAIRS))


def pad_batch(recordings) -> tuple[np.ndarray, list[int]]:
    """Recordings padded at the end with NaN frames, as a padded batch holds them."""
    longest = max(len(r) for r in recordings)
    out = np.full((len(recordings), longest, 543, 3), np.nan, np.float32)
    for i, r in enumerate(recordings):
        out[i, : len(r)] = r
    return out, [len(r) for r in recordings]


def transform(frames, lengths, *, factor=None, flipped=None, affine_params=None,
              removals=(), max_len=384, rows=None):  # fmt: skip
    """`select_rows` per recording, then `batch_transform`, with every parameter the
    identity unless given."""
    b = len(lengths)
    flipped = flipped if flipped is not None else [False] * b
    computed = list(range(543)) if rows is None else rows
    mirrored = [PERMUTATION[r] for r in computed]
    selected = np.stack(
        [
            select_rows(f, computed, mirrored, m).numpy()
            for f, m in zip(frames, flipped, strict=True)
        ]
    )
    scale, shear_x, shear_y, degrees, shift = affine_params or ([1.0] * b, *[[0.0] * b] * 4)
    return batch_transform(
        selected,
        lengths,
        factor if factor is not None else [1.0] * b,
        flipped,
        scale,
        shear_x,
        shear_y,
        degrees,
        shift,
        list(removals),
        max_len,
        rows,
    ).numpy()


def test_batched_temporal_rescale_by_hand():
    # the four hand-worked cases of test_temporal_rescale_by_hand in one padded batch
    cases = [
        ([0.2, 0.8], 1.5, [0.2, 0.5, 0.8]),
        ([0.2, 0.8], 0.5, [0.5]),
        ([0.0, 1.0, 2.0, 3.0], 1.25, [0.0, 0.7, 1.5, 2.3, 3.0]),
        ([0.0, 1.0, 2.0], 0.9, [0.25, 1.75]),
    ]
    frames, lengths = pad_batch([constant_frames(v) for v, _, _ in cases])
    out = transform(frames, lengths, factor=[f for _, f, _ in cases])
    assert out.shape == (4, 5, 543, 3)  # the longest result: 5 frames
    for row, (_, _, expected) in zip(out, cases, strict=True):
        np.testing.assert_allclose(row[: len(expected)], constant_frames(expected), atol=1e-6)
        assert np.isnan(row[len(expected) :]).all()  # padding after the new length
    # factor 1: the recording itself, bit for bit, NaN parts included
    rec = constant_frames([0.1, 0.2, 0.3])
    rec[1, 5:9] = np.nan
    same = transform(*pad_batch([rec]))[0]
    np.testing.assert_array_equal(same, rec)


def test_batched_rescale_then_truncate_to_max_len():
    # T = 4 at factor 1.25: 5 frames (0, 0.7, 1.5, 2.3, 3), of which max_len = 3 stay
    frames, lengths = pad_batch([constant_frames([0.0, 1.0, 2.0, 3.0])])
    out = transform(frames, lengths, factor=[1.25], max_len=3)
    np.testing.assert_allclose(out[0], constant_frames([0.0, 0.7, 1.5]), atol=1e-6)


def test_batched_flip_by_hand():
    rows = np.arange(543, dtype=np.float32)
    frame = np.stack([rows / 1000, rows / 2000, rows / 3000], axis=-1)[None]
    out = transform(*pad_batch([frame, frame]), flipped=[True, False])
    for row, source in {468: 522, 542: 488, 61: 291, 33: 263, 98: 327, 500: 501, 1: 1}.items():
        expected = [1 - source / 1000, source / 2000, source / 3000]
        np.testing.assert_allclose(out[0, 0, row], expected, atol=1e-6, err_msg=str(row))
    np.testing.assert_array_equal(out[1], frame)  # not flipped: unchanged


def test_batched_affine_by_hand():
    point = np.array([0.6, 0.5, 0.1], np.float32)
    two = np.broadcast_to(point, (2, 543, 3)).copy()
    # per frame: frame 0 scale 2, shear_y 0.1, 90 degrees, shift 0.05; frame 1 identity
    out = transform(
        *pad_batch([two]),
        affine_params=([[2.0, 1.0]], [[0.0, 0.0]], [[0.1, 0.0]], [[90.0, 0.0]], [[0.05, 0.0]]),
    )[0]
    np.testing.assert_allclose(out[0, 0], [0.15, 1.25, 0.25], atol=1e-6)
    np.testing.assert_allclose(out[1], two[1], atol=1e-6)
    # per recording, three recordings: shear_x 0.2; -30 degrees; flip then 90 degrees
    c, s = math.cos(math.radians(-30)), math.sin(math.radians(-30))
    out = transform(
        *pad_batch([two[:1]] * 3),
        flipped=[False, False, True],
        affine_params=([1.0] * 3, [0.2, 0.0, 0.0], [0.0] * 3, [0.0, -30.0, 90.0], [0.0] * 3),
    )
    np.testing.assert_allclose(out[0, 0, 0], [0.6, 0.62, 0.1], atol=1e-6)
    np.testing.assert_allclose(out[1, 0, 0], [0.5 + 0.1 * c, 0.5 + 0.1 * s, 0.1], atol=1e-6)
    # flipped: x = 1 - 0.6 = 0.4; (0.4, 0.5) - (0.5, 0.5) = (-0.1, 0) turned by 90 degrees
    # is (0, -0.1): (0.5, 0.4)
    np.testing.assert_allclose(out[2, 0, 0], [0.5, 0.4, 0.1], atol=1e-6)


def test_batched_affine_keeps_a_missing_coordinate_to_itself():
    # an unaugmented point with y missing keeps its x (no 0 * NaN from an idle shear)
    rec = constant_frames([0.3, 0.3])
    rec[:, 0, 1] = np.nan
    out = transform(*pad_batch([rec, rec]), flipped=[False, True])
    np.testing.assert_array_equal(out[0], rec)
    np.testing.assert_allclose(out[1, :, PERMUTATION.index(0), 0], [0.7, 0.7], atol=1e-7)


def test_batched_removals_mark_frames_missing_but_never_all():
    x = constant_frames([0.1, 0.2, 0.3, 0.4])
    some = [[False, True, True, False]]
    out = transform(*pad_batch([x]), removals=[some])[0]
    np.testing.assert_array_equal(valid_frames(out), [True, False, False, True])
    np.testing.assert_array_equal(out[[0, 3]], x[[0, 3]])
    np.testing.assert_array_equal(transform(*pad_batch([x]), removals=[[[True] * 4]])[0], x)
    # each mask on its own: the second may remove what the first left, as remove_frames
    # applied twice does
    out = transform(
        *pad_batch([x]), removals=[[[True, True, False, False]], [[False, False, True, True]]]
    )
    assert not valid_frames(out[0]).any()
    # a shorter recording: its padding counts neither as kept nor as removed
    out = transform(*pad_batch([x, x[:2]]), removals=[[[False] * 4, [True, True, False, False]]])
    np.testing.assert_array_equal(out[1, :2], x[:2])


def test_batched_on_model_rows_leaves_the_rest_missing():
    rows = model_rows(DEFAULT_LANDMARKS)
    assert rows == sorted(DEFAULT_LANDMARKS)  # row 17, the centre, is one of the lips
    rng = np.random.default_rng(0)
    rec = rng.random((6, 543, 3)).astype(np.float32)
    frames, lengths = pad_batch([rec, rec])
    params = dict(
        factor=[1.3, 0.8],
        flipped=[True, False],
        affine_params=([1.1, 0.9], [0.1, 0.0], [0.0, -0.1], [20.0, -5.0], [0.02, -0.03]),
    )
    full = transform(frames, lengths, **params)
    subset = transform(frames, lengths, rows=rows, **params)
    # the same values (compiled per shape: rounding may differ in the last bit)
    np.testing.assert_allclose(subset[:, :, rows], full[:, :, rows], atol=1e-6)
    others = np.setdiff1d(np.arange(543), rows)
    assert np.isnan(subset[:, :, others]).all()


def test_augment_batch_draws_stay_within_the_configured_ranges():
    tf.random.set_seed(3)
    t, n = 50, 32
    frames, lengths = pad_batch([constant_frames([0.5] * t)] * n)
    rescale = make_augment(AugmentConfig.off().model_copy(update={"rescale_p": 1.0}))
    out = rescale.batch(frames, lengths, [False] * n, 384).numpy()
    new = valid_frames_per_row = [int(valid_frames(o).sum()) for o in out]
    assert min(new) >= math.floor(0.5 * t) and max(new) <= math.floor(1.5 * t)
    assert len(set(valid_frames_per_row)) > 3

    cutout = make_augment(AugmentConfig.off().model_copy(update={"cutout_p": 1.0}))
    for o in cutout.batch(frames, lengths, [False] * n, 384).numpy():
        gone = np.flatnonzero(~valid_frames(o))
        assert 10 <= len(gone) <= 20 and np.all(np.diff(gone) == 1)

    angle = AugmentConfig.off().model_copy(
        update={"affine_p": 1.0, "scale_range": (1.0, 1.0), "shear": 0.0, "shift": 0.0}
    )
    probe = constant_frames([0.5] * 40)
    probe[:, 0, :2] = [0.6, 0.5]
    out = make_augment(angle).batch(*pad_batch([probe] * 3), [False] * 3, 384).numpy()
    deg = np.degrees(np.arctan2(out[:, :, 0, 1] - 0.5, out[:, :, 0, 0] - 0.5))
    assert np.abs(deg).max() <= 30 + 1e-3 and np.abs(deg).max() > 10
    assert np.unique(np.round(deg[0], 4)).size > 30  # one draw per frame

    per_recording = angle.model_copy(update={"affine_per_frame": False})
    out = make_augment(per_recording).batch(*pad_batch([probe] * 3), [False] * 3, 384).numpy()
    for o in out:
        np.testing.assert_allclose(o, np.broadcast_to(o[0], o.shape), atol=1e-6)


def test_augment_batch_probabilities_are_per_recording():
    tf.random.set_seed(11)
    n = 400
    frames, lengths = pad_batch([constant_frames([0.3] * 4)] * n)
    # 400 coins at p = 0.5: 200 expected, standard deviation 10
    flip_half = make_augment(AugmentConfig.off().model_copy(update={"flip_p": 0.5}))
    assert 150 < sum(bool(flip_half.draw_flip()) for _ in range(n)) < 250
    assert not any(bool(make_augment(AugmentConfig.off()).draw_flip()) for _ in range(20))
    half = AugmentConfig.off().model_copy(
        update={"affine_p": 0.5, "affine_per_frame": False, "cutout_p": 0.5}
    )
    out = make_augment(half).batch(frames, lengths, [False] * n, 384).numpy()
    # removed frames (NaN) count as unmoved
    moved = ~np.isclose(np.nan_to_num(out[:, :, 1, 1], nan=0.3), 0.3).all(axis=1)
    cut = ~np.stack([valid_frames(o) for o in out]).all(axis=1)
    assert 150 < moved.sum() < 250 and 150 < cut.sum() < 250
    # nothing on: the batch itself, bit for bit
    off = make_augment(AugmentConfig.off()).batch(frames, lengths, [False] * n, 384).numpy()
    np.testing.assert_array_equal(off, frames)
