"""Drawing a recording: hand and pose skeletons as lines, the face as points.

The animation is matplotlib's JavaScript player (`FuncAnimation.to_jshtml`): the frames
are embedded as PNG images and the player's script is inline, so it works offline (no
CDN) inside the page. Coordinates are MediaPipe's normalised image coordinates, so the
y axis points down.
"""

from __future__ import annotations

import re

import numpy as np

from islr.data.format import PART_SLICES, ROWS_PER_FRAME

# MediaPipe's hand landmark connections (21 points: wrist 0, thumb 1-4, fingers 5-20).
HAND_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 4),
    (0, 5), (5, 6), (6, 7), (7, 8),
    (5, 9), (9, 10), (10, 11), (11, 12),
    (9, 13), (13, 14), (14, 15), (15, 16),
    (13, 17), (17, 18), (18, 19), (19, 20), (0, 17),
)  # fmt: skip
# MediaPipe's pose connections (33 points), upper body only: the legs are rarely in a
# signing video's frame and would stretch the axes.
POSE_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24),
)  # fmt: skip
UPPER_POSE = 23  # pose landmarks 0-22: head, shoulders, arms, hands (23+ hips and legs)

SKELETON_PARTS: dict[str, tuple[tuple[int, int], ...]] = {
    "left_hand": HAND_CONNECTIONS,
    "right_hand": HAND_CONNECTIONS,
    "pose": POSE_CONNECTIONS,
}
COLOURS = {"face": "#9e9e9e", "left_hand": "#d62728", "right_hand": "#1f77b4", "pose": "#2ca02c"}


# matplotlib's player links Font Awesome from a CDN for its button icons; this inline
# style draws the same buttons with plain characters so the page needs no network.
_REMOTE_STYLESHEET = re.compile(r'<link rel="stylesheet"\s+href="https?://[^"]*">')
_OFFLINE_ICONS = (
    "<style>\n"
    + "\n".join(
        f".fa-{name}::before {{ content: '{glyph}'; font-style: normal; }}"
        for name, glyph in (
            ("fast-backward", "\\21E4"),
            ("step-backward", "\\25C1"),
            ("play", "\\25B6"),
            ("pause", "\\2016"),
            ("step-forward", "\\25B7"),
            ("fast-forward", "\\21E5"),
            ("minus", "\\2212"),
            ("plus", "+"),
        )
    )
    + "\n.fa-flip-horizontal { display: inline-block; transform: scaleX(-1); }\n</style>"
)


def offline_html(html: str) -> str:
    """Replace the player's remote stylesheet with inline icon styles."""
    return _REMOTE_STYLESHEET.sub(lambda _: _OFFLINE_ICONS, html)


def skeleton_segments(frame: np.ndarray) -> dict[str, np.ndarray]:
    """Line coordinates of one frame (543, 3) per part, for one `plot` call each.

    Each connection is (start, end, NaN-gap), so a part is a single (3 * n, 2) array;
    a connection touching an undetected landmark is NaN and not drawn.
    """
    frame = np.asarray(frame, dtype=np.float64)
    if frame.shape != (ROWS_PER_FRAME, 3):
        raise ValueError(f"a frame has shape ({ROWS_PER_FRAME}, 3), got {frame.shape}")
    out = {}
    for part, connections in SKELETON_PARTS.items():
        points = frame[PART_SLICES[part], :2]
        pairs = np.array(connections)
        segs = np.full((len(connections), 3, 2), np.nan)
        segs[:, 0] = points[pairs[:, 0]]
        segs[:, 1] = points[pairs[:, 1]]
        out[part] = segs.reshape(-1, 2)
    return out


def face_points(frame: np.ndarray) -> np.ndarray:
    """The 468 face landmarks' x, y of one frame."""
    return np.asarray(frame, dtype=np.float64)[PART_SLICES["face"], :2]


def view_limits(frames: np.ndarray, margin: float = 0.1) -> tuple[float, float, float, float]:
    """Axis limits (x0, x1, y0, y1) holding the face, hands, shoulders and arms of all
    frames; the hips and legs are drawn but may fall outside."""
    start = PART_SLICES["pose"].start
    keep = np.r_[
        np.arange(PART_SLICES["face"].start, PART_SLICES["face"].stop),
        np.arange(PART_SLICES["left_hand"].start, PART_SLICES["left_hand"].stop),
        np.arange(start, start + UPPER_POSE),
        np.arange(PART_SLICES["right_hand"].start, PART_SLICES["right_hand"].stop),
    ]
    xy = np.asarray(frames, dtype=np.float64)[:, keep, :2].reshape(-1, 2)
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) == 0:
        return 0.0, 1.0, 0.0, 1.0
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = np.maximum(hi - lo, 1e-3) * margin
    (x0, y0), (x1, y1) = lo - pad, hi + pad
    return float(x0), float(x1), float(y0), float(y1)


def sample_frames(n_frames: int, max_frames: int) -> np.ndarray:
    """Indices of at most `max_frames` evenly spaced frames (all when there are fewer)."""
    if n_frames <= max_frames:
        return np.arange(n_frames)
    return np.unique(np.linspace(0, n_frames - 1, max_frames).round().astype(int))


def animation_html(
    frames: np.ndarray, title: str = "", fps: float = 10.0, max_frames: int = 60, size: float = 4.0
) -> str:
    """A self-contained HTML/JS player of the recording's skeleton (no network needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 3 or frames.shape[1:] != (ROWS_PER_FRAME, 3) or len(frames) == 0:
        raise ValueError(f"frames must have shape (T>=1, {ROWS_PER_FRAME}, 3), got {frames.shape}")
    chosen = sample_frames(len(frames), max_frames)
    x0, x1, y0, y1 = view_limits(frames)

    fig, ax = plt.subplots(figsize=(size, size * max(0.5, min(2.0, (y1 - y0) / (x1 - x0)))))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)  # image coordinates: y grows downwards
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    (face,) = ax.plot([], [], ".", ms=1.5, color=COLOURS["face"], label="face")
    lines = {}
    for part in SKELETON_PARTS:
        name = part.replace("_", " ")
        (lines[part],) = ax.plot([], [], "-o", lw=1.5, ms=2, color=COLOURS[part], label=name)
    fig.legend(loc="lower center", ncol=4, fontsize=7, frameon=False)
    label = ax.set_title(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))  # room for the legend below the axes

    def draw(i: int):
        frame = frames[chosen[i]]
        xy = face_points(frame)
        face.set_data(xy[:, 0], xy[:, 1])
        for part, segs in skeleton_segments(frame).items():
            lines[part].set_data(segs[:, 0], segs[:, 1])
        label.set_text(f"{title}  frame {chosen[i] + 1}/{len(frames)}".strip())
        return [face, *lines.values(), label]

    anim = FuncAnimation(fig, draw, frames=len(chosen), interval=1000.0 / fps, blit=False)
    try:
        # embed_limit is in MB; the default (20) would cut long recordings off silently.
        with matplotlib.rc_context({"animation.embed_limit": 200}):
            return offline_html(anim.to_jshtml(fps=fps, default_mode="loop"))
    finally:
        plt.close(fig)
