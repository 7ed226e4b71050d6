"""Videos to asl-signs recordings: runs the extractor in its own venv, writes the
competition's parquet schema with `islr.data.format`, and checks the result with the
data pipeline's own validation before anything is published.

The extractor (`extractor.py`, run by the venv's Python) returns coordinates and frame
numbers as an `.npz` in a staging folder beside the output; this side writes the
parquet through `write_recording` (the one writer of the schema in the project),
validates the staged folder with `islr.data.ingest.ingest` and
`islr.data.validate.validate_recordings`, and only then renames the result into place.
A bad video, a failed validation or an interrupt leaves nothing at the output path.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from islr.data.format import (
    CSV_NAME,
    PART_SLICES,
    SIGN_MAP_NAME,
    load_sign_map,
    recording_relpath,
    write_recording,
)
from islr.landmarks.env import ensure_env
from islr.landmarks.errors import LandmarkError, SignsFileError, VideoError

log = logging.getLogger(__name__)

EXTRACTOR = Path(__file__).with_name("extractor.py")
SAMPLE_VIDEO = Path(__file__).with_name("sample_video.py")
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".webm", ".mov", ".avi")
EVENT_PREFIX = "@islr "
# Any sign of the official map: a single recording has no sign, but a train.csv row
# needs one for the metadata suite to pass, so only the recording suite can object.
_ANY_SIGN = "hello"

# (video, frames done, frames expected or None); called from the thread that extracts.
Progress = Callable[[str, int, "int | None"], None]


class ExtractOptions(BaseModel):
    """What the extractor samples and how hard it looks."""

    model_config = ConfigDict(extra="forbid")

    # Sample at most this many frames per second (default: every frame of the video).
    fps: float | None = Field(None, gt=0)
    # Holistic's pose model: 1 ships in the mediapipe wheel; 0 (lite) and 2 (heavy) are
    # downloaded by mediapipe on first use.
    model_complexity: Literal[0, 1, 2] = 1
    # Refused before decoding when the header says more; the data pipeline's default
    # limit (ValidationConfig.max_frames) is 1000, and the frame column is int16.
    max_frames: int = Field(1000, ge=1, le=2**15 - 1)

    def argv(self) -> list[str]:
        out = ["--model-complexity", str(self.model_complexity)]
        out += ["--max-frames", str(self.max_frames)]
        if self.fps:
            out += ["--fps", repr(self.fps)]
        return out


class Extraction(BaseModel):
    """One extracted video."""

    video: str
    out: str
    n_frames: int
    source_fps: float | None
    width: int
    height: int
    # frames in which each body part was detected
    detected: dict[str, int]
    warnings: list[str] = []
    # decoding and Holistic, in the extractor: wall time, and CPU time of all its threads
    seconds: float | None = None
    cpu_seconds: float | None = None

    def summary(self) -> str:
        parts = ", ".join(f"{part} {n}" for part, n in self.detected.items())
        return f"{self.video} -> {self.out}: {self.n_frames} frames ({parts} detected)"


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    # The venv's Python must see only its own packages, never the main set's.
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(var, None)
    env.setdefault("GLOG_minloglevel", "2")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def run_extractor(
    jobs: list[tuple[Path, Path]],
    options: ExtractOptions,
    progress: Progress | None = None,
    venv: str | os.PathLike[str] | None = None,
) -> list[dict]:
    """Run the extractor on (video, out.npz) pairs in one process; return the `done`
    event of each video. Raises `VideoError` for the first bad video."""
    python = ensure_env(venv)
    with tempfile.TemporaryDirectory(prefix="islr-landmarks-") as tmp:
        jobs_file = Path(tmp) / "jobs.json"
        jobs_file.write_text(json.dumps([{"video": str(v), "out": str(o)} for v, o in jobs]))
        command = [str(python), str(EXTRACTOR), "--jobs", str(jobs_file), *options.argv()]
        log.debug("running %s", " ".join(command))
        done: list[dict] = []
        error: dict | None = None
        other: deque[str] = deque(maxlen=12)
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=_clean_env(),
        )
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if not line.startswith(EVENT_PREFIX):
                    other.append(line.rstrip())
                    log.debug("extractor: %s", line.rstrip())
                    continue
                event = json.loads(line[len(EVENT_PREFIX) :])
                kind = event["event"]
                if kind == "progress" and progress is not None:
                    progress(str(jobs[event["job"]][0]), event["done"], event["total"])
                elif kind == "start" and progress is not None:
                    progress(str(jobs[event["job"]][0]), 0, event["total"])
                elif kind == "done":
                    done.append(event)
                    if progress is not None:
                        progress(str(jobs[event["job"]][0]), event["frames"], event["frames"])
                elif kind == "error":
                    error = event
            code = process.wait()
        finally:
            if process.poll() is None:  # interrupted: the extractor must not outlive us
                process.kill()
                process.wait()
    if error is not None:
        raise VideoError(error["video"], error["check"], error["observed"], error["hint"])
    if code != 0 or len(done) != len(jobs):
        video = jobs[len(done)][0] if len(done) < len(jobs) else jobs[-1][0]
        raise LandmarkError(
            f"{video}: the landmark extractor failed (exit {code}): {' | '.join(other)}"
        )
    return done


def _detected(coords: np.ndarray) -> dict[str, int]:
    return {
        part: int((~np.isnan(coords[:, sl, 0]).all(axis=1)).sum())
        for part, sl in PART_SLICES.items()
    }


def _extraction(video: str, out: str, coords: np.ndarray, frames, meta: dict) -> Extraction:
    """What one extracted video holds, from its landmarks and the extractor's metadata."""
    detected = _detected(coords)
    return Extraction(
        video=video,
        out=out,
        n_frames=len(frames),
        source_fps=meta.get("fps"),
        width=meta["width"],
        height=meta["height"],
        detected=detected,
        warnings=_warnings(detected, len(frames)),
        seconds=meta.get("seconds"),
        cpu_seconds=meta.get("cpu_seconds"),
    )


def _warnings(detected: dict[str, int], n_frames: int) -> list[str]:
    out = []
    if detected["left_hand"] == 0 and detected["right_hand"] == 0:
        out.append(
            "no hand was detected in any frame: the data pipeline quarantines such a "
            "recording (check 'at least 1 frame(s) with a detected hand') and the "
            "classifier has little to go on; film with the signing hands in view"
        )
    if detected["face"] < n_frames:
        out.append(f"the face was found in {detected['face']} of {n_frames} frames")
    return out


def _write_csv(path: Path, rows: list[tuple[str, int, int, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "participant_id", "sequence_id", "sign"])
    writer.writerows(rows)
    path.write_text(buffer.getvalue())


def _validate(root: Path, max_frames: int, min_hand_frames: int | None):
    """The data pipeline's validation of a staged asl-signs folder (both suites)."""
    from islr.data.ingest import ingest, sign_map_for
    from islr.data.validate import ValidationConfig, validate_recordings

    config = ValidationConfig(max_frames=max(max_frames, ValidationConfig().max_frames))
    if min_hand_frames is not None:
        config = config.model_copy(update={"min_hand_frames": min_hand_frames})
    recordings = ingest(root, workers=1, progress=False, max_frames=config.max_frames)
    _, report = validate_recordings(recordings, config, sign_map_for(root), str(root))
    return report


def _check_video(video: Path) -> None:
    if not video.is_file():
        raise VideoError(
            video, "the video file exists", "missing" if not video.exists() else "not a file"
        )
    if video.stat().st_size == 0:
        raise VideoError(video, "the file is not empty", "0 bytes", "Record or copy it again")


def extract_video(
    video: str | os.PathLike[str],
    out: str | os.PathLike[str],
    options: ExtractOptions | None = None,
    progress: Progress | None = None,
    venv: str | os.PathLike[str] | None = None,
) -> Extraction:
    """Extract one video into an asl-signs parquet file at `out` (atomically).

    The result must pass the data pipeline's recording suite before it is renamed into
    place; a hand-less recording passes here with a warning in `Extraction.warnings`
    (the pipeline's hand check would quarantine it). Raises `VideoError` naming the
    video, the check and the observed value; nothing is written then.
    """
    options = options or ExtractOptions()
    video, out = Path(video), Path(out)
    _check_video(video)
    if out.suffix != ".parquet":
        raise VideoError(out, "the output file ends in .parquet", out.suffix or "no suffix")
    if out.is_dir():
        raise VideoError(out, "the output is a file", "an existing folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        npz = stage / "landmarks.npz"
        (meta,) = run_extractor([(video, npz)], options, progress, venv)
        with np.load(npz) as data:
            coords, frames = data["coords"], data["frames"]
        rel = recording_relpath(0, 0)
        write_recording(stage / rel, coords, frames)
        _write_csv(stage / CSV_NAME, [(rel, 0, 0, _ANY_SIGN)])
        # The hand check is the pipeline's business (it quarantines hand-less takes);
        # every structural check of the recording suite applies here.
        report = _validate(stage, options.max_frames, min_hand_frames=0)
        if not report.passed:
            found = "; ".join(f"{i.check} (observed: {i.observed})" for i in report.issues)
            raise VideoError(
                video,
                "the extracted landmarks pass the data pipeline's validation",
                found or report.summary(),
                "Nothing was written",
            )
        os.replace(stage / rel, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    result = _extraction(str(video), str(out), coords, frames, meta)
    for warning in result.warnings:
        log.warning("%s: %s", video, warning)
    log.info("%s", result.summary())
    return result


# --- a folder of videos -> an asl-signs data set ------------------------------------------


class SignedVideo(BaseModel):
    line: int
    video: str
    sign: str
    participant_id: int
    sequence_id: int


def _sequence_id(video: Path) -> int:
    """A stable id from the video's content (the same take gets the same id on every
    run), in the range of the competition's ids."""
    digest = hashlib.sha256()
    with video.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return int.from_bytes(digest.digest()[:4], "big") & 0x7FFFFFFF


def _int_field(csv_path: Path, line: int, field: str, text: str) -> int:
    if text.isascii() and text.isdigit() and int(text) < 2**63:
        return int(text)
    raise SignsFileError(f"{csv_path}: line {line}: {field} {text!r} is not a non-negative integer")


def read_signs_csv(
    csv_path: str | os.PathLike[str],
    videos_dir: str | os.PathLike[str],
    sign_map: dict[str, int],
    participant_id: int = 0,
) -> list[SignedVideo]:
    """Read the CSV of a video folder: columns `video` (path relative to the folder)
    and `sign`, optionally `participant_id` and `sequence_id` (default: the option and
    an id derived from the video's content). Every problem is a `SignsFileError` naming
    the file, the line and the field, raised before any video is decoded."""
    csv_path, videos_dir = Path(csv_path), Path(videos_dir)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SignsFileError(f"{csv_path}: cannot read the signs file ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in ("video", "sign") if c not in columns]
    if missing:
        raise SignsFileError(
            f"{csv_path}: missing column(s) {missing}; found {columns}. The signs file "
            "needs a header with `video,sign` (optional: participant_id, sequence_id)"
        )
    rows: list[SignedVideo] = []
    seen_video: dict[Path, int] = {}
    seen_id: dict[tuple[int, int], int] = {}
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        name, sign = row.get("video", ""), row.get("sign", "")
        if not name:
            raise SignsFileError(f"{csv_path}: line {line}: the video field is empty")
        video = (videos_dir / name).resolve()
        if not video.is_file():
            raise SignsFileError(
                f"{csv_path}: line {line}: video {name!r}: no such file in {videos_dir}"
            )
        if video in seen_video:
            raise SignsFileError(
                f"{csv_path}: line {line}: video {name!r} is already listed on line "
                f"{seen_video[video]}"
            )
        seen_video[video] = line
        if sign not in sign_map:
            raise SignsFileError(
                f"{csv_path}: line {line}: sign {sign!r} is not in the sign map "
                f"({len(sign_map)} signs, e.g. {', '.join(sorted(sign_map)[:3])}). Use a "
                "sign of the map, or pass your own map with --sign-map"
            )
        pid = (
            _int_field(csv_path, line, "participant_id", row["participant_id"])
            if row.get("participant_id")
            else participant_id
        )
        sid = (
            _int_field(csv_path, line, "sequence_id", row["sequence_id"])
            if row.get("sequence_id")
            else _sequence_id(video)
        )
        if (pid, sid) in seen_id:
            raise SignsFileError(
                f"{csv_path}: line {line}: participant {pid} sequence {sid} is already "
                f"used on line {seen_id[(pid, sid)]} (the same video content, or a "
                "repeated sequence_id)"
            )
        seen_id[(pid, sid)] = line
        rows.append(
            SignedVideo(line=line, video=str(video), sign=sign, participant_id=pid, sequence_id=sid)
        )
    if not rows:
        raise SignsFileError(f"{csv_path}: no videos listed")
    listed = set(seen_video)
    for path in sorted(videos_dir.rglob("*")):
        if path.suffix.lower() in VIDEO_SUFFIXES and path.resolve() not in listed:
            log.warning("%s: not listed in %s; skipped", path, csv_path)
    return rows


class FolderExtraction(BaseModel):
    out_dir: str
    recordings: list[Extraction]
    report: dict  # the data pipeline's ValidationReport, as JSON

    @property
    def passed(self) -> bool:
        return bool(self.report["passed"])


def extract_folder(
    videos_dir: str | os.PathLike[str],
    signs_csv: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    options: ExtractOptions | None = None,
    participant_id: int = 0,
    sign_map_path: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    venv: str | os.PathLike[str] | None = None,
) -> FolderExtraction:
    """Extract every video listed in `signs_csv` into an asl-signs data set at `out_dir`
    (`train.csv`, `train_landmark_files/<participant>/<sequence>.parquet`, the sign map),
    ready for `islr data validate` and the pipelines.

    Everything is checked before decoding (the CSV, the sign map, the output folder);
    the set is built in a staging folder beside `out_dir` and renamed into place only
    when every video was extracted. It is then validated with the pipeline's suites
    (hand check included); the report says which recordings the pipeline would
    quarantine, and the set is kept either way.
    """
    from islr.data.outputs import check_output_dir

    options = options or ExtractOptions()
    sign_map = load_sign_map(sign_map_path)
    rows = read_signs_csv(signs_csv, videos_dir, sign_map, participant_id)
    out = check_output_dir(out_dir, what="output folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        scratch = stage / ".npz"
        scratch.mkdir()
        jobs = [(Path(r.video), scratch / f"{i}.npz") for i, r in enumerate(rows)]
        metas = run_extractor(jobs, options, progress, venv)
        recordings, index = [], []
        for row, (_, npz), meta in zip(rows, jobs, metas, strict=True):
            with np.load(npz) as data:
                coords, frames = data["coords"], data["frames"]
            rel = recording_relpath(row.participant_id, row.sequence_id)
            write_recording(stage / rel, coords, frames)
            index.append((rel, row.participant_id, row.sequence_id, row.sign))
            recordings.append(_extraction(row.video, str(out / rel), coords, frames, meta))
        shutil.rmtree(scratch)
        _write_csv(stage / CSV_NAME, index)
        (stage / SIGN_MAP_NAME).write_text(json.dumps(sign_map, indent=1) + "\n")
        report = _validate(stage, options.max_frames, min_hand_frames=None)
        report.data_dir = str(out)
        # mkdtemp makes the folder 0700; give the data set a plain folder's permissions
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(stage, 0o777 & ~mask)
        if out.is_dir():  # checked empty above
            out.rmdir()
        os.replace(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log.info("%s: %d recordings; %s", out, len(recordings), report.summary())
    return FolderExtraction(
        out_dir=str(out), recordings=recordings, report=report.model_dump(mode="json")
    )


def make_sample_video(
    out: str | os.PathLike[str],
    frames: int = 12,
    fps: float = 15.0,
    size: tuple[int, int] = (640, 480),
    codec: str | None = None,
    venv: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the offline sample video (`sample_video.py`: grace_hopper.jpg shifted a few
    pixels per frame) with the extractor venv's OpenCV; return its path."""
    python = ensure_env(venv)
    command = [str(python), str(SAMPLE_VIDEO), str(out), "--frames", str(frames)]
    command += ["--fps", str(fps), "--size", f"{size[0]}x{size[1]}"]
    if codec:
        command += ["--codec", codec]
    done = subprocess.run(command, capture_output=True, text=True, env=_clean_env(), check=False)
    if done.returncode != 0:
        raise LandmarkError(f"{out}: cannot write the sample video: {done.stderr.strip()[-500:]}")
    return Path(out)
