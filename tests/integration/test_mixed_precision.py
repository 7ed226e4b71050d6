"""Mixed precision with AWP: float16 loss scaling survives an overflowed step, the
perturbation is undone exactly, and bfloat16 trains the real trainer on CPU."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from islr.data.ingest import ingest, sign_map_for
from islr.data.split import SplitConfig, assign_folds
from islr.data.tfrecord import write_tfrecords
from islr.data.validate import ValidationConfig, validate_recordings
from islr.training.awp import AWPModel
from islr.training.config import RunConfig
from islr.training.precision import set_precision
from islr.training.trainer import compile_trainer, train_run

N_CLASSES = 5


@pytest.fixture
def policy():
    """Set a global dtype policy for one test and put float32 back afterwards, so no
    other test builds its model in a mixed policy."""
    yield set_precision
    keras.mixed_precision.set_global_policy("float32")


def tiny_config(**train) -> RunConfig:
    return RunConfig.model_validate(
        {
            "name": "tiny",
            "model": {
                "dim": 16,
                "max_len": 16,
                "conv_blocks": 1,
                "num_heads": 2,
                "n_classes": N_CLASSES,
            },
            "train": {"epochs": 1, "awp_start_epoch": 0, **train},
        }
    )


def batch(seed: int = 0, size: int = 8):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(size, 16, 543, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, N_CLASSES, size), N_CLASSES)
    return x, y


def trainable(model):
    return [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]


def test_float16_overflow_with_awp_skips_the_step_and_keeps_every_weight_finite(policy):
    """The real trainer's compile (AWP from step 0, Lookahead(RAdam), label smoothing)
    under mixed_float16, where Keras adds a LossScaleOptimizer. A loss scale of 2^100
    keeps the scaled loss finite in float32 but overflows the float16 backward pass, so
    the first gradient is inf: λ·g/‖g‖ would be NaN. The step must be skipped (weights
    bit-identical, scale halved, no optimizer iteration) with nothing NaN left behind;
    at a sane scale the next step trains."""
    assert policy("mixed_float16") == "mixed_float16"
    keras.utils.set_random_seed(0)
    model, trainer, inner = compile_trainer(tiny_config(), steps_per_epoch=4)
    optimizer = trainer.optimizer
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    optimizer.initial_scale = 2.0**100  # read when the optimizer is built, at the first step
    x, y = batch()
    before = trainable(model)

    trainer.fit(x, y, batch_size=8, epochs=1, verbose=0)

    assert float(optimizer.dynamic_scale) == 2.0**99  # overflow seen, scale halved
    assert int(inner.iterations) == 0  # the update was skipped
    for old, new in zip(before, trainable(model), strict=True):
        np.testing.assert_array_equal(new, old)
    for weight in [*model.weights, *optimizer.variables]:
        assert np.isfinite(keras.ops.convert_to_numpy(weight)).all(), weight.path

    optimizer.dynamic_scale.assign(2.0**10)
    history = trainer.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert int(inner.iterations) == 1
    assert any(not np.array_equal(o, n) for o, n in zip(before, trainable(model), strict=True))
    assert all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights)


def test_awp_puts_the_weights_back_exactly():
    """With a learning rate of 0 the only thing a step does to the weights is AWP's move
    to w + δ and back: they must come back bit for bit ((w + δ) − δ is not always w in
    floating point, so the weights are restored from a copy)."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((32,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(4)]
    )
    trainer = AWPModel(model, awp_lambda=0.2, start_step=0)
    trainer.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 32)).astype("float32") * 3
    y = keras.utils.to_categorical(rng.integers(0, 4, 64), 4)
    before = trainable(model)
    trainer.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert int(trainer.optimizer.iterations) == 8
    for old, new in zip(before, trainable(model), strict=True):
        np.testing.assert_array_equal(new, old)


@pytest.fixture(scope="module")
def tfrecords(synth_dir, tmp_path_factory):
    recordings = ingest(synth_dir, workers=1, progress=False)
    valid, _ = validate_recordings(
        recordings, ValidationConfig(), sign_map_for(synth_dir), str(synth_dir)
    )
    manifest = assign_folds(valid, SplitConfig(n_folds=3, seed=0))
    return write_tfrecords(manifest, synth_dir, tmp_path_factory.mktemp("t") / "s", progress=False)


def test_bfloat16_trains_the_real_trainer_on_cpu(tfrecords, tmp_path, policy):
    """`train_run` with precision mixed_bfloat16 (no loss scaling), AWP from step 0,
    LateDropout switching on mid-run: a few steps with a finite loss, and the
    saved model computes in bfloat16 with float32 logits."""
    config = tiny_config(
        precision="mixed_bfloat16",
        epochs=3,
        batch_per_replica=8,
        lr_max=2e-3,
        late_dropout_start_epoch=1,
    )
    config.model.max_len = 32
    config.model.n_classes = 250
    result = train_run(config, tfrecords, tmp_path)
    assert result.precision == "mixed_bfloat16"
    loss = result.history["loss"]
    assert len(loss) == 3 and np.isfinite(loss).all() and not result.diverged
    assert np.isfinite(result.history["val_loss"]).all()
    model = keras.saving.load_model(result.model_path, safe_mode=True)
    assert model.get_layer("stem").compute_dtype == "bfloat16"
    assert model.output.dtype == "float32"
