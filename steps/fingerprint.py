"""Fingerprint the data folder (never cached, so changed data invalidates later steps)."""

from typing import Annotated

from zenml import step

from islr.data.lineage import DataFingerprint, fingerprint


@step(enable_cache=False)
def fingerprint_data(
    data_dir: str, workers: int | None = None
) -> Annotated[DataFingerprint, "data_fingerprint"]:
    """DVC md5 of the data folder: from `<data_dir>.dvc` when current, computed otherwise."""
    return fingerprint(data_dir, workers=workers)
