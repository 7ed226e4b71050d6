"""Shards and outputs of a cluster worker on object storage TensorFlow cannot open.

TensorFlow 2.21 reads local paths and `gs://` by itself; `s3://` (and `az://`, ...) need
`tensorflow-io`, whose wheels stop at TF 2.16. A worker therefore copies such shards to
its local disk before training (`stage_in`) and its chief copies the outputs back after
(`stage_out`), through fsspec (s3fs, adlfs: the storage plugins the training image
already has for ZenML's artifact store and DVC). `gs://` and local paths are used in
place, with no copy.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from islr.errors import IslrError

log = logging.getLogger(__name__)

# Schemes tf.io.gfile reads without plugins ("" = a local path).
TF_NATIVE_SCHEMES = frozenset({"", "file", "gs"})


class StagingError(IslrError):
    """Shards could not be copied from, or outputs to, object storage."""


def scheme(uri: str) -> str:
    return uri.split("://", 1)[0].lower() if "://" in uri else ""


def tf_reads(uri: str) -> bool:
    return scheme(uri) in TF_NATIVE_SCHEMES


def _fs(uri: str):
    import fsspec

    try:
        return fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as exc:
        raise StagingError(
            f"{uri}: no file system for {scheme(uri)}:// ({exc}); install its fsspec plugin "
            "(s3fs for s3://, adlfs for az://) in the training image"
        ) from exc


def stage_in(uri: str, local_dir: str | os.PathLike[str]) -> str:
    """Where TensorFlow should read the shards from: `uri` itself when it can, else a
    local copy in `local_dir` (written beside it and renamed, so a restarted worker
    never trains on half a copy; an existing complete copy is reused)."""
    if tf_reads(uri):
        return uri
    target = Path(local_dir)
    if target.is_dir():
        log.info("shards: reusing the local copy %s of %s", target, uri)
        return str(target)
    fs, root = _fs(uri)
    root = root.rstrip("/")
    files = [f for f in fs.find(root) if not f.endswith("/")]
    if not files:
        raise StagingError(f"{uri}: no shard files found to copy to {target}")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    log.info("shards: copying %d files from %s to %s", len(files), uri, target)
    try:
        for remote in files:
            local = partial / remote[len(root) :].lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(remote, str(local))
    except OSError as exc:
        raise StagingError(f"{uri}: copying shards to {partial} failed ({exc})") from exc
    partial.rename(target)
    return str(target)


def local_out(uri: str, local_dir: str | os.PathLike[str]) -> str:
    """Where training should write: `uri` when TensorFlow writes there, else `local_dir`
    (copied to `uri` afterwards by `stage_out`)."""
    return uri if tf_reads(uri) else str(local_dir)


def stage_out(local_dir: str | os.PathLike[str], uri: str) -> None:
    """Copy the chief's outputs to `uri`, model first and `train_result.json` last: the
    launcher takes the result file as the sign that everything is there."""
    if tf_reads(uri):
        return
    fs, root = _fs(uri)
    root = root.rstrip("/")
    files = sorted(
        (p for p in Path(local_dir).rglob("*") if p.is_file()),
        key=lambda p: p.name == "train_result.json",
    )
    try:
        for path in files:
            fs.put_file(str(path), f"{root}/{path.relative_to(local_dir).as_posix()}")
    except OSError as exc:
        raise StagingError(f"copying {local_dir} to {uri} failed ({exc})") from exc
    log.info("outputs: copied %d files to %s", len(files), uri)


def run_worker(
    run_file: str, tfrecords_uri: str, out_uri: str, scratch: str, fold: int | None = None
) -> int:
    """What each TFJob worker runs: shards in, `islr train`, the chief's outputs out."""
    from islr.cli import main
    from islr.training.distribute import is_chief

    shards = stage_in(tfrecords_uri, Path(scratch) / "shards")
    out = local_out(out_uri, Path(scratch) / "out")
    fold_args = [] if fold is None else ["--fold", str(fold)]
    code = main(["train", "--run", run_file, "--tfrecords", shards, "--out", out, *fold_args])
    if code == 0 and is_chief() and out != out_uri:
        stage_out(out, out_uri)
    return code
