"""The in-graph preprocessing layer and the landmark subsets it uses."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from islr.data.format import PART_SLICES, ROWS_PER_FRAME, read_recording
from islr.models.landmarks import (
    DEFAULT_LANDMARKS,
    DEFAULT_MIRROR_PERMUTATION,
    FACE_MIDLINE,
    LEFT_EYE,
    LEFT_HAND,
    LIP,
    LIP_MIRROR_PAIRS,
    NOSE,
    RIGHT_EYE,
    RIGHT_HAND,
    mirror_permutation,
)
from islr.models.preprocessing import Preprocess

REAL = "tests/data/asl-signs-real/train_landmark_files/2044/3902070209.parquet"
P = len(DEFAULT_LANDMARKS)
CENTRE_POS = DEFAULT_LANDMARKS.index(17)


def _random_recording(n_frames: int, seed: int = 0, missing: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 0.8, (n_frames, ROWS_PER_FRAME, 3)).astype(np.float32)
    x[rng.random((n_frames, ROWS_PER_FRAME)) < missing] = np.nan
    return x


def _pad(rec: np.ndarray, n_frames: int) -> np.ndarray:
    pad = np.full((n_frames - len(rec), ROWS_PER_FRAME, 3), np.nan, np.float32)
    return np.concatenate([rec, pad])


def _reference(rec: np.ndarray, landmarks=DEFAULT_LANDMARKS, max_len=384, centre=17):
    """NumPy statement of the study's features (§2.4) of one unpadded recording: frames
    with no selected landmark dropped, centre = nose mean, one std per axis about that
    centre, forward velocity and its forward difference."""
    xy = rec[:max_len, :, :2].astype(np.float64)
    xy = xy[~np.all(np.isnan(xy[:, list(landmarks)]), axis=(1, 2))]
    c = np.nanmean(xy[:, centre], axis=0)
    pts = xy[:, list(landmarks)]
    s = np.sqrt(np.nanmean((pts - c) ** 2, axis=(0, 1)))
    pos = (pts - c) / s
    vel, acc = np.zeros_like(pos), np.zeros_like(pos)
    vel[:-1] = pos[1:] - pos[:-1]
    acc[:-2] = vel[1:-1] - vel[:-2]
    t = len(pos)
    out = np.concatenate([s.reshape(t, -1) for s in (pos, vel, acc)], axis=-1)
    return np.nan_to_num(out, nan=0.0)


def _tiny_model(max_len: int = 384) -> keras.Model:
    inp = keras.Input((None, ROWS_PER_FRAME, 3))
    h = Preprocess(max_len=max_len)(inp)
    h = keras.layers.Dense(8, kernel_initializer=keras.initializers.GlorotUniform(seed=1))(h)
    return keras.Model(inp, keras.layers.GlobalAveragePooling1D()(h))


# --- landmark subsets -------------------------------------------------------------------


def test_default_subset_is_the_118_points():
    assert len(DEFAULT_LANDMARKS) == len(set(DEFAULT_LANDMARKS)) == 118
    assert (len(LIP), len(NOSE), len(LEFT_EYE), len(RIGHT_EYE)) == (40, 4, 16, 16)
    assert tuple(range(468, 489)) == LEFT_HAND and tuple(range(522, 543)) == RIGHT_HAND
    assert all(i < PART_SLICES["face"].stop for i in LIP + NOSE + LEFT_EYE + RIGHT_EYE)
    # every lip point is in exactly one mirror pair or on the midline
    paired = [i for pair in LIP_MIRROR_PAIRS for i in pair] + [i for i in FACE_MIDLINE if i in LIP]
    assert sorted(paired) == sorted(LIP)


def test_mirror_permutation_is_an_involution_swapping_sides():
    perm = np.array(DEFAULT_MIRROR_PERMUTATION)
    assert sorted(perm) == list(range(P))
    np.testing.assert_array_equal(perm[perm], np.arange(P))
    rows = np.array(DEFAULT_LANDMARKS)
    mirrored = rows[perm]
    for side, other in ((LEFT_HAND, RIGHT_HAND), (LEFT_EYE, RIGHT_EYE)):
        for a, b in zip(side, other, strict=True):
            assert mirrored[DEFAULT_LANDMARKS.index(a)] == b
            assert mirrored[DEFAULT_LANDMARKS.index(b)] == a
    lip_pos = [DEFAULT_LANDMARKS.index(i) for i in LIP]
    assert set(mirrored[lip_pos]) == set(LIP)
    assert mirrored[DEFAULT_LANDMARKS.index(61)] == 291
    assert mirrored[DEFAULT_LANDMARKS.index(17)] == 17
    assert mirrored[DEFAULT_LANDMARKS.index(98)] == 327


def test_mirror_permutation_rejects_an_unflippable_subset():
    with pytest.raises(ValueError, match="not in the subset"):
        mirror_permutation([61, 17])
    with pytest.raises(ValueError, match="no known mirror"):
        mirror_permutation([5])


# --- the layer --------------------------------------------------------------------------


def test_real_recording_matches_the_documented_features():
    rec = read_recording(REAL)
    out = Preprocess()(rec[None])
    assert out.shape == (1, len(rec), 708)
    np.testing.assert_allclose(out.numpy()[0], _reference(rec), atol=1e-4)
    np.testing.assert_array_equal(out._keras_mask.numpy(), np.ones((1, len(rec)), bool))


def test_random_recording_matches_the_documented_features():
    rec = _random_recording(12, seed=3)
    np.testing.assert_allclose(Preprocess()(rec[None]).numpy()[0], _reference(rec), atol=1e-4)


def test_padding_changes_neither_valid_features_nor_masked_mean():
    short, long_ = read_recording(REAL), _random_recording(len(read_recording(REAL)) + 7)
    batch = np.stack([_pad(short, len(long_)), long_])
    layer = Preprocess()
    feats = layer(batch)
    np.testing.assert_array_equal(
        feats._keras_mask.numpy(), [[True] * len(short) + [False] * 7, [True] * len(long_)]
    )
    alone = layer(short[None]).numpy()[0]
    np.testing.assert_allclose(feats.numpy()[0, : len(short)], alone, atol=1e-5)
    assert not feats.numpy()[0, len(short) :].any()

    model = _tiny_model()
    batched = model(batch).numpy()
    np.testing.assert_allclose(batched[0], model(short[None]).numpy()[0], atol=1e-5)
    np.testing.assert_allclose(batched[1], model(long_[None]).numpy()[0], atol=1e-5)
    # padding a single recording too
    np.testing.assert_allclose(
        model(_pad(short, 40)[None]).numpy(), model(short[None]).numpy(), atol=1e-5
    )


def test_explicit_mask_marks_padding():
    rec = _random_recording(9, seed=4)
    mask = np.array([[True] * 5 + [False] * 4])
    layer = Preprocess()
    out = layer(rec[None], mask=mask)
    np.testing.assert_allclose(out.numpy()[0, :5], _reference(rec[:5]), atol=1e-4)
    assert not out.numpy()[0, 5:].any()
    np.testing.assert_array_equal(layer.compute_mask(rec[None], mask).numpy(), mask)


def test_missing_hand_and_nan_become_zero():
    rec = _random_recording(8, seed=5, missing=0.0)
    rec[:, PART_SLICES["left_hand"]] = np.nan
    out = Preprocess()(rec[None]).numpy()[0]
    assert np.isfinite(out).all()
    feats = out.reshape(8, 3, P, 2)
    hand = [DEFAULT_LANDMARKS.index(i) for i in LEFT_HAND]
    assert not feats[:, :, hand].any()  # undetected -> 0 in position, velocity, acceleration
    assert feats[:, 0, [DEFAULT_LANDMARKS.index(i) for i in RIGHT_HAND]].all()
    # a point missing in one frame zeroes its own features but not its neighbours'
    rec2 = _random_recording(8, seed=6, missing=0.0)
    rec2[4, 522] = np.nan
    f2 = Preprocess()(rec2[None]).numpy()[0].reshape(8, 3, P, 2)
    r = DEFAULT_LANDMARKS.index(522)
    # forward differences: velocity at 3 and 4, acceleration at 2, 3 and 4 touch frame 4
    assert not f2[4, :, r].any() and not f2[3, 1:, r].any() and not f2[2, 2, r].any()
    assert f2[5, 0, r].all() and f2[2, 1, r].all() and f2[1, 2, r].all() and f2[5, 2, r].all()


def test_single_frame_recording_in_a_model_and_tf_function():
    rec = read_recording(REAL)[:1]
    model = _tiny_model()
    assert np.isfinite(model(rec[None]).numpy()).all()
    layer = Preprocess()
    fn = tf.function(
        lambda x: layer(x), input_signature=[tf.TensorSpec((None, None, ROWS_PER_FRAME, 3))]
    )
    out = fn(tf.constant(rec[None])).numpy()
    assert out.shape == (1, 1, 708) and np.isfinite(out).all()
    assert not out[0, 0, 2 * P :].any()  # no motion in one frame
    np.testing.assert_allclose(out[0], _reference(rec), atol=1e-4)
    two = fn(tf.constant(_random_recording(2)[None])).numpy()
    # velocity x_1 - x_0 at frame 0, none after the last frame, no acceleration
    assert two[0, 0, 2 * P : 4 * P].any() and not two[0, 1, 2 * P : 4 * P].any()
    assert not two[0, :, 4 * P :].any()


def test_truncation_to_max_len():
    rec = _random_recording(10, seed=7)
    layer = Preprocess(max_len=4)
    out = layer(rec[None])
    assert out.shape == (1, 4, 708) and out._keras_mask.shape == (1, 4)
    assert layer.compute_output_shape((None, 10, 543, 3)) == (None, 4, 708)
    # frames past max_len are dropped before the statistics: a recording the training
    # input pipeline truncated looks exactly like the whole one reaching the served model
    np.testing.assert_allclose(out.numpy(), Preprocess()(rec[None, :4]).numpy(), atol=1e-6)
    assert _tiny_model(max_len=4)(rec[None]).shape == (1, 8)


def test_position_features_are_centred_and_scaled():
    rec = _random_recording(30, seed=8)
    rec[:, :, :2] = rec[:, :, :2] * np.array([3.0, 0.5], np.float32) + 1.0
    batch = np.stack([_pad(rec, 40), _random_recording(40, seed=9)])
    out = Preprocess()(batch).numpy()[0, :30]
    pos = out[:, : 2 * P].reshape(30, P, 2)
    detected = ~np.isnan(rec[:, list(DEFAULT_LANDMARKS), 0])
    np.testing.assert_allclose(pos[detected[:, CENTRE_POS], CENTRE_POS].mean(0), 0, atol=1e-5)
    # one deviation per axis about the centre (not about the points' own mean)
    np.testing.assert_allclose(np.sqrt((pos[detected] ** 2).mean(0)), 1, atol=1e-4)


def test_keras_round_trip_in_safe_mode(tmp_path):
    model = _tiny_model(max_len=16)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    layer = next(lay for lay in loaded.layers if isinstance(lay, Preprocess))
    assert layer.get_config()["max_len"] == 16
    assert layer.landmarks == list(DEFAULT_LANDMARKS) and layer.center_index == 17
    batch = np.stack([_pad(read_recording(REAL), 20), _random_recording(20)])
    np.testing.assert_array_equal(loaded(batch).numpy(), model(batch).numpy())


def test_invalid_configuration_is_rejected():
    with pytest.raises(ValueError, match="landmarks"):
        Preprocess(landmarks=[600])
    with pytest.raises(ValueError, match="center_index"):
        Preprocess(center_index=-1)
    with pytest.raises(ValueError, match="max_len"):
        Preprocess(max_len=0)
