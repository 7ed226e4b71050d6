"""Training batches from TFRecords: padding, truncation, labels, shuffling."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from islr.data.format import read_recording
from islr.data.ingest import ingest, sign_map_for
from islr.data.split import SplitConfig, assign_folds
from islr.data.tfrecord import TFRecordConfig, write_tfrecords
from islr.data.validate import ValidationConfig, validate_recordings
from islr.models.landmarks import DEFAULT_LANDMARKS, FACE_MIRROR_PAIRS
from islr.training.augment import AugmentConfig, make_augment, model_rows
from islr.training.data import make_batches


@pytest.fixture(scope="module")
def shards(real_data_dir, tmp_path_factory):
    recordings = ingest(real_data_dir, workers=1, progress=False)
    valid, _ = validate_recordings(
        recordings, ValidationConfig(), sign_map_for(real_data_dir), str(real_data_dir)
    )
    manifest = assign_folds(valid, SplitConfig(mode="random", n_folds=2, seed=1)).assign(
        split="train"
    )
    out = tmp_path_factory.mktemp("tfr") / "shards"
    return manifest, write_tfrecords(
        manifest, real_data_dir, out, TFRecordConfig(records_per_shard=4), progress=False
    )


def test_batches_pad_with_nan_and_keep_frames(shards, real_data_dir):
    manifest, record_set = shards
    batches = list(make_batches(record_set.paths("train"), batch_size=3, max_len=1000))
    assert sum(b[0].shape[0] for b in batches) == 9
    lengths = sorted(
        read_recording(real_data_dir / row.path).shape[0] for row in manifest.itertuples()
    )
    seen = []
    for frames, labels in batches:
        assert frames.dtype == tf.float32 and frames.shape[1:] == (frames.shape[1], 543, 3)
        assert np.allclose(labels.numpy().sum(axis=1), 1.0)
        valid = ~np.all(np.isnan(frames.numpy()), axis=(2, 3))  # (batch, T)
        # every valid frame comes first, then NaN padding
        for row in valid:
            n = row.sum()
            assert row[:n].all() and not row[n:].any()
        seen += [int(n) for n in valid.sum(axis=1)]
    assert sorted(seen) == lengths  # no frame lost, none invented


def test_truncation_and_training_mode(shards):
    _, record_set = shards
    ds = make_batches(
        record_set.paths("train"),
        batch_size=4,
        max_len=5,
        training=True,
        seed=0,
        augment=lambda frames: frames * 2.0,
        repeat=True,
    )
    frames, labels = next(iter(ds))
    assert frames.shape[0] == 4 and frames.shape[1] <= 5 and labels.shape == (4, 250)


def _recordings(manifest, real_data_dir):
    return [read_recording(real_data_dir / row.path) for row in manifest.itertuples()]


def test_batched_augmentation_off_gives_the_recordings_themselves(shards, real_data_dir):
    # An Augment runs per batch (ragged batching, then `Augment.batch`); with every
    # probability 0 each recording comes out exactly as stored, NaN-padded at the end.
    manifest, record_set = shards
    sources = _recordings(manifest, real_data_dir)
    ds = make_batches(
        record_set.paths("train"),
        batch_size=3,
        max_len=1000,
        training=True,
        seed=0,
        augment=make_augment(AugmentConfig.off()),
    )
    matched = []
    for frames, labels in ds:
        assert frames.shape[2:] == (543, 3) and labels.shape == (3, 250)
        for out in frames.numpy():
            hits = [
                i
                for i, r in enumerate(sources)
                if len(r) <= len(out)
                and np.array_equal(out[: len(r)], r, equal_nan=True)
                and np.isnan(out[len(r) :]).all()
            ]
            assert len(hits) >= 1
            matched.append(hits[0])
    assert sorted(matched) == list(range(len(sources)))  # each once per epoch


def test_batched_augmentation_on_model_rows(shards, real_data_dir):
    manifest, record_set = shards
    rows = model_rows(DEFAULT_LANDMARKS)
    others = np.setdiff1d(np.arange(543), rows)
    longest = max(len(r) for r in _recordings(manifest, real_data_dir))
    config = AugmentConfig(rescale_p=1, mask_p=1, flip_p=1, affine_p=1, cutout_p=1)
    ds = make_batches(
        record_set.paths("train"),
        batch_size=4,
        max_len=8,
        training=True,
        seed=0,
        augment=make_augment(config, list(FACE_MIRROR_PAIRS), rows=rows),
        repeat=True,
    )
    for frames, labels in ds.take(3):
        x = frames.numpy()
        # truncated after rescaling (at most 1.5 x the longest recording)
        assert x.shape[0] == 4 and x.shape[1] <= min(8, int(1.5 * longest))
        assert np.isnan(x[:, :, others]).all()  # rows the model does not read
        assert np.allclose(labels.numpy().sum(axis=1), 1.0)


def test_batches_run_without_the_autotuner(shards):
    """Dropping an iterator whose tf.data autotuner runs blocks until the autotuner's
    thread wakes: Keras drops the validation iterator at every epoch's end (up to 1.3 s
    in a third of the quickstart's ~1 s epochs) and the training stream's when `fit`
    returns (8 to 23 s per quickstart run). No stream the trainer reads runs it:
    evaluation, training, augmented training."""
    _, record_set = shards
    files = record_set.paths("train")
    augment = make_augment(AugmentConfig(), list(FACE_MIRROR_PAIRS), rows=None)
    streams = {
        "evaluation": make_batches(files, batch_size=3),
        "training": make_batches(files, batch_size=3, training=True, seed=0, repeat=True),
        "augmented": make_batches(
            files, batch_size=3, training=True, seed=0, repeat=True, augment=augment
        ),
    }
    for name, ds in streams.items():
        assert ds.options().autotune.enabled is False, name


def _batches(ds) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(f.numpy(), y.numpy()) for f, y in ds]


def test_a_small_evaluation_set_is_read_from_disk_once(shards, tmp_path):
    """A validation set read every epoch stays in memory after its first pass when its
    shards hold at most `cache_below` bytes: with the shards gone, the second pass
    gives the same batches. Above the bound, or by default, every pass reads the
    shards again."""
    import shutil

    _, record_set = shards
    copies = []
    for path in record_set.paths("train"):
        copy = tmp_path / Path(path).name
        shutil.copy(path, copy)
        copies.append(str(copy))
    size = sum(Path(p).stat().st_size for p in copies)

    cached = make_batches(copies, batch_size=4, cache_below=size)
    streamed = make_batches(copies, batch_size=4, cache_below=size - 1)
    default = make_batches(copies, batch_size=4)
    first = _batches(cached)
    assert len(first) == 3  # 9 recordings
    for path in copies:
        Path(path).unlink()
    again = _batches(cached)
    assert len(again) == len(first)
    for (f1, y1), (f2, y2) in zip(first, again, strict=True):
        np.testing.assert_array_equal(f1, f2)  # NaN padding included
        np.testing.assert_array_equal(y1, y2)
    for ds in (streamed, default):
        with pytest.raises(tf.errors.NotFoundError):
            _batches(ds)
