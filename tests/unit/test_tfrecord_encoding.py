"""One islr-5fold record as our writer encodes it is the tf.train.Example TensorFlow's
protobuf builds (writing and reading whole sets is tests/integration/test_tfrecord.py)."""

import numpy as np
import tensorflow as tf

from islr.data.tfrecord import encode_example


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
