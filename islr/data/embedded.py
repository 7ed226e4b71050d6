"""The embedded default data set: a generated asl-signs folder versioned by DVC.

`data.dvc` records the folder's md5 and, in its `meta` block, the `islr synth`
arguments that produce it. On a fresh clone `ensure_embedded_data` obtains the folder
the cheapest way that works and always proves it is the recorded one:

1. `data/` already present and matching the md5: nothing to do;
2. `dvc pull` from the configured remote (a local directory by default);
3. regenerate it with the recorded arguments (byte-for-byte deterministic), then
   store it in DVC's cache and push it, so the next clone pulls instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from islr.data.lineage import DataFingerprint, dvc_dir_md5, read_dvc_file
from islr.errors import DataIntegrityError

log = logging.getLogger(__name__)

SYNTH_KEYS = ("signs", "participants", "per_sign", "seed")


def _dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the DVC CLI of this environment in `repo` (output captured for the log)."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=repo, env=env, capture_output=True, text=True
    )


def synth_args(dvc_file: Path) -> dict[str, int]:
    """The generator arguments recorded in the `meta` block of a .dvc file."""
    meta = read_dvc_file(dvc_file)["meta"]
    missing = [k for k in SYNTH_KEYS if k not in meta]
    if missing:
        raise DataIntegrityError(
            f"{dvc_file}: meta block lacks {', '.join(missing)}; cannot regenerate the data"
        )
    return {k: int(meta[k]) for k in SYNTH_KEYS}


def ensure_embedded_data(
    repo: str | os.PathLike[str] = ".", data_dir: str = "data", workers: int | None = None
) -> DataFingerprint:
    """Make `<repo>/<data_dir>` hold exactly the data recorded in `<data_dir>.dvc`."""
    from islr.data.synth import generate_dataset

    repo = Path(repo).resolve()
    target = repo / data_dir
    dvc_file = repo / f"{data_dir}.dvc"
    expected = read_dvc_file(dvc_file)["md5"]

    def check(how: str) -> DataFingerprint | None:
        md5, n_files, size = dvc_dir_md5(target, workers=workers)
        if md5 == expected:
            log.info(
                "%s: %s (%d files, md5 %s matches %s)", target, how, n_files, md5, dvc_file.name
            )
            return DataFingerprint(
                data_dir=str(target), md5=md5, source=dvc_file.name, n_files=n_files, size=size
            )
        return None

    if target.exists():
        found = check("present")
        if found:
            return found
        raise DataIntegrityError(
            f"{target}: contents differ from {dvc_file.name} (md5 {expected}). Restore it "
            f"with `dvc checkout {dvc_file.name}` (or delete the folder to regenerate it), "
            f"or version your change with `dvc add {data_dir}`."
        )

    pulled = _dvc(repo, "pull", "-q", dvc_file.name)
    if pulled.returncode == 0 and target.exists():
        found = check("pulled from the DVC remote")
        if found:
            return found
        raise DataIntegrityError(f"{target}: pulled data does not match {expected}")
    log.info(
        "DVC remote has no copy (%s); regenerating the embedded data",
        (pulled.stderr or pulled.stdout).strip().splitlines()[-1:] or "no output",
    )
    shutil.rmtree(target, ignore_errors=True)

    args = synth_args(dvc_file)
    generate_dataset(
        target,
        n_signs=args["signs"],
        n_participants=args["participants"],
        per_sign=args["per_sign"],
        seed=args["seed"],
        workers=workers,
    )
    found = check("regenerated")
    if not found:
        md5, _, _ = dvc_dir_md5(target, workers=workers)
        raise DataIntegrityError(
            f"{target}: regenerated data has md5 {md5}, but {dvc_file.name} records "
            f"{expected}. The generator or a pinned library (numpy, pyarrow) changed; "
            f"check the environment matches pyproject.toml, or re-version with "
            f"`dvc add {data_dir}`."
        )
    # Put it in DVC's cache and the remote, so `dvc pull` serves the next clone.
    for step in (("commit", "-q", "-f", dvc_file.name), ("push", "-q", dvc_file.name)):
        done = _dvc(repo, *step)
        if done.returncode != 0:
            log.warning(
                "dvc %s failed (the data is fine; only caching is skipped): %s",
                step[0],
                done.stderr.strip(),
            )
            break
    return found
