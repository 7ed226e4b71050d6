"""The landmark extractor's own virtual environment, created on first use.

mediapipe 0.10.14 (the last release whose wheel ships the legacy Holistic models) needs
protobuf<5 and NumPy 1.x; the project's pinned set has protobuf 7 and NumPy 2. So the
extractor runs in a venv of its own (default `.venv-landmarks/` in the checkout) built
from `islr/resources/landmarks-requirements.txt`, and the main environment talks to it
through files (`islr.landmarks.extract`). Users who never extract never build it.

The venv is complete only once its `.islr-ready` marker holds the digest of the
requirements it was built from (written last, atomically): a half-built venv (killed
install, no network) or one built from older pins is rebuilt on the next use. A lock
file beside it keeps two processes (the app and the command line) from building it at
once.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from islr.landmarks.errors import LandmarkEnvError

log = logging.getLogger(__name__)

REQUIREMENTS = "landmarks-requirements.txt"
VENV_VAR = "ISLR_LANDMARKS_VENV"  # where the venv lives (overrides the default)
PYTHON_VAR = "ISLR_LANDMARKS_PYTHON"  # the Python 3.11 to build it from (default: this one)
READY = ".islr-ready"
DEFAULT_NAME = ".venv-landmarks"
# Checked after the install: the imports the extractor needs, and the Holistic solution.
SMOKE = (
    "import cv2, numpy, mediapipe; mediapipe.solutions.holistic.Holistic; print(cv2.__version__)"
)


def requirements_path() -> Path:
    return Path(str(resources.files("islr.resources").joinpath(REQUIREMENTS)))


def _digest() -> str:
    text = requirements_path().read_bytes()
    return hashlib.sha256(text + sys.version.split()[0].encode()).hexdigest()


def default_venv_dir() -> Path:
    """`$ISLR_LANDMARKS_VENV`, else `.venv-landmarks` in the checkout (beside `.venv`),
    else `~/.cache/islr/venv-landmarks` for an installed (non-checkout) package."""
    if os.environ.get(VENV_VAR):
        return Path(os.environ[VENV_VAR]).expanduser().absolute()
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and os.access(root, os.W_OK):
        return root / DEFAULT_NAME
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "islr" / "venv-landmarks"


def env_python(venv: str | os.PathLike[str] | None = None) -> Path:
    return Path(venv or default_venv_dir()) / "bin" / "python"


def is_ready(venv: str | os.PathLike[str] | None = None) -> bool:
    """True when the venv exists and was built from the current requirements."""
    venv = Path(venv or default_venv_dir())
    marker = venv / READY
    return (
        env_python(venv).exists() and marker.is_file() and marker.read_text().strip() == _digest()
    )


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(text: str, lines: int = 4) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def _run(step: str, command: list[str], venv: Path) -> str:
    log.debug("%s: %s", step, " ".join(command))
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise LandmarkEnvError(
            f"{venv}: cannot {step}: {command[0]} cannot be run ({exc.strerror or exc}). "
            f"Set {PYTHON_VAR} to a Python 3.11 interpreter."
        ) from exc
    if done.returncode != 0:
        output = done.stderr + done.stdout
        hint = ""
        if step.startswith("install"):
            hint = (
                " The first use downloads mediapipe==0.10.14, OpenCV and NumPy 1.x (about "
                "130 MB) from the package index: run `bash scripts/landmarks_env.sh` once "
                "with network access, point pip at a wheel folder (PIP_FIND_LINKS, "
                f"PIP_NO_INDEX=1), or set {VENV_VAR} to an environment built elsewhere."
            )
        raise LandmarkEnvError(
            f"{venv}: cannot {step} (exit {done.returncode}: {_tail(output)}).{hint}"
        )
    return done.stdout


def ensure_env(venv: str | os.PathLike[str] | None = None) -> Path:
    """Return the Python of the extractor's venv, building the venv first if needed.

    Raises `LandmarkEnvError` naming the venv, the step that failed and pip's last
    lines (no network, no Python 3.11, disk full); a failed build leaves no venv.
    """
    venv = Path(venv or default_venv_dir()).absolute()
    if is_ready(venv):
        return env_python(venv)
    with _locked(venv.parent / f"{venv.name}.lock"):
        if is_ready(venv):  # built by another process while this one waited
            return env_python(venv)
        log.warning(
            "building the landmark extractor's environment %s from %s (first use only: "
            "downloads mediapipe==0.10.14, OpenCV and NumPy 1.x, about 130 MB)",
            venv,
            requirements_path(),
        )
        if venv.exists():  # half-built, or built from other pins
            shutil.rmtree(venv)
        base = os.environ.get(PYTHON_VAR) or sys.executable
        try:
            _run("create the venv", [base, "-m", "venv", str(venv)], venv)
            python = str(env_python(venv))
            _run(
                "install the extractor's packages",
                [
                    python,
                    "-m",
                    "pip",
                    "install",
                    "--no-deps",
                    "--no-input",
                    "--disable-pip-version-check",
                    "-r",
                    str(requirements_path()),
                ],
                venv,
            )
            version = _run("import mediapipe in the venv", [python, "-c", SMOKE], venv)
            tmp = venv / f"{READY}.tmp"
            tmp.write_text(_digest() + "\n")
            os.replace(tmp, venv / READY)
        except BaseException:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        log.warning("landmark extractor ready: %s (OpenCV %s)", venv, version.strip())
    return env_python(venv)


def main() -> int:
    """`python -m islr.landmarks [VENV]`: build the venv now (scripts/landmarks_env.sh)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    venv = sys.argv[1] if len(sys.argv) > 1 else None
    try:
        python = ensure_env(venv)
    except LandmarkEnvError as exc:
        print(f"landmarks_env: error: {exc}", file=sys.stderr)
        return 2
    print(f"landmark extractor environment: {python.parent.parent} (ready)")
    return 0
