"""The recordings of an asl-signs data folder that the app offers, grouped by sign."""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
from pydantic import BaseModel

from islr.data.format import read_recording
from islr.data.ingest import read_index, resolve_data_dir


class Recording(BaseModel):
    """One recording listed in `train.csv`, with its absolute file path."""

    sign: str
    participant_id: str
    sequence_id: str
    path: str  # as written in train.csv
    file: str  # absolute

    @property
    def key(self) -> str:
        return f"{self.participant_id}/{self.sequence_id}"

    @property
    def label(self) -> str:
        return f"participant {self.participant_id}, sequence {self.sequence_id}"

    def frames(self) -> np.ndarray:
        """x, y, z as float32 (T, 543, 3); `RecordingError` naming the file when bad."""
        return read_recording(self.file)


def list_recordings(data_dir: str | os.PathLike[str]) -> list[Recording]:
    """Every recording of `train.csv` whose file is inside the folder and exists, sorted
    by sign, participant and sequence. Raises `DataFolderError` / `MetadataError` for a
    folder that is not in the asl-signs layout."""
    index = read_index(resolve_data_dir(data_dir))
    usable = index[index["file"].notna() & index["path_missing"].isna() & index["sign"].notna()]
    recordings = [
        Recording(
            sign=str(row.sign),
            participant_id=str(row.participant_id),
            sequence_id=str(row.sequence_id),
            path=str(row.path),
            file=str(row.file),
        )
        for row in usable.itertuples(index=False)
    ]
    return sorted(recordings, key=lambda r: (r.sign, r.participant_id, r.sequence_id))


def by_sign(recordings: list[Recording]) -> dict[str, list[Recording]]:
    """Recordings grouped by sign, signs in alphabetical order."""
    groups: dict[str, list[Recording]] = defaultdict(list)
    for recording in recordings:
        groups[recording.sign].append(recording)
    return dict(sorted(groups.items()))
