"""islr's data md5 against `dvc add` on folders with the cases where a hand-written hash
would drift from DVC's: empty files, text with CRLF (DVC 2 normalised line endings, DVC
3 does not), names with spaces and non-ASCII letters, deep nesting, a binary file."""

import subprocess
import sys

from islr.data.lineage import dvc_dir_md5, fingerprint, read_dvc_file


def test_md5_equals_dvc_on_awkward_folders(tmp_path):
    data = tmp_path / "data"
    (data / "a b" / "ñandú" / "deep" / "er").mkdir(parents=True)
    (data / "empty.txt").write_bytes(b"")
    (data / "crlf.csv").write_bytes(b"path,sign\r\nx.parquet,hello\r\n")
    (data / "a b" / "ñandú" / "señal.json").write_text('{"hello": 0}')
    (data / "a b" / "ñandú" / "deep" / "er" / "blob.bin").write_bytes(bytes(range(256)) * 64)
    (data / "Z.txt").write_text("upper case sorts first")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    for args in (("init", "-q"), ("add", "-q", "data")):
        subprocess.run(
            [sys.executable, "-m", "dvc", *args], cwd=tmp_path, check=True, capture_output=True
        )
    recorded = read_dvc_file(tmp_path / "data.dvc")
    assert dvc_dir_md5(data) == (recorded["md5"], recorded["nfiles"], recorded["size"])
    assert fingerprint(data).source == "data.dvc"
