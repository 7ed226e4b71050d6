"""Placing several training runs on one machine's GPUs.

The seven runs are independent and their models are small (1-3 M parameters), so a box
with several GPUs can train them in one of two ways:

- `mirrored`: one run after another, each across every GPU of the box (the run's
  `strategy: auto` becomes `MirroredStrategy`; the global batch is the per-replica
  batch times the GPUs).
- `one_run_per_gpu`: the runs train concurrently, each in its own process that sees
  exactly one GPU (`CUDA_VISIBLE_DEVICES=<id>`); with more runs than GPUs the rest wait
  in a queue and start as GPUs free up. A run that fails does not stop the others.

Both placements run every training in a child process (by default `islr train --run
...`, see `islr.training.commands`), so a run's GPU memory is released when it ends and
the scheduling process itself never initialises a GPU. Which devices exist is read from
`CUDA_VISIBLE_DEVICES` or `nvidia-smi`, never from TensorFlow, for the same reason.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from islr.errors import IslrError

log = logging.getLogger(__name__)

Placement = Literal["mirrored", "one_run_per_gpu"]
PLACEMENTS: tuple[str, ...] = ("mirrored", "one_run_per_gpu")

# How many lines of a failed run's log its outcome quotes.
ERROR_TAIL_LINES = 20


class PlacementError(IslrError):
    """Runs cannot be placed as asked (no GPU for `one_run_per_gpu`, a cluster job, ...)."""


@dataclass(frozen=True)
class Slot:
    """Where one run at a time trains: `env` is laid over the parent's environment."""

    name: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunJob:
    """One run to train: the command of its child process, and the file that receives
    the child's stdout and stderr (None: the parent's own streams)."""

    name: str
    command: list[str]
    log_path: Path | None = None
    cwd: Path | None = None


@dataclass
class RunOutcome:
    name: str
    slot: str
    cuda_visible_devices: str | None
    returncode: int | None
    started: float
    finished: float
    log_path: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def visible_gpus(environ: Mapping[str, str] | None = None) -> list[str]:
    """The GPU ids a child may be pinned to: the entries of `CUDA_VISIBLE_DEVICES` when
    it is set (so a box shared with others can hand this process a subset), else the
    indices `nvidia-smi` lists, else none."""
    environ = os.environ if environ is None else environ
    raw = environ.get("CUDA_VISIBLE_DEVICES")
    if raw is not None:
        ids = [part.strip() for part in raw.split(",") if part.strip()]
        # CUDA stops at the first invalid entry; "-1" is the usual way to hide every GPU
        return [] if not ids or ids[0].startswith("-") else ids
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        done = subprocess.run(
            [smi, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("nvidia-smi failed (%s); assuming no GPU", exc)
        return []
    if done.returncode != 0:
        log.warning("nvidia-smi exited with %d; assuming no GPU", done.returncode)
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def slots_for(placement: Placement, gpus: Sequence[str]) -> list[Slot]:
    """`mirrored`: one slot that sees every device. `one_run_per_gpu`: one slot per GPU id."""
    if placement == "mirrored":
        return [Slot("all devices")]
    if placement == "one_run_per_gpu":
        if not gpus:
            raise PlacementError(
                "placement one_run_per_gpu: no GPU found (CUDA_VISIBLE_DEVICES is unset "
                "or empty and nvidia-smi lists none). Use placement mirrored, or name "
                "the devices (islr train --gpus 0,1,...)."
            )
        if len(set(gpus)) != len(gpus):
            raise PlacementError(f"placement one_run_per_gpu: GPU ids repeat in {list(gpus)}")
        return [Slot(f"GPU {gpu}", {"CUDA_VISIBLE_DEVICES": str(gpu)}) for gpu in gpus]
    raise PlacementError(f"placement {placement!r}: expected one of {', '.join(PLACEMENTS)}")


def _tail(path: Path | None, lines: int = ERROR_TAIL_LINES) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(errors="replace").rstrip().splitlines()
    return "\n".join(text[-lines:])


def _run_one(job: RunJob, slot: Slot, base_env: Mapping[str, str]) -> RunOutcome:
    env = {**base_env, **slot.env}
    cuda = slot.env.get("CUDA_VISIBLE_DEVICES")
    log.info("%s: starting on %s", job.name, slot.name)
    started = time.time()
    returncode: int | None = None
    error: str | None = None
    try:
        if job.log_path is not None:
            job.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(job.log_path, "w") as out:
                returncode = subprocess.run(
                    job.command, env=env, cwd=job.cwd, stdout=out, stderr=subprocess.STDOUT
                ).returncode
        else:
            returncode = subprocess.run(job.command, env=env, cwd=job.cwd).returncode
    except OSError as exc:  # the command could not be started at all
        error = f"could not start {job.command[0]!r}: {exc}"
    finished = time.time()
    if returncode != 0 and error is None:
        tail = _tail(job.log_path)
        error = f"exit code {returncode}"
        if tail:
            error += f"; last lines of {job.log_path}:\n{tail}"
    if error is None:
        log.info("%s: finished on %s in %.0f s", job.name, slot.name, finished - started)
    else:
        log.error("%s: failed on %s: %s", job.name, slot.name, error)
    return RunOutcome(
        name=job.name,
        slot=slot.name,
        cuda_visible_devices=cuda,
        returncode=returncode,
        started=started,
        finished=finished,
        log_path=str(job.log_path) if job.log_path else None,
        error=error,
    )


def run_queue(
    jobs: Sequence[RunJob], slots: Sequence[Slot], env: Mapping[str, str] | None = None
) -> list[RunOutcome]:
    """Run every job, at most one per slot at any time, in the order given: each slot
    takes the next waiting job as soon as its previous one has exited. Returns one
    outcome per job, in the jobs' order; failed jobs are reported, never raised."""
    if not slots:
        raise PlacementError("no slot to run on")
    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        raise PlacementError(f"run names repeat: {names}")
    base_env = dict(os.environ if env is None else env)
    waiting: queue.SimpleQueue[RunJob] = queue.SimpleQueue()
    for job in jobs:
        waiting.put(job)
    outcomes: dict[str, RunOutcome] = {}
    lock = threading.Lock()

    # One thread per slot, each running its jobs one after another: a slot can never
    # hold two runs, and a free slot picks up the next queued run at once.
    def work(slot: Slot) -> None:
        while True:
            try:
                job = waiting.get_nowait()
            except queue.Empty:
                return
            outcome = _run_one(job, slot, base_env)
            with lock:
                outcomes[job.name] = outcome

    threads = [
        threading.Thread(target=work, args=(slot,), name=f"placement-{slot.name}", daemon=True)
        for slot in slots[: max(1, len(jobs))]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [outcomes[name] for name in names]


def place_runs(
    jobs: Sequence[RunJob],
    placement: Placement,
    gpus: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[RunOutcome]:
    """Train `jobs` under `placement`; `gpus` defaults to `visible_gpus()`."""
    environ = os.environ if env is None else env
    if environ.get("TF_CONFIG"):
        raise PlacementError(
            "TF_CONFIG is set: a cluster worker trains one run (islr train --run ...); "
            "placing several runs is for one machine. Unset TF_CONFIG to place runs here."
        )
    devices = visible_gpus(environ) if gpus is None else list(gpus)
    slots = slots_for(placement, devices)
    log.info(
        "placement %s: %d run(s) on %s",
        placement,
        len(jobs),
        ", ".join(slot.name for slot in slots),
    )
    return run_queue(jobs, slots, env=environ)


def outcomes_table(outcomes: Sequence[RunOutcome]) -> str:
    """A Markdown table of the outcomes, for a terminal or a job summary."""
    rows = ["| run | device | result | seconds | log |", "|---|---|---|---:|---|"]
    for o in outcomes:
        result = "ok" if o.ok else (o.error or "failed").splitlines()[0]
        rows.append(f"| {o.name} | {o.slot} | {result} | {o.seconds:.0f} | {o.log_path or ''} |")
    return "\n".join(rows)
