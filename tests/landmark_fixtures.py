"""Fixtures of the landmark extraction tests: the extractor's venv and the offline
sample video, each made once per test session.

The venv is the real one (`.venv-landmarks`, or $ISLR_LANDMARKS_VENV), built from
islr/resources/landmarks-requirements.txt on the first session that needs it (about a
minute with network access) and reused after that. Where it cannot be built (no
network) the tests that need it fail under CI (`CI=true`) and are skipped otherwise.
Import the fixtures into a test module (`from landmark_fixtures import hopper_clip`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_MADE: dict[str, Path] = {}


@pytest.fixture(scope="session")
def landmarks_python() -> Path:
    from islr.landmarks import LandmarkEnvError, ensure_env

    if "python" not in _MADE:
        try:
            _MADE["python"] = ensure_env()
        except LandmarkEnvError as exc:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"the landmark extractor's venv cannot be built: {exc}")
            pytest.skip(f"the landmark extractor's venv cannot be built: {exc}")
    return _MADE["python"]


@pytest.fixture(scope="session")
def hopper_clip(landmarks_python, tmp_path_factory) -> Path:
    """12 frames at 15 fps, 640x480, MPEG-4 Part 2 in MP4: grace_hopper.jpg shifted a
    few pixels each frame (read-only for tests)."""
    from islr.landmarks import make_sample_video

    if "clip" not in _MADE:
        out = tmp_path_factory.mktemp("videos") / "hopper.mp4"
        _MADE["clip"] = make_sample_video(out, frames=12, fps=15.0, size=(640, 480))
    return _MADE["clip"]
