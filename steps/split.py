"""Participant-grouped, label-stratified folds; evaluation fold halved into val/test."""

from typing import Annotated

import pandas as pd
from zenml import get_step_context, step

from islr.data.lineage import DataFingerprint
from islr.data.split import SplitConfig, assign_folds, manifest_hash


@step
def split_folds(
    valid_recordings: pd.DataFrame, data_fingerprint: DataFingerprint, config: SplitConfig
) -> Annotated[pd.DataFrame, "fold_manifest"]:
    manifest = assign_folds(valid_recordings, config)
    counts = manifest["split"].value_counts().to_dict()
    get_step_context().add_output_metadata(
        {
            "data_md5": data_fingerprint.md5,
            "manifest_hash": manifest_hash(manifest),
            "mode": config.mode,
            "n_folds": config.n_folds,
            "eval_fold": config.eval_fold,
            **{f"n_{k}": int(v) for k, v in counts.items()},
        },
        "fold_manifest",
    )
    return manifest
