"""Landmark extraction speed: MediaPipe Holistic (model complexity 1) on a 640x480 video,
through the real `islr landmarks` path (extractor venv subprocess, parquet writer,
validation), pinned to a number of cores.

The video is the offline sample (grace_hopper.jpg shifted a few pixels per frame; face
and pose found in every frame, no hands). Holistic does more work on frames with hands
(two more models), so signing videos run slower than this figure.

Reported: frames/s of the extraction itself (decoding and Holistic, first frame to
last), the CPU time per frame of the extractor's process (all its threads; it does not
depend much on how busy the machine is), and the end-to-end wall time of
`extract_video` (venv start, imports, decoding, parquet, validation) for the clip. The
load average is printed too: on a shared machine frames/s is only as good as the cores
were free.

    python benchmarks/landmark_extraction.py                # 2 cores, 150 frames
    python benchmarks/landmark_extraction.py --cores 4 --frames 300 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from islr.landmarks import ExtractOptions, ensure_env, extract_video, make_sample_video


def run_once(video: Path, out: Path, complexity: int) -> dict:
    start = time.perf_counter()
    result = extract_video(video, out, ExtractOptions(model_complexity=complexity))
    return {
        "frames": result.n_frames,
        "extraction_fps": result.n_frames / result.seconds,
        "cpu_ms_per_frame": 1000 * result.cpu_seconds / result.n_frames,
        "end_to_end_s": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2, help="CPU cores to pin to")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model-complexity", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    available = sorted(os.sched_getaffinity(0))
    cores = available[: args.cores]
    os.sched_setaffinity(0, cores)  # inherited by the extractor subprocess
    width, height = (int(v) for v in args.size.split("x"))
    ensure_env()
    with tempfile.TemporaryDirectory(prefix="islr-bench-") as tmp:
        video = make_sample_video(
            Path(tmp) / "clip.mp4", frames=args.frames, fps=30.0, size=(width, height)
        )
        runs = [
            run_once(video, Path(tmp) / f"out{i}.parquet", args.model_complexity)
            for i in range(args.repeats)
        ]
    best = max(runs, key=lambda r: r["extraction_fps"])
    figures = {
        "cores": len(cores),
        "size": args.size,
        "model_complexity": args.model_complexity,
        "frames": best["frames"],
        "extraction_fps": round(best["extraction_fps"], 1),
        "cpu_ms_per_frame": round(best["cpu_ms_per_frame"], 1),
        "end_to_end_s": round(best["end_to_end_s"], 1),
        "runs_fps": [round(r["extraction_fps"], 1) for r in runs],
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(
        f"MediaPipe Holistic (complexity {args.model_complexity}) at {args.size} on "
        f"{len(cores)} cores: {figures['extraction_fps']} frames/s "
        f"({figures['frames']} frames; {figures['cpu_ms_per_frame']} ms CPU per frame; whole "
        f"`extract_video` {figures['end_to_end_s']} s; "
        f"runs {figures['runs_fps']}; load average {figures['load_average_1min']})"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
