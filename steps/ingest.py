"""Index train.csv and profile every recording, in parallel."""

from typing import Annotated

import pandas as pd
from zenml import get_step_context, step

from islr.data.ingest import ingest
from islr.data.lineage import DataFingerprint


@step
def ingest_data(
    data_dir: str, data_fingerprint: DataFingerprint, workers: int | None = None
) -> Annotated[pd.DataFrame, "recordings"]:
    """One row per line of train.csv: metadata plus a profile of the recording.

    `data_fingerprint` is an input so that new data (a new md5) re-runs this step.
    """
    recordings = ingest(data_dir, workers=workers)
    get_step_context().add_output_metadata(
        {"data_md5": data_fingerprint.md5, "n_recordings": len(recordings)}, "recordings"
    )
    return recordings
