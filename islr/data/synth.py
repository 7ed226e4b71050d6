"""Synthetic sign recordings in the Google ISLR `asl-signs` layout.

Why generate data: the pipeline must run end to end on every commit and on a fresh clone,
on data that is small, free to redistribute, identifies nobody, and can be rebuilt
byte for byte from four integers (`data.dvc` records those integers, so a clone without
the DVC remote can still reproduce the exact folder). Why make it realistic: every stage
downstream (validation, folds, TFRecords, the preprocessing layer inside the model) must
work unchanged on real data, so the generated folder copies the real layout, dtypes,
landmark order, missing-hand pattern, frame counts and value ranges of MediaPipe Holistic
output; and the signs must be learnable but not trivially, so that training curves, model
comparisons and the champion gate mean something.

A recording is drawn from three layers of randomness:

* the **sign**, seeded by its name only, so a sign looks the same in every generated data
  set whatever the seed (a model trained on one seed can be scored on another): handshapes,
  palm orientation, a location on or in front of the body, a smooth movement path, one or
  two hands (symmetric, alternating, or a passive base hand), duration;
* the **participant**, seeded by `seed` and the participant's number: body size and place
  in the frame, camera tilt, handedness (left-handers mirror every sign and MediaPipe then
  reports `left_hand`, as in the real data), speed, amplitude, personal offsets of location,
  orientation and handshape, tracking noise, how often the hands are detected;
* the **repetition**, seeded by `(seed, sign, participant, repetition)`: timing, idle
  frames before and after the sign, jitter, and which frames lose a hand.

Because every recording has its own seed, the output does not depend on the number of
worker processes or the order they finish in, and a data set nests inside a larger one
made with the same seed (participant 3 and its recordings do not change when more
participants are asked for).

Geometry is computed in *body units*: origin between the shoulders, x to the right of the
image, y down, z away from the camera, one unit = shoulder width. Hands are built from
a kinematic hand model (palm and bone lengths from the real data), arms follow the hands by
two-bone inverse kinematics, face and torso come from mean templates of the real sample
(`islr/resources/landmark_templates.npz`, see `derive_templates`). The result is projected
to MediaPipe's normalised image coordinates of a portrait video, where x is a fraction of
the width and y of the height.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import io
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from functools import cache, partial
from importlib import resources
from pathlib import Path

import numpy as np

from islr.data.format import (
    CSV_COLUMNS,
    CSV_NAME,
    PART_SLICES,
    ROWS_PER_FRAME,
    SIGN_MAP_NAME,
    atomic_write_bytes_via,
    load_sign_map,
    read_recording,
    recording_relpath,
    write_recording,
)
from islr.errors import ConfigError, DataFolderError
from islr.parallel import parallel_map, resolve_workers

log = logging.getLogger(__name__)

# Bump when the output for the same arguments changes; recorded in the marker file.
GENERATOR_VERSION = 1
# Written into every generated folder: marks it as ours (so it may be regenerated in place)
# and records how to rebuild it.
MARKER_NAME = "synth.json"
TEMPLATES_NAME = "landmark_templates.npz"

# Frame width / height of the (portrait) videos: x is normalised by the width, y by the
# height, so one body unit spans 1/ASPECT times more x than y. Estimated from the real
# sample as the ratio that makes hand bone lengths most constant under rotation.
ASPECT = 0.6
# Coordinates are rounded to this grid before the float32 round trip. float32 alone makes
# the values look like MediaPipe's; the coarser grid (0.02 px at 1280 px) also makes a
# last-ulp difference in vectorised sin/exp between CPUs almost never change a written
# byte, so the folder's md5 in data.dvc holds across machines.
QUANTUM = 2.0**-16
MAX_FRAMES = 300
MAX_PARTICIPANTS = 10_000
MIN_FRAMES = 2

# Hand landmark chains (MediaPipe hand topology).
THUMB = (1, 2, 3, 4)
FINGERS = ((5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
PALM_POINTS = (0, 5, 9, 13, 17)

# Pose landmark numbers of the right arm (shoulder, elbow, wrist, pinky, index, thumb); the
# left arm is each number minus one.
RIGHT_ARM = {"shoulder": 12, "elbow": 14, "wrist": 16, "pinky": 18, "index": 20, "thumb": 22}

# Handshapes as 11 numbers: MCP flexion of index, middle, ring, pinky (0 straight, 1 bent
# 90 degrees), PIP flexion of the same four, finger spread, thumb opposition (0 out to
# the side, 1 across the palm), thumb flexion. Named after the ASL handshapes they imitate.
HANDSHAPES: dict[str, tuple[float, ...]] = {
    "B": (0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0.7, 0.3),
    "5": (0, 0, 0, 0, 0, 0, 0, 0, 1.0, 0.0, 0.0),
    "A": (0.9, 0.9, 0.9, 0.9, 1, 1, 1, 1, 0.0, 0.1, 0.0),
    "S": (0.9, 0.9, 0.9, 0.9, 1, 1, 1, 1, 0.0, 0.8, 0.5),
    "1": (0, 0.9, 0.9, 0.9, 0, 1, 1, 1, 0.0, 0.8, 0.5),
    "V": (0, 0, 0.9, 0.9, 0, 0, 1, 1, 0.8, 0.8, 0.5),
    "H": (0, 0, 0.9, 0.9, 0, 0, 1, 1, 0.0, 0.8, 0.5),
    "W": (0, 0, 0, 0.9, 0, 0, 0, 1, 0.7, 0.8, 0.6),
    "Y": (0.9, 0.9, 0.9, 0, 1, 1, 1, 0, 0.5, 0.0, 0.0),
    "L": (0, 0.9, 0.9, 0.9, 0, 1, 1, 1, 0.0, 0.0, 0.0),
    "I": (0.9, 0.9, 0.9, 0, 1, 1, 1, 0, 0.0, 0.8, 0.5),
    "C": (0.35, 0.35, 0.35, 0.35, 0.45, 0.45, 0.45, 0.45, 0.1, 0.4, 0.2),
    "O": (0.5, 0.5, 0.5, 0.5, 0.8, 0.8, 0.8, 0.8, 0.0, 0.9, 0.4),
    "flat-O": (0.8, 0.8, 0.8, 0.8, 0.15, 0.15, 0.15, 0.15, 0.0, 0.9, 0.1),
    "bent-B": (0.95, 0.95, 0.95, 0.95, 0, 0, 0, 0, 0.0, 0.6, 0.2),
    "claw": (0.2, 0.2, 0.2, 0.2, 0.9, 0.9, 0.9, 0.9, 1.0, 0.2, 0.5),
    "X": (0.3, 0.9, 0.9, 0.9, 0.9, 1, 1, 1, 0.0, 0.8, 0.5),
    "3": (0, 0, 0.9, 0.9, 0, 0, 1, 1, 0.8, 0.0, 0.0),
    "F": (0.5, 0, 0, 0, 0.7, 0, 0, 0, 0.6, 0.9, 0.4),
}
# How often signs use each handshape (a few shapes dominate real vocabularies).
HANDSHAPE_WEIGHTS: dict[str, float] = {
    "B": 0.16, "5": 0.14, "1": 0.14, "A": 0.07, "S": 0.07, "flat-O": 0.06, "C": 0.05,
    "O": 0.05, "V": 0.05, "bent-B": 0.04, "claw": 0.03, "Y": 0.03, "L": 0.03, "X": 0.02,
    "3": 0.02, "F": 0.02, "H": 0.01, "W": 0.005, "I": 0.005,
}  # fmt: skip
RELAXED_SHAPE = (0.25, 0.3, 0.35, 0.4, 0.3, 0.35, 0.4, 0.45, 0.2, 0.3, 0.2)

# Hand orientations as (finger direction, palm normal) in body coordinates, for a right
# hand on its own side. The thumb side follows as finger x palm.
ORIENTATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "up-palm-out": ((0, -1, 0), (0, 0, -1)),
    "up-palm-in": ((0, -1, 0), (0, 0, 1)),
    "up-palm-mid": ((0, -1, 0), (1, 0, 0)),
    "fwd-palm-down": ((0, 0, -1), (0, 1, 0)),
    "fwd-palm-up": ((0, 0, -1), (0, -1, 0)),
    "fwd-palm-mid": ((0, 0, -1), (1, 0, 0)),
    "mid-palm-down": ((1, 0, 0), (0, 1, 0)),
    "mid-palm-in": ((1, 0, 0), (0, 0, 1)),
    "diag-palm-out": ((0.6, -0.8, 0), (0, 0, -1)),
}
_REST_ORIENTATION = ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0))  # arm hanging, palm to the thigh

# Where a sign is made, for the dominant (right) hand: a face landmark (number) or a
# point in body units, plus the depth of the palm centre (negative: toward the camera).
LOCATIONS: dict[str, tuple[int | tuple[float, float], float]] = {
    "forehead": (151, -0.55),
    "eyes": (168, -0.6),
    "nose": (4, -0.65),
    "mouth": (13, -0.6),
    "chin": (152, -0.55),
    "cheek": (205, -0.5),
    "ear": (234, -0.3),
    "neck": ((0.0, -0.2), -0.4),
    "chest": ((-0.05, 0.35), -0.35),
    "dominant-shoulder": ((-0.38, 0.12), -0.3),
    "other-shoulder": ((0.35, 0.15), -0.3),
    "stomach": ((0.0, 0.65), -0.35),
    "neutral": ((-0.2, 0.45), -0.7),
    "neutral-high": ((-0.25, -0.1), -0.75),
    "side": ((-0.7, 0.3), -0.45),
}
# How often one-handed signs are made at each location: most in neutral space, in front
# of the chest and around the mouth and chin, as in real vocabularies. Sharing locations
# makes signs differ by handshape and movement, which keeps recognition non-trivial.
LOCATION_WEIGHTS: dict[str, float] = {
    "neutral": 0.22,
    "neutral-high": 0.08,
    "chest": 0.12,
    "chin": 0.08,
    "mouth": 0.07,
    "forehead": 0.07,
    "cheek": 0.05,
    "nose": 0.03,
    "eyes": 0.03,
    "ear": 0.03,
    "neck": 0.04,
    "dominant-shoulder": 0.05,
    "other-shoulder": 0.03,
    "stomach": 0.05,
    "side": 0.05,
}
_TWO_HANDED_LOCATIONS = ("neutral", "neutral", "neutral-high", "chest", "stomach", "chin")


# --------------------------------------------------------------------------------------
# Templates from the real sample
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Templates:
    """Mean landmark geometry of real MediaPipe output, in normalised units.

    face: (468, 3) around the face centroid, in face widths (cheek 234 to cheek 454);
    pose: (33, 3) around the shoulder midpoint, in shoulder widths, arms at rest;
    hand: (21, 3) in the hand's own frame (thumb side, finger direction, palm normal),
    in lengths wrist -> middle-finger knuckle; face_offset: face centroid in shoulder
    widths; face_width: face width in shoulder widths.
    """

    face: np.ndarray
    pose: np.ndarray
    hand: np.ndarray
    face_offset: np.ndarray
    face_width: float


@cache
def load_templates() -> Templates:
    """The templates shipped in `islr/resources` (derived from the real sample)."""
    with resources.files("islr.resources").joinpath(TEMPLATES_NAME).open("rb") as fh:
        data = np.load(fh)
        arrays = {k: data[k].astype(np.float64) for k in data.files}
    return Templates(
        face=arrays["face"],
        pose=arrays["pose"],
        hand=arrays["hand"],
        face_offset=arrays["face_offset"],
        face_width=float(arrays["face_width"]),
    )


def derive_templates(data_dir: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> None:
    """Build `landmark_templates.npz` from real recordings of right-handed signers.

    Medians over all frames, after removing each frame's position and scale, so that no
    single person's face or body survives. The arm of the signing hand is replaced by the
    mirrored resting arm, because the generator moves the arms itself. Kept here so the
    shipped resource can be rebuilt and audited: `derive_templates(sample, out)`.
    """
    import pandas as pd

    data_dir = Path(data_dir)
    meta = pd.read_csv(data_dir / CSV_NAME)
    faces, poses, hands, offsets = [], [], [], []
    for rel in meta["path"]:
        c = read_recording(data_dir / rel).astype(np.float64)
        c[..., 0] *= ASPECT  # to isotropic units (fractions of the frame height)
        c[..., 2] *= ASPECT
        face, pose = c[:, PART_SLICES["face"]], c[:, PART_SLICES["pose"]]
        centre = face[:, :, :2].mean(1, keepdims=True)
        width = np.hypot(*(face[:, 234, :2] - face[:, 454, :2]).T)[:, None, None]
        f = face.copy()
        f[..., :2] -= centre
        faces.append(f / width)
        mid = (pose[:, 11, :2] + pose[:, 12, :2]) / 2
        sw = np.hypot(*(pose[:, 11, :2] - pose[:, 12, :2]).T)
        p = pose.copy()
        p[..., :2] -= mid[:, None]
        p /= sw[:, None, None]
        right_handed = np.isnan(c[:, PART_SLICES["left_hand"], 0]).mean() > 0.5
        if right_handed:
            poses.append(p)
        offsets.append(np.c_[(centre[:, 0] - mid) / sw[:, None], width[:, 0, 0] / sw])
        for part, mirror in (("right_hand", False), ("left_hand", True)):
            h = c[:, PART_SLICES[part]]
            h = h[~np.isnan(h[:, 0, 0])] - h[~np.isnan(h[:, 0, 0])][:, :1]
            if mirror:
                h[..., 0] *= -1
            hands.append(h)
    pose_t = np.median(np.concatenate(poses), 0)
    for right in range(12, 23, 2):  # the right arm signs: use the mirrored resting left arm
        pose_t[right] = pose_t[right - 1] * (-1, 1, 1)
    h = np.concatenate(hands)
    u = h[:, 9] / np.linalg.norm(h[:, 9], axis=1, keepdims=True)
    t = h[:, 5] - h[:, 17]
    t -= (t * u).sum(1, keepdims=True) * u
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    n = np.cross(t, u)
    length = np.linalg.norm(h[:, 9], axis=1)[:, None]
    local = np.stack([(h * a[:, None]).sum(-1) for a in (t, u, n)], -1) / length[..., None]
    off = np.median(np.concatenate(offsets), 0)
    np.savez_compressed(
        out_path,
        face=np.median(np.concatenate(faces), 0).astype(np.float32),
        pose=pose_t.astype(np.float32),
        hand=np.median(local, 0).astype(np.float32),
        face_offset=off[:2].astype(np.float32),
        face_width=np.float32(off[2]),
    )


# --------------------------------------------------------------------------------------
# Small vector helpers. Rotations are written out element by element instead of `@`:
# matrix products go through BLAS, whose kernels differ between CPUs.
# --------------------------------------------------------------------------------------


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
            a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
            a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
        ],
        -1,
    )


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.sqrt(np.maximum(_dot(v, v), 1e-18))[..., None]


def _rotate(v: np.ndarray, rotvec: np.ndarray) -> np.ndarray:
    """Rotate vectors `v` by rotation vectors (axis * angle), Rodrigues' formula."""
    angle = np.sqrt(_dot(rotvec, rotvec))[..., None]
    k = rotvec / np.maximum(angle, 1e-12)
    cos, sin = np.cos(angle), np.sin(angle)
    return v * cos + _cross(k, v) * sin + k * _dot(k, v)[..., None] * (1 - cos)


def _frame(u: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orthonormal hand frame (thumb side, fingers, palm) from rough finger/palm vectors."""
    u = _unit(u)
    n = _unit(n - _dot(n, u)[..., None] * u)
    return _cross(u, n), u, n


def _rotvec_between(u0, n0, u1, n1) -> np.ndarray:
    """Rotation vector taking hand frame (u0, n0) onto (u1, n1); scalar maths."""
    m0 = np.stack(_frame(np.asarray(u0, float), np.asarray(n0, float)), -1)
    m1 = np.stack(_frame(np.asarray(u1, float), np.asarray(n1, float)), -1)
    r = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            r[i, j] = sum(m1[i, k] * m0[j, k] for k in range(3))
    cos = min(1.0, max(-1.0, (r[0, 0] + r[1, 1] + r[2, 2] - 1) / 2))
    angle = float(np.arccos(cos))
    if angle < 1e-6:
        return np.zeros(3)
    if angle > np.pi - 1e-3:  # half turn: axis from the symmetric part
        axis = np.sqrt(np.maximum((np.diag(r) + 1) / 2, 0))
        i = int(np.argmax(axis))
        for j in range(3):
            if j != i and r[i, j] + r[j, i] < 0:
                axis[j] = -axis[j]
    else:
        axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    return axis / np.sqrt(float(_dot(axis, axis))) * angle


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _smooth_noise(
    rng: np.random.Generator, n: int, dims: tuple[int, ...], sd: float, frames: float
) -> np.ndarray:
    """Slowly drifting noise (AR(1), correlation time `frames`) with stationary sd `sd`."""
    rho = float(np.exp(-1.0 / frames))
    eps = rng.normal(0.0, sd, (n, *dims))
    out = np.empty_like(eps)
    out[0] = eps[0]
    scale = np.sqrt(1 - rho * rho)
    for i in range(1, n):
        out[i] = rho * out[i - 1] + scale * eps[i]
    return out


def _stable_rng(*keys: object) -> np.random.Generator:
    """A generator seeded by a hash of `keys`: the same everywhere, unlike `hash()`."""
    digest = hashlib.sha256(repr(keys).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def _unit_tuple(v) -> tuple[float, float, float]:
    v = np.asarray(v, float)
    return tuple(float(x) for x in v / np.sqrt(float(_dot(v, v))))


# --------------------------------------------------------------------------------------
# Signs
# --------------------------------------------------------------------------------------

Vec = tuple[float, float, float]


@dataclass(frozen=True)
class SignSignature:
    """What makes a sign recognisable, for a right-handed signer, in body units.

    hands: "one", "symmetric" (the other hand mirrors the path), "alternating" (mirrors
    it half a cycle late) or "base" (the other hand holds still as a base the dominant
    hand moves on). The palm centre follows
    `anchor + start + line * s + wave_a * sin(2 pi cycles s) + wave_b * (1 - cos(...))`
    for progress s in [0, 1]; the hand turns by `bend` (fingers toward the palm side) and
    `twist` (around the fingers) radians and changes from `shape_start` to `shape_end`
    between progress `change[0]` and `change[1]`, with finger `wiggle`.
    """

    name: str
    hands: str
    location: str
    anchor: Vec
    start: Vec
    line: Vec
    wave_a: Vec
    wave_b: Vec
    cycles: float
    shape_start: tuple[float, ...]
    shape_end: tuple[float, ...]
    change: tuple[float, float]
    wiggle: float
    finger_dir: Vec
    palm_dir: Vec
    bend: float
    twist: float
    frames: float
    base_anchor: Vec = (0.0, 0.0, 0.0)
    base_shape: tuple[float, ...] = RELAXED_SHAPE
    base_finger_dir: Vec = (0.0, -1.0, 0.0)
    base_palm_dir: Vec = (0.0, 0.0, -1.0)


def _location_point(name: str) -> np.ndarray:
    """Body-unit point of a named location (palm centre of the dominant right hand)."""
    where, depth = LOCATIONS[name]
    if isinstance(where, int):
        tpl = load_templates()
        xy = tpl.face_offset + tpl.face[where, :2] * tpl.face_width
    else:
        xy = np.asarray(where, float)
    return np.array([xy[0], xy[1], depth])


def _random_direction(rng: np.random.Generator, depth: float = 0.4) -> np.ndarray:
    """A unit vector mostly in the image plane (signs move across more than in depth)."""
    v = rng.normal(0, 1, 3) * (1.0, 1.0, depth)
    return v / np.sqrt(float(_dot(v, v)))


def _jitter_shape(rng: np.random.Generator, name: str, sd: float = 0.06) -> tuple[float, ...]:
    shape = np.clip(np.asarray(HANDSHAPES[name]) + rng.normal(0, sd, 11), 0.0, 1.0)
    return tuple(float(x) for x in shape)


@cache
def sign_signature(sign: str) -> SignSignature:
    """The motion signature of `sign`, a pure function of its name.

    Drawn from a generator seeded by the sign's name (not the data set seed), so the
    same sign is the same gesture in every generated folder; two signs may share a
    handshape or a location, as real signs do, but rarely everything.
    """
    rng = _stable_rng("islr-synth-sign", GENERATOR_VERSION, sign)
    hands = str(rng.choice(["one", "symmetric", "alternating", "base"], p=[0.5, 0.2, 0.1, 0.2]))
    if hands == "one":
        location = str(rng.choice(list(LOCATION_WEIGHTS), p=list(LOCATION_WEIGHTS.values())))
    else:
        location = str(rng.choice(_TWO_HANDED_LOCATIONS))
    anchor = _location_point(location) + rng.normal(0, 0.04, 3) * (1, 1, 0.5)
    family = str(
        rng.choice(
            ["line", "arc", "circle", "shake", "tap", "twist"], p=[0.25, 0.2, 0.15, 0.15, 0.15, 0.1]
        )
    )
    zero = np.zeros(3)
    line, wave_a, wave_b, cycles = zero, zero, zero, 1.0
    bend = float(rng.normal(0, 0.25))
    twist = float(rng.normal(0, 0.25))
    if family == "line":
        line = _random_direction(rng) * rng.uniform(0.2, 0.5)
    elif family == "arc":
        line = _random_direction(rng) * rng.uniform(0.2, 0.45)
        wave_a = _random_direction(rng) * rng.uniform(0.08, 0.18)
        cycles = 0.5
    elif family == "circle":
        a = _random_direction(rng, depth=0.6)
        b = _unit(_cross(a, _random_direction(rng, depth=0.6)))
        radius = rng.uniform(0.08, 0.18)
        wave_a, wave_b, cycles = a * radius, b * radius, float(rng.choice([1, 2]))
    elif family == "shake":
        wave_a = _random_direction(rng) * rng.uniform(0.05, 0.12)
        line = _random_direction(rng) * rng.uniform(0.0, 0.15)
        cycles = float(rng.choice([2, 3]))
    elif family == "tap":
        wave_b = np.array([0.0, 0.0, 1.0]) * rng.uniform(0.05, 0.12) + rng.normal(0, 0.02, 3)
        cycles = float(rng.choice([1, 2, 3]))
    else:  # twist: the hand turns in place
        twist = float(rng.choice([-1, 1]) * rng.uniform(1.2, 2.4))
        line = _random_direction(rng) * rng.uniform(0.0, 0.1)
    start = -0.5 * line - 0.5 * wave_b + rng.normal(0, 0.03, 3)

    names, weights = list(HANDSHAPE_WEIGHTS), list(HANDSHAPE_WEIGHTS.values())
    shape_start = str(rng.choice(names, p=weights))
    shape_end = str(rng.choice(names, p=weights)) if rng.random() < 0.35 else shape_start
    c0 = float(rng.uniform(0.1, 0.6))
    orient = str(rng.choice(list(ORIENTATIONS)))
    tilt = rng.normal(0, 0.25, 3)
    finger_dir = _rotate(np.asarray(ORIENTATIONS[orient][0], float), tilt)
    palm_dir = _rotate(np.asarray(ORIENTATIONS[orient][1], float), tilt)
    frames = float(rng.lognormal(np.log(15.0), 0.3) * (1 + 0.15 * (cycles - 1)))
    extra = {}
    if hands in ("symmetric", "alternating"):
        anchor[0] = min(anchor[0], -0.18)  # keep the two hands apart
    if hands == "base":
        base = _location_point(str(rng.choice(["neutral", "chest", "stomach"])))
        base[0] = -rng.uniform(0.02, 0.12)  # near the middle, on the base hand's side
        base_orient = str(rng.choice(["fwd-palm-up", "mid-palm-in", "up-palm-mid", "fwd-palm-mid"]))
        extra = {
            "base_anchor": tuple(float(x) for x in base),
            "base_shape": _jitter_shape(rng, str(rng.choice(["B", "S", "5", "1", "C", "A"]))),
            "base_finger_dir": _unit_tuple(ORIENTATIONS[base_orient][0]),
            "base_palm_dir": _unit_tuple(ORIENTATIONS[base_orient][1]),
        }
        # The dominant hand works on the base hand: just above it, on the body's midline.
        anchor = np.array([-base[0], base[1] - 0.15, base[2] - 0.05]) + rng.normal(0, 0.03, 3)

    def vec(v) -> Vec:
        return tuple(float(x) for x in v)

    return SignSignature(
        name=sign,
        hands=hands,
        location=location,
        anchor=vec(anchor),
        start=vec(start),
        line=vec(line),
        wave_a=vec(wave_a),
        wave_b=vec(wave_b),
        cycles=cycles,
        shape_start=_jitter_shape(rng, shape_start),
        shape_end=_jitter_shape(rng, shape_end),
        change=(c0, float(min(1.0, c0 + rng.uniform(0.2, 0.5)))),
        wiggle=float(rng.uniform(0.15, 0.35)) if rng.random() < 0.12 else 0.0,
        finger_dir=_unit_tuple(finger_dir),
        palm_dir=_unit_tuple(palm_dir),
        bend=bend,
        twist=twist,
        frames=frames,
        **extra,
    )


def select_signs(n_signs: int) -> list[str]:
    """The first `n_signs` signs of the official map, in class-index order ("TV", "after",
    "airplane", ...).

    A fixed order, not seed-dependent: a smaller data set's signs are a subset of a larger
    one's, and a model trained on one generated set can be scored on another.
    """
    sign_map = load_sign_map()
    if not 1 <= n_signs <= len(sign_map):
        raise ConfigError(f"signs: expected 1..{len(sign_map)}, got {n_signs}")
    return sorted(sign_map, key=sign_map.__getitem__)[:n_signs]


# --------------------------------------------------------------------------------------
# Participants
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Participant:
    """One signer: body, framing, style and how well the tracker follows them.

    `centre` is the shoulder midpoint in normalised image coordinates, `body` the shoulder
    width in units of the frame height. Location/orientation offsets are in body units
    and radians; `speed` multiplies sign durations.
    """

    index: int
    participant_id: int
    left_handed: bool
    centre: tuple[float, float]
    body: float
    roll: float
    arm: float
    hand: float
    speed: float
    amplitude: float
    location_bias: Vec
    orientation_bias: Vec
    path_rotation: Vec
    variant_rate: float
    laxness: float
    shape_accent: tuple[float, ...]
    noise: float
    detect_rate: float
    detect_persistence: float
    blur: float
    idle_median: float
    long_takes: float
    start_zero: float
    start_median: float
    edge_detect: float
    head: tuple[float, float]


def make_participants(n_participants: int, seed: int) -> list[Participant]:
    """`n_participants` signers for `seed`; participant i is the same in any larger set.

    Ids look like the competition's: distinct integers between 2000 and 65000, drawn from
    their own stream so that a (rare) redraw on collision changes no one's traits.
    """
    if not 1 <= n_participants <= MAX_PARTICIPANTS:
        raise ConfigError(f"participants: expected 1..{MAX_PARTICIPANTS}, got {n_participants}")
    out: list[Participant] = []
    used: set[int] = set()
    for i in range(n_participants):
        ids = np.random.default_rng([seed, 4, i])
        pid = int(ids.integers(2000, 65000))
        while pid in used:
            pid = int(ids.integers(2000, 65000))
        used.add(pid)
        rng = np.random.default_rng([seed, 1, i])
        out.append(
            Participant(
                index=i,
                participant_id=pid,
                left_handed=bool(rng.random() < 0.12),
                centre=(float(rng.uniform(0.42, 0.58)), float(rng.uniform(0.55, 0.75))),
                body=float(rng.uniform(0.28, 0.40)),
                roll=float(rng.normal(0, 0.03)),
                arm=float(rng.uniform(0.93, 1.07)),
                hand=float(rng.uniform(0.88, 1.12)),
                speed=float(rng.lognormal(0, 0.25)),
                amplitude=float(rng.lognormal(0, 0.25)),
                location_bias=tuple(float(x) for x in rng.normal(0, 1.0, 3) * (0.08, 0.12, 0.06)),
                orientation_bias=tuple(float(x) for x in rng.normal(0, 0.4, 3)),
                path_rotation=tuple(float(x) for x in rng.normal(0, 0.3, 3)),
                variant_rate=float(rng.uniform(0.0, 0.3)),
                laxness=float(rng.uniform(0.0, 0.5)),
                shape_accent=tuple(float(x) for x in rng.normal(0, 0.12, 11)),
                noise=float(rng.lognormal(0, 0.3)),
                detect_rate=float(rng.uniform(0.7, 0.98)),
                detect_persistence=float(rng.uniform(0.3, 0.7)),
                blur=float(rng.uniform(0.3, 0.6)),
                idle_median=float(rng.lognormal(np.log(1.5), 0.6)),
                long_takes=float(rng.uniform(0.02, 0.12)),
                start_zero=float(rng.uniform(0.0, 0.7)),
                start_median=float(rng.lognormal(np.log(15), 0.5)),
                edge_detect=float(rng.uniform(0.3, 0.9)),
                head=(float(rng.normal(0, 0.03)), float(rng.normal(0, 0.03))),
            )
        )
    return out


# --------------------------------------------------------------------------------------
# Hand model
# --------------------------------------------------------------------------------------


def _hand_local(shape: np.ndarray) -> np.ndarray:
    """Landmarks (T, 21, 3) of a right hand in its own frame (thumb side, fingers, palm).

    Unit: wrist to middle knuckle. The palm is rigid (from the template); each finger is a
    chain of three bones bent toward the palm side by the MCP/PIP flexion of `shape`
    (T, 11), the distal joint following the middle one as real fingers do.
    """
    tpl = load_templates().hand
    n = shape.shape[0]
    out = np.zeros((n, 21, 3))
    for i in (*PALM_POINTS, 1):
        out[:, i] = tpl[i]
    palm = np.array([0.0, 0.0, 1.0])
    spread = shape[:, 8]
    base_angle = (0.06, 0.0, -0.07, -0.16)
    spread_angle = (0.22, 0.04, -0.12, -0.28)
    for f, chain in enumerate(FINGERS):
        theta = base_angle[f] + spread * spread_angle[f]
        d0 = np.stack([np.sin(theta), np.cos(theta), np.zeros(n)], -1)
        mcp = shape[:, f] * 1.45
        pip = shape[:, 4 + f] * 1.7
        angles = (mcp, mcp + pip, mcp + pip * 1.65)
        for b in range(3):
            length = float(
                np.sqrt(_dot(tpl[chain[b + 1]] - tpl[chain[b]], tpl[chain[b + 1]] - tpl[chain[b]]))
            )
            a = angles[b][:, None]
            out[:, chain[b + 1]] = out[:, chain[b]] + length * (np.cos(a) * d0 + np.sin(a) * palm)
    opp, flex = shape[:, 9:10], shape[:, 10:11]
    d_out = _unit(np.array([0.55, 0.75, 0.3]))
    d_across = _unit(np.array([-0.35, 0.55, 0.75]))
    d = _unit((1 - opp) * d_out + opp * d_across)
    bend_dir = _unit(np.array([-1.0, 0.0, 0.6]) - _dot(np.array([-1.0, 0.0, 0.6]), d)[:, None] * d)
    for b, k in enumerate((0.0, 0.8, 1.6)):
        i, j = THUMB[b], THUMB[b + 1]
        length = float(np.sqrt(_dot(tpl[j] - tpl[i], tpl[j] - tpl[i])))
        a = flex * k
        out[:, j] = out[:, i] + length * (np.cos(a) * d + np.sin(a) * bend_dir)
    return out


_PALM_CENTRE_INDEX = list(PALM_POINTS)


def _hand_points(
    centre: np.ndarray, finger: np.ndarray, palm: np.ndarray, shape: np.ndarray, size: np.ndarray
) -> np.ndarray:
    """Body-unit landmarks (T, 21, 3) of a right hand with its palm centre at `centre`."""
    t, u, n = _frame(finger, palm)
    local = _hand_local(shape)
    local = local - local[:, _PALM_CENTRE_INDEX].mean(1, keepdims=True)
    world = (
        local[..., 0:1] * t[:, None] + local[..., 1:2] * u[:, None] + local[..., 2:3] * n[:, None]
    )
    return centre[:, None] + world * size[:, None, None]


def _elbow(shoulder: np.ndarray, wrist: np.ndarray, upper: float, fore: float) -> np.ndarray:
    """Right elbow by two-bone inverse kinematics, bending down, out and back."""
    d = wrist - shoulder
    dist = np.sqrt(_dot(d, d))
    reach = np.minimum(dist, 0.999 * (upper + fore))
    along = (upper**2 - fore**2 + reach**2) / (2 * np.maximum(reach, 1e-9))
    height = np.sqrt(np.maximum(upper**2 - along**2, 0.0))
    axis = d / np.maximum(dist, 1e-9)[:, None]
    pole = np.array([-0.5, 1.0, 0.4])
    pole = _unit(pole - _dot(pole, axis)[:, None] * axis)
    return shoulder + along[:, None] * axis + height[:, None] * pole


# --------------------------------------------------------------------------------------
# One recording
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Track:
    """Per-frame palm centre, finger direction, palm normal and handshape of one hand."""

    centre: np.ndarray
    finger: np.ndarray
    palm: np.ndarray
    shape: np.ndarray


def _rest(tpl: Templates) -> tuple[np.ndarray, ...]:
    """The resting hand (palm centre, finger direction, palm normal, shape): arm hanging."""
    wrist = tpl.pose[RIGHT_ARM["wrist"]] * (1, 1, 0)
    centre = wrist + np.array([0.0, 0.2, 0.0])  # palm centre below the wrist
    finger, palm = (np.array(v) for v in _REST_ORIENTATION)
    return centre, finger, palm, np.asarray(RELAXED_SHAPE)


def _path(sig: SignSignature, s: np.ndarray, amp: float, phase: float = 0.0) -> np.ndarray:
    """Palm-centre offsets from the anchor along the sign's path at progress `s`."""
    w = 2 * np.pi * sig.cycles * (s[:, None] + phase)
    return amp * (
        np.asarray(sig.start)
        + np.asarray(sig.line) * s[:, None]
        + np.asarray(sig.wave_a) * np.sin(w)
        + np.asarray(sig.wave_b) * (1 - np.cos(w))
    )


def _core_track(
    sig: SignSignature,
    part: Participant,
    rng: np.random.Generator,
    s: np.ndarray,
    amp: float,
    phase: float = 0.0,
) -> _Track:
    """The hand during the sign proper, for progress `s` (one value per frame)."""
    n = s.shape[0]
    bias = np.asarray(part.location_bias) + rng.normal(0, 1.0, 3) * (0.07, 0.09, 0.05)
    turn = np.asarray(part.path_rotation) + rng.normal(0, 0.15, 3)
    centre = np.asarray(sig.anchor) + bias + _rotate(_path(sig, s, amp, phase), turn)
    rot = np.asarray(part.orientation_bias) + rng.normal(0, 0.3, 3)
    u0 = _rotate(np.asarray(sig.finger_dir), rot)
    n0 = _rotate(np.asarray(sig.palm_dir), rot)
    _, u0, n0 = _frame(u0, n0)
    bend = sig.bend * s[:, None]
    u1 = np.cos(bend) * u0 + np.sin(bend) * n0
    n1 = -np.sin(bend) * u0 + np.cos(bend) * n0
    twist = sig.twist * _smoothstep(s)[:, None]
    t1 = _cross(u1, n1)
    n2 = np.cos(twist) * n1 + np.sin(twist) * t1
    c0, c1 = sig.change
    w = _smoothstep((s - c0) / max(c1 - c0, 1e-6))[:, None]
    shape = (1 - w) * np.asarray(sig.shape_start) + w * np.asarray(sig.shape_end)
    if sig.wiggle:
        wave = sig.wiggle * np.sin(2 * np.pi * 3 * s[:, None] + np.arange(4) * 0.9)
        shape[:, :8] += np.concatenate([wave, wave], 1)
    lax = part.laxness + rng.uniform(0, 0.1)
    shape = (1 - lax) * shape + lax * np.asarray(RELAXED_SHAPE) + np.asarray(part.shape_accent)
    shape += rng.normal(0, 0.12, 11)
    return _Track(centre, u1, n2, np.clip(shape, 0.0, 1.0) + np.zeros((n, 1)))


def _join(
    rest: tuple[np.ndarray, ...],
    core: _Track,
    idle_in: int,
    k_in: int,
    k_out: int,
    idle_out: int,
) -> _Track:
    """Rest, raise, the sign, lower, rest. `rest` is (palm centre, finger direction, palm
    normal, shape) of the resting hand; while raising and lowering, position and shape
    blend and the hand turns about one axis between its resting and signing orientation."""
    r_centre, r_finger, r_palm, r_shape = rest

    def hold(k: int) -> list[np.ndarray]:
        return [np.tile(v, (k, 1)) for v in rest]

    def ramp(k: int, i: int, lowering: bool) -> list[np.ndarray]:
        w = _smoothstep(np.arange(1, k + 1) / (k + 1))[:, None]
        if lowering:
            w = 1 - w
        turn = w * _rotvec_between(r_finger, r_palm, core.finger[i], core.palm[i])
        return [
            (1 - w) * r_centre + w * core.centre[i],
            _rotate(np.tile(r_finger, (k, 1)), turn),
            _rotate(np.tile(r_palm, (k, 1)), turn),
            (1 - w) * r_shape + w * core.shape[i],
        ]

    parts = [
        hold(idle_in),
        ramp(k_in, 0, lowering=False),
        [core.centre, core.finger, core.palm, core.shape],
        ramp(k_out, -1, lowering=True),
        hold(idle_out),
    ]
    return _Track(*(np.concatenate([p[i] for p in parts]) for i in range(4)))


def _detected(rng: np.random.Generator, p: np.ndarray, persistence: float) -> np.ndarray:
    """Which frames have the hand, from a two-state Markov chain whose stationary
    probability is `p` per frame, so that misses come in runs as in real tracking.
    A frame with `p == 0` (hand out of the picture) is never detected."""
    u = rng.random(p.shape[0])
    out = np.zeros(p.shape[0], bool)
    prev = bool(u[0] < p[0])
    out[0] = prev
    for i in range(1, p.shape[0]):
        q = p[i] + persistence * (1 - p[i]) if prev else p[i] * (1 - persistence)
        prev = bool(u[i] < q) and p[i] > 0
        out[i] = prev
    return out


def signer_variant(sig: SignSignature, participant: Participant, seed: int) -> SignSignature:
    """The sign as this participant makes it: now and then a variant of their own.

    Real signers differ by region and generation: some use another handshape, place or
    palm orientation for the same sign. Each participant has such a variant for a share
    (`participant.variant_rate`) of the signs, always the same ones, so a model cannot
    reach 100% on signers it has not seen, as with real data.
    """
    rng = np.random.default_rng([seed, 5, participant.index, load_sign_map()[sig.name]])
    if rng.random() >= participant.variant_rate:
        return sig
    kind = str(rng.choice(["shape", "location", "orientation"]))
    if kind == "shape":
        names, weights = list(HANDSHAPE_WEIGHTS), list(HANDSHAPE_WEIGHTS.values())
        shape = _jitter_shape(rng, str(rng.choice(names, p=weights)))
        end = shape if sig.shape_end == sig.shape_start else sig.shape_end
        return dataclasses.replace(sig, shape_start=shape, shape_end=end)
    if kind == "location":
        shift = rng.normal(0, 1.0, 3) * (0.25, 0.3, 0.1)
        return dataclasses.replace(
            sig, anchor=tuple(float(a + d) for a, d in zip(sig.anchor, shift, strict=True))
        )
    turn = rng.normal(0, 0.8, 3)
    finger = _rotate(np.asarray(sig.finger_dir), turn)
    palm = _rotate(np.asarray(sig.palm_dir), turn)
    return dataclasses.replace(sig, finger_dir=_unit_tuple(finger), palm_dir=_unit_tuple(palm))


def recording_seed(seed: int, sign: str, participant_index: int, repetition: int) -> list[int]:
    """Seed entropy of one recording, from its coordinates in the data set only (never
    from a shared generator), so recordings can be made in any order and process."""
    sign_map = load_sign_map()
    if sign not in sign_map:
        raise ConfigError(f"sign {sign!r} is not in {SIGN_MAP_NAME}; use one of its 250 signs")
    return [seed, 2, sign_map[sign], participant_index, repetition]


def simulate_recording(
    sign: str, participant: Participant, seed: int, repetition: int
) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks (T, 543, 3) float64 (float32 values) and frame numbers (T,) of one take.

    A pure function of its arguments; NaN marks a hand the tracker missed in that frame.
    """
    rng = np.random.default_rng(recording_seed(seed, sign, participant.index, repetition))
    sig = signer_variant(sign_signature(sign), participant, seed)
    tpl = load_templates()
    part = participant

    # Timeline: idle, raise, the sign, lower, idle (the idle tails make the long takes).
    n_core = max(2, round(sig.frames * part.speed * rng.lognormal(0, 0.2)))
    k_in = max(1, round(rng.uniform(2, 5) * part.speed))
    k_out = max(1, round(rng.uniform(2, 5) * part.speed))
    idle = part.idle_median
    if rng.random() < part.long_takes:  # the signer waited: a long, mostly empty take
        idle = float(rng.lognormal(np.log(25.0), 0.8))
    idle_in = int(rng.lognormal(np.log(idle), 1.0))
    idle_out = int(rng.lognormal(np.log(idle), 1.0))
    n_core = min(n_core, MAX_FRAMES - k_in - k_out)
    spare = MAX_FRAMES - (n_core + k_in + k_out)
    if idle_in + idle_out > spare:
        idle_in = idle_in * spare // (idle_in + idle_out)
        idle_out = spare - idle_in
    n = idle_in + k_in + n_core + k_out + idle_out
    core_at = idle_in + k_in

    warp = rng.uniform(-0.4, 0.4)
    x = np.linspace(0.0, 1.0, n_core)
    s = np.clip(x + warp * x * (1 - x), 0.0, 1.0)
    amp = part.amplitude * rng.lognormal(0, 0.2)

    rest = _rest(tpl)
    sway = _smooth_noise(rng, n, (3,), 0.02, 8.0) * (1, 1, 0)
    timeline = (idle_in, k_in, k_out, idle_out)

    dom = _join(rest, _core_track(sig, part, rng, s, amp), *timeline)
    if sig.hands == "one":  # the other hand rests, below the picture
        other = _Track(*(np.tile(v, (n, 1)) for v in rest))
    elif sig.hands == "base":
        held = [
            np.asarray(sig.base_anchor) + rng.normal(0, 0.03, 3),
            sig.base_finger_dir,
            sig.base_palm_dir,
            sig.base_shape,
        ]
        other = _join(rest, _Track(*(np.tile(v, (n_core, 1)) for v in held)), *timeline)
    else:
        phase = 0.5 / sig.cycles if sig.hands == "alternating" else 0.0
        other = _join(rest, _core_track(sig, part, rng, s, amp, phase), *timeline)

    # Hand landmarks in body units, with tracking drift and jitter. Both hands are built
    # as right hands on the right side ("own side") and the second one mirrored below.
    size = 0.38 * part.hand  # wrist to middle knuckle, in shoulder widths
    noise = part.noise
    hands = []
    for track in (dom, other):
        drift = _smooth_noise(rng, n, (3,), 0.02 * noise, 5.0)
        centre = track.centre + drift + sway
        persp = size / (1 + 0.4 * np.clip(centre[:, 2], -0.9, 0.5))
        pts = _hand_points(centre, track.finger, track.palm, track.shape, persp)
        pts = pts + rng.normal(0, 0.012 * noise, pts.shape)
        hands.append(pts)
    # Own-side (right-hand) coordinates -> slots of the real data: the dominant hand is
    # MediaPipe's right hand for right-handers and its left hand for left-handers.
    mirror = np.array([-1.0, 1.0, 1.0])
    if part.left_handed:
        right, left = hands[1], hands[0] * mirror
    else:
        right, left = hands[0], hands[1] * mirror
    right_on = (other, dom) if part.left_handed else (dom, other)

    # Body: the template with sway and jitter; arms follow the hands by inverse kinematics
    # (computed on the right side, mirrored for the left arm); depth of the arm points
    # grows as the hand comes forward, on MediaPipe's larger pose z scale.
    pose = np.tile(tpl.pose, (n, 1, 1)) + sway[:, None]
    pose += rng.normal(0, 0.01 * noise, pose.shape) * (1, 1, 8)
    upper = float(np.sqrt(_dot(tpl.pose[13] - tpl.pose[11], tpl.pose[13] - tpl.pose[11])))
    upper *= part.arm
    fore = 0.85 * part.arm
    for side, pts in (("right", right), ("left", left)):
        own = pts if side == "right" else pts * mirror
        shoulder = tpl.pose[RIGHT_ARM["shoulder"]] * (1, 1, 0) + sway
        wrist = own[:, 0]
        elbow = _elbow(shoulder, wrist, upper, fore)
        arm = {
            "elbow": elbow,
            "wrist": wrist,
            "pinky": (own[:, 17] + own[:, 18]) / 2,
            "index": (own[:, 5] + own[:, 6]) / 2,
            "thumb": own[:, 2],
        }
        shift = 0 if side == "right" else -1
        for key, xyz in arm.items():
            i = RIGHT_ARM[key] + shift
            rest_z = tpl.pose[RIGHT_ARM[key], 2]
            depth = xyz[:, 2]
            xyz = xyz * (mirror if side == "left" else 1.0)
            pose[:, i, 0] = xyz[:, 0] + rng.normal(0, 0.01 * noise, n)
            pose[:, i, 1] = xyz[:, 1] + rng.normal(0, 0.01 * noise, n)
            pose[:, i, 2] = rest_z + 5.0 * depth + rng.normal(0, 0.15 * noise, n)

    # Face: mean face, turned a little (yaw, pitch, roll), following the head.
    head = _smooth_noise(rng, n, (2,), 0.015, 6.0) + np.asarray(part.head)
    angles = _smooth_noise(rng, n, (3,), 0.05, 6.0)
    fw = tpl.face_width * rng.uniform(0.97, 1.03)
    face = np.tile(tpl.face, (n, 1, 1)) * fw
    face = _rotate(face, angles[:, None, :] * (1.0, 1.0, 0.5))
    face[..., :2] += tpl.face_offset + (head + sway[:, :2])[:, None]
    face[..., :2] += rng.normal(0, 0.003 * noise, (n, 468, 2))
    pose[:, :11, :2] += head[:, None]  # the torso sway is in the pose already

    # Project body units to normalised image coordinates (portrait video, camera roll).
    cos, sin = np.cos(part.roll), np.sin(part.roll)

    def project(xy: np.ndarray) -> np.ndarray:
        x = part.centre[0] * ASPECT + part.body * (cos * xy[..., 0] - sin * xy[..., 1])
        y = part.centre[1] + part.body * (sin * xy[..., 0] + cos * xy[..., 1])
        return np.stack([x / ASPECT, y], -1)

    to_x = part.body / ASPECT  # body units of depth -> MediaPipe z (in widths)
    coords = np.full((n, ROWS_PER_FRAME, 3), np.nan)
    sl = PART_SLICES
    coords[:, sl["face"], :2] = project(face)
    coords[:, sl["face"], 2] = face[..., 2] * to_x
    coords[:, sl["pose"], :2] = project(pose)
    coords[:, sl["pose"], 2] = pose[..., 2] * to_x

    # Hands: MediaPipe reports z relative to the wrist and biased toward the camera. A
    # hand is detected with a probability that falls when it leaves the picture or moves
    # fast (motion blur); misses come in runs.
    seen, chance = {}, {}
    for name, pts, track in (("right_hand", right, right_on[0]), ("left_hand", left, right_on[1])):
        rel = pts - pts[:, :1]
        spread = np.sqrt(rel[..., 0] ** 2 + rel[..., 1] ** 2)
        xy = project(pts)
        coords[:, sl[name], :2] = xy
        coords[:, sl[name], 2] = (0.5 * rel[..., 2] - 0.2 * spread) * to_x
        palm = xy[:, list(PALM_POINTS)].mean(1)
        visible = np.clip((1.0 - palm[:, 1]) / 0.06, 0, 1) * np.clip(
            np.minimum(palm[:, 0] + 0.02, 1.02 - palm[:, 0]) / 0.04, 0, 1
        )
        step = np.diff(track.centre, axis=0)
        speed = np.concatenate([[0.0], np.sqrt(_dot(step, step))])
        chance[name] = part.detect_rate * visible * np.exp(-speed / part.blur)
        seen[name] = _detected(rng, chance[name], part.detect_persistence)
        if track is dom and rng.random() < part.edge_detect:  # takes start and end on a hand
            seen[name][[0, -1]] |= visible[[0, -1]] > 0.5

    # Rarely the face tracker drops a frame.
    face_lost = np.zeros(n, bool)
    if rng.random() < 0.03:
        face_lost[rng.integers(0, n, rng.integers(1, 3))] = True

    # Some takes are cut short by the recorder: a few frames from inside the sign.
    keep = slice(0, n)
    if rng.random() < 0.04:
        length = int(rng.integers(MIN_FRAMES, 6))
        first = core_at + int(rng.integers(0, max(1, n_core - length)))
        keep = slice(first, first + length)
    coords, face_lost = coords[keep], face_lost[keep]
    n = coords.shape[0]
    # The recorder kept the take because it saw a hand: at least one frame has one.
    dom_name = "left_hand" if part.left_handed else "right_hand"
    if not seen[dom_name][keep].any():
        seen[dom_name][keep.start + int(np.argmax(chance[dom_name][keep]))] = True
    for name, mask in seen.items():
        coords[~mask[keep], sl[name]] = np.nan
    coords[face_lost, sl["face"]] = np.nan

    start = (
        0
        if rng.random() < part.start_zero
        else int(min(200, rng.lognormal(np.log(part.start_median), 0.4)))
    )
    frames = np.arange(start, start + n, dtype=np.int16)
    coords = np.round(coords / QUANTUM) * QUANTUM
    coords = coords.astype(np.float32).astype(np.float64)
    return coords, frames


# --------------------------------------------------------------------------------------
# A data folder
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordingPlan:
    """One recording to generate: enough to rebuild it in any process."""

    sign: str
    participant: Participant
    repetition: int
    sequence_id: int
    seed: int

    @property
    def relpath(self) -> str:
        return recording_relpath(self.participant.participant_id, self.sequence_id)


@dataclass(frozen=True)
class SynthSummary:
    """What `generate_dataset` wrote."""

    out_dir: Path
    signs: tuple[str, ...]
    participant_ids: tuple[int, ...]
    n_recordings: int
    frames_min: int
    frames_median: float
    frames_max: int
    n_bytes: int
    seconds: float

    def line(self) -> str:
        """One-line human summary (for the CLI)."""
        return (
            f"{self.out_dir}: {self.n_recordings} recordings, {len(self.signs)} signs, "
            f"{len(self.participant_ids)} participants, frames {self.frames_min}/"
            f"{self.frames_median:g}/{self.frames_max} (min/median/max), "
            f"{self.n_bytes / 1e6:.1f} MB in {self.seconds:.1f} s"
        )


def plan_recordings(
    signs: list[str], participants: list[Participant], per_sign: int, seed: int
) -> list[RecordingPlan]:
    """Every (sign, participant, repetition) with a unique, realistic-looking sequence id.

    Ids are drawn from each recording's own seed, so they do not depend on the data set
    size; the rare collision is resolved by redrawing, in a fixed order.
    """
    if per_sign < 1:
        raise ConfigError(f"per_sign: expected at least 1, got {per_sign}")
    used: set[int] = set()
    plans = []
    for part in participants:
        for sign in signs:
            for k in range(per_sign):
                rng = np.random.default_rng([*recording_seed(seed, sign, part.index, k), 7])
                sid = int(rng.integers(1_000_000, 4_294_967_295))
                while sid in used:
                    sid = int(rng.integers(1_000_000, 4_294_967_295))
                used.add(sid)
                plans.append(RecordingPlan(sign, part, k, sid, seed))
    return plans


def _write_recording(plan: RecordingPlan, root: Path) -> tuple[int, int]:
    """Simulate and write one recording; return its frame count and file size."""
    coords, frames = simulate_recording(plan.sign, plan.participant, plan.seed, plan.repetition)
    path = root / plan.relpath
    write_recording(path, coords, frames)
    return int(coords.shape[0]), path.stat().st_size


def _csv_bytes(plans: list[RecordingPlan], seed: int) -> bytes:
    """train.csv in the competition's format, rows in a seeded shuffle (as the real file is
    unordered, code downstream must not rely on the order)."""
    order = np.random.default_rng([seed, 3]).permutation(len(plans))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for i in order:
        p = plans[int(i)]
        writer.writerow([p.relpath, p.participant.participant_id, p.sequence_id, p.sign])
    return buf.getvalue().encode()


def _write_bytes(path: str, data: bytes) -> None:
    Path(path).write_bytes(data)


def _marker_bytes(n_signs: int, n_participants: int, per_sign: int, seed: int) -> bytes:
    doc = {
        "generator": __name__,
        "version": GENERATOR_VERSION,
        "signs": n_signs,
        "participants": n_participants,
        "per_sign": per_sign,
        "seed": seed,
        "command": f"islr synth OUT_DIR --signs {n_signs} --participants {n_participants} "
        f"--per-sign {per_sign} --seed {seed}",
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def is_synth_output(folder: str | os.PathLike[str]) -> bool:
    """Whether `folder` was written by `generate_dataset` (it holds our marker file)."""
    marker = Path(folder) / MARKER_NAME
    try:
        return json.loads(marker.read_text()).get("generator") == __name__
    except (OSError, ValueError, AttributeError):
        return False


def _check_target(out_dir: Path, overwrite: bool) -> None:
    """Refuse to replace anything that is not ours, unless told to."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DataFolderError(f"{out_dir}: exists and is not a folder; choose another OUT_DIR")
    if not out_dir.exists() or not any(out_dir.iterdir()) or is_synth_output(out_dir):
        return
    resolved = out_dir.resolve()
    if (resolved / ".git").exists() or resolved in (Path.cwd().resolve(), *Path.cwd().parents):
        raise DataFolderError(
            f"{out_dir}: refusing to replace a folder that holds a git repository or the "
            f"current directory; choose a data folder such as {out_dir / 'data'}"
        )
    if not overwrite:
        raise DataFolderError(
            f"{out_dir}: folder is not empty and is not an `islr synth` output (no "
            f"{MARKER_NAME}); choose a new or empty folder, or pass --overwrite to replace "
            f"its contents"
        )
    log.warning("%s: replacing existing contents (--overwrite)", out_dir)


def generate_dataset(
    out_dir: str | os.PathLike[str],
    n_signs: int = 20,
    n_participants: int = 8,
    per_sign: int = 3,
    seed: int = 0,
    workers: int | None = 1,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> SynthSummary:
    """Write a synthetic data folder in the `asl-signs` layout and return a summary.

    Each of `n_participants` signers performs each of the first `n_signs` signs of the
    official map `per_sign` times. The folder holds train.csv, one parquet per recording,
    the official sign map and `synth.json` (the arguments). The same arguments give the
    same bytes in every file, whatever `workers` is (`None` or 0: one per core).

    The folder is built beside `out_dir` under a temporary name and renamed into place at
    the end, so a crash never leaves half a data set. An existing `out_dir` is replaced
    only when empty, written by this function, or `overwrite` is true; otherwise
    DataFolderError.
    """
    started = time.monotonic()
    if seed < 0:
        raise ConfigError(f"seed: expected a non-negative integer, got {seed}")
    signs = select_signs(n_signs)
    participants = make_participants(n_participants, seed)
    plans = plan_recordings(signs, participants, per_sign, seed)
    out_dir = Path(out_dir)
    _check_target(out_dir, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.synth-{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    n_workers = resolve_workers(workers)
    log.info(
        "generating %d recordings (%d signs x %d participants x %d) into %s, %d worker%s",
        len(plans),
        n_signs,
        n_participants,
        per_sign,
        out_dir,
        n_workers,
        "s" if n_workers > 1 else "",
    )
    try:
        results = list(
            parallel_map(
                partial(_write_recording, root=tmp),
                plans,
                workers=n_workers,
                desc="synth",
                chunksize=8,
                min_per_worker=32,
                progress=progress,
            )
        )
        files = {
            CSV_NAME: _csv_bytes(plans, seed),
            SIGN_MAP_NAME: resources.files("islr.resources").joinpath(SIGN_MAP_NAME).read_bytes(),
            MARKER_NAME: _marker_bytes(n_signs, n_participants, per_sign, seed),
        }
        for name, data in files.items():
            atomic_write_bytes_via(tmp / name, partial(_write_bytes, data=data))
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old)
        else:
            tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    frames = np.array([r[0] for r in results])
    summary = SynthSummary(
        out_dir=out_dir,
        signs=tuple(signs),
        participant_ids=tuple(p.participant_id for p in participants),
        n_recordings=len(plans),
        frames_min=int(frames.min()),
        frames_median=float(np.median(frames)),
        frames_max=int(frames.max()),
        n_bytes=sum(r[1] for r in results) + sum(len(b) for b in files.values()),
        seconds=time.monotonic() - started,
    )
    log.info("%s", summary.line())
    return summary


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text}")
    return value


def _run(args: argparse.Namespace) -> int:
    summary = generate_dataset(
        args.out_dir,
        n_signs=args.signs,
        n_participants=args.participants,
        per_sign=args.per_sign,
        seed=args.seed,
        workers=args.workers,
        overwrite=args.overwrite,
    )
    print(summary.line())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `islr synth OUT_DIR --signs N --participants P --per-sign K --seed S`."""
    parser = subparsers.add_parser(
        "synth",
        help="generate a synthetic asl-signs data folder",
        description="Generate a synthetic data folder in the Google ISLR asl-signs layout: "
        "each participant performs each of the first N signs of the official map K times. "
        "The same arguments always give byte-identical files.",
    )
    parser.add_argument(
        "out_dir",
        type=Path,
        metavar="OUT_DIR",
        help="folder to create (replaced if it is an earlier synth output)",
    )
    add = parser.add_argument
    add(
        "--signs",
        type=_positive,
        default=20,
        metavar="N",
        help="number of signs, the first N of the official map (1-250; default %(default)s)",
    )
    add(
        "--participants",
        type=_positive,
        default=8,
        metavar="P",
        help="number of signers (default %(default)s)",
    )
    add(
        "--per-sign",
        type=_positive,
        default=3,
        metavar="K",
        help="recordings per sign and participant (default %(default)s)",
    )
    add(
        "--seed",
        type=_non_negative,
        default=0,
        metavar="S",
        help="random seed of participants and takes (default %(default)s)",
    )
    add(
        "--workers",
        type=_non_negative,
        default=1,
        metavar="W",
        help="worker processes, 0 for one per core (default %(default)s); the output "
        "does not depend on it",
    )
    add(
        "--overwrite",
        action="store_true",
        help="replace OUT_DIR even if it holds files that are not an earlier synth output",
    )
    parser.set_defaults(func=_run)
