"""Keyed augmentation draws: the same key gives the same draw on the batched and the
per-recording path, another seed or index another (bit-identical reruns of a whole
training run are tests/integration/test_reproducible.py)."""

from __future__ import annotations

import numpy as np

from islr.training.augment import (
    BATCH_STREAM,
    RECORD_STREAM,
    AugmentConfig,
    draw_key,
    make_augment,
)


def test_keyed_augmentation_draws_repeat_and_follow_the_key():
    """The same key draws the same augmentation, on both paths; another key, another."""
    rng = np.random.default_rng(0)
    recordings = [rng.random((n, 543, 3)).astype(np.float32) for n in (20, 31, 9)]
    frames = np.full((3, 31, 543, 3), np.nan, np.float32)
    for i, r in enumerate(recordings):
        frames[i, : len(r)] = r
    lengths = [len(r) for r in recordings]
    always = AugmentConfig(rescale_p=1, mask_p=1, flip_p=1, affine_p=1, cutout_p=1)
    augment = make_augment(always)

    def batch(seed, index):
        key = draw_key(seed, BATCH_STREAM, index)
        return augment.batch(frames, lengths, [False] * 3, 64, key=key).numpy()

    def one(seed, index):
        return augment.per_recording(recordings[1], draw_key(seed, RECORD_STREAM, index)).numpy()

    assert same(batch(42, 0), batch(42, 0))
    assert same(one(42, 0), one(42, 0))
    for seed, index in ((43, 0), (42, 1)):
        assert not same(batch(seed, index), batch(42, 0))
        assert not same(one(seed, index), one(42, 0))


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
