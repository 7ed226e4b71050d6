"""Data fingerprints for lineage: the DVC md5 of a data folder.

A folder tracked by DVC (a sibling `<folder>.dvc` file) reports the md5 recorded there,
after asking DVC whether the folder still matches it. Any other folder gets the same
md5 computed here with DVC's own algorithm, so a number in an MLflow tag can always be
compared with `dvc` output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import yaml
from pydantic import BaseModel

from islr.errors import DataFolderError, DataIntegrityError
from islr.parallel import parallel_map

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class DataFingerprint(BaseModel):
    """What identifies the data a pipeline run consumed."""

    data_dir: str
    md5: str
    source: str  # "data.dvc" (read from a .dvc file DVC confirmed) or "computed"
    n_files: int
    size: int


def file_md5(path: str | os.PathLike[str]) -> str:
    digest = hashlib.md5()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise DataFolderError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return digest.hexdigest()


def _list_files(root: Path) -> list[str]:
    """Relative posix paths of every file under root, as DVC would track them.

    A symbolic link counts as the file it points to; one that points nowhere is an
    error naming the link and its target (DVC would fail on it too).
    """
    out = []

    def walk_error(exc: OSError) -> None:
        raise DataFolderError(f"{exc.filename}: cannot list ({exc.strerror or exc})") from exc

    for dirpath, dirnames, filenames in os.walk(root, onerror=walk_error):
        dirnames.sort()
        for name in [*filenames, *(d for d in dirnames if Path(dirpath, d).is_symlink())]:
            path = Path(dirpath, name)
            if path.is_symlink() and not path.exists():
                raise DataFolderError(
                    f"{path}: dangling symbolic link (to {os.readlink(path)}, which does not "
                    "exist); remove the link or restore its target"
                )
        for name in filenames:
            out.append(Path(dirpath, name).relative_to(root).as_posix())
    return sorted(out)


def dvc_dir_md5(root: str | os.PathLike[str], workers: int | None = 1) -> tuple[str, int, int]:
    """DVC's md5 of a directory (the `md5: ....dir` of `dvc add`), file count, total size."""
    root = Path(root)
    if not root.is_dir():
        raise DataFolderError(f"{root}: data folder does not exist or is not a directory")
    rel = _list_files(root)
    hashes = parallel_map(
        file_md5,
        [root / r for r in rel],
        workers=workers,
        desc="md5",
        chunksize=64,
        min_per_worker=256,
        progress=len(rel) > 1000,
    )
    entries = [{"md5": h, "relpath": r} for r, h in zip(rel, hashes, strict=True)]
    payload = json.dumps(entries, sort_keys=True).encode("utf-8")
    size = sum((root / r).stat().st_size for r in rel)
    return hashlib.md5(payload).hexdigest() + ".dir", len(rel), size


def read_dvc_file(dvc_file: str | os.PathLike[str]) -> dict:
    """The single output entry of a `.dvc` file plus its `meta` block."""
    doc = yaml.safe_load(Path(dvc_file).read_text()) or {}
    outs = doc.get("outs") or []
    if len(outs) != 1 or "md5" not in outs[0]:
        raise DataIntegrityError(f"{dvc_file}: expected one output with an md5, found {outs!r}")
    return {**outs[0], "meta": doc.get("meta") or {}}


def dvc_file_for(data_dir: str | os.PathLike[str]) -> Path:
    path = Path(data_dir).resolve()
    return path.with_name(path.name + ".dvc")


def fingerprint(data_dir: str | os.PathLike[str], workers: int | None = 1) -> DataFingerprint:
    """Fingerprint a data folder, preferring DVC's record when DVC says it is current."""
    root = Path(data_dir).resolve()
    if not root.is_dir():
        raise DataFolderError(
            f"{data_dir}: data folder does not exist. Give the path of a folder in the "
            "asl-signs layout (train.csv + train_landmark_files/)."
        )
    dvc_file = dvc_file_for(root)
    if dvc_file.exists():
        out = read_dvc_file(dvc_file)
        md5, n_files, size = dvc_dir_md5(root, workers=workers)
        if md5 == out["md5"]:
            return DataFingerprint(
                data_dir=str(root), md5=md5, source=dvc_file.name, n_files=n_files, size=size
            )
        log.warning(
            "%s differs from %s (md5 %s, recorded %s): lineage records the computed md5; "
            "run `dvc add %s` to version this data.",
            root,
            dvc_file.name,
            md5,
            out["md5"],
            root.name,
        )
        return DataFingerprint(
            data_dir=str(root), md5=md5, source="computed", n_files=n_files, size=size
        )
    md5, n_files, size = dvc_dir_md5(root, workers=workers)
    return DataFingerprint(
        data_dir=str(root), md5=md5, source="computed", n_files=n_files, size=size
    )
