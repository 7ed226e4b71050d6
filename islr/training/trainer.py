"""One training run of the recipe (seed §4.1) on TFRecords, with no orchestrator.

RAdam inside Lookahead, one-cycle learning rate with weight decay on the same shape,
AWP from a configured epoch, label-smoothed cross-entropy, optional gradient clipping,
the precision policy and tf.distribute strategy of the config, best-weights restore by
validation loss with a NaN/Inf guard, and resumption from the last finished epoch
(`BackupAndRestore` in `<out_dir>/backup`) when a killed run is started again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator

import keras
import tensorflow as tf
from pydantic import BaseModel

from islr.data.tfrecord import TFRecordSet
from islr.errors import TrainingDivergedError
from islr.models.landmarks import FACE_MIRROR_PAIRS
from islr.models.layers import LateDropout
from islr.models.zoo import build_model
from islr.training.augment import make_augment, model_rows
from islr.training.awp import AWPModel
from islr.training.callbacks import BestWeightsGuard, EpochBackup, EpochProgress
from islr.training.config import RunConfig
from islr.training.data import EVAL_CACHE_BYTES, make_batches
from islr.training.distribute import global_batch_size, is_chief, select_strategy
from islr.training.loop import fit_distributed
from islr.training.optimizers import Lookahead, RAdam
from islr.training.precision import set_precision
from islr.training.schedules import OneCycle, WeightDecaySchedule

log = logging.getLogger(__name__)

# Keras warns about two things that are by design here: `fit` passes shuffle=True to a
# tf.data input that shuffles itself, and an epoch of the (finite, unrepeated)
# validation set "runs out of data" when it ends.
warnings.filterwarnings("ignore", message=r"`shuffle=True` was passed", category=UserWarning)
warnings.filterwarnings("ignore", message=r"Your input ran out of data", category=UserWarning)

MODEL_FILE = "model.keras"


class TrainResult(BaseModel):
    name: str
    model_path: str | None
    history: dict[str, list[float]]
    best_epoch: int
    diverged: bool
    parameters: int
    global_batch: int
    replicas: int
    precision: str
    # the MLflow run that tracked the training, set by the caller that opened it
    mlflow_run_id: str | None = None


class _ScheduleLogger(keras.callbacks.Callback):
    """Adds the learning rate and weight decay in force to each epoch's logs."""

    def __init__(self, inner: keras.optimizers.Optimizer):
        super().__init__()
        self.inner = inner

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.inner.learning_rate))
            logs["weight_decay"] = float(keras.ops.convert_to_numpy(self.inner.weight_decay))


def _makedirs(path: str) -> None:
    import tensorflow as tf

    tf.io.gfile.makedirs(path)


def _shard_by(ds, n_files: int, workers: int):
    """Each worker reads its own shard files when there are enough of them; otherwise
    every worker reads all files and keeps its share of the records."""
    policy = tf.data.experimental.AutoShardPolicy
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        policy.FILE if n_files >= workers else policy.DATA
    )
    return ds.with_options(options)


def backup_dir(out: str) -> str:
    """Where BackupAndRestore keeps the last finished epoch. Every worker of a cluster
    keeps its own copy (the out folder is shared storage), so none overwrites another's
    and each restores the same synchronised state."""
    raw = os.environ.get("TF_CONFIG")
    task = json.loads(raw).get("task", {}) if raw else {}
    if not task or is_chief():
        return f"{out}/backup"
    return f"{out}/backup/{task.get('type', 'worker')}-{task.get('index', 0)}"


def save_model_atomic(model: keras.Model, path: str) -> None:
    """Save a `.keras` file under a temporary name (Keras wants the suffix), then rename
    it, so a killed save never leaves a half-written model at `path`."""
    tmp = f"{path.removesuffix('.keras')}.tmp.keras"
    model.save(tmp)
    tf.io.gfile.rename(tmp, path, overwrite=True)


def write_text_atomic(path: str, text: str) -> None:
    """Write a text file under a temporary name, then rename it (local path or URI)."""
    import tensorflow as tf

    tmp = f"{path}.tmp"
    with tf.io.gfile.GFile(tmp, "w") as fh:
        fh.write(text)
    tf.io.gfile.rename(tmp, path, overwrite=True)


def compile_trainer(
    config: RunConfig, steps_per_epoch: int, global_batch: int | None = None
) -> tuple[keras.Model, AWPModel, RAdam]:
    """The run's model and its compiled training wrapper (call inside the strategy's
    scope): RAdam in Lookahead on the one-cycle schedules, AWP from the configured epoch,
    label-smoothed cross-entropy, accuracy and top-5. Returns (model, trainer, RAdam).

    `global_batch` sets the learning rate (`TrainConfig.peak_lr`); by default the
    per-replica batch times the replicas of the strategy in scope."""
    train_cfg = config.train
    model_cfg = config.model
    if global_batch is None:
        global_batch = (
            train_cfg.batch_per_replica * tf.distribute.get_strategy().num_replicas_in_sync
        )
    if train_cfg.late_dropout_start_epoch is not None:
        model_cfg = model_cfg.model_copy(
            update={"late_dropout_step": train_cfg.late_dropout_start_epoch * steps_per_epoch}
        )
    model = build_model(model_cfg)
    peak = train_cfg.peak_lr(global_batch)
    lr = OneCycle(
        peak,
        total_steps=train_cfg.epochs * steps_per_epoch,
        warmup_fraction=train_cfg.warmup_fraction,
        lr_min=min(train_cfg.lr_min, peak),
    )
    inner = RAdam(
        lr,
        weight_decay=WeightDecaySchedule(train_cfg.weight_decay * peak, lr),
        sma_threshold=train_cfg.radam_sma_threshold,
        clipnorm=train_cfg.clipnorm,
    )
    optimizer = Lookahead(
        inner,
        sync_period=train_cfg.lookahead_sync_period,
        slow_step_size=train_cfg.lookahead_alpha,
    )
    # AWP that never starts within the run (a scale that turns it off by its start
    # epoch) is left out of the step: the same updates, without tracing a second,
    # never-taken forward and backward pass into every run's graph.
    awp_lambda = train_cfg.awp_lambda if train_cfg.awp_start_epoch < train_cfg.epochs else 0.0
    # eps 0 as in the reference (divide_no_nan keeps a zero gradient at zero)
    trainer = AWPModel(
        model,
        awp_lambda,
        start_step=train_cfg.awp_start_epoch * steps_per_epoch,
        eps=0.0,
    )
    trainer.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=train_cfg.label_smoothing
        ),
        metrics=[
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            keras.metrics.TopKCategoricalAccuracy(5, name="top5"),
        ],
        # Keras's "auto" turns XLA on for a single GPU (off under MirroredStrategy), where
        # the cuDNN LSTM/GRU kernels have no XLA version (keras-team/keras#18456) and every
        # new padded length would compile again; off, a run trains the same way on one GPU
        # (one_run_per_gpu) as across several.
        jit_compile=False,
    )
    # LateDropout counts optimizer steps (the study's "training steps"), not the two
    # forward passes an AWP step makes
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, LateDropout):
            layer.follow(optimizer.iterations)
    return model, trainer, inner


@contextlib.contextmanager
def op_determinism(enabled: bool) -> Iterator[None]:
    """TensorFlow's op determinism on while the block runs (`enabled`), then back as
    it was. The switch is global to the process: put back, it cannot slow down, or
    make raise, whatever the process runs next (an evaluation, another test). Not
    `enabled`: left as it is, so a program that switched it on itself keeps it."""
    # The switch's reader and its "off" are not in the public API (TF 2.21).
    from tensorflow.python.framework import config as tf_config

    before = tf_config.is_op_determinism_enabled()
    if enabled:
        tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if enabled and not before:
            tf_config.disable_op_determinism()


def train_run(
    config: RunConfig,
    tfrecords: TFRecordSet,
    out_dir: str | os.PathLike[str],
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int = 0,
) -> TrainResult:
    """Train one run; the best model is saved to `<out_dir>/model.keras` by the chief.

    The same config, records and `train.seed` give the same weights and history, bit
    for bit, on the same machine when `train.deterministic` is on (docs/training.md,
    "Reproducibility")."""
    # Only a flag: it does not initialise TensorFlow's runtime (see `_train_run`).
    with op_determinism(config.train.deterministic):
        return _train_run(config, tfrecords, out_dir, callbacks, verbose)


def _train_run(
    config: RunConfig,
    tfrecords: TFRecordSet,
    out_dir: str | os.PathLike[str],
    callbacks: list[keras.callbacks.Callback] | None,
    verbose: int,
) -> TrainResult:
    train_cfg = config.train
    # The strategy comes first: a multi-worker strategy configures collective ops, which
    # TensorFlow allows only before anything else has initialised its runtime.
    strategy = select_strategy(train_cfg.strategy)
    out = str(out_dir).rstrip("/")
    _makedirs(out)
    # Before the model is built: Python's generator seeds the Keras initialisers and
    # each Dropout's SeedGenerator, TensorFlow's global seed the shuffles.
    keras.utils.set_random_seed(train_cfg.seed)
    precision = set_precision(train_cfg.precision)
    n_train = tfrecords.counts.get("train", 0)
    if n_train == 0:
        raise ValueError(f"{tfrecords.directory}: no training records")
    # never more than the data holds: training batches drop the remainder
    batch = min(global_batch_size(train_cfg.batch_per_replica, strategy), n_train)
    steps = max(1, n_train // batch)
    # Augmented batches carry only the rows the model reads (the rest NaN): 4.6x less work.
    rows = model_rows(config.model.landmarks)
    augment = (
        make_augment(config.augment, list(FACE_MIRROR_PAIRS), rows=rows)
        if config.augmentation
        else None
    )
    train_ds = make_batches(
        tfrecords.paths("train"),
        batch,
        max_len=config.model.max_len,
        training=True,
        augment=augment,
        seed=train_cfg.seed,
        n_classes=config.model.n_classes,
        # An endless stream with a fixed number of steps per epoch: Keras 3 cannot end an
        # epoch on exhausted data under MultiWorkerMirroredStrategy (StopIteration from
        # the distributed iterator, keras-team/keras#20585), and every worker must run
        # the same number of steps anyway.
        repeat=True,
    )
    val_ds = (
        make_batches(
            tfrecords.paths("val"),
            batch,
            max_len=config.model.max_len,
            n_classes=config.model.n_classes,
            # read every epoch: kept in memory when small
            cache_below=EVAL_CACHE_BYTES,
        )
        if "val" in tfrecords.files
        else None
    )

    with strategy.scope():
        model, trainer, inner = compile_trainer(config, steps, global_batch=batch)
        # Built now, not on the first step: a tf.function that creates variables while
        # it traces is traced a second time, which cost every run one more trace of its
        # whole training step.
        trainer.optimizer.build(trainer.trainable_variables)
    guard = BestWeightsGuard("val_loss" if val_ds is not None else "loss")
    callback_set = [
        _ScheduleLogger(inner),
        EpochBackup(backup_dir(out), every=train_cfg.backup_every_epochs),
        *(callbacks or []),
        guard,
        EpochProgress(config.name, train_cfg.epochs),
    ]
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        workers = strategy.extended._num_workers
        history = fit_distributed(
            trainer,
            strategy,
            _shard_by(train_ds, len(tfrecords.paths("train")), workers),
            epochs=train_cfg.epochs,
            steps_per_epoch=steps,
            validation_data=(
                _shard_by(val_ds, len(tfrecords.paths("val")), workers) if val_ds else None
            ),
            callbacks=callback_set,
        )
    else:
        history = trainer.fit(
            train_ds,
            validation_data=val_ds,
            epochs=train_cfg.epochs,
            steps_per_epoch=steps,
            verbose=verbose,
            callbacks=callback_set,
        )
    if guard.diverged and guard.best_weights is None:
        epoch, batch = guard.diverged_at
        raise TrainingDivergedError(
            f"{config.name}: the training loss became NaN/Inf at epoch {epoch + 1}, "
            f"batch {batch}, before any epoch finished with a finite "
            f"{guard.monitor}; no model was saved. Lower train.lr_max "
            f"({train_cfg.lr_max}) or set train.clipnorm (now {train_cfg.clipnorm})."
        )
    model_path = None
    if is_chief():
        model_path = f"{out}/{MODEL_FILE}"
        save_model_atomic(model, model_path)
    log.info(
        "%s: best epoch %d, diverged=%s, model %s",
        config.name,
        guard.best_epoch + 1,
        guard.diverged,
        model_path,
    )
    return TrainResult(
        name=config.name,
        model_path=model_path,
        history={k: [float(v) for v in vals] for k, vals in history.history.items()},
        best_epoch=guard.best_epoch,
        diverged=guard.diverged,
        parameters=int(model.count_params()),
        global_batch=batch,
        replicas=strategy.num_replicas_in_sync,
        precision=precision,
    )
