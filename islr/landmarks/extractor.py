"""MediaPipe Holistic on video files: the part of `islr landmarks` that runs inside the
extractor's own venv (`.venv-landmarks`, see `islr.landmarks.env`).

It is run as a script by path, never imported by the main environment, and imports only
what that venv holds: the standard library, NumPy 1.x, OpenCV and mediapipe 0.10.14 (no
`islr`, whose package imports need the main set). It speaks files:

    python extractor.py --jobs JOBS.json [--fps F] [--model-complexity 1] [--max-frames N]

JOBS.json is a list of {"video": PATH, "out": PATH.npz}. For each video it writes an
`.npz` (temporary name, then rename) holding `coords` float64 (T, 543, 3) in the
asl-signs row order (face 0-467, left_hand 0-20, pose 0-32, right_hand 0-20; NaN where
a part was not detected) and `frames` (the source frame index of each row). Events go
to stderr as single lines `@islr {json}` among MediaPipe's own log lines: `start`,
`progress`, `done` per video, and one `error` (file, check, observed, hint) after which
it exits with status 3 and has written nothing for that video.

Conventions are MediaPipe Holistic's own, as in the competition data (checked on the
real recordings, docs/landmarks.md): the video is processed as recorded (not mirrored);
x and y are normalised to the frame width and height (values outside [0, 1] are parts
outside the frame); z is MediaPipe's relative depth; `left_hand` is the signer's left
hand, the one beside pose landmark 15 (left wrist).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import warnings

import cv2
import numpy as np

# Layout of one frame: (result attribute, landmark count), in the asl-signs order.
PARTS = (
    ("face_landmarks", 468),
    ("left_hand_landmarks", 21),
    ("pose_landmarks", 33),
    ("right_hand_landmarks", 21),
)
ROWS_PER_FRAME = sum(n for _, n in PARTS)
MAX_FRAME_NUMBER = 2**15 - 1  # the asl-signs `frame` column is int16
EXIT_BAD_VIDEO = 3
SUPPORTED = "MP4, MOV, WebM or AVI"
REENCODE = (
    "Re-encode it, e.g. `ffmpeg -i IN -c:v libx264 -pix_fmt yuv420p OUT.mp4`, "
    "or record WebM (VP8/VP9) or MP4 (H.264)"
)
# Audio sample formats in MP4/MOV sample descriptions: not a video track.
_AUDIO_FORMATS = {b"mp4a", b".mp3", b"sowt", b"twos", b"Opus", b"ac-3", b"ec-3", b"alac", b"lpcm"}


class BadVideo(Exception):
    def __init__(self, video: str, check: str, observed: object, hint: str = "") -> None:
        super().__init__(check)
        self.event = {
            "event": "error",
            "video": video,
            "check": check,
            "observed": observed,
            "hint": hint,
        }


def emit(event: str, **fields) -> None:
    sys.stderr.write("@islr " + json.dumps({"event": event, **fields}) + "\n")
    sys.stderr.flush()


def sniff(path: str) -> tuple[str | None, list[str]]:
    """The container (by its magic bytes) and the video codecs named in its headers;
    only used to say why FFmpeg could not open or decode a file."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        data = handle.read(1 << 20)
        if size > 2 << 20:  # an MP4 may keep its index (moov) at the end
            handle.seek(-(1 << 20), os.SEEK_END)
            data += handle.read()
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "WebM/Matroska", sorted({m.decode() for m in re.findall(rb"V_[A-Z0-9_/]+", data)})
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        codecs = []
        for match in re.finditer(rb"vids", data):
            fourcc = data[match.end() : match.end() + 4]
            codecs.append(fourcc.decode("latin-1"))
        return "AVI", sorted(set(codecs))
    if data[4:8] == b"ftyp" or data[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        container = "QuickTime/MOV" if data[8:12] == b"qt  " else "MP4"
        codecs = []
        for match in re.finditer(rb"stsd", data):
            fourcc = data[match.start() + 16 : match.start() + 20]
            if len(fourcc) == 4 and fourcc not in _AUDIO_FORMATS:
                codecs.append(fourcc.decode("latin-1"))
        return container, sorted(set(codecs))
    return None, []


def diagnose(video: str, opened: bool) -> BadVideo:
    """Why a file that OpenCV could not open, or open but not decode, is not a video."""
    container, codecs = sniff(video)
    if container is None:
        with open(video, "rb") as handle:
            head = handle.read(16)
        return BadVideo(
            video,
            f"a video file ({SUPPORTED})",
            f"unrecognised content starting with {head!r}",
            f"Upload or pass a video recording ({SUPPORTED})",
        )
    if not codecs:
        return BadVideo(
            video,
            "the video holds at least one frame",
            f"0 frames: the {container} file has no video track",
            "Record again; the recording may have been stopped before its first frame",
        )
    return BadVideo(
        video,
        "a video codec this FFmpeg build decodes",
        f"{container} with video codec {', '.join(repr(c) for c in codecs)}"
        + ("" if opened else " (FFmpeg cannot open it)"),
        REENCODE,
    )


def open_video(video: str, target_fps: float | None, max_frames: int):
    try:
        size = os.path.getsize(video)
    except OSError as exc:
        raise BadVideo(video, "the file exists and is readable", exc.strerror or str(exc)) from exc
    if size == 0:
        raise BadVideo(video, "the file is not empty", "0 bytes", "Record or copy the video again")
    capture = cv2.VideoCapture(video)
    if not capture.isOpened():
        raise diagnose(video, opened=False)
    fps = capture.get(cv2.CAP_PROP_FPS)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    info = {
        "fps": fps if math.isfinite(fps) and 0 < fps < 1000 else None,
        "width": int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        "height": int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        "source_frames": count if count > 0 else None,
    }
    expected = info["source_frames"]
    if expected and target_fps and info["fps"] and target_fps < info["fps"]:
        expected = math.ceil(expected * target_fps / info["fps"])
    info["expected_frames"] = expected
    # Checked from the container's header before decoding anything; the loop checks the
    # frames themselves too, for files whose header has no frame count (browser WebM).
    if expected and expected > max_frames:
        raise over_limit(video, max_frames, info)
    return capture, info


def over_limit(video: str, max_frames: int, info: dict) -> BadVideo:
    if info.get("source_frames") and info.get("fps"):
        seconds = info["source_frames"] / info["fps"]
        observed = (
            f"{info['source_frames']} frames at {info['fps']:g} fps "
            f"({int(seconds // 60)} min {seconds % 60:.0f} s), {info['expected_frames']} "
            "to extract"
        )
    else:
        observed = f"more than {max_frames} frames"
    return BadVideo(
        video,
        f"at most {max_frames} frames to extract (--max-frames)",
        observed,
        "An isolated sign takes a few seconds: trim the clip, sample fewer frames with "
        "--fps, or raise --max-frames",
    )


def frame_landmarks(holistic, bgr: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    rgb.flags.writeable = False  # lets MediaPipe use the buffer without a copy
    result = holistic.process(rgb)
    coords = np.full((ROWS_PER_FRAME, 3), np.nan)
    start = 0
    for name, n in PARTS:
        found = getattr(result, name)
        if found is not None:
            points = found.landmark
            if len(points) != n:  # e.g. a face mesh with iris refinement (478)
                raise RuntimeError(f"{name}: {len(points)} landmarks, expected {n}")
            coords[start : start + n] = [(p.x, p.y, p.z) for p in points]
        start += n
    return coords


def make_holistic(model_complexity: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # protobuf deprecation notices on import
        import mediapipe as mp

    # As the competition's extraction: video mode (tracking between frames), landmark
    # smoothing, the 468-point face mesh (no iris refinement), default confidences.
    return mp.solutions.holistic.Holistic(
        static_image_mode=False,
        model_complexity=model_complexity,
        smooth_landmarks=True,
        refine_face_landmarks=False,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )


def extract(job: dict, index: int, args: argparse.Namespace) -> None:
    video, out = job["video"], job["out"]
    capture, info = open_video(video, args.fps, args.max_frames)
    try:
        ok, frame = capture.read()
        if not ok:
            if not info["source_frames"]:
                raise BadVideo(video, "the video holds at least one frame", "0 frames")
            raise diagnose(video, opened=True)
        try:
            holistic = make_holistic(args.model_complexity)
        except Exception as exc:  # complexity 0/2 download their pose model on first use
            raise BadVideo(
                video,
                f"MediaPipe Holistic starts with --model-complexity {args.model_complexity}",
                f"{type(exc).__name__}: {exc}",
                "Only complexity 1 ships inside the mediapipe wheel; 0 and 2 download their "
                "pose model on first use, which needs network access",
            ) from exc
        emit("start", job=index, video=video, total=info["expected_frames"], **info)
        coords, numbers = [], []
        step_ms = 1000.0 / args.fps if args.fps else 0.0
        next_ms = 0.0
        number = 0
        wall0, cpu0 = time.perf_counter(), time.process_time()  # process time: all threads
        try:
            while ok:
                # timestamps, not frame counts: browser recordings have variable frame rates
                t_ms = capture.get(cv2.CAP_PROP_POS_MSEC)
                if not step_ms or t_ms + 1e-3 >= next_ms:
                    if len(coords) >= args.max_frames:
                        raise over_limit(video, args.max_frames, info)
                    if number > MAX_FRAME_NUMBER:
                        raise BadVideo(
                            video,
                            f"frame numbers up to {MAX_FRAME_NUMBER} (the int16 frame column)",
                            f"frame {number}",
                            "Trim the clip to the sign",
                        )
                    coords.append(frame_landmarks(holistic, frame))
                    numbers.append(number)
                    while step_ms and next_ms <= t_ms + 1e-3:
                        next_ms += step_ms
                    emit("progress", job=index, done=len(coords), total=info["expected_frames"])
                ok, frame = capture.read()
                number += 1
        finally:
            holistic.close()
        info["seconds"] = time.perf_counter() - wall0
        info["cpu_seconds"] = time.process_time() - cpu0
    finally:
        capture.release()
    array = np.asarray(coords, dtype=np.float64).reshape(-1, ROWS_PER_FRAME, 3)
    tmp = f"{out}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, coords=array, frames=np.asarray(numbers, dtype=np.int32))
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    emit("done", job=index, video=video, frames=len(numbers), **info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", required=True, help='JSON list of {"video", "out"}')
    parser.add_argument("--fps", type=float, default=None, help="sample at most F frames/s")
    parser.add_argument("--model-complexity", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--max-frames", type=int, default=1000)
    args = parser.parse_args(argv)
    # protobuf 4 warns on every Holistic call that mediapipe uses a deprecated API
    warnings.filterwarnings("ignore", category=UserWarning, module="google.protobuf")
    with open(args.jobs) as handle:
        jobs = json.load(handle)
    for index, job in enumerate(jobs):
        try:
            extract(job, index, args)
        except BadVideo as bad:
            sys.stderr.write("@islr " + json.dumps(bad.event) + "\n")
            return EXIT_BAD_VIDEO
    return 0


if __name__ == "__main__":
    sys.exit(main())
