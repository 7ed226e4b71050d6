"""Uploaded videos in the app: landmarks with MediaPipe Holistic (`islr.landmarks`),
checked by the data pipeline's validation, read back as frames for the classifier.

The extractor runs in its own venv, built on the first video (about a minute, needs
network access once); `extractor_ready` tells the app whether that wait is ahead.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from islr.data.format import read_recording
from islr.landmarks import VIDEO_SUFFIXES, Extraction, ExtractOptions, VideoError, extract_video
from islr.landmarks.env import ensure_env, is_ready

log = logging.getLogger(__name__)


class VideoRecording(BaseModel):
    """A video turned into an asl-signs recording."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    frames: np.ndarray  # (T, 543, 3) float32, as the competition loader reads it
    extraction: Extraction


def extractor_ready(venv: str | os.PathLike[str] | None = None) -> bool:
    return is_ready(venv)


def prepare_extractor(venv: str | os.PathLike[str] | None = None) -> Path:
    """Build the extractor's venv now if needed (`LandmarkEnvError` when it cannot)."""
    return ensure_env(venv)


def extract_upload(
    name: str,
    content: bytes,
    progress: Callable[[int, int | None], None] | None = None,
    options: ExtractOptions | None = None,
    venv: str | os.PathLike[str] | None = None,
) -> VideoRecording:
    """Extract the landmarks of one uploaded video.

    Raises `VideoError` naming the upload, the check that failed and what was observed
    (not a video, no frames, an unknown codec, too long, landmarks that fail validation).
    """
    base = Path(name.replace("\\", "/")).name or "upload"  # never a directory of the upload's
    if Path(base).suffix.lower() not in VIDEO_SUFFIXES:
        raise VideoError(
            name,
            f"a video file ({', '.join(VIDEO_SUFFIXES)})",
            Path(base).suffix or "no suffix",
        )
    if not content:
        raise VideoError(name, "the file is not empty", "0 bytes", "Upload the video again")
    with tempfile.TemporaryDirectory(prefix="islr-video-") as tmp:
        video = Path(tmp) / base
        video.write_bytes(content)
        try:
            extraction = extract_video(
                video,
                Path(tmp) / "landmarks.parquet",
                options,
                progress=(lambda _v, done, total: progress(done, total)) if progress else None,
                venv=venv,
            )
        except VideoError as exc:  # name the upload, not the temporary copy
            raise VideoError(name, exc.check, exc.observed, exc.hint) from exc
        frames = read_recording(extraction.out)
    extraction = extraction.model_copy(update={"video": name, "out": ""})
    log.info("extracted %s: %d frames", name, len(frames))
    return VideoRecording(name=name, frames=frames, extraction=extraction)
