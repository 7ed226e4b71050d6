"""Serving: the non-UI logic of the sign recognition app (`app/main.py`).

Loading the champion model from the MLflow registry or a `.keras`/`.tflite` file,
prediction and top-k, the recordings of a data folder, validation of uploads with the
data pipeline's suites, landmarks from uploaded videos (`islr.landmarks`), and skeleton
drawing. Nothing here imports Streamlit, so all of it is usable and tested on its own.
"""

from islr.serving.classifier import (
    CHAMPION,
    MODEL_NAME,
    KerasClassifier,
    ModelInfo,
    Prediction,
    SignClassifier,
    TFLiteFileClassifier,
    load_classifier,
    load_model_file,
    load_registered_model,
    to_probabilities,
    top_k,
)
from islr.serving.errors import ModelSourceError, NoChampionError, ServingError, UploadError
from islr.serving.recordings import Recording, by_sign, list_recordings
from islr.serving.settings import AppSettings, load_settings
from islr.serving.skeleton import animation_html, skeleton_segments
from islr.serving.upload import check_upload
from islr.serving.video import VideoRecording, extract_upload, extractor_ready, prepare_extractor

__all__ = [
    "CHAMPION",
    "MODEL_NAME",
    "AppSettings",
    "KerasClassifier",
    "ModelInfo",
    "ModelSourceError",
    "NoChampionError",
    "Prediction",
    "Recording",
    "ServingError",
    "SignClassifier",
    "TFLiteFileClassifier",
    "UploadError",
    "VideoRecording",
    "animation_html",
    "by_sign",
    "check_upload",
    "extract_upload",
    "extractor_ready",
    "list_recordings",
    "load_classifier",
    "load_model_file",
    "load_registered_model",
    "load_settings",
    "prepare_extractor",
    "skeleton_segments",
    "to_probabilities",
    "top_k",
]
