"""Shards on a store TensorFlow cannot open are staged to the worker's disk, and the
chief's outputs copied back. fsspec's in-memory file system stands in for s3:// (a real
fsspec store whose scheme TensorFlow does not know)."""

from __future__ import annotations

import json

import fsspec
import pytest

from islr.cluster.staging import StagingError, local_out, stage_in, stage_out, tf_reads


@pytest.fixture
def bucket():
    fs = fsspec.filesystem("memory")
    root = "/islr-test-bucket"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _tfrecord_bytes(tmp_path, values: list[bytes]) -> bytes:
    import tensorflow as tf

    path = tmp_path / "src.tfrecords"
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for value in values:
            writer.write(value)
    return path.read_bytes()


def test_shards_are_staged_and_read_by_tf(bucket, tmp_path):
    import tensorflow as tf

    fs, root = bucket
    shard = _tfrecord_bytes(tmp_path, [b"one", b"two"])
    fs.pipe(f"{root}/shards/splits.json", b'{"eval_fold": 0}')
    fs.pipe(f"{root}/shards/fold0-0-2.tfrecords", shard)
    uri = f"memory://{root}/shards"
    assert not tf_reads(uri) and tf_reads("gs://b/x") and tf_reads("/data/x")

    local = stage_in(uri, tmp_path / "stage" / "shards")
    assert local == str(tmp_path / "stage" / "shards")
    files = sorted(p.name for p in (tmp_path / "stage" / "shards").iterdir())
    assert files == ["fold0-0-2.tfrecords", "splits.json"]
    records = tf.data.TFRecordDataset(f"{local}/fold0-0-2.tfrecords", compression_type="GZIP")
    assert [r.numpy() for r in records] == [b"one", b"two"]
    assert not (tmp_path / "stage" / "shards.partial").exists()

    # a restarted worker reuses its finished copy (the store is not read again)
    fs.rm(f"{root}/shards", recursive=True)
    assert stage_in(uri, tmp_path / "stage" / "shards") == local
    # stores TensorFlow reads are used in place
    assert stage_in("gs://bucket/shards", tmp_path / "unused") == "gs://bucket/shards"
    assert not (tmp_path / "unused").exists()


def test_outputs_go_back_and_errors_name_the_store(bucket, tmp_path):
    fs, root = bucket
    out = tmp_path / "out"
    (out / "checkpoints").mkdir(parents=True)
    (out / "model.keras").write_bytes(b"model")
    (out / "checkpoints" / "epoch.txt").write_text("3")
    (out / "train_result.json").write_text(json.dumps({"name": "cnn"}))
    uri = f"memory://{root}/tfjobs/run1/cnn"
    assert local_out(uri, out) == str(out) and local_out("gs://b/o", out) == "gs://b/o"
    stage_out(out, uri)
    assert fs.cat(f"{root}/tfjobs/run1/cnn/model.keras") == b"model"
    assert fs.cat(f"{root}/tfjobs/run1/cnn/checkpoints/epoch.txt") == b"3"
    assert json.loads(fs.cat(f"{root}/tfjobs/run1/cnn/train_result.json")) == {"name": "cnn"}

    with pytest.raises(StagingError, match=r"memory://.*/empty: no shard files found"):
        stage_in(f"memory://{root}/empty", tmp_path / "x")
    with pytest.raises(StagingError, match=r"nosuch://b/shards: no file system for nosuch://"):
        stage_in("nosuch://b/shards", tmp_path / "y")
