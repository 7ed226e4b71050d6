"""Data fingerprints agree with real DVC."""

import shutil
import subprocess
import sys

import pytest

from islr.data.lineage import dvc_dir_md5, fingerprint, read_dvc_file


def dvc(cwd, *args):
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, check=True, capture_output=True, text=True
    )


@pytest.fixture
def dvc_repo(tmp_path, real_data_dir):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    dvc(tmp_path, "init", "-q")
    shutil.copytree(real_data_dir, tmp_path / "data")
    dvc(tmp_path, "add", "-q", "data")
    return tmp_path


def test_md5_is_the_one_dvc_records(dvc_repo):
    recorded = read_dvc_file(dvc_repo / "data.dvc")
    md5, n_files, size = dvc_dir_md5(dvc_repo / "data")
    assert md5 == recorded["md5"] and md5.endswith(".dir")
    assert n_files == recorded["nfiles"] and size == recorded["size"]
    assert dvc_dir_md5(dvc_repo / "data", workers=2) == (md5, n_files, size)


def test_fingerprint_uses_dvc_file_when_current_and_notices_changes(dvc_repo):
    fp = fingerprint(dvc_repo / "data")
    assert fp.source == "data.dvc" and fp.md5 == read_dvc_file(dvc_repo / "data.dvc")["md5"]
    (dvc_repo / "data" / "extra.txt").write_text("changed")
    changed = fingerprint(dvc_repo / "data")
    assert changed.source == "computed" and changed.md5 != fp.md5
