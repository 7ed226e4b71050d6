"""Checking an uploaded recording with the data pipeline's own validation.

The upload is profiled by `islr.data.ingest.profile_recording` and validated by the
same Great Expectations recording suite (`islr.data.validate.run_suites`) that
quarantines bad files in the pipeline, so a file the app accepts is one the pipeline
would accept, and a rejected one gets the same check names and observed values.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from islr.data.format import read_recording
from islr.data.ingest import profile_recordings
from islr.data.validate import ValidationConfig, run_suites
from islr.errors import RecordingError
from islr.serving.errors import UploadError

log = logging.getLogger(__name__)

UPLOAD_SUFFIX = ".parquet"
_ANY_SIGN = "hello"


def _safe_name(name: str) -> str:
    # Only the base name is used on disk: an uploaded name must not pick a directory.
    base = Path(name.replace("\\", "/")).name
    return base or "upload.parquet"


def check_upload(name: str, content: bytes, config: ValidationConfig | None = None) -> np.ndarray:
    """Validate one uploaded asl-signs parquet file and return its frames (T, 543, 3).

    Raises `UploadError` naming the file, each failed check and its observed value.
    """
    config = config or ValidationConfig()
    if not name.lower().endswith(UPLOAD_SUFFIX):
        raise UploadError(
            name, [{"file": name, "check": "file type is .parquet", "observed": Path(name).suffix}]
        )
    if not content:
        raise UploadError(name, [{"file": name, "check": "file is not empty", "observed": 0}])
    with tempfile.TemporaryDirectory(prefix="islr-upload-") as tmp:
        file = Path(tmp) / _safe_name(name)
        file.write_bytes(content)
        profiles = profile_recordings([str(file)], workers=1, progress=False)
        # The metadata columns describe a valid train.csv row, so only the recording
        # suite can object: an upload has no participant, sequence or sign of its own.
        index = pd.DataFrame(
            {
                "path": [name],
                "participant_id": ["0"],
                "sequence_id": ["0"],
                "sign": [_ANY_SIGN],
                "path_escape": pd.Series([None], dtype=object),
                "path_missing": pd.Series([None], dtype=object),
                "file": [str(file)],
            }
        )
        table = pd.concat([index, profiles], axis=1)
        _, issues = run_suites(table, config, [_ANY_SIGN])
        if issues:
            found = [
                {"file": name, "check": issue.check, "observed": issue.observed} for issue in issues
            ]
            log.warning("rejected upload %s: %s", name, found)
            raise UploadError(name, found)
        try:
            return read_recording(file)
        except RecordingError as exc:  # passed the suite, so unexpected; still readable
            raise UploadError(
                name, [{"file": name, "check": exc.check, "observed": exc.observed}]
            ) from exc
