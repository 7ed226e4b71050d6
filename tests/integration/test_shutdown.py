"""Stopping `islr data tfrecords` with 2 workers: SIGTERM and SIGINT stop the workers and
remove the staging folder; after SIGKILL (nothing can clean up) the workers still die
with the parent and the next run removes the leftover staging folder. A rerun writes
the same shards as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from islr.cli import main

ARGS = ["--workers", "2", "--records-per-shard", "1", "--mode", "random", "--n-folds", "2"]


def children(pid: int) -> set[int]:
    """Live (non-zombie) processes whose parent is `pid`, from /proc."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def alive(pids: set[int]) -> set[int]:
    live = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            live.add(pid)
    return live


def staging_folders(out: Path) -> list[Path]:
    return list(out.parent.glob(f".{out.name}.*.tmp"))


def shards(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name
)
def test_stop_while_writing_leaves_nothing_behind(sig, real_data_dir, tmp_path, capsys):
    out = tmp_path / "shards"
    command = ["data", "tfrecords", str(real_data_dir), str(out), *ARGS]
    proc = subprocess.Popen(
        [sys.executable, "-m", "islr.cli", *command, "--report-dir", str(tmp_path / "reports")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            workers = children(proc.pid)
            if staging_folders(out) and len(workers) >= 2:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be stopped"
        assert staging_folders(out) and len(workers) >= 2
        os.kill(proc.pid, sig)
        _, stderr = proc.communicate(timeout=60)
        gone_by = time.monotonic() + 10
        while alive(workers) and time.monotonic() < gone_by:
            time.sleep(0.05)
        assert not alive(workers), f"orphaned workers: {alive(workers)}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not out.exists()
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        assert len(staging_folders(out)) == 1  # the leftover the next run must remove
    else:
        assert proc.returncode == 128 + sig
        last = stderr.strip().splitlines()[-1]
        assert (
            last.startswith(f"islr data tfrecords: stopped by {sig.name}")
            and "Traceback" not in stderr
        )
        assert not staging_folders(out)
        return

    # rerun into the same folder: succeeds, removes the leftover, same shards as a clean run
    reference = tmp_path / "reference"
    for target, workers in ((out, "2"), (reference, "1")):
        args = ["data", "tfrecords", str(real_data_dir), str(target), *ARGS]
        args[args.index("--workers") + 1] = workers
        assert main([*args, "--report-dir", str(tmp_path / "reports")]) == 0
    capsys.readouterr()
    assert not staging_folders(out) and not list(tmp_path.glob(".*.tmp"))
    assert shards(out) == shards(reference) and len(shards(out)) == 9 + 2
