"""RAdam and Lookahead train a small model: the loss falls, and the saved model reloads
with its optimizer state and resumes training (the step-by-step references are in
tests/unit/test_optimizers.py)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from islr.training.optimizers import Lookahead, RAdam  # noqa: E402
from islr.training.schedules import OneCycle, WeightDecaySchedule  # noqa: E402


def _tiny_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3)(keras.layers.Dense(8, activation="relu")(inputs))
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: RAdam(
            learning_rate=OneCycle(lr_max=0.05, total_steps=20),
            weight_decay=WeightDecaySchedule(1e-2, OneCycle(lr_max=0.05, total_steps=20)),
        ),
        lambda: Lookahead(RAdam(learning_rate=0.05, weight_decay=1e-2), sync_period=2),
    ],
    ids=["radam", "lookahead-radam"],
)
def test_fit_decreases_loss_and_model_round_trips(tmp_path, make_optimizer):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")
    model = _tiny_model()
    model.compile(
        optimizer=make_optimizer(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded.optimizer) is type(model.optimizer)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 12
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0)  # training resumes
