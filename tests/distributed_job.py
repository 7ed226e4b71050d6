"""A tiny training job for the distribution tests, run as its own process:

    python tests/distributed_job.py OUT_DIR KIND [N_LOGICAL_CPUS]

Trains a small Keras model for a few steps under `select_strategy(KIND)` and writes
`OUT_DIR/result-<pid>.json` (replicas, chief or not, final loss); only the chief saves
`OUT_DIR/model.keras`.
"""

import json
import os
import sys

if __name__ == "__main__":
    out, kind = sys.argv[1], sys.argv[2]
    from islr.training.distribute import global_batch_size, is_chief, select_strategy, split_cpu

    if len(sys.argv) > 3:
        split_cpu(int(sys.argv[3]))
    import keras
    import numpy as np
    import tensorflow as tf

    strategy = select_strategy(kind)
    batch = global_batch_size(4, strategy)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch)
    # Keras 3's `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585),
    # so distributed training runs its own loop: strategy.run + an all-reduced loss.
    batches = iter(strategy.experimental_distribute_dataset(data))
    with strategy.scope():
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, activation="sigmoid")])
        optimizer = keras.optimizers.SGD(0.5)
        loss_fn = keras.losses.BinaryCrossentropy(reduction="none")

    def replica_step(xb, yb):
        with tf.GradientTape() as tape:
            per_example = loss_fn(yb, model(xb, training=True))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=batch)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_step(inputs):
        losses = strategy.run(replica_step, args=inputs)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    history = [float(train_step(next(batches))) for _ in range(10)]
    chief = is_chief()
    if chief:
        model.save(os.path.join(out, "model.keras"))
    with open(os.path.join(out, f"result-{os.getpid()}.json"), "w") as fh:
        json.dump(
            {
                "replicas": strategy.num_replicas_in_sync,
                "chief": chief,
                "global_batch": batch,
                "loss": history,
            },
            fh,
        )
