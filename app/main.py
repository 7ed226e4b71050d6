"""Sign recognition app: classify asl-signs recordings (from the data folder, an
uploaded parquet file, or landmarks extracted from an uploaded video) with the champion
model and compose the recognised signs into an English sentence.

Start it with `bash scripts/app.sh [--model PATH] [--data DIR] [--port P]` (see
docs/app.md). The page is a thin layer over `islr.serving` and `islr.text`: model,
composer and recording list are loaded once per process (`st.cache_resource` /
`st.cache_data`); the key words live in `st.session_state`, one list per browser tab.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from islr.errors import ConfigError, IslrError
from islr.serving import (
    AppSettings,
    ModelSourceError,
    NoChampionError,
    Recording,
    SignClassifier,
    UploadError,
    VideoRecording,
    animation_html,
    by_sign,
    check_upload,
    extract_upload,
    extractor_ready,
    list_recordings,
    load_classifier,
    load_settings,
    prepare_extractor,
)
from islr.text import Composer, ComposerConfig

log = logging.getLogger("islr.app")

# st.session_state keys
KEYWORDS = "keywords"  # list[str]: the top sign of each classification, in order
PREDICTION = "prediction"  # dict: the last classification (recording, top-k)
COMPOSITION = "composition"  # islr.text.Composition of the current key words, or None
ANIMATION = "animation_for"  # key of the recording whose animation was requested
VIDEOS = "videos"  # dict: content digest -> VideoRecording, the last few extracted videos

SOURCE_FOLDER = "Data folder"
SOURCE_UPLOAD = "Upload a parquet file"
SOURCE_VIDEO = "Upload a video"
VIDEO_TYPES = ["mp4", "webm", "mov", "avi"]
KEEP_VIDEOS = 4  # extracted videos kept per browser tab (re-running the script reuses them)


@dataclass(frozen=True)
class Selected:
    """The recording the buttons act on."""

    key: str
    title: str
    sign: str | None  # ground truth, when known
    frames: Callable[[], np.ndarray]


@st.cache_resource(show_spinner="Loading the sign classifier ...")
def get_classifier(
    model: str | None, tracking_uri: str | None, model_name: str, alias: str
) -> SignClassifier:
    return load_classifier(model, tracking_uri, model_name, alias)


@st.cache_resource(show_spinner="Loading the sentence composer ...")
def get_composer(config_json: str) -> Composer:
    return Composer(ComposerConfig.model_validate_json(config_json))


@st.cache_data(show_spinner="Reading the data folder ...", ttl=600)
def get_recordings(data_dir: str) -> list[Recording]:
    return list_recordings(data_dir)


@st.cache_data(show_spinner="Checking the file ...", max_entries=8)
def get_upload_frames(name: str, content: bytes) -> np.ndarray:
    return check_upload(name, content)


@st.cache_data(show_spinner="Drawing the animation ...", max_entries=4)
def get_animation(key: str, frames: np.ndarray, title: str, fps: float, max_frames: int) -> str:
    return animation_html(frames, title=title, fps=fps, max_frames=max_frames)


def no_model_page(exc: IslrError, settings: AppSettings) -> None:
    st.title("Sign recognition")
    if isinstance(exc, NoChampionError):
        st.header("No champion model yet")
        st.error(str(exc))
        name, alias = settings.model_name, settings.alias
        st.markdown(
            f"The app serves the version of **`{name}`** that has the alias **`{alias}`** "
            "in the MLflow model registry. To make one, run the main job from the project "
            "folder; it trains, evaluates and registers the models and gives the best "
            "one the alias:\n\n"
            "```bash\nbash scripts/main.sh\n```\n\n"
            "then reload this page. Or serve a model file directly:\n\n"
            "```bash\nbash scripts/app.sh --model path/to/model.keras   # or .tflite\n```"
        )
    else:
        st.header("The model cannot be served")
        st.error(str(exc))


def pick_from_folder(settings: AppSettings) -> Selected | None:
    try:
        recordings = get_recordings(str(settings.data_dir))
    except IslrError as exc:
        st.warning(
            f"No recordings to choose from: {exc}. Upload a file instead, or start the app "
            "with `--data DIR`."
        )
        return None
    groups = by_sign(recordings)
    if not groups:
        st.warning(f"{settings.data_dir}: train.csv lists no recording whose file exists.")
        return None
    sign = st.selectbox(
        "Sign",
        list(groups),
        key="sign",
        format_func=lambda s: f"{s} ({len(groups[s])} recording{'s' * (len(groups[s]) > 1)})",
    )
    by_key = {r.key: r for r in groups[sign]}
    # The recording list depends on the sign, so its widget does too (a fresh choice).
    key = st.selectbox(
        "Recording", list(by_key), key=f"recording:{sign}", format_func=lambda k: by_key[k].label
    )
    recording = by_key[key]
    return Selected(
        key=f"data:{recording.key}",
        title=f"{recording.sign}: {recording.label}",
        sign=recording.sign,
        frames=recording.frames,
    )


def pick_upload() -> Selected | None:
    upload = st.file_uploader(
        "An asl-signs recording (train_landmark_files/<participant>/<sequence>.parquet)",
        type=["parquet"],
        key="upload",
    )
    if upload is None:
        st.caption("The file is checked with the data pipeline's validation suites.")
        return None
    content = upload.getvalue()
    try:
        frames = get_upload_frames(upload.name, content)
    except UploadError as exc:
        st.error(str(exc))
        st.table(pd.DataFrame(exc.issues, columns=["file", "check", "observed"]))
        return None
    digest = hashlib.sha256(content).hexdigest()[:12]
    st.caption(f"{upload.name}: valid, {len(frames)} frames.")
    return Selected(
        key=f"upload:{upload.name}:{digest}",
        title=f"upload {upload.name}",
        sign=None,
        frames=lambda: frames,
    )


def extract_video_upload(name: str, content: bytes, digest: str) -> VideoRecording | None:
    """Landmarks of an uploaded video, with a progress bar; kept in the session so the
    reruns of each click do not extract again. None (and a message) when it fails."""
    videos: dict[str, VideoRecording] = st.session_state.setdefault(VIDEOS, {})
    if digest in videos:
        return videos[digest]
    try:
        if not extractor_ready():
            with st.spinner(
                "Installing the landmark extractor (MediaPipe, first video only: about a "
                "minute) ..."
            ):
                prepare_extractor()
        bar = st.progress(0.0, text=f"Extracting landmarks from {name} ...")

        def progress(done: int, total: int | None) -> None:
            of = f" of {total}" if total else ""
            fraction = min(done / total, 1.0) if total else 0.0
            bar.progress(fraction, text=f"Extracting landmarks: frame {done}{of}")

        try:
            recording = extract_upload(name, content, progress)
        finally:
            bar.empty()
    except IslrError as exc:
        st.error(str(exc))
        return None
    while len(videos) >= KEEP_VIDEOS:
        videos.pop(next(iter(videos)))
    videos[digest] = recording
    return recording


def pick_video() -> Selected | None:
    upload = st.file_uploader(
        "A video of one sign (mp4, webm, mov, avi)", type=VIDEO_TYPES, key="video_upload"
    )
    if upload is None:
        st.caption(
            "Landmarks are extracted with MediaPipe Holistic, as in the competition data, "
            "and checked with the data pipeline's validation."
        )
        return None
    content = upload.getvalue()
    digest = hashlib.sha256(content).hexdigest()[:12]
    recording = extract_video_upload(upload.name, content, digest)
    if recording is None:
        return None
    found = recording.extraction.detected
    st.caption(
        f"{upload.name}: {len(recording.frames)} frames extracted "
        f"(face {found['face']}, left hand {found['left_hand']}, pose {found['pose']}, "
        f"right hand {found['right_hand']})."
    )
    for warning in recording.extraction.warnings:
        st.warning(warning)
    frames = recording.frames
    return Selected(
        key=f"video:{upload.name}:{digest}",
        title=f"video {upload.name}",
        sign=None,
        frames=lambda: frames,
    )


def classify(selected: Selected, classifier: SignClassifier, settings: AppSettings) -> None:
    try:
        with st.spinner("Classifying ..."):
            predictions = classifier.top_k(selected.frames(), settings.top_k)
    except IslrError as exc:
        st.error(str(exc))
        return
    except Exception as exc:  # the model's runtime failed: a message, never a traceback
        log.exception("classifying %s failed", selected.title)
        st.error(
            f"{classifier.info.description} could not classify {selected.title}: "
            f"{type(exc).__name__}: {exc}"
        )
        return
    st.session_state[PREDICTION] = {
        "key": selected.key,
        "title": selected.title,
        "sign": selected.sign,
        "predictions": [p.model_dump() for p in predictions],
    }
    st.session_state[KEYWORDS] = [*st.session_state[KEYWORDS], predictions[0].sign]
    st.session_state[COMPOSITION] = None  # the sentence was for the old key words
    log.info("classified %s: %s", selected.title, predictions[0].sign)


def show_animation(selected: Selected, settings: AppSettings) -> None:
    try:
        frames = selected.frames()
        html = get_animation(
            selected.key,
            frames,
            selected.sign or "",
            settings.animation_fps,
            settings.animation_max_frames,
        )
    except (IslrError, ValueError) as exc:
        st.error(str(exc))
        return
    st.iframe(html, height="content")
    truth = f"Ground truth: **{selected.sign}**" if selected.sign else "Ground truth: unknown"
    shown = min(len(frames), settings.animation_max_frames)
    st.caption(f"{truth} · {selected.title} · {len(frames)} frames ({shown} shown)")


def show_prediction(settings: AppSettings) -> None:
    prediction = st.session_state.get(PREDICTION)
    if not prediction:
        return
    st.subheader(f"Top-{len(prediction['predictions'])} signs")
    truth = f" · ground truth: {prediction['sign']}" if prediction["sign"] else ""
    st.caption(f"{prediction['title']}{truth}")
    table = pd.DataFrame(
        {
            "sign": [p["sign"] for p in prediction["predictions"]],
            "probability": [f"{p['probability']:.3f}" for p in prediction["predictions"]],
        },
        index=pd.RangeIndex(1, len(prediction["predictions"]) + 1, name="rank"),
    )
    st.table(table)


def clear_keywords() -> None:
    st.session_state[KEYWORDS] = []
    st.session_state[COMPOSITION] = None


def translate(settings: AppSettings) -> None:
    try:
        with st.spinner("Composing a sentence ..."):
            composer = get_composer(settings.composer().model_dump_json())
            st.session_state[COMPOSITION] = composer.compose(st.session_state[KEYWORDS])
    except IslrError as exc:
        st.error(str(exc))


def keywords_panel(settings: AppSettings) -> None:
    st.subheader("Key words")
    words = st.session_state[KEYWORDS]
    if words:
        st.markdown(" ".join(f"`{w}`" for w in words))
    else:
        st.caption("No key words yet: each classification adds its top sign.")
    left, right = st.columns(2)
    translate_clicked = left.button(
        "Translate", key="translate", disabled=not words, width="stretch"
    )
    right.button(
        "Clear key words",
        key="clear",
        on_click=clear_keywords,
        disabled=not words,
        width="stretch",
    )
    if translate_clicked:
        translate(settings)
    composition = st.session_state.get(COMPOSITION)
    if composition is not None:
        st.success(composition.sentence or "(the model returned no text)")
        label = f"backend: {composition.backend}"
        if composition.checkpoint:
            label += f" (checkpoint {composition.checkpoint})"
        st.caption(label)
        if composition.fallback_reason:
            with st.expander("Why not T5"):
                st.write(composition.fallback_reason)


def sidebar(settings: AppSettings, classifier: SignClassifier) -> None:
    info = classifier.info
    with st.sidebar:
        st.header("Model")
        st.write(info.description)
        if info.run_id:
            st.caption(f"MLflow run {info.run_id}")
        if info.tracking_uri:
            st.caption(f"registry {info.tracking_uri}")
        st.header("Data")
        st.caption(str(settings.data_dir.resolve()))
        composer = settings.composer()
        st.header("Composer")
        if composer.backend == "t5":
            fallback = f", else {composer.fallback}" if composer.fallback else ""
            st.caption(f"t5 ({composer.checkpoint}){fallback}")
        else:
            st.caption(composer.backend)


def main() -> None:
    st.set_page_config(page_title="Sign recognition", layout="wide")
    logging.basicConfig(level=logging.INFO)
    try:
        settings = load_settings(sys.argv[1:])
    except ConfigError as exc:
        st.title("Sign recognition")
        st.error(str(exc))
        return
    st.session_state.setdefault(KEYWORDS, [])
    st.session_state.setdefault(COMPOSITION, None)
    try:
        classifier = get_classifier(
            str(settings.model) if settings.model else None,
            settings.tracking_uri,
            settings.model_name,
            settings.alias,
        )
    except (NoChampionError, ModelSourceError) as exc:
        no_model_page(exc, settings)
        return

    sidebar(settings, classifier)
    st.title("Sign recognition")
    st.caption(f"Model: {classifier.info.description}")
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Recording")
        source = st.radio(
            "Source", [SOURCE_FOLDER, SOURCE_UPLOAD, SOURCE_VIDEO], horizontal=True, key="source"
        )
        if source == SOURCE_FOLDER:
            selected = pick_from_folder(settings)
        elif source == SOURCE_UPLOAD:
            selected = pick_upload()
        else:
            selected = pick_video()
        if selected is not None:
            animate_col, classify_col = st.columns(2)
            if animate_col.button("Show animation", key="animate", width="stretch"):
                st.session_state[ANIMATION] = selected.key
            if classify_col.button("Classify", key="classify", type="primary", width="stretch"):
                classify(selected, classifier, settings)
            if st.session_state.get(ANIMATION) == selected.key:
                show_animation(selected, settings)
        show_prediction(settings)
    with right:
        keywords_panel(settings)


main()
