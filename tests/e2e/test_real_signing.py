"""The quickstart recipe learns real signing: on the shared hello/thankyou set (real
MediaPipe recordings of six signers), each rotation trains cnn_transformer on four
signers and tests on the other two, through the project's own data commands and
trainer (`benchmarks/real_signing.py`).

The benchmark's figures are in docs/training.md (0.954, 0.985, 1.000; mean 0.980). The
thresholds here leave room for CPU nondeterminism (one rotation holds 65-76 test
recordings, so one error is 1.3-1.5 points) while still failing for a recipe that
starves: the earlier quickstart recipe scored 0.53, 0.47 and 0.03, and a random forest
on hand-position statistics 0.74, 0.88 and 0.96.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "asl-signs-hello-thankyou"


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "train.csv").exists(), reason=f"{DATA} is not present")
def test_quickstart_recipe_learns_real_signing_of_unseen_signers(tmp_path):
    out = tmp_path / "real_signing.json"
    done = subprocess.run(
        [
            *(sys.executable, str(REPO / "benchmarks" / "real_signing.py")),
            *("--work", str(tmp_path / "work"), "--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    accuracies = [r["accuracy"] for r in result["rotations"]]
    assert len(accuracies) == 3
    assert all(r["test_records"] >= 60 for r in result["rotations"])
    assert min(accuracies) >= 0.90, accuracies
    assert result["mean"] >= 0.94, accuracies
