"""A short video made from one photo, for tests, the benchmark and trying the extractor
offline: matplotlib's `mpl-data/sample_data/grace_hopper.jpg` (a head-and-shoulders
portrait), letterboxed into the frame and shifted a few pixels each frame so the
tracker sees motion. MediaPipe Holistic finds the face and the pose in it, and no hands.

Runs inside the extractor's venv (OpenCV's VideoWriter; matplotlib is there because
mediapipe imports it), by path, like `extractor.py`:

    python sample_video.py OUT.mp4 [--frames N] [--fps F] [--size 640x480] [--codec mp4v]
"""

from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np

# Container suffix -> a FourCC the OpenCV wheel's FFmpeg can write.
DEFAULT_CODECS = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".webm": "VP80"}


def portrait() -> np.ndarray:
    import matplotlib

    path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    image = cv2.imread(path)
    if image is None:
        raise FileNotFoundError(path)
    return image


def letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = min(width / image.shape[1], height / image.shape[0])
    w, h = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
    canvas = np.full((height, width, 3), 127, np.uint8)
    x, y = (width - w) // 2, (height - h) // 2
    canvas[y : y + h, x : x + w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return canvas


def write(out: str, frames: int, fps: float, width: int, height: int, codec: str) -> None:
    base = letterbox(portrait(), width, height)
    tmp = f"{out}.{os.getpid()}.tmp{os.path.splitext(out)[1]}"  # the suffix picks the muxer
    writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {codec!r} into {out}")
    try:
        for i in range(frames):
            # a small back-and-forth drift: a few pixels, never the same frame twice in a row
            dx, dy = (i % 5) * 2 - 4, (i // 5) % 3 - 1
            shift = np.float32([[1, 0, dx], [0, 1, dy]])
            writer.write(
                cv2.warpAffine(base, shift, (width, height), borderMode=cv2.BORDER_REPLICATE)
            )
        writer.release()
        os.replace(tmp, out)
    except BaseException:
        writer.release()
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT")
    parser.add_argument("--codec", default=None, help="FourCC (default: by the suffix)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    suffix = os.path.splitext(args.out)[1].lower()
    codec = args.codec or DEFAULT_CODECS.get(suffix, "mp4v")
    write(args.out, args.frames, args.fps, width, height, codec)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
