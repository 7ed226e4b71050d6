"""Data fingerprints without DVC: a folder no .dvc file tracks is computed, a missing one
is an error (agreement with real DVC is tests/integration/test_lineage.py)."""

import pytest

from islr.data.lineage import fingerprint
from islr.errors import DataFolderError


def test_untracked_folder_is_computed(real_data_dir):
    fp = fingerprint(real_data_dir)
    assert fp.source == "computed" and fp.n_files == 12


def test_missing_folder(tmp_path):
    with pytest.raises(DataFolderError, match="does not exist"):
        fingerprint(tmp_path / "nope")
