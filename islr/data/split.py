"""Participant-grouped, label-stratified folds, and the train/validation/test manifest.

A sign classifier is used on people it never saw, so the default split keeps each
participant inside one fold (`grouped`): scores on the evaluation fold then measure
generalisation to new signers. The evaluation fold is halved into validation and test,
again by participant. `random` reproduces a plain random (per-recording) split, the
optimistic setting some published numbers use. `named` lets a small study say which
participants validate and which test (e.g. four signers train, two test); everyone
else trains. Its evaluation recordings form fold `eval_fold`, the training
participants fill the other folds, grouped.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold

from islr.errors import ConfigError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class SplitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["grouped", "random", "named"] = "grouped"
    n_folds: int = Field(4, ge=2)
    eval_fold: int = Field(0, ge=0)
    seed: int = 42
    # `named` mode: participant ids of the validation and test splits (validation may be
    # empty: training then keeps the weights of its lowest training loss)
    val_participants: list[int] = Field(default_factory=list)
    test_participants: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _eval_fold_exists(self) -> SplitConfig:
        if self.eval_fold >= self.n_folds:
            raise ValueError(f"eval_fold {self.eval_fold} must be < n_folds {self.n_folds}")
        if self.mode == "named":
            if not self.test_participants:
                raise ValueError("named mode needs test_participants")
            both = set(self.val_participants) & set(self.test_participants)
            if both:
                raise ValueError(
                    f"participants {sorted(both)} are in both val_participants and "
                    "test_participants"
                )
        elif self.val_participants or self.test_participants:
            raise ValueError(
                f"val_participants and test_participants need mode: named (mode is {self.mode})"
            )
        return self


def _grouped_folds(labels: np.ndarray, groups: np.ndarray, n: int, seed: int) -> np.ndarray:
    folds = np.full(len(labels), -1, dtype=np.int64)
    splitter = StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=seed)
    for k, (_, idx) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
        folds[idx] = k
    return folds


def _random_folds(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    folds = np.full(len(labels), -1, dtype=np.int64)
    counts = np.bincount(pd.factorize(labels)[0])
    splitter = (
        StratifiedKFold(n_splits=n, shuffle=True, random_state=seed)
        if counts.min() >= n
        else KFold(n_splits=n, shuffle=True, random_state=seed)
    )
    for k, (_, idx) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[idx] = k
    return folds


def assign_folds(recordings: pd.DataFrame, config: SplitConfig) -> pd.DataFrame:
    """Add `fold` (0..K-1) and `split` (train/val/test) to a table of valid recordings.

    `recordings` needs columns participant_id, sequence_id and label. Rows are returned
    sorted by sequence_id so the manifest does not depend on train.csv order.
    """
    df = recordings.sort_values("sequence_id", kind="stable").reset_index(drop=True)
    labels = df["label"].to_numpy()
    groups = df["participant_id"].to_numpy()
    n_participants = len(np.unique(groups))
    if config.mode == "named":
        return _log_splits(_named_split(df, config))
    if config.mode == "grouped":
        if n_participants < config.n_folds + 1:
            raise ConfigError(
                f"split: grouped mode with n_folds={config.n_folds} needs at least "
                f"{config.n_folds + 1} participants (the evaluation fold is halved by "
                f"participant); the data has {n_participants}: "
                f"{sorted(map(int, np.unique(groups)))}. Lower n_folds or use mode: random."
            )
        df["fold"] = _grouped_folds(labels, groups, config.n_folds, config.seed)
    else:
        if len(df) < config.n_folds * 2:
            raise ConfigError(f"split: {len(df)} recordings cannot make {config.n_folds} folds")
        df["fold"] = _random_folds(labels, config.n_folds, config.seed)

    df["half"] = _fold_halves(df, config)
    df["split"] = np.where(
        df["fold"].to_numpy() == config.eval_fold, df["half"].to_numpy(dtype=object), "train"
    )
    if config.mode == "grouped":
        eval_groups = np.unique(groups[df["fold"].to_numpy() == config.eval_fold])
        if len(eval_groups) < 2:
            raise ConfigError(
                f"split: evaluation fold {config.eval_fold} holds one participant "
                f"({int(eval_groups[0])}), so it cannot be halved into validation and test "
                "without sharing a participant. Lower n_folds or add participants."
            )
    return _log_splits(df)


def _fold_halves(df: pd.DataFrame, config: SplitConfig) -> np.ndarray:
    """`val` or `test` for every recording: the half of its fold it falls in when that
    fold is the one evaluated. Every fold is halved the same way (by participant in
    grouped mode), so cross-validation evaluates each fold exactly as the configured
    `eval_fold` is. A fold of one participant cannot be halved: its recordings get ""
    and the fold cannot be evaluated (see `evaluable_folds`)."""
    labels = df["label"].to_numpy()
    groups = df["participant_id"].to_numpy()
    folds = df["fold"].to_numpy()
    half = np.full(len(df), "", dtype=object)
    for fold in np.unique(folds):
        idx = np.flatnonzero(folds == fold)
        if config.mode == "grouped":
            if len(np.unique(groups[idx])) < 2:
                continue
            halves = _grouped_folds(labels[idx], groups[idx], 2, config.seed)
        else:
            if len(idx) < 2:
                continue
            halves = _random_folds(labels[idx], 2, config.seed)
        half[idx] = np.where(halves == 0, "val", "test")
    return half


def evaluable_folds(manifest: pd.DataFrame) -> list[int]:
    """The folds that can be evaluated (cross-validation): those halved into validation
    and test. A manifest without a `half` column (written before folds were all halved,
    or `named` mode) can evaluate only the fold its `split` column evaluates."""
    if "half" in manifest.columns:
        halved = manifest[manifest["half"].isin(["val", "test"])]
        both = halved.groupby("fold")["half"].nunique()
        return sorted(int(k) for k in both[both == 2].index)
    return sorted(int(k) for k in manifest.loc[manifest["split"] != "train", "fold"].unique())


def _named_split(df: pd.DataFrame, config: SplitConfig) -> pd.DataFrame:
    groups = df["participant_id"].to_numpy()
    present = {int(g) for g in np.unique(groups)}
    named = [*config.val_participants, *config.test_participants]
    missing = sorted(set(named) - present)
    if missing:
        raise ConfigError(
            f"split: participants {missing} are named in val_participants/test_participants "
            f"but have no valid recording; the data has {sorted(present)}"
        )
    is_val = np.isin(groups, config.val_participants)
    is_test = np.isin(groups, config.test_participants)
    train = ~(is_val | is_test)
    train_groups = np.unique(groups[train])
    if len(train_groups) == 0:
        raise ConfigError("split: named mode leaves no participant to train on")
    # the training participants fill the other folds, one participant never split
    n_train_folds = min(config.n_folds - 1, len(train_groups))
    fold_of = {int(g): i % n_train_folds for i, g in enumerate(train_groups)}
    others = [k for k in range(config.n_folds) if k != config.eval_fold]
    fold = np.full(len(df), config.eval_fold, dtype=np.int64)
    fold[train] = [others[fold_of[int(g)]] for g in groups[train]]
    df["fold"] = fold
    df["split"] = np.where(is_test, "test", np.where(is_val, "val", "train"))
    # the named signers are the only evaluation: no other fold is halved
    df["half"] = np.where(df["split"] == "train", "", df["split"])
    return df


def _log_splits(df: pd.DataFrame) -> pd.DataFrame:
    for name in SPLITS:
        part = df[df["split"] == name]
        log.info(
            "split %s: %d recordings, %d participants, %d signs",
            name,
            len(part),
            part["participant_id"].nunique(),
            part["label"].nunique(),
        )
    return df


def manifest_hash(manifest: pd.DataFrame) -> str:
    """Stable short hash of a fold manifest (sequence, fold, split), for lineage tags."""
    cols = manifest[["sequence_id", "fold", "split"]].sort_values("sequence_id")
    payload = cols.to_csv(index=False).encode()
    return hashlib.sha256(payload).hexdigest()[:16]
