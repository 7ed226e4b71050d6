"""The training input pipeline: TFRecord shards -> padded batches of raw frames.

Batches keep the model contract (DESIGN.md): raw coordinates (batch, T, 543, 3) with
NaN where a part was not detected. Padding frames are NaN in every coordinate, which the
model's preprocessing layer recognises as "no frame" and masks. Recordings longer than
`max_len` are truncated here so a batch never holds more frames than the model reads.

An `islr.training.augment.Augment` runs on each padded batch (`Augment.batch`, one set
of ops per batch instead of per recording); any other `augment` callable runs on each
recording in `map`, before padding.
"""

from __future__ import annotations

from collections.abc import Callable

from islr.data.format import N_CLASSES
from islr.data.tfrecord import make_dataset
from islr.training.augment import BATCH_STREAM, RECORD_STREAM, Augment, draw_key

# The value padding frames carry in every coordinate.
PAD_VALUE = float("nan")

# An evaluation set whose shards hold at most this many bytes is kept in memory after
# its first pass (`make_batches(cache_below=...)`). Padded batches take at most about
# max_len / mean length times the records' size: a few hundred MB at this bound, while
# a full data set's validation fold (gigabytes) streams from disk every epoch.
EVAL_CACHE_BYTES = 64 * 2**20


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
    cache_below: int = 0,
):
    """A `tf.data.Dataset` of `(frames, one_hot_labels)` batches.

    `training` shuffles files and records; `augment` runs only when training: an
    `Augment` on each batch (in the rows it computes on, see `Augment`), any other
    callable (frames -> frames) on each recording of shape (T, 543, 3). `batch_size` is
    the global batch: the per-replica batch times the replicas of the strategy in use.

    `seed` fixes the order of files and records and, for an `Augment`, every draw: the
    same seed gives the same records in the same order with the same draws, on any
    machine and with any parallelism. Each recording's and each batch's draws are
    stateless ops keyed on the seed and the element's number in the (repeated) stream,
    so epochs differ from each other but not from one run to the next. Without a seed
    the order and the draws vary from run to run.

    `cache_below` (evaluation batches only): when `files` hold at most this many bytes,
    the batches are kept in memory after the first pass over them (e.g. a validation
    set read every epoch: `EVAL_CACHE_BYTES`); the same batches, without reading and
    padding them again.
    """
    import tensorflow as tf

    ds = make_dataset(files, shuffle_files=training, seed=seed)
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

    pad = tf.constant(PAD_VALUE, tf.float32)
    if training and isinstance(augment, Augment):
        # Per recording only what batching needs: its first frames on the computed
        # rows (mirrored when its flip coin says so), its length and the coin; the
        # other augmentations then run once per batch.
        def key(stream, index):
            return None if seed is None else draw_key(seed, stream, index)

        # Numbered after the repeat, so the numbers (and draws) run on across epochs.
        ds = ds.enumerate()

        def to_parts(index, record):
            frames = record["coordinates"]
            length = tf.shape(frames)[0]
            flipped = augment.draw_flip(key(RECORD_STREAM, index))
            label = tf.one_hot(record["sign"], n_classes)
            return augment.select(frames, max_len, flipped), length, flipped, label

        ds = ds.map(to_parts, num_parallel_calls=tf.data.AUTOTUNE)
        # Ragged: the augmentations work on the frames themselves, end to end, and pad
        # only their result.
        ds = ds.ragged_batch(batch_size, drop_remainder=True).enumerate()
        ds = ds.map(
            lambda index, parts: (
                augment.batch(*parts[:3], max_len, key=key(BATCH_STREAM, index)),
                parts[3],
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return _without_autotuner(ds.prefetch(tf.data.AUTOTUNE))

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
        padding_values=(pad, tf.constant(0.0, tf.float32)),
        drop_remainder=training,
    )
    if not training and cache_below and _total_bytes(files) <= cache_below:
        # A quickstart epoch is about 1 s; reading and padding its validation set
        # again took 0.08 s of it.
        ds = ds.cache()
    return _without_autotuner(ds.prefetch(tf.data.AUTOTUNE))


def _without_autotuner(ds):
    """`ds` with tf.data's autotuner off. Dropping an iterator whose autotuner runs
    blocks until the autotuner's thread wakes up, and it sleeps longer the longer the
    iterator has lived: Keras drops the validation iterator at every epoch's end (up to
    1.3 s in a third of the quickstart's ~1 s epochs) and the training iterator when
    `fit` returns (8 to 23 s per quickstart run, more than a third of some runs'
    training time). Without the autotuner the parallel maps still use every core, the
    epochs take as long, and the records are the same."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def _total_bytes(files: list[str]) -> int:
    import tensorflow as tf

    return sum(tf.io.gfile.stat(f).length for f in files)
