"""`islr landmarks`: MediaPipe Holistic on real video files, in the extractor's own venv.

Everything runs for real and offline once the venv exists: the sample video is
matplotlib's grace_hopper.jpg shifted a few pixels per frame (face and pose, no hands);
the bad videos are made here (text, 0 bytes, no frames, an unknown codec, ten minutes).
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from landmark_fixtures import hopper_clip, landmarks_python  # noqa: F401  (fixtures)

from islr.data.format import (
    PARQUET_SCHEMA,
    PART_SLICES,
    ROW_LANDMARK_INDEX,
    ROW_TYPES,
    ROWS_PER_FRAME,
    load_sign_map,
    read_recording,
)
from islr.data.ingest import ingest, sign_map_for
from islr.data.validate import ValidationConfig, validate_recordings
from islr.landmarks import (
    ExtractOptions,
    LandmarkEnvError,
    SignsFileError,
    VideoError,
    ensure_env,
    extract_folder,
    extract_video,
    make_sample_video,
)
from islr.landmarks.extract import SAMPLE_VIDEO, _clean_env

REPO = Path(__file__).resolve().parents[2]


def real_coords(real_data_dir: Path) -> np.ndarray:
    files = sorted((real_data_dir / "train_landmark_files").rglob("*.parquet"))
    return np.concatenate([read_recording(f) for f in files]).astype(np.float64)


def one_folder(tmp_path: Path, parquet: Path) -> Path:
    """A one-recording asl-signs folder around `parquet`, for the pipeline's validation."""
    root = tmp_path / "one"
    (root / "train_landmark_files" / "0").mkdir(parents=True)
    (root / "train_landmark_files" / "0" / "1.parquet").write_bytes(parquet.read_bytes())
    (root / "train.csv").write_text(
        "path,participant_id,sequence_id,sign\ntrain_landmark_files/0/1.parquet,0,1,hello\n"
    )
    return root


def islr_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "islr.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_video_gives_the_competition_schema_and_passes_validation(
    hopper_clip,  # noqa: F811
    real_data_dir,
    tmp_path,
):
    out = tmp_path / "out" / "hopper.parquet"
    seen: list[tuple[int, int | None]] = []
    result = extract_video(hopper_clip, out, progress=lambda _v, d, t: seen.append((d, t)))

    # the exact schema of the competition files, dtypes included
    real_file = next((real_data_dir / "train_landmark_files").rglob("*.parquet"))
    assert pq.read_schema(out).remove_metadata() == PARQUET_SCHEMA
    assert pq.read_schema(out).remove_metadata() == pq.read_schema(real_file).remove_metadata()
    table = pq.read_table(out).to_pandas()
    n = result.n_frames
    assert n == 12 and len(table) == 12 * ROWS_PER_FRAME
    assert table["frame"].dtype == np.int16 and table["landmark_index"].dtype == np.int16
    assert (table["frame"].to_numpy().reshape(n, ROWS_PER_FRAME) == np.arange(12)[:, None]).all()
    assert (table["type"].to_numpy().reshape(n, -1) == ROW_TYPES).all()
    assert (table["landmark_index"].to_numpy().reshape(n, -1) == ROW_LANDMARK_INDEX).all()
    expected_ids = [
        f"{f}-{t}-{i}"
        for f, t, i in zip(table.frame, table.type, table.landmark_index, strict=True)
    ]
    assert table["row_id"].tolist() == expected_ids
    assert table.loc[0, "row_id"] == "0-face-0" and table.iloc[-1]["row_id"] == "11-right_hand-20"

    # face and pose in every frame, both hands NaN in every frame
    xyz = read_recording(out).astype(np.float64)
    assert not np.isnan(xyz[:, PART_SLICES["face"]]).any()
    assert not np.isnan(xyz[:, PART_SLICES["pose"]]).any()
    assert np.isnan(xyz[:, PART_SLICES["left_hand"]]).all()
    assert np.isnan(xyz[:, PART_SLICES["right_hand"]]).all()
    assert result.detected == {"face": 12, "left_hand": 0, "pose": 12, "right_hand": 0}
    assert any("no hand was detected" in w for w in result.warnings)
    assert seen[-1] == (12, 12) and [d for d, _ in seen] == sorted(d for d, _ in seen)

    # the competition's conventions, checked on the real recordings: x/y normalised to
    # the frame, the face inside it, z on the same scale per part, and the signer's left
    # shoulder (pose 11) on the image's right (larger x) as in every real recording
    real = real_coords(real_data_dir)
    for part in ("face", "pose"):
        ours, theirs = xyz[:, PART_SLICES[part]], real[:, PART_SLICES[part]]
        for axis in range(3):
            lo, hi = np.nanmin(theirs[..., axis]), np.nanmax(theirs[..., axis])
            span = hi - lo
            assert lo - 0.25 * span <= ours[..., axis].min(), (part, axis)
            assert ours[..., axis].max() <= hi + 0.25 * span, (part, axis)
    assert ((xyz[:, :468, :2] > 0) & (xyz[:, :468, :2] < 1)).all()
    pose = PART_SLICES["pose"].start
    assert (xyz[:, pose + 11, 0] > xyz[:, pose + 12, 0]).all()
    assert (real[:, pose + 11, 0] > real[:, pose + 12, 0])[~np.isnan(real[:, pose + 11, 0])].all()

    # the data pipeline's validation: every recording check passes, except the hand
    # check, which quarantines a recording in which no hand was ever seen
    root = one_folder(tmp_path, out)
    table = ingest(root, workers=1, progress=False)
    _, report = validate_recordings(
        table, ValidationConfig(min_hand_frames=0), sign_map_for(root), str(root)
    )
    assert report.passed and not report.issues
    _, strict = validate_recordings(table, ValidationConfig(), sign_map_for(root), str(root))
    assert [i.check for i in strict.issues] == ["at least 1 frame(s) with a detected hand"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["hopper.parquet"]  # no leftovers


def test_frame_rate_option_samples_by_timestamp_and_keeps_source_frame_numbers(
    hopper_clip,  # noqa: F811
    tmp_path,
):
    out = tmp_path / "five.parquet"
    result = extract_video(hopper_clip, out, ExtractOptions(fps=5.0))
    frames = pq.read_table(out, columns=["frame"]).column("frame").to_numpy()
    # 15 fps sampled at 5 fps: every third frame, numbered as in the source
    assert sorted(set(frames.tolist())) == [0, 3, 6, 9] and result.n_frames == 4
    with pytest.raises(VideoError, match=r"at most 3 frames to extract \(--max-frames\)"):
        extract_video(hopper_clip, tmp_path / "three.parquet", ExtractOptions(max_frames=3))
    assert not (tmp_path / "three.parquet").exists()


def make_bad_videos(folder: Path, python: Path) -> dict[str, Path]:
    folder.mkdir()

    def sample(name: str, *args: str) -> Path:
        done = subprocess.run(
            [str(python), str(SAMPLE_VIDEO), str(folder / name), *args],
            capture_output=True,
            text=True,
            env=_clean_env(),
        )
        assert done.returncode == 0, done.stderr
        return folder / name

    (folder / "notes.mp4").write_text("hello, this is not a video\n")
    (folder / "empty.webm").write_bytes(b"")
    sample("none.mp4", "--frames", "0", "--size", "64x48")
    mjpg = sample("mjpg.avi", "--frames", "3", "--size", "64x48").read_bytes()
    assert mjpg.count(b"MJPG") == 2  # the stream header and the format's compression
    (folder / "codec.avi").write_bytes(mjpg.replace(b"MJPG", b"ZZZZ"))
    (folder / "mjpg.avi").unlink()
    sample("ten-minutes.mp4", "--frames", "1200", "--fps", "2", "--size", "64x48")
    return {p.name: p for p in folder.iterdir()}


BAD_VIDEOS = {
    "notes.mp4": (
        r"a video file \(MP4, MOV, WebM or AVI\) "
        r"\(observed: unrecognised content starting with b'hello, this is n'\)"
    ),
    "empty.webm": r"the file is not empty \(observed: 0 bytes\)",
    "none.mp4": (
        r"the video holds at least one frame \(observed: 0 frames: the MP4 file has no "
        r"video track\)"
    ),
    "codec.avi": r"a video codec this FFmpeg build decodes \(observed: AVI with video codec 'ZZZZ'",
    "ten-minutes.mp4": (
        r"at most 1000 frames to extract \(--max-frames\) \(observed: 1200 frames at 2 fps "
        r"\(10 min 0 s\), 1200 to extract\)"
    ),
}


def test_bad_videos_each_get_one_clear_error_and_nothing_written(landmarks_python, tmp_path):  # noqa: F811
    videos = make_bad_videos(tmp_path / "videos", landmarks_python)
    assert sorted(videos) == sorted(BAD_VIDEOS)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for name, message in BAD_VIDEOS.items():
        with pytest.raises(VideoError, match=message) as caught:
            extract_video(videos[name], out_dir / f"{name}.parquet")
        assert caught.value.path == str(videos[name])
        # the same error, as one line, from the command line
        done = islr_cli("landmarks", str(videos[name]), str(out_dir / "x.parquet"), cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("islr landmarks: error: "), lines
        assert re.search(message, lines[0]), lines[0]
    assert list(out_dir.iterdir()) == []  # no output, no temporary files


def test_folder_of_videos_becomes_an_asl_signs_data_set(hopper_clip, landmarks_python, tmp_path):  # noqa: F811
    videos = tmp_path / "videos"
    (videos / "takes").mkdir(parents=True)
    (videos / "takes" / "a.mp4").write_bytes(hopper_clip.read_bytes())
    make_sample_video(videos / "b.webm", frames=6, fps=10.0, size=(320, 240))
    signs = tmp_path / "signs.csv"
    signs.write_text("video,sign,participant_id\ntakes/a.mp4,hello,7\nb.webm,thankyou,\n")

    # problems of the CSV are found before any video is decoded, and nothing is written
    bad = tmp_path / "bad.csv"
    bad.write_text("video,sign\ntakes/a.mp4,hello\nb.webm,not-a-sign\n")
    with pytest.raises(SignsFileError, match=r"bad.csv: line 3: sign 'not-a-sign' is not in"):
        extract_folder(videos, bad, tmp_path / "never")
    bad.write_text("video,sign\nmissing.mp4,hello\n")
    with pytest.raises(SignsFileError, match=r"line 2: video 'missing.mp4': no such file"):
        extract_folder(videos, bad, tmp_path / "never")
    assert not (tmp_path / "never").exists()

    done = islr_cli(
        "landmarks", str(videos), str(tmp_path / "set"), "--signs", str(signs), cwd=tmp_path
    )
    # written, with the pipeline's verdict: hand-less takes would be quarantined (exit 1)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "2 recordings in the asl-signs layout" in done.stdout
    assert "at least 1 frame(s) with a detected hand" in done.stdout
    root = tmp_path / "set"
    assert sorted(p.name for p in root.iterdir()) == [
        "sign_to_prediction_index_map.json",
        "train.csv",
        "train_landmark_files",
    ]
    with (root / "train.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["participant_id"], r["sign"]) for r in rows] == [("7", "hello"), ("0", "thankyou")]
    for row in rows:
        assert (
            row["path"]
            == f"train_landmark_files/{row['participant_id']}/{row['sequence_id']}.parquet"
        )
        assert read_recording(root / row["path"]).shape[1:] == (543, 3)
    assert len(read_recording(root / rows[1]["path"])) == 6
    assert json.loads((root / "sign_to_prediction_index_map.json").read_text()) == load_sign_map()
    # the same ids on a rerun: they come from the videos' content
    again = extract_folder(videos, signs, tmp_path / "again")
    assert [Path(r.out).name for r in again.recordings] == [Path(r["path"]).name for r in rows]
    # the data pipeline reads the set; without its hand check every recording is valid
    table = ingest(root, workers=1, progress=False)
    _, report = validate_recordings(
        table, ValidationConfig(min_hand_frames=0), sign_map_for(root), str(root)
    )
    assert report.passed and report.n_valid == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_offline_first_use_fails_clearly_and_leaves_no_venv(tmp_path, monkeypatch):
    # pip with no configuration, an index that does not answer and no cache: offline
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    venv = tmp_path / "venv-landmarks"
    with pytest.raises(LandmarkEnvError) as caught:
        ensure_env(venv)
    message = str(caught.value)
    assert message.startswith(f"{venv}: cannot install the extractor's packages")
    assert "mediapipe" in message and "bash scripts/landmarks_env.sh" in message
    assert not venv.exists()
