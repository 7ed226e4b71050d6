"""The real trainer (`train_run`: AWP from step 0, Lookahead(RAdam), LateDropout, label
smoothing) under tf.distribute on CPU, against one device at the same global batch and
seed: `MirroredStrategy` on 2 logical CPUs, and `MultiWorkerMirroredStrategy` with 2
worker processes on 127.0.0.1 (TF_CONFIG, as a Kubeflow TFJob runs `islr train`), whose
NaN guard must stop both workers.

Why the comparison can be strict: the replicas of a step see different halves of the
global batch, and two things then differ from one device by design, not by a bug:
BatchNorm normalises each replica's half with that half's statistics (as the reference
did on its 8 replicas), and dropout draws its own mask per replica. So the training set
here holds one recording repeated: every half of every batch is then the same as the
whole batch (BatchNorm statistics included, whichever records a worker's file shard
holds), and dropout rates are 0 (the LateDropout layer and its step counter still run)
with augmentation off. What is left is float rounding (the gradient summed from two
halves, reductions in another order), which Adam-style steps amplify in near-zero
gradient components: observed up to 2e-4 of the loss after 12 steps, so the tolerance
is 2e-3. A loss reported or scaled per replica (a factor of 2) fails by far, and the
learning rate and weight decay logged each epoch must agree to 1e-6 (the schedules
count global steps, not one replica's). The validation set holds distinct recordings:
its last batch is split unevenly (one replica may get none), and its loss is compared
too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from islr.data.ingest import ingest, sign_map_for
from islr.data.split import SplitConfig, assign_folds
from islr.data.tfrecord import write_tfrecords
from islr.data.validate import ValidationConfig, validate_recordings

JOB = os.path.join(os.path.dirname(os.path.dirname(__file__)), "distributed_job.py")
# relative agreement of every epoch's loss and val_loss (see the module docstring)
RTOL = 2e-3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_env(ports: list[int], index: int) -> dict[str, str]:
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
    return {**os.environ, "TF_CONFIG": json.dumps(tf_config)}


@pytest.fixture(scope="module")
def one_recording_tfrecords(synth_dir, tmp_path_factory):
    """Shards whose training records are all one recording (see the module docstring);
    validation and test keep their distinct recordings."""
    recordings = ingest(synth_dir, workers=1, progress=False)
    valid, _ = validate_recordings(
        recordings, ValidationConfig(), sign_map_for(synth_dir), str(synth_dir)
    )
    manifest = assign_folds(valid, SplitConfig(n_folds=3, seed=0))
    train = manifest["split"] == "train"
    first = manifest[train].iloc[0]
    for column in manifest.columns.difference(["fold", "split"]):
        manifest.loc[train, column] = first[column]
    out = tmp_path_factory.mktemp("dist") / "tfr"
    tfrecords = write_tfrecords(manifest, synth_dir, out, progress=False)
    assert tfrecords.counts["train"] == 48 and len(tfrecords.files["train"]) == 2
    return out


def recipe(strategy: str, batch_per_replica: int, **train) -> dict:
    """The full recipe on a tiny model: AWP from step 0 (λ 0.2), Lookahead(RAdam),
    one-cycle lr and weight decay, label smoothing 0.1, LateDropout from epoch 2; 2
    epochs of 6 steps (global batch 8), so Lookahead syncs twice."""
    return {
        "name": "tiny",
        "augmentation": False,
        "model": {
            "architecture": "cnn_transformer",
            "dim": 8,
            "max_len": 12,
            "conv_blocks": 1,
            "stages": 1,
            "num_heads": 2,
            "drop_rate": 0.0,
            "late_dropout": 0.0,
        },
        "train": {
            "epochs": 2,
            "batch_per_replica": batch_per_replica,
            "lr_max": 5e-3,
            "awp_lambda": 0.2,
            "awp_start_epoch": 0,
            "late_dropout_start_epoch": 1,
            "label_smoothing": 0.1,
            "precision": "float32",
            "strategy": strategy,
            **train,
        },
    }


def write_config(folder: Path, name: str, config: dict) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(config))
    return path


def assert_same_curves(distributed: dict, single: dict) -> None:
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(distributed[key], single[key], rtol=RTOL, err_msg=key)
    # the schedules count global steps, not one replica's
    for key in ("learning_rate", "weight_decay"):
        np.testing.assert_allclose(distributed[key], single[key], rtol=1e-6, err_msg=key)


@pytest.fixture(scope="module")
def single_and_mirrored(one_recording_tfrecords, tmp_path_factory):
    """One process, its CPU split in 2: the run on one device (batch 8), then the same
    run under MirroredStrategy on both (4 per replica)."""
    out = tmp_path_factory.mktemp("mirrored")
    configs = [
        write_config(out, "single", recipe("default", 8)),
        write_config(out, "mirrored", recipe("mirrored", 4)),
    ]
    done = subprocess.run(
        [
            sys.executable,
            JOB,
            str(out),
            str(one_recording_tfrecords),
            "--cpus",
            "2",
            *map(str, configs),
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return tuple(
        json.loads((out / f"{n}-single-0.json").read_text()) for n in ("single", "mirrored")
    )


@pytest.mark.slow
def test_train_run_under_mirrored_strategy_matches_one_device(single_and_mirrored):
    single, mirrored = single_and_mirrored
    assert (single["replicas"], mirrored["replicas"]) == (1, 2)
    assert single["global_batch"] == mirrored["global_batch"] == 8
    assert not single["diverged"] and not mirrored["diverged"]
    assert_same_curves(mirrored["history"], single["history"])
    assert Path(mirrored["model_path"]).exists()


def islr_train(config: Path, tfrecords: Path, out: Path, env: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "islr.cli", "train", "--run", str(config)]
    command += ["--tfrecords", str(tfrecords), "--out", str(out), "--keras-verbose", "0"]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def two_workers(config: Path, tfrecords: Path, folder: Path) -> list[tuple[Path, int, str, str]]:
    """`islr train` on two worker processes of one cluster; (out, code, stdout, stderr)."""
    ports = [free_port(), free_port()]
    procs = [
        (folder / f"w{i}", islr_train(config, tfrecords, folder / f"w{i}", cluster_env(ports, i)))
        for i in range(2)
    ]
    finished = []
    for out, proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=400)
        except subprocess.TimeoutExpired:
            for _, other in procs:
                other.kill()
            raise
        finished.append((out, proc.returncode, stdout, stderr))
    return finished


@pytest.mark.slow
def test_two_worker_processes_match_one_device_and_only_the_chief_saves(
    one_recording_tfrecords, single_and_mirrored, tmp_path
):
    """`islr train` as a TFJob worker runs it: the multi-worker loop (`fit_distributed`)
    with 2 workers of 1 replica each (4 per replica, global batch 8)."""
    single, _ = single_and_mirrored
    config = write_config(tmp_path, "tiny", recipe("auto", 4))
    (chief_out, code0, out0, err0), (other_out, code1, _, err1) = two_workers(
        config, one_recording_tfrecords, tmp_path
    )
    assert code0 == 0, err0[-3000:]
    assert code1 == 0, err1[-3000:]
    assert json.loads(out0.strip().splitlines()[-1])["replicas"] == 2
    result = json.loads((chief_out / "train_result.json").read_text())
    assert result["global_batch"] == 8 and result["replicas"] == 2
    assert_same_curves(result["history"], single["history"])
    assert (chief_out / "model.keras").exists()
    assert not (other_out / "model.keras").exists()
    assert not (other_out / "train_result.json").exists()


@pytest.mark.slow
def test_nan_guard_stops_both_workers(one_recording_tfrecords, tmp_path):
    """An absurd learning rate makes the loss NaN/Inf in the first epoch: every worker
    reads the same all-reduced loss, so both stop at the same batch, raise
    TrainingDivergedError (exit 2 with the message) and neither hangs in a collective
    waiting for the other or saves a model."""
    config = write_config(tmp_path, "tiny", recipe("auto", 4, lr_max=1e12, epochs=1))
    finished = two_workers(config, one_recording_tfrecords, tmp_path)
    messages = []
    for out, code, _, stderr in finished:
        assert code == 2, stderr[-3000:]
        (line,) = [x for x in stderr.splitlines() if x.startswith("islr train: error:")]
        assert "NaN/Inf at epoch 1" in line and "no model was saved" in line
        messages.append(line)
        assert not (out / "model.keras").exists()
    assert messages[0] == messages[1]  # the same batch on both
