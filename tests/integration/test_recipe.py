"""Training recipe pieces: AWP against its update rule, the NaN guard with best-weights
restore, on small models that train (the precision policy is in
tests/unit/test_precision_policy.py)."""

import keras
import numpy as np
import pytest

from islr.training.awp import AWPModel
from islr.training.callbacks import BestWeightsGuard

RNG = np.random.default_rng(0)


def linear(n=3):
    inputs = keras.Input((n,))
    return keras.Model(inputs, keras.layers.Dense(1, use_bias=False)(inputs))


def mse_grad(w, x, y):
    return 2 * x.T @ (x @ w - y) / len(x)


@pytest.mark.parametrize("start_step, expect_awp", [(0, True), (5, False)])
def test_awp_step_follows_the_rule(start_step, expect_awp):
    x = RNG.normal(size=(8, 3)).astype("float32")
    y = RNG.normal(size=(8, 1)).astype("float32")
    inner = linear()
    w0 = inner.get_weights()[0].astype("float64")
    lam, lr = 0.2, 0.1
    model = AWPModel(inner, awp_lambda=lam, start_step=start_step)
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    # the reported loss is the loss at the weights before the step
    mse0 = float(np.mean((x @ w0 - y) ** 2))
    assert history.history["loss"][0] == pytest.approx(mse0, rel=1e-4)

    g = mse_grad(w0, x, y)
    if expect_awp:
        w_adv = w0 + lam * g / (np.linalg.norm(g) + 1e-4)
        g = mse_grad(w_adv, x, y)
    np.testing.assert_allclose(inner.get_weights()[0], w0 - lr * g, rtol=1e-4, atol=1e-6)


def test_nan_guard_stops_and_restores_best_weights():
    x = RNG.normal(size=(32, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")
    model = linear()
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    guard = BestWeightsGuard()

    class Explode(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:  # a learning rate that makes the next epoch diverge
                self.model.optimizer.learning_rate.assign(1e30)

    history = model.fit(
        x,
        y,
        validation_data=(x, y),
        epochs=10,
        batch_size=8,
        verbose=0,
        callbacks=[Explode(), guard],
    )
    assert guard.diverged and len(history.history["loss"]) < 10
    assert guard.best_epoch == 2
    for restored, best in zip(model.get_weights(), guard.best_weights, strict=True):
        np.testing.assert_array_equal(restored, best)
    assert np.isfinite(model.predict(x, verbose=0)).all()


def test_multi_worker_loop_feeds_the_nan_guard():
    """The loop that replaces `fit` under MultiWorkerMirroredStrategy passes the running
    loss to the guard after every batch, so a diverging cluster run stops too."""
    import tensorflow as tf

    from islr.training.loop import fit_distributed

    x = RNG.normal(size=(32, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        model = linear()
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    guard = BestWeightsGuard("loss")

    class Explode(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if self._epoch == 1 and batch == 2:
                self.model.optimizer.learning_rate.assign(1e38)

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

    history = fit_distributed(
        model, strategy, ds, epochs=6, steps_per_epoch=4, callbacks=[Explode(), guard]
    )
    assert guard.diverged and guard.diverged_at[0] in (1, 2)
    assert len(history.history["loss"]) < 6 and guard.best_epoch == 0
    assert np.isfinite(model.predict(x, verbose=0)).all()


def test_awp_trains_a_zoo_model():
    from islr.models.zoo import ModelConfig, build_model

    keras.utils.set_random_seed(0)
    inner = build_model(
        ModelConfig(
            architecture="cnn_transformer",
            dim=16,
            max_len=16,
            conv_blocks=1,
            num_heads=2,
            n_classes=3,
        )
    )
    model = AWPModel(inner, awp_lambda=0.2, start_step=1)
    model.compile(
        optimizer="adam",
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
    )
    x = RNG.random((4, 10, 543, 3)).astype("float32")
    y = keras.utils.to_categorical([0, 1, 2, 0], 3)
    history = model.fit(x, y, epochs=3, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
