"""The embedded data set: DVC pull when the remote has it, regeneration otherwise, and an
md5 check against the .dvc file either way (real DVC, real git, a directory remote)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from islr.data.embedded import ensure_embedded_data
from islr.data.lineage import dvc_dir_md5, read_dvc_file
from islr.data.synth import generate_dataset
from islr.errors import DataIntegrityError

ARGS = {"signs": 3, "participants": 2, "per_sign": 1, "seed": 11}


def dvc(cwd, *args):
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, check=True, capture_output=True, text=True
    )


@pytest.fixture
def project(tmp_path):
    """A git+DVC project whose data.dvc records a small generated set and its recipe."""
    repo = tmp_path / "project"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc(repo, "init", "-q")
    dvc(repo, "remote", "add", "-d", "local", str(tmp_path / "remote"))
    generate_dataset(
        repo / "data",
        n_signs=ARGS["signs"],
        n_participants=ARGS["participants"],
        per_sign=ARGS["per_sign"],
        seed=ARGS["seed"],
        workers=1,
    )
    dvc(repo, "add", "-q", "data")
    doc = yaml.safe_load((repo / "data.dvc").read_text())
    doc["meta"] = {"generator": "islr synth", **ARGS}
    (repo / "data.dvc").write_text(yaml.safe_dump(doc, sort_keys=False))
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc" / "cache")
    return repo


def test_regenerates_then_pushes_then_pulls(project, tmp_path):
    expected = read_dvc_file(project / "data.dvc")["md5"]
    fp = ensure_embedded_data(project, workers=1)
    assert fp.md5 == expected and fp.source == "data.dvc"
    assert any((tmp_path / "remote").rglob("*.dir"))  # pushed for the next clone

    shutil.rmtree(project / "data")
    shutil.rmtree(project / ".dvc" / "cache")
    again = ensure_embedded_data(project, workers=1)  # now served by `dvc pull`
    assert again.md5 == expected
    assert dvc_dir_md5(project / "data")[0] == expected

    assert ensure_embedded_data(project, workers=1).md5 == expected  # present: no-op


def test_modified_data_is_refused_not_overwritten(project):
    ensure_embedded_data(project, workers=1)
    (project / "data" / "train.csv").write_text("path,participant_id,sequence_id,sign\n")
    with pytest.raises(DataIntegrityError, match=r"differ from data\.dvc"):
        ensure_embedded_data(project, workers=1)
    assert (project / "data" / "train.csv").read_text().count("\n") == 1  # user's edit kept


def test_wrong_recipe_is_detected(project):
    doc = yaml.safe_load((project / "data.dvc").read_text())
    doc["meta"]["seed"] = 12
    (project / "data.dvc").write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(DataIntegrityError, match="regenerated data has md5"):
        ensure_embedded_data(project, workers=1)


@pytest.mark.slow
def test_the_shipped_data_dvc_regenerates_exactly(repo_root, tmp_path):
    """What a fresh clone without a DVC remote does: the recipe in data.dvc must give
    exactly the recorded md5."""
    recorded = read_dvc_file(repo_root / "data.dvc")
    meta = recorded["meta"]
    out = tmp_path / "data"
    generate_dataset(
        out,
        n_signs=meta["signs"],
        n_participants=meta["participants"],
        per_sign=meta["per_sign"],
        seed=meta["seed"],
        workers=2,
    )
    assert dvc_dir_md5(out)[0] == recorded["md5"]
