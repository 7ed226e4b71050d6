"""Crafted evaluation data shared by the evaluation, registry and fan-in tests: the
fold manifest of a generated data folder, one-fold manifests with a chosen test and
validation composition, and tiny untrained models whose output bias makes known classes
win (their scores on such a split are known exactly)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd

from islr.data.ingest import ingest, sign_map_for
from islr.data.split import SplitConfig, assign_folds
from islr.data.tfrecord import TFRecordSet, write_tfrecords
from islr.data.validate import ValidationConfig, validate_recordings
from islr.models.zoo import ModelConfig, build_model


def base_manifest(data_dir: Path) -> pd.DataFrame:
    """The fold manifest of a generated data folder (6 signs x 12 recordings)."""
    recordings = ingest(data_dir, workers=1, progress=False)
    valid, _ = validate_recordings(
        recordings, ValidationConfig(), sign_map_for(data_dir), str(data_dir)
    )
    return assign_folds(valid, SplitConfig(n_folds=3, seed=0))


def crafted_manifest(
    manifest: pd.DataFrame,
    test_counts: dict[int, int],
    offset: int = 0,
    val_counts: dict[int, int] | None = None,
    val_offset: int = 6,
) -> pd.DataFrame:
    """A one-fold manifest whose test split holds `test_counts[label]` recordings of each
    label (taken in sequence_id order from `offset`), and likewise its validation split
    `val_counts` from `val_offset`; all other recordings train."""
    m = manifest.sort_values("sequence_id").copy()
    m["fold"], m["split"] = 0, "train"
    m = m.drop(columns=["half"], errors="ignore")
    for split, counts, start in (("test", test_counts, offset), ("val", val_counts, val_offset)):
        for label, count in (counts or {}).items():
            rows = m.index[m["label"] == label][start : start + count]
            m.loc[rows, "split"] = split
    return m


def write_set(manifest: pd.DataFrame, data_dir: Path, out: Path) -> TFRecordSet:
    return write_tfrecords(manifest, data_dir, out, progress=False)


def biased_model(classes: list[int], seed: int = 0, name: str = "cnn") -> keras.Model:
    """A tiny `cnn` whose output bias makes `classes[0]` the top prediction, `classes[1]`
    the second, ... for any input; logits otherwise come from the (random) network."""
    keras.utils.set_random_seed(seed)
    model = build_model(
        ModelConfig(architecture="cnn", dim=16, max_len=32, conv_blocks=1, stages=1)
    )
    bias = np.zeros(250, dtype="float32")
    for rank, c in enumerate(classes):
        bias[c] = 50.0 - 8.0 * rank  # far above any logit an untrained net produces
    model.get_layer("head").logits.bias.assign(bias)
    return keras.Model(model.input, model.output, name=name)
