"""Landmarks from video: MediaPipe Holistic into the asl-signs schema.

`extract_video` turns one video into a competition-format parquet file, `extract_folder`
a folder of videos plus a CSV of signs into an asl-signs data set. MediaPipe runs in a
venv of its own (`islr.landmarks.env`, built on first use), as a subprocess that speaks
files (`extractor.py`); see docs/landmarks.md for why.
"""

from islr.landmarks.env import default_venv_dir, ensure_env, is_ready
from islr.landmarks.errors import LandmarkEnvError, LandmarkError, SignsFileError, VideoError
from islr.landmarks.extract import (
    VIDEO_SUFFIXES,
    Extraction,
    ExtractOptions,
    FolderExtraction,
    extract_folder,
    extract_video,
    make_sample_video,
    read_signs_csv,
)

__all__ = [
    "VIDEO_SUFFIXES",
    "ExtractOptions",
    "Extraction",
    "FolderExtraction",
    "LandmarkEnvError",
    "LandmarkError",
    "SignsFileError",
    "VideoError",
    "default_venv_dir",
    "ensure_env",
    "extract_folder",
    "extract_video",
    "is_ready",
    "make_sample_video",
    "read_signs_csv",
]
