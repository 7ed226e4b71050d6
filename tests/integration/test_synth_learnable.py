"""The synthetic asl-signs generator in worker processes (the same bytes whatever the
workers) and learnability: a classifier trained on some signers recognises the others
better than chance, but not perfectly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from islr.data import synth
from islr.data.format import CSV_NAME, PART_SLICES


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ----------------------------------------------------------------------- determinism


def test_same_arguments_give_the_same_bytes_whatever_the_workers(tmp_path: Path) -> None:
    # 64 recordings: enough for parallel_map to start two processes.
    args = {"n_signs": 4, "n_participants": 4, "per_sign": 4, "seed": 3, "progress": False}
    synth.generate_dataset(tmp_path / "a", workers=1, **args)
    synth.generate_dataset(tmp_path / "b", workers=2, **args)
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len(a) == 64 + 3
    assert a == b
    synth.generate_dataset(tmp_path / "c", workers=1, **{**args, "seed": 4})
    assert _digests(tmp_path / "c")[CSV_NAME] != a[CSV_NAME]


# --------------------------------------------------------------------------- realism


def _seen(coords: np.ndarray, hand: str) -> np.ndarray:
    return ~np.isnan(coords[:, PART_SLICES[hand]][:, 0, 0])


# ----------------------------------------------------------------------- learnability


def _features(coords: np.ndarray, n_points: int = 6) -> np.ndarray:
    """Resampled dominant-wrist path (shoulder-normalised) + mean fingertip offsets."""
    pose = coords[:, PART_SLICES["pose"]]
    mid = np.nanmean((pose[:, 11, :2] + pose[:, 12, :2]) / 2, 0)
    width = np.nanmean(np.abs(pose[:, 11, 0] - pose[:, 12, 0]))
    dom = max(("left_hand", "right_hand"), key=lambda h: _seen(coords, h).sum())
    other = "right_hand" if dom == "left_hand" else "left_hand"
    hand = coords[_seen(coords, dom), PART_SLICES[dom], :2]
    if len(hand) == 0:
        return np.zeros(2 * n_points + 11)
    xy = (hand - mid) / width
    if dom == "left_hand":
        xy[..., 0] *= -1
    at = np.linspace(0, len(xy) - 1, n_points)
    path = [np.interp(at, np.arange(len(xy)), xy[:, 0, d]) for d in range(2)]
    size = np.linalg.norm(xy[:, 9] - xy[:, 0], axis=1)[:, None, None]
    tips = ((xy[:, [4, 8, 12, 16, 20]] - xy[:, :1]) / size).mean(0).ravel()
    return np.concatenate([*path, tips, [_seen(coords, other).mean()]])


@pytest.mark.parametrize("seed", [0, 1])
def test_signs_are_learnable_but_not_trivially(seed: int) -> None:
    """10 signs, 6 participants x 4 takes; train on 4 participants, test on the other 2."""
    signs = synth.select_signs(10)
    x, y, group = [], [], []
    for part in synth.make_participants(6, seed):
        for label, sign in enumerate(signs):
            for k in range(4):
                x.append(_features(synth.simulate_recording(sign, part, seed, k)[0]))
                y.append(label)
                group.append(part.index)
    x, y, train = np.array(x), np.array(y), np.array(group) < 4
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(x[train], y[train])
    accuracy = model.score(x[~train], y[~train])
    assert 3 * (1 / len(signs)) < accuracy < 0.97
