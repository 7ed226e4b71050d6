"""Output folders of the data path: checked up front, staged, never left half-written.

A set of files (the TFRecord shards) is written into a hidden staging folder beside its
destination, `.<name>.<random>.tmp`, and renamed into place at the end. The staging
folder holds an `.owner` file with the writing process's id, so a later run can tell
the leftovers of a killed run (owner gone) from a run still in progress, and removes
only the former.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from islr.errors import OutputFolderError

log = logging.getLogger(__name__)

OWNER_FILE = ".owner"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _nearest_existing(path: Path) -> Path:
    for candidate in [path, *path.parents]:
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def check_output_dir(
    out_dir: str | os.PathLike[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    must_be_empty: bool = True,
    what: str = "output folder",
) -> Path:
    """Refuse an output folder before any work is done; return its absolute path.

    Refused: a folder inside `data_dir` (writing there changes the data set and its
    md5), an existing file, an existing non-empty folder when `must_be_empty`, and a
    place that cannot be created (a parent that is a file or is not writable).
    """
    out = Path(out_dir).expanduser().absolute()
    resolved = out.resolve()
    if data_dir is not None:
        data = Path(data_dir).expanduser().resolve()
        if resolved == data or resolved.is_relative_to(data):
            raise OutputFolderError(
                f"{out_dir}: the {what} is inside the data folder {data}; writing there "
                "would change the data set (and its md5). Choose a folder outside it."
            )
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise OutputFolderError(f"{out_dir}: the {what} exists and is not a folder")
        if must_be_empty and any(out.iterdir()):
            raise OutputFolderError(
                f"{out_dir}: the {what} exists and is not empty; choose a new folder or "
                "delete this one"
            )
        writable_at = out
    else:
        writable_at = _nearest_existing(out.parent)
        if not writable_at.is_dir():
            raise OutputFolderError(
                f"{out_dir}: cannot create the {what}: {writable_at} is not a folder"
            )
    try:  # a real write: permissions, read-only mounts and root alike
        os.rmdir(tempfile.mkdtemp(prefix=".islr-probe.", dir=writable_at))
    except OSError as exc:
        raise OutputFolderError(
            f"{out_dir}: cannot create the {what}: {writable_at} is not writable "
            f"({exc.strerror or exc})"
        ) from exc
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_staging(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Remove staging folders of `out_dir` left by killed runs; return what was removed.

    A staging folder is stale when the process named in its `.owner` file is gone, or
    when it has no `.owner` file (written first thing, so only a run killed in its
    first instant, or an older version, leaves none).
    """
    out = Path(out_dir)
    removed = []
    if not out.parent.is_dir():
        return removed
    for candidate in out.parent.glob(f".{out.name}.*.tmp"):
        if not candidate.is_dir() or candidate.is_symlink():
            continue
        try:
            pid = int((candidate / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None and _alive(pid):
            continue
        shutil.rmtree(candidate, ignore_errors=True)
        log.warning("removed %s, left by an interrupted run", candidate)
        removed.append(candidate)
    return removed


def make_staging_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Create the hidden staging folder beside `out_dir` (after removing stale ones)."""
    out = Path(out_dir)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(out)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        (staging / OWNER_FILE).write_text(str(os.getpid()))
    except OSError as exc:
        raise OutputFolderError(
            f"{out}: cannot create the output folder ({exc.strerror or exc})"
        ) from exc
    return staging


def publish_staging(staging: Path, out_dir: str | os.PathLike[str]) -> None:
    """Rename a finished staging folder onto `out_dir` (which may be an empty folder)."""
    (staging / OWNER_FILE).unlink(missing_ok=True)
    out = Path(out_dir)
    try:
        # mkdtemp makes a private folder (0700); give the result a plain mkdir's mode
        staging.chmod(0o777 & ~_umask())
        os.replace(staging, out)
    except OSError as exc:
        raise OutputFolderError(
            f"{out}: cannot move the finished output into place ({exc.strerror or exc}); "
            "it must not exist, or be an empty folder"
        ) from exc
