"""Callbacks of the training recipe: best-weights restore and the NaN/Inf guard, the
epoch backup a killed run resumes from, and the progress log."""

from __future__ import annotations

import logging
import math
import time

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
        self.diverged_at: tuple[int, int] | None = None  # (epoch, batch), 0-based
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            log.warning(
                "loss became %s at epoch %d, batch %d: stopping, restoring the best weights",
                loss,
                self._epoch + 1,
                batch,
            )
            self.diverged = True
            self.diverged_at = (self._epoch, batch)
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


class EpochProgress(keras.callbacks.Callback):
    """One log line per epoch (`run: epoch 3/120 loss 2.91 val_loss 3.02 ... 41.2 s`), so a
    long run inside a pipeline step shows how far it has come."""

    def __init__(
        self, name: str, epochs: int, keys=("loss", "accuracy", "val_loss", "val_accuracy")
    ):
        super().__init__()
        self.name, self.epochs, self.keys = name, epochs, keys
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        shown = " ".join(f"{k} {float(logs[k]):.4f}" for k in self.keys if k in logs)
        log.info(
            "%s: epoch %d/%d %s (%.1f s)",
            self.name,
            epoch + 1,
            self.epochs,
            shown,
            time.perf_counter() - self._start,
        )


class EpochBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that writes its backup at the end of every `every`-th epoch
    only. Writing the weights and optimizer state takes about a quarter of a second
    even for the quickstart's tiny models, a fifth of one of their epochs; a run
    killed between backups resumes from the last one written. The interval is counted
    in epochs, not seconds, so that every worker of a cluster writes (and resumes from)
    the same epoch."""

    def __init__(self, backup_dir: str, every: int = 1):
        super().__init__(backup_dir)
        self.every = every

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if (epoch + 1) % self.every == 0:
            self._save_model()
