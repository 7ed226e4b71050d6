"""A training run end to end on generated TFRecords: curves, best model, resumption."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest

from islr.data.ingest import ingest, sign_map_for
from islr.data.split import SplitConfig, assign_folds
from islr.data.tfrecord import write_tfrecords
from islr.data.validate import ValidationConfig, validate_recordings
from islr.errors import TrainingDivergedError
from islr.training.config import load_run_config
from islr.training.trainer import train_run


@pytest.fixture(scope="module")
def tfrecords(synth_dir, tmp_path_factory):
    recordings = ingest(synth_dir, workers=1, progress=False)
    valid, _ = validate_recordings(
        recordings, ValidationConfig(), sign_map_for(synth_dir), str(synth_dir)
    )
    manifest = assign_folds(valid, SplitConfig(n_folds=3, seed=0))
    return write_tfrecords(manifest, synth_dir, tmp_path_factory.mktemp("t") / "s", progress=False)


def quick(repo_root, run="cnn_transformer", epochs=2):
    config = load_run_config(
        repo_root / f"configs/runs/{run}.yaml", repo_root / "configs/scales/quickstart.yaml"
    )
    config.train.epochs = epochs
    config.train.batch_per_replica = 16
    config.model.dim = 16
    config.train.backup_every_epochs = 1
    return config


def test_run_trains_logs_and_saves(repo_root, tfrecords, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="islr"):
        result = train_run(quick(repo_root), tfrecords, tmp_path)
    progress = [r.getMessage() for r in caplog.records if ": epoch " in r.getMessage()]
    assert len(progress) == 2 and progress[1].startswith("cnn_transformer: epoch 2/2 loss ")
    assert "val_loss" in progress[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]  # no temporary left
    h = result.history
    for key in ("loss", "val_loss", "accuracy", "val_top5", "learning_rate", "weight_decay"):
        assert len(h[key]) == 2 and np.isfinite(h[key]).all(), key
    assert not result.diverged and result.best_epoch in (0, 1)
    model = keras.saving.load_model(result.model_path, safe_mode=True)
    assert model.count_params() == result.parameters


def test_killed_run_resumes_from_its_last_epoch(repo_root, tfrecords, tmp_path):
    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        train_run(quick(repo_root, epochs=4), tfrecords, tmp_path, callbacks=[Kill()])
    resumed = train_run(quick(repo_root, epochs=4), tfrecords, tmp_path)
    assert len(resumed.history["loss"]) == 2  # epochs 3 and 4 only


def test_a_run_backed_up_every_other_epoch_resumes_from_the_last_backup(
    repo_root, tfrecords, tmp_path
):
    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:  # after epoch 3: the last backup is epoch 2's
                raise KeyboardInterrupt("killed")

    config = quick(repo_root, epochs=4)
    config.train.backup_every_epochs = 2
    with pytest.raises(KeyboardInterrupt):
        train_run(config, tfrecords, tmp_path, callbacks=[Kill()])
    resumed = train_run(config, tfrecords, tmp_path)
    assert len(resumed.history["loss"]) == 2  # epochs 3 and 4 again


def test_a_run_that_diverges_before_any_good_epoch_saves_nothing(repo_root, tfrecords, tmp_path):
    class Poison(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 1:
                kernel = self.model.model.get_layer("stem").kernel  # AWP wraps the model
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    with pytest.raises(
        TrainingDivergedError, match=r"cnn_transformer: .*NaN/Inf at epoch 1, batch 1.*lr_max"
    ):
        train_run(quick(repo_root), tfrecords, tmp_path, callbacks=[Poison()])
    assert not (tmp_path / "model.keras").exists()


def test_the_training_step_is_traced_once_and_awp_that_never_starts_is_left_out(
    repo_root, tfrecords, tmp_path, monkeypatch
):
    """Each trace of the step costs seconds; an optimizer that made its variables on the
    first step made TensorFlow trace the whole step twice."""
    from islr.training.awp import AWPModel
    from islr.training.trainer import compile_trainer

    traced = []
    plain = AWPModel.train_step
    monkeypatch.setattr(
        AWPModel, "train_step", lambda self, data: traced.append(1) or plain(self, data)
    )
    train_run(quick(repo_root, epochs=2), tfrecords, tmp_path)
    assert len(traced) == 1

    config = quick(repo_root, epochs=2)
    config.train.awp_start_epoch = 2  # the run ends before AWP would start
    assert compile_trainer(config, steps_per_epoch=3)[1].awp_lambda == 0.0
    config.train.awp_start_epoch = 1
    assert compile_trainer(config, steps_per_epoch=3)[1].awp_lambda == 0.2
