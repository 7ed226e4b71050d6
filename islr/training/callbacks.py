"""Callbacks of the training recipe: best-weights restore and the NaN/Inf guard."""

from __future__ import annotations

import logging
import math

import keras

log = logging.getLogger(__name__)


class BestWeightsGuard(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the lowest `monitor` (validation loss) and
    restores them when training ends; stops training as soon as a batch loss is NaN or
    infinite (a diverging run, like the seed study's Linformer at epoch 16) and restores
    the best weights then too. `diverged` tells the caller it happened."""

    def __init__(self, monitor: str = "val_loss"):
        super().__init__()
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch = -1
        self.best_weights = None
        self.diverged = False

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            log.warning(
                "loss became %s at batch %d: stopping, restoring the best weights", loss, batch
            )
            self.diverged = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if self.diverged or value is None or not math.isfinite(float(value)):
            return
        if float(value) < self.best:
            self.best, self.best_epoch = float(value), epoch
            self.best_weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            log.info(
                "restored the weights of epoch %d (%s %.4f)",
                self.best_epoch + 1,
                self.monitor,
                self.best,
            )
