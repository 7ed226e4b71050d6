"""A model's forward pass as one traced function, traced once per model and process.

Scoring a model calls it on many batch sizes and frame counts: the test and validation
splits, one recording at a time for latency, the export's parity and agreement checks.
Eagerly, a recurrent layer runs its time loop step by step in Python (about 30 ms a
recording for the quickstart's BiGRU); each new `tf.function` traces the whole model
again (about a second on 2 cores). One function with an open signature, kept for as
long as the model lives, serves every caller.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from islr.data.format import ROWS_PER_FRAME

if TYPE_CHECKING:  # importing this module must not import Keras (islr.evaluation.metrics)
    import keras

_TRACED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def traced_predict(model: keras.Model):
    """`model(x, training=False)` for x of shape (batch, frames, 543, 3), float32, any
    batch and frame count; returns the model's output tensor (logits)."""
    import tensorflow as tf

    fn = _TRACED.get(model)
    if fn is None:
        spec = tf.TensorSpec((None, None, ROWS_PER_FRAME, 3), tf.float32)
        # a weak reference: the cache must not keep the model (and its graph) alive
        ref = weakref.ref(model)
        fn = tf.function(lambda x: ref()(x, training=False), input_signature=[spec])
        _TRACED[model] = fn
    return fn
