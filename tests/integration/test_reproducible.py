"""Reruns reproduce: the same run config, records and seed give bit-identical weights
and the same history on CPU, in the same process and in a new one; another seed gives
other weights. The run augments (the quickstart scale's defaults), so the seeded
shard order, shuffles and augmentation draws are all in play, as are dropout and the
weight initialisation."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest
from tensorflow.python.framework import config as tf_config

from islr.data.ingest import ingest, sign_map_for
from islr.data.split import SplitConfig, assign_folds
from islr.data.tfrecord import write_tfrecords
from islr.data.validate import ValidationConfig, validate_recordings
from islr.training.config import RunConfig, load_run_config
from islr.training.trainer import train_run

# Trains each run of argv[1] (a JSON list of [RunConfig, out folder]) on the set in
# argv[2] and writes its history beside its model: reruns as a user makes them, in a
# fresh process, where TensorFlow's process-global state (op determinism, seeds,
# compiled functions) starts anew.
RERUN = """
import json, sys
from islr.data.tfrecord import load_tfrecord_set
from islr.training.config import RunConfig
from islr.training.trainer import train_run

tfrecords = load_tfrecord_set(sys.argv[2])
for config, out in json.loads(open(sys.argv[1]).read()):
    result = train_run(RunConfig.model_validate(config), tfrecords, out)
    with open(out + "/history.json", "w") as fh:
        json.dump(result.history, fh)
"""


@pytest.fixture(scope="module")
def tfrecords(synth_dir, tmp_path_factory):
    recordings = ingest(synth_dir, workers=1, progress=False)
    valid, _ = validate_recordings(
        recordings, ValidationConfig(), sign_map_for(synth_dir), str(synth_dir)
    )
    manifest = assign_folds(valid, SplitConfig(n_folds=3, seed=0))
    return write_tfrecords(manifest, synth_dir, tmp_path_factory.mktemp("t") / "s", progress=False)


def tiny(repo_root, seed: int = 42, epochs: int = 2) -> RunConfig:
    # test_trainer.py's size (3 steps per epoch on the 48 training records) in one
    # stage: tracing the train step is most of a run's time. AWP and the head's
    # LateDropout switch on for the second epoch, so their draws are in play too.
    config = load_run_config(
        repo_root / "configs/runs/cnn_transformer.yaml",
        repo_root / "configs/scales/quickstart.yaml",
    )
    config.train.epochs = epochs
    config.train.batch_per_replica = 16
    config.train.seed = seed
    config.train.awp_start_epoch = 1
    config.train.late_dropout_start_epoch = 1
    config.model.dim = 16
    config.model.stages = 1
    assert config.augmentation and config.train.deterministic
    return config


def weights(model_path) -> dict[str, np.ndarray]:
    """Every variable a `.keras` file holds (the dropout layers' seed states too), read
    from its weights file: quicker than loading the model."""
    with zipfile.ZipFile(model_path) as archive:
        data = archive.read("model.weights.h5")
    out = {}
    with h5py.File(io.BytesIO(data), "r") as h5:
        h5.visititems(
            lambda name, item: (
                out.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
            )
        )
    return out


def identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_rerun_gives_bit_identical_weights_and_another_seed_does_not(
    repo_root, tfrecords, tmp_path
):
    # In a new process, while this one trains (most of a run is single-threaded
    # tracing, so the two share the cores): the same run, and one with another seed
    # (one epoch is enough to show that the seed reaches the weights).
    fresh, other = tmp_path / "fresh", tmp_path / "other"
    runs = [
        (tiny(repo_root).model_dump(mode="json"), str(fresh)),
        (tiny(repo_root, seed=43, epochs=1).model_dump(mode="json"), str(other)),
    ]
    runs_file = tmp_path / "runs.json"
    runs_file.write_text(json.dumps(runs))
    rerun = subprocess.Popen(
        [sys.executable, "-c", RERUN, str(runs_file), tfrecords.directory],
        cwd=repo_root,
        env=os.environ.copy(),
    )
    try:
        assert not tf_config.is_op_determinism_enabled()
        first = train_run(tiny(repo_root), tfrecords, tmp_path / "first")
        # op determinism is process-global: the run puts it back as it found it
        assert not tf_config.is_op_determinism_enabled()
        again = train_run(tiny(repo_root), tfrecords, tmp_path / "again")
        assert rerun.wait(timeout=600) == 0
    finally:
        if rerun.poll() is None:
            rerun.kill()

    assert len(first.history["loss"]) == 2
    assert again.history == first.history
    assert identical(weights(again.model_path), weights(first.model_path))
    assert json.loads((fresh / "history.json").read_text()) == first.history
    assert identical(weights(fresh / "model.keras"), weights(first.model_path))

    other_history = json.loads((other / "history.json").read_text())
    assert other_history["loss"][0] != first.history["loss"][0]
    assert not identical(weights(other / "model.keras"), weights(first.model_path))
