"""islr-5fold TFRecords: write -> read round trip, the plain public spec, atomic output."""

import gzip
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from islr.data.format import read_recording
from islr.data.ingest import ingest, sign_map_for
from islr.data.split import SplitConfig, assign_folds
from islr.data.tfrecord import (
    TFRecordConfig,
    load_tfrecord_set,
    make_dataset,
    write_tfrecords,
)
from islr.data.validate import ValidationConfig, validate_recordings
from islr.errors import OutputFolderError, RecordingError


@pytest.fixture(scope="module")
def manifest(real_data_dir):
    recordings = ingest(real_data_dir, workers=1, progress=False)
    valid, _ = validate_recordings(
        recordings, ValidationConfig(), sign_map_for(real_data_dir), str(real_data_dir)
    )
    return assign_folds(valid, SplitConfig(mode="random", n_folds=2, seed=1))


@pytest.mark.parametrize("workers, level", [(1, 0), (2, 1)])
def test_round_trip(manifest, real_data_dir, tmp_path, workers, level):
    out = tmp_path / "shards"
    record_set = write_tfrecords(
        manifest,
        real_data_dir,
        out,
        TFRecordConfig(records_per_shard=3, workers=workers, compression_level=level),
        progress=False,
    )
    assert record_set.n_records == len(manifest) == 9
    assert load_tfrecord_set(out).model_dump() == record_set.model_dump()
    seen = {}
    for split in ("train", "val", "test"):
        for example in make_dataset(record_set.paths(split)):
            seen[int(example["sequence_id"])] = (split, example)
    assert len(seen) == 9
    for row in manifest.itertuples():
        split, example = seen[row.sequence_id]
        assert split == row.split
        assert int(example["sign"]) == row.label
        assert int(example["participant_id"]) == row.participant_id
        expected = read_recording(real_data_dir / row.path)
        np.testing.assert_array_equal(example["coordinates"].numpy(), expected)  # NaN kept
    # names fold{k}-{i}-{n}.tfrecords with n the record count
    for fold, names in record_set.folds.items():
        for name in names:
            k, _i, n = name.removesuffix(".tfrecords").removeprefix("fold").split("-")
            assert int(k) == fold
            assert sum(1 for _ in tf.data.TFRecordDataset(str(out / name), "GZIP")) == int(n)


def test_plain_islr_5fold_spec_parses_our_shards(manifest, real_data_dir, tmp_path):
    """What public notebooks do with the islr-5fold shards must work on ours."""
    record_set = write_tfrecords(manifest, real_data_dir, tmp_path / "s", progress=False)
    spec = {
        "coordinates": tf.io.FixedLenFeature([], tf.string),
        "sign": tf.io.FixedLenFeature([], tf.int64),
        "participant_id": tf.io.FixedLenFeature([], tf.int64),
        "sequence_id": tf.io.FixedLenFeature([], tf.int64),
    }
    files = sorted(str(p) for p in (tmp_path / "s").glob("*.tfrecords"))
    for raw in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        parsed = tf.io.parse_single_example(raw, spec)
        coords = tf.reshape(tf.io.decode_raw(parsed["coordinates"], tf.float32), (-1, 543, 3))
        assert coords.shape[0] >= 1
        proto = tf.train.Example.FromString(raw.numpy())
        assert sorted(proto.features.feature) == sorted(spec)
    assert record_set.n_records == 9


def test_shards_are_deterministic(manifest, real_data_dir, tmp_path):
    a = write_tfrecords(manifest, real_data_dir, tmp_path / "a", progress=False)
    b = write_tfrecords(manifest, real_data_dir, tmp_path / "b", progress=False)
    for name in a.folds[0] + a.folds[1]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        with gzip.open(tmp_path / "a" / name) as fh:
            fh.read()  # a standard gzip stream
    assert a.files == b.files


def test_failure_leaves_no_partial_set(manifest, real_data_copy, tmp_path):
    victim = manifest.iloc[-1]["path"]
    (real_data_copy / victim).write_bytes(b"broken")
    out = tmp_path / "shards"
    with pytest.raises(RecordingError, match=victim.split("/")[-1]):
        write_tfrecords(
            manifest,
            real_data_copy,
            out,
            TFRecordConfig(records_per_shard=2, workers=1),
            progress=False,
        )
    assert not out.exists()
    assert os.listdir(tmp_path) == ["asl-signs"]


def test_refuses_to_overwrite_or_write_into_the_data(manifest, real_data_copy, tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "mine.txt").write_text("keep")
    with pytest.raises(OutputFolderError, match="exists and is not empty"):
        write_tfrecords(manifest, real_data_copy, tmp_path / "s", progress=False)
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["mine.txt"]
    with pytest.raises(OutputFolderError, match="inside the data folder"):
        write_tfrecords(manifest, real_data_copy, real_data_copy / "shards", progress=False)
    assert not (real_data_copy / "shards").exists()
    (tmp_path / "empty").mkdir()  # an empty folder (as artifact stores make) is used
    record_set = write_tfrecords(manifest, real_data_copy, tmp_path / "empty", progress=False)
    assert (tmp_path / "empty" / record_set.files["train"][0]).is_file()


def test_rerun_removes_the_staging_folder_of_a_killed_run(manifest, real_data_dir, tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / ".s.abc123.tmp"  # as a SIGKILLed run leaves it
    stale.mkdir()
    (stale / ".owner").write_text(dead.stdout.strip())
    (stale / "fold0-0-2.tfrecords").write_bytes(b"half")
    live = tmp_path / ".s.def456.tmp"  # a run still in progress is left alone
    live.mkdir()
    (live / ".owner").write_text(str(os.getpid()))
    write_tfrecords(manifest, real_data_dir, tmp_path / "s", progress=False)
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".s.def456.tmp", "s"]


def test_manifest_without_eval_split_is_still_written(manifest, real_data_dir, tmp_path):
    only_train = manifest.assign(split="train")
    record_set = write_tfrecords(only_train, real_data_dir, tmp_path / "s", progress=False)
    assert set(record_set.files) == {"train"} and record_set.eval_fold == -1


def test_one_set_serves_every_fold_of_a_cross_validation(real_data_dir, tmp_path):
    """Written once, the shards give each fold's train/val/test exactly as the split
    assigns them when that fold is the evaluated one; a fold that does not exist fails
    before anything reads the shards."""
    from islr.data.tfrecord import check_folds
    from islr.errors import ConfigError

    recordings = ingest(real_data_dir, workers=1, progress=False)
    valid, _ = validate_recordings(
        recordings, ValidationConfig(), sign_map_for(real_data_dir), str(real_data_dir)
    )
    manifest = assign_folds(valid, SplitConfig(mode="random", n_folds=3, seed=1))
    record_set = write_tfrecords(
        manifest,
        real_data_dir,
        tmp_path / "shards",
        TFRecordConfig(records_per_shard=2),
        progress=False,
    )
    assert record_set.evaluable_folds() == [0, 1, 2]
    for fold in (0, 1, 2):
        view = record_set.for_fold(fold)
        expected = assign_folds(
            valid, SplitConfig(mode="random", n_folds=3, eval_fold=fold, seed=1)
        )
        for split in ("train", "val", "test"):
            ids = sorted(int(e["sequence_id"]) for e in make_dataset(view.paths(split)))
            want = sorted(expected.loc[expected["split"] == split, "sequence_id"].tolist())
            assert ids == want, (fold, split)
            assert view.counts[split] == len(want)
    assert record_set.for_fold(0) is record_set  # the configured fold: the set itself
    check_folds(record_set, [0, 1, 2])
    with pytest.raises(ConfigError, match=r"fold\(s\) \[3\] do not exist"):
        check_folds(record_set, [0, 3])
    with pytest.raises(ConfigError, match="names a fold twice"):
        check_folds(record_set, [1, 1])
    with pytest.raises(ConfigError, match="fold 5 cannot be evaluated"):
        record_set.for_fold(5)
