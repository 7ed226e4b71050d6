"""Each augmentation changes what it should, keeps dtype and (543, 3) frames; noaug is identity."""

import numpy as np
import pytest
import tensorflow as tf

from islr.data.format import PART_SLICES, read_recording
from islr.training.augment import (
    AugmentConfig,
    affine,
    flip,
    flip_permutation,
    make_augment,
    remove_frames,
    temporal_rescale,
)

LH, RH = PART_SLICES["left_hand"], PART_SLICES["right_hand"]


@pytest.fixture(scope="module")
def frames(real_data_dir):
    return read_recording(real_data_dir / "train_landmark_files/4718/913866798.parquet")


def valid_frames(x):
    return ~np.all(np.isnan(x), axis=(1, 2))


def test_noaug_is_identity(frames):
    out = make_augment(AugmentConfig.off())(frames).numpy()
    np.testing.assert_array_equal(out, frames)


@pytest.mark.parametrize("factor", [0.5, 1.0, 1.5])
def test_temporal_rescale(frames, factor):
    out = temporal_rescale(tf.constant(frames), factor).numpy()
    assert out.shape == (round(len(frames) * factor), 543, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], frames[0])  # end points kept
    np.testing.assert_allclose(out[-1], frames[-1])
    if factor == 1.0:
        np.testing.assert_allclose(out, frames)


def test_masking_and_cutout_remove_frames_but_never_all(frames):
    t = len(frames)
    drop = np.zeros(t, bool)
    drop[2:6] = True
    out = remove_frames(tf.constant(frames), tf.constant(drop)).numpy()
    assert out.shape == frames.shape
    assert (valid_frames(out) == ~drop).all()
    everything = remove_frames(tf.constant(frames), tf.ones(t, tf.bool)).numpy()
    np.testing.assert_array_equal(everything, frames)  # would leave nothing: no-op


def test_flip_swaps_hands_and_mirrors_x(frames):
    perm = tf.constant(flip_permutation([(33, 263)]))
    out = flip(tf.constant(frames), perm).numpy()
    np.testing.assert_allclose(out[:, LH, 0], 1 - frames[:, RH, 0])
    np.testing.assert_allclose(out[:, RH, 1], frames[:, LH, 1])
    np.testing.assert_allclose(out[:, 33, 2], frames[:, 263, 2])
    np.testing.assert_allclose(flip(out, perm).numpy(), frames, atol=1e-6)  # involution


def test_affine(frames):
    identity = affine(tf.constant(frames), 0.0, tf.zeros(2), 1.0, 0.0).numpy()
    np.testing.assert_allclose(identity, frames, atol=1e-6)
    shifted = affine(tf.constant(frames), 0.0, tf.constant([0.1, -0.2]), 1.0, 0.0).numpy()
    np.testing.assert_allclose(shifted[..., 0], frames[..., 0] + 0.1, atol=1e-6)
    np.testing.assert_allclose(shifted[..., 1], frames[..., 1] - 0.2, atol=1e-6)
    np.testing.assert_array_equal(shifted[..., 2], frames[..., 2])  # z untouched
    turned = affine(tf.constant(frames), np.pi / 2, tf.zeros(2), 1.0, 0.0).numpy()
    # a quarter turn about the centre maps (x, y) to (0.5 - (y - 0.5), 0.5 + (x - 0.5))
    np.testing.assert_allclose(turned[..., 0], 1.0 - frames[..., 1], atol=1e-5)


def test_everything_on_in_tf_data(frames):
    config = AugmentConfig(rescale_p=1, mask_p=1, flip_p=1, affine_p=1, cutout_p=1)
    augment = make_augment(config)
    ds = tf.data.Dataset.from_tensors(frames).repeat(8).map(augment)
    outs = [x.numpy() for x in ds]
    for out in outs:
        assert out.dtype == np.float32 and out.shape[1:] == (543, 3)
        assert valid_frames(out).any()
    assert any(out.shape[0] != len(frames) for out in outs)
    assert not all(np.array_equal(outs[0], o, equal_nan=True) for o in outs[1:])
