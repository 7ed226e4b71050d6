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

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "asl-signs-hello-thankyou"


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "train.csv").exists(), reason=f"{DATA} is not present")
def test_quickstart_recipe_learns_real_signing_of_unseen_signers(tmp_path):
    # the benchmark itself, in this process (its commands run in-process too)
    spec = importlib.util.spec_from_file_location(
        "real_signing", REPO / "benchmarks" / "real_signing.py"
    )
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    out = tmp_path / "real_signing.json"
    assert benchmark.main(["--work", str(tmp_path / "work"), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    accuracies = [r["accuracy"] for r in result["rotations"]]
    assert len(accuracies) == 3
    assert all(r["test_records"] >= 60 for r in result["rotations"])
    assert min(accuracies) >= 0.90, accuracies
    assert result["mean"] >= 0.94, accuracies
