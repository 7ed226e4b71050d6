"""`islr landmarks`: MediaPipe Holistic landmarks from a video, or a data set from a
folder of videos and a CSV of signs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _options(args: argparse.Namespace):
    from islr.cli import config_from_flags
    from islr.landmarks.extract import ExtractOptions

    return config_from_flags(
        ExtractOptions,
        fps=args.fps,
        model_complexity=args.model_complexity,
        max_frames=args.max_frames,
    )


class _Bars:
    """One tqdm bar per video, fed by the extractor's progress events."""

    def __init__(self) -> None:
        self.video: str | None = None
        self.bar = None

    def __call__(self, video: str, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if video == self.video and self.bar is None:
            return  # finished already
        if video != self.video:
            self.close()
            self.video = video
            self.bar = tqdm(total=total, desc=Path(video).name, unit="frame", leave=True)
        self.bar.total = max(total or 0, done) or None
        self.bar.update(done - self.bar.n)
        if total is not None and done >= total:  # the video is done; validation follows
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _landmarks(args: argparse.Namespace) -> int:
    from islr.errors import ConfigError
    from islr.landmarks.extract import extract_folder, extract_video

    options = _options(args)
    source = Path(args.input)
    bars = _Bars()
    try:
        if source.is_dir():
            if not args.signs:
                raise ConfigError(
                    f"{source} is a folder: pass --signs CSV (columns video,sign) to build "
                    "a data set from its videos"
                )
            result = extract_folder(
                source,
                args.signs,
                args.output,
                options,
                participant_id=args.participant_id,
                sign_map_path=args.sign_map,
                progress=bars,
                venv=args.venv,
            )
            bars.close()
            if args.json:
                print(result.model_dump_json(indent=2))
            report = result.report
            print(
                f"{result.out_dir}: {len(result.recordings)} recordings in the asl-signs "
                f"layout; validation: {report['n_valid']} valid, {report['n_invalid']} "
                "the data pipeline would quarantine"
            )
            for issue in report["issues"]:
                print(f"  {issue['file']}: {issue['check']} (observed: {issue['observed']})")
            return 0 if result.passed else 1
        if args.signs:
            raise ConfigError(f"--signs is for a folder of videos; {source} is a file")
        result = extract_video(source, args.output, options, progress=bars, venv=args.venv)
        bars.close()
        if args.json:
            print(json.dumps(result.model_dump(), indent=2))
        else:
            print(result.summary())  # warnings (no hands, ...) went to the log already
        return 0
    finally:
        bars.close()


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "landmarks",
        help="MediaPipe Holistic landmarks from a video (asl-signs parquet), or an asl-signs "
        "data set from a folder of videos and a CSV of signs",
        description="VIDEO OUT.parquet: one recording in the competition's schema. "
        "FOLDER OUT_DIR --signs CSV: a data set (train.csv, train_landmark_files/, sign map). "
        "The first use builds the extractor's own environment (.venv-landmarks; downloads "
        "mediapipe==0.10.14). The output is checked with the data pipeline's validation.",
    )
    p.add_argument("input", help="a video (mp4, webm, mov, avi) or a folder of videos")
    p.add_argument("output", help="OUT.parquet for a video; a new folder for a folder")
    p.add_argument("--signs", help="CSV with columns video,sign[,participant_id,sequence_id]")
    p.add_argument("--participant-id", type=int, default=0, help="for rows without one (default 0)")
    p.add_argument("--sign-map", help="sign -> index JSON (default: the official 250 signs)")
    p.add_argument("--fps", type=float, help="sample at most F frames/s (default: all frames)")
    p.add_argument(
        "--model-complexity",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="Holistic pose model; 1 ships in the wheel, 0/2 download on first use",
    )
    p.add_argument(
        "--max-frames", type=int, default=1000, help="refuse longer videos (default 1000)"
    )
    p.add_argument("--venv", help="the extractor's venv (default: .venv-landmarks)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_landmarks)
