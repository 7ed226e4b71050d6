"""Landmark index sets in the 543-row frame layout, and their left/right mirror.

Rows are ordered face 0-467, left_hand 468-488, pose 489-521, right_hand 522-542
(`islr.data.format.PART_SLICES`). Face indices below are MediaPipe face-mesh indices,
which equal their row numbers because the face comes first.

The default subset is the 1st-place ISLR solution's 118 points, in its order:
lips (40), left hand (21), right hand (21), nose (4), right eye (16), left eye (16).
"""

from __future__ import annotations

from collections.abc import Sequence

from islr.data.format import PART_SLICES, ROWS_PER_FRAME

# Face mesh (row = face-mesh index).
LIP: tuple[int, ...] = (
    0, 61, 185, 40, 39, 37, 267, 269, 270, 409,
    291, 146, 91, 181, 84, 17, 314, 405, 321, 375,
    78, 191, 80, 81, 82, 13, 312, 311, 310, 415,
    95, 88, 178, 87, 14, 317, 402, 318, 324, 308,
)  # fmt: skip
NOSE: tuple[int, ...] = (1, 2, 98, 327)
# The subject's left eye (on the right of the image).
LEFT_EYE: tuple[int, ...] = (
    263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398,
)  # fmt: skip
# The subject's right eye; its i-th point mirrors the i-th point of LEFT_EYE.
RIGHT_EYE: tuple[int, ...] = (
    33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173,
)  # fmt: skip

LEFT_HAND: tuple[int, ...] = tuple(
    range(PART_SLICES["left_hand"].start, PART_SLICES["left_hand"].stop)
)
RIGHT_HAND: tuple[int, ...] = tuple(
    range(PART_SLICES["right_hand"].start, PART_SLICES["right_hand"].stop)
)

# The 118 points of the 1st-place solution, in its order.
DEFAULT_LANDMARKS: tuple[int, ...] = LIP + LEFT_HAND + RIGHT_HAND + NOSE + RIGHT_EYE + LEFT_EYE

# Face-mesh points symmetric across the vertical midline of the face (MediaPipe face
# mesh topology). Points on the midline (lips 0, 17, 13, 14; nose 1, 2) mirror to
# themselves and are listed in FACE_MIDLINE.
LIP_MIRROR_PAIRS: tuple[tuple[int, int], ...] = (
    (61, 291), (185, 409), (40, 270), (39, 269), (37, 267),
    (146, 375), (91, 321), (181, 405), (84, 314),
    (78, 308), (191, 415), (80, 310), (81, 311), (82, 312),
    (95, 324), (88, 318), (178, 402), (87, 317),
)  # fmt: skip
NOSE_MIRROR_PAIRS: tuple[tuple[int, int], ...] = ((98, 327),)
EYE_MIRROR_PAIRS: tuple[tuple[int, int], ...] = tuple(zip(LEFT_EYE, RIGHT_EYE, strict=True))
FACE_MIDLINE: tuple[int, ...] = (0, 17, 13, 14, 1, 2)
# All face pairs; the argument `islr.training.augment.flip_permutation` expects.
FACE_MIRROR_PAIRS: tuple[tuple[int, int], ...] = (
    LIP_MIRROR_PAIRS + NOSE_MIRROR_PAIRS + EYE_MIRROR_PAIRS
)

# Pose landmarks (MediaPipe Pose topology, indices within the pose part): nose 0 on the
# midline; left/right pairs for eyes, ears, mouth, shoulders, arms, hands, hips, legs.
POSE_MIRROR_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
    (17, 18), (19, 20), (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32),
)  # fmt: skip
POSE_MIDLINE: tuple[int, ...] = (0,)


def _row_mirror_map() -> dict[int, int]:
    """Row -> mirrored row, for every row whose mirror is known."""
    out: dict[int, int] = {}

    def pair(a: int, b: int) -> None:
        out[a], out[b] = b, a

    for a, b in FACE_MIRROR_PAIRS:
        pair(a, b)
    for a in FACE_MIDLINE:
        out[a] = a
    for a, b in zip(LEFT_HAND, RIGHT_HAND, strict=True):
        pair(a, b)
    pose = PART_SLICES["pose"].start
    for a, b in POSE_MIRROR_PAIRS:
        pair(pose + a, pose + b)
    for a in POSE_MIDLINE:
        out[pose + a] = pose + a
    return out


ROW_MIRROR: dict[int, int] = _row_mirror_map()


def mirror_permutation(landmarks: Sequence[int] = DEFAULT_LANDMARKS) -> list[int]:
    """Permutation of a landmark subset that mirrors it left-right.

    `perm[i]` is the position, inside `landmarks`, of the mirror of `landmarks[i]`, so
    `points[..., perm, :]` (with x negated, or x -> 1 - x on raw coordinates) is the
    mirrored frame. Raises ValueError naming the row when a landmark has no known mirror
    or its mirror is not in the subset.
    """
    position = {row: i for i, row in enumerate(landmarks)}
    if len(position) != len(landmarks):
        raise ValueError("landmarks must not repeat a row")
    perm = []
    for row in landmarks:
        if not 0 <= row < ROWS_PER_FRAME:
            raise ValueError(f"landmark row {row} is outside 0..{ROWS_PER_FRAME - 1}")
        if row not in ROW_MIRROR:
            raise ValueError(
                f"landmark row {row} has no known mirror; add its pair to "
                "islr.models.landmarks or drop it from the subset"
            )
        mirror = ROW_MIRROR[row]
        if mirror not in position:
            raise ValueError(
                f"the mirror of landmark row {row} is row {mirror}, which is not in the "
                "subset; add it so the subset can be flipped"
            )
        perm.append(position[mirror])
    return perm


DEFAULT_MIRROR_PERMUTATION: tuple[int, ...] = tuple(mirror_permutation(DEFAULT_LANDMARKS))
