"""Placing several runs on one machine: the real scheduler with real child processes.

The scheduling tests give each run a short Python child instead of a training, which
writes down what it saw (its CUDA_VISIBLE_DEVICES, when it started and ended); the
end-to-end test trains through `islr train --runs ... --placement one_run_per_gpu`.
"""

from __future__ import annotations

import itertools
import json
import os
import stat
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from islr.training.placement import (
    PlacementError,
    RunJob,
    place_runs,
    run_queue,
    slots_for,
    visible_gpus,
)

# The child: record the environment and the start, optionally wait until a partner run
# has started too (which only happens when the two run at the same time), then exit.
CHILD = r"""
import json, os, sys, time
name, marks, partner, code = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
start = time.monotonic()
open(os.path.join(marks, name + ".started"), "w").close()
if partner != "-":
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(marks, partner + ".started")):
        if time.monotonic() > deadline:
            print("partner never started", flush=True)
            sys.exit(9)
        time.sleep(0.05)
time.sleep(0.2)
record = {
    "name": name,
    "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
    "mark": os.environ.get("ISLR_TEST_MARK"),
    "start": start,
    "end": time.monotonic(),
}
with open(os.path.join(marks, name + ".json"), "w") as fh:
    json.dump(record, fh)
if code:
    print("boom: this run fails on purpose", flush=True)
sys.exit(code)
"""


def child_job(tmp: Path, name: str, partner: str = "-", code: int = 0) -> RunJob:
    marks = tmp / "marks"
    marks.mkdir(exist_ok=True)
    command = [sys.executable, "-c", CHILD, name, str(marks), partner, str(code)]
    return RunJob(name=name, command=command, log_path=tmp / "logs" / f"{name}.log")


def records(tmp: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (tmp / "marks").glob("*.json")}


def assert_one_run_per_device(recs: dict[str, dict]) -> None:
    by_device: dict[str | None, list[tuple[float, float]]] = defaultdict(list)
    for rec in recs.values():
        by_device[rec["cuda"]].append((rec["start"], rec["end"]))
    for device, spans in by_device.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, f"two runs overlapped on device {device}: {spans}"


def test_one_run_per_gpu_pins_queues_and_survives_a_failure(tmp_path):
    jobs = [
        # a and b each wait for the other: they only succeed if they run concurrently
        child_job(tmp_path, "a", partner="b"),
        child_job(tmp_path, "b", partner="a"),
        child_job(tmp_path, "fails", code=3),
        child_job(tmp_path, "c"),
        child_job(tmp_path, "d"),
        RunJob("missing", ["/nonexistent/islr-train"], log_path=tmp_path / "logs" / "m.log"),
        child_job(tmp_path, "e"),
    ]
    # The parent's own CUDA_VISIBLE_DEVICES must not leak into a pinned child.
    env = {**os.environ, "ISLR_TEST_MARK": "inherited", "CUDA_VISIBLE_DEVICES": "7,8"}
    outcomes = place_runs(jobs, "one_run_per_gpu", gpus=["0", "1"], env=env)

    assert [o.name for o in outcomes] == [j.name for j in jobs]
    by_name = {o.name: o for o in outcomes}
    recs = records(tmp_path)
    assert set(recs) == {"a", "b", "fails", "c", "d", "e"}

    # every run got exactly one of the two GPUs, and saw the one the scheduler reports
    for name, rec in recs.items():
        assert rec["cuda"] in ("0", "1")
        assert rec["cuda"] == by_name[name].cuda_visible_devices
        assert rec["mark"] == "inherited"
    assert recs["a"]["cuda"] != recs["b"]["cuda"]
    assert_one_run_per_device(recs)

    # the failures are reported, with the log's last lines, and nothing else failed
    assert by_name["fails"].returncode == 3 and not by_name["fails"].ok
    assert "boom: this run fails on purpose" in by_name["fails"].error
    assert by_name["missing"].returncode is None
    assert "could not start" in by_name["missing"].error
    assert all(by_name[n].ok for n in ("a", "b", "c", "d", "e")), [
        (o.name, o.error) for o in outcomes
    ]


def test_mirrored_runs_one_after_another_with_every_device_visible(tmp_path):
    jobs = [child_job(tmp_path, n) for n in ("first", "second", "third")]
    env = {**os.environ, "ISLR_TEST_MARK": "x", "CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    outcomes = place_runs(jobs, "mirrored", gpus=["0", "1", "2", "3"], env=env)

    assert all(o.ok for o in outcomes)
    recs = records(tmp_path)
    # each run sees the whole box, as MirroredStrategy needs
    assert {rec["cuda"] for rec in recs.values()} == {"0,1,2,3"}
    spans = sorted((recs[n]["start"], recs[n]["end"], n) for n in recs)
    assert [n for *_, n in spans] == ["first", "second", "third"]
    for (_, end, _), (start, _, _) in itertools.pairwise(spans):
        assert end <= start


def test_more_slots_than_runs_starts_only_the_runs(tmp_path):
    outcomes = run_queue([child_job(tmp_path, "only")], slots_for("one_run_per_gpu", list("0123")))
    assert [o.name for o in outcomes] == ["only"] and outcomes[0].ok
    assert outcomes[0].cuda_visible_devices == "0"


def test_visible_gpus_reads_cuda_visible_devices_then_nvidia_smi(tmp_path, monkeypatch):
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "0, 2"}) == ["0", "2"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    # no CUDA_VISIBLE_DEVICES: ask nvidia-smi (a stand-in on PATH here), or find none
    monkeypatch.setenv("PATH", str(tmp_path))
    assert visible_gpus({}) == []
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\nprintf '0\\n1\\n2\\n'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    assert visible_gpus({}) == ["0", "1", "2"]


def test_placement_refuses_what_it_cannot_do(tmp_path):
    job = child_job(tmp_path, "x")
    with pytest.raises(PlacementError, match="no GPU found"):
        place_runs([job], "one_run_per_gpu", gpus=[])
    with pytest.raises(PlacementError, match="TF_CONFIG"):
        place_runs([job], "mirrored", env={**os.environ, "TF_CONFIG": '{"cluster": {}}'})
    with pytest.raises(PlacementError, match="repeat"):
        slots_for("one_run_per_gpu", ["0", "0"])
    assert not (tmp_path / "marks" / "x.json").exists()


@pytest.fixture(scope="module")
def tiny_tfrecords(synth_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("placement")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "islr.cli", "data", "tfrecords"),
            *(str(synth_dir), str(out / "tfr"), "--report-dir", str(out / "report")),
            *("--n-folds", "3"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    scale = out / "tiny.yaml"
    scale.write_text(
        "model: {dim: 16, max_len: 32, conv_blocks: 1, num_heads: 2}\n"
        "train: {epochs: 1, batch_per_replica: 8, awp_start_epoch: 0}\n"
    )
    return out / "tfr", scale


@pytest.mark.slow
def test_islr_train_runs_one_per_gpu_through_the_cli(tiny_tfrecords, tmp_path, repo_root):
    """Two real runs trained concurrently by `islr train --runs`, next to one whose run
    file is broken: the broken one is reported, the others still produce their models."""
    tfrecords, scale = tiny_tfrecords
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: {architecture: cnn}\ntrain: {epoch: 5}\n")
    out = tmp_path / "runs"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "islr.cli", "train", "--runs", "cnn", str(broken)),
            "transformer",
            *("--placement", "one_run_per_gpu", "--gpus", "0,1"),
            *("--scale", str(scale), "--tfrecords", str(tfrecords), "--out", str(out)),
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    report = json.loads((out / "placement.json").read_text())
    assert report["placement"] == "one_run_per_gpu"
    runs = {r["name"]: r for r in report["runs"]}
    assert list(runs) == ["cnn", "broken", "transformer"]
    assert runs["broken"]["returncode"] == 2 and "epoch" in runs["broken"]["error"]
    for name in ("cnn", "transformer"):
        assert runs[name]["ok"], runs[name]["error"]
        assert runs[name]["cuda_visible_devices"] in ("0", "1")
        assert (out / name / "model.keras").exists()
        result = json.loads((out / name / "train_result.json").read_text())
        assert result["name"] == name and len(result["history"]["loss"]) == 1
    assert "failed: broken" in done.stderr
