"""A `fit` for `MultiWorkerMirroredStrategy`.

Keras 3's `Model.fit` does not run under the multi-worker strategy (it tries to convert
the distributed iterator's `PerReplica` batches to tensors, keras-team/keras#20585), so
multi-worker training drives the model's own `train_step` and `test_step` through
`strategy.run`, with the usual callbacks, metrics and `History`. The model's step is
unchanged, so AWP, the optimizers and the metrics behave exactly as under `fit`.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _logs(model: keras.Model, prefix: str = "") -> dict[str, float]:
    return {
        f"{prefix}{name}": float(keras.ops.convert_to_numpy(value))
        for name, value in model.get_metrics_result().items()
    }


def fit_distributed(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    train_ds: tf.data.Dataset,
    *,
    epochs: int,
    steps_per_epoch: int,
    validation_data: tf.data.Dataset | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> keras.callbacks.History:
    """Train a compiled model (built in `strategy.scope()`) on an endless `train_ds` of
    global batches; the signature follows `Model.fit` for what the trainer uses."""
    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*(callbacks or []), history],
        model=model,
        epochs=epochs,
        steps=steps_per_epoch,
        verbose=0,
    )
    batches = iter(strategy.experimental_distribute_dataset(train_ds))

    @tf.function
    def train_step(iterator):
        strategy.run(model.train_step, args=(next(iterator),))

    @tf.function
    def test_step(batch):
        strategy.run(model.test_step, args=(batch,))

    model.stop_training = False
    model._initial_epoch = None
    callback_list.on_train_begin()
    # BackupAndRestore sets the epoch to resume from while restoring
    first = model._initial_epoch or 0
    for epoch in range(first, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        for step in range(steps_per_epoch):
            callback_list.on_train_batch_begin(step)
            train_step(batches)
            # the running loss, as `fit` passes it: the NaN/Inf guard reads it. Every
            # worker reads the same all-reduced value, so all of them stop together.
            callback_list.on_train_batch_end(step, _logs(model))
            if model.stop_training:
                break
        logs = _logs(model)
        if validation_data is not None:
            model.reset_metrics()
            for batch in strategy.experimental_distribute_dataset(validation_data):
                test_step(batch)
            logs.update(_logs(model, "val_"))
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end()
    return history
