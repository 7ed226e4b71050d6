"""The training input pipeline: TFRecord shards -> padded batches of raw frames.

Batches keep the model contract (DESIGN.md): raw coordinates (batch, T, 543, 3) with
NaN where a part was not detected. Padding frames are NaN in every coordinate, which the
model's preprocessing layer recognises as "no frame" and masks. Recordings longer than
`max_len` are truncated here so a batch never holds more frames than the model reads.
"""

from __future__ import annotations

from collections.abc import Callable

from islr.data.format import N_CLASSES
from islr.data.tfrecord import make_dataset

# The value padding frames carry in every coordinate.
PAD_VALUE = float("nan")


def make_batches(
    files: list[str],
    batch_size: int,
    *,
    max_len: int = 384,
    training: bool = False,
    augment: Callable | None = None,
    shuffle_buffer: int = 2048,
    seed: int | None = None,
    n_classes: int = N_CLASSES,
    repeat: bool = False,
):
    """A `tf.data.Dataset` of `(frames, one_hot_labels)` batches.

    `training` shuffles files and records; `augment` (frames -> frames, on one
    recording of shape (T, 543, 3)) runs only when training. `batch_size` is the global
    batch: the per-replica batch times the replicas of the strategy in use.
    """
    import tensorflow as tf

    ds = make_dataset(files, shuffle_files=training, seed=seed)
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

    def to_example(record):
        frames = record["coordinates"]
        if training and augment is not None:
            frames = augment(frames)
        frames = frames[:max_len]
        label = tf.one_hot(record["sign"], n_classes)
        return frames, label

    ds = ds.map(to_example, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.padded_batch(
        batch_size,
        padded_shapes=([None, 543, 3], [n_classes]),
        padding_values=(tf.constant(PAD_VALUE, tf.float32), tf.constant(0.0, tf.float32)),
        drop_remainder=training,
    )
    return ds.prefetch(tf.data.AUTOTUNE)
