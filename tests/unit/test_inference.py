"""`traced_predict`: one traced forward pass per model, for any batch and frame count,
equal to calling the model, and not keeping the model alive."""

import gc
import weakref

import keras
import numpy as np
from tiny_zoo import TINY, recordings

from islr.models import inference
from islr.models.inference import traced_predict
from islr.models.zoo import ModelConfig, build_model


def test_one_trace_serves_every_batch_and_length_and_matches_the_model():
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(architecture="cnn_bigru", **TINY))
    predict = traced_predict(model)
    assert traced_predict(model) is predict  # the same function for the same model
    rng = np.random.default_rng(3)
    for lengths, pad_to in (([7], 7), ([12, 5, 9], 12), ([30, 2], 40)):
        x = recordings(rng, lengths, pad_to)
        expected = keras.ops.convert_to_numpy(model(x, training=False))
        np.testing.assert_allclose(np.asarray(predict(x)), expected, rtol=1e-5, atol=1e-6)
    # three batch sizes and four frame counts, one trace
    assert predict.experimental_get_tracing_count() == 1


def test_the_cache_does_not_keep_a_model_alive():
    keras.utils.set_random_seed(0)
    model = build_model(ModelConfig(architecture="cnn", **TINY))
    traced_predict(model)(recordings(np.random.default_rng(0), [4], 4))
    alive = weakref.ref(model)
    assert alive() in inference._TRACED
    del model
    gc.collect()
    assert alive() is None  # nothing the cache holds refers to the model
