"""One islr-5fold record as our writer encodes it is the tf.train.Example TensorFlow's
protobuf builds (writing and reading whole sets is tests/integration/test_tfrecord.py)."""

import numpy as np
import pytest
import tensorflow as tf

from islr.data.tfrecord import encode_example, writer_processes


def test_encoding_matches_tensorflow_protobuf():
    coords = np.random.default_rng(0).random((4, 543, 3)).astype(np.float32)
    coords[1, 468:489] = np.nan
    ours = encode_example(coords, 17, 2044, 2**40 + 5)
    theirs = tf.train.Example(
        features=tf.train.Features(
            feature={
                "coordinates": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[coords.tobytes()])
                ),
                "sign": tf.train.Feature(int64_list=tf.train.Int64List(value=[17])),
                "participant_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[2044])),
                "sequence_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[2**40 + 5])),
            }
        )
    )
    assert tf.train.Example.FromString(ours) == theirs


@pytest.mark.parametrize(
    "n_records, workers, cores, expected",
    [
        (9, None, 2, 1),  # the test recordings: no pool, whose start costs ~2.5 s
        (480, None, 2, 1),  # the embedded set: 1.4 s here, 3 s with 2 processes
        (2047, None, 2, 1),
        (2048, None, 2, 2),  # 1024 records per process
        (94_477, None, 16, 16),  # the full data set: every core
        (94_477, None, 2, 2),
        (9, 2, 2, 2),  # asked for: as asked
        (9, 0, 2, 1),  # 0 means the default
    ],
)
def test_writer_processes_repay_their_start(n_records, workers, cores, expected):
    assert writer_processes(n_records, workers, cores) == expected
