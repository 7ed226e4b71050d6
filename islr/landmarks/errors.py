"""Errors of the landmark extraction: each names the video, the check that failed and
what was observed, so a user reading one line can fix the input."""

from __future__ import annotations

from islr.errors import IslrError


class LandmarkError(IslrError):
    """Base class of the landmark extraction errors."""


class VideoError(LandmarkError):
    """A video cannot be turned into an asl-signs recording: not a video, no frames,
    a codec FFmpeg cannot decode, over the frame limit, or landmarks that fail the
    data pipeline's validation. Nothing is written when it is raised."""

    def __init__(self, path: str, check: str, observed: object, hint: str = "") -> None:
        self.path = str(path)
        self.check = check
        self.observed = observed
        self.hint = hint
        message = f"{self.path}: {check} (observed: {observed})"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class SignsFileError(LandmarkError):
    """The CSV of signs of a video folder is unreadable or names a video or sign that
    does not exist (the line and field are in the message)."""


class LandmarkEnvError(LandmarkError):
    """The extractor's own environment (.venv-landmarks) cannot be created or used."""
