"""Index train.csv and profile every recording, in parallel."""

from typing import Annotated

import pandas as pd
from zenml import get_step_context, step

from islr.data.ingest import ingest
from islr.data.lineage import DataFingerprint


@step
def ingest_data(
    data_dir: str,
    data_fingerprint: DataFingerprint,
    workers: int | None = None,
    max_frames: int | None = None,
) -> Annotated[pd.DataFrame, "recordings"]:
    """One row per line of train.csv: metadata plus a profile of the recording.

    `data_fingerprint` is an input so that new data (a new md5) re-runs this step. The
    sign map and train.csv are checked first; a bad one fails this step with a message
    naming the file. `max_frames` (optional; validation applies its own limit anyway)
    skips loading longer recordings.
    """
    recordings = ingest(data_dir, workers=workers, max_frames=max_frames)
    get_step_context().add_output_metadata(
        {"data_md5": data_fingerprint.md5, "n_recordings": len(recordings)}, "recordings"
    )
    return recordings
