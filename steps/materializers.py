"""ZenML materializers for islr types that must not be pickled."""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer

from islr.data.tfrecord import SPLITS_FILE, TFRecordSet


class TFRecordSetMaterializer(BaseMaterializer):
    """Stores TFRecord shards as the artifact itself.

    The step writes the shards straight into this artifact's URI (see
    `steps.tfrecords`), so saving only checks they are there; shards written elsewhere
    (e.g. staged locally for a remote store) are copied in. Loading points the set at
    the artifact URI, which tf.data reads directly (local paths, gs://, s3://).
    """

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (TFRecordSet,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def save(self, data: TFRecordSet) -> None:
        if os.path.normpath(data.directory) != os.path.normpath(self.uri):
            fileio.makedirs(self.uri)
            for name in [*sorted({f for fs in data.files.values() for f in fs}), SPLITS_FILE]:
                fileio.copy(
                    os.path.join(data.directory, name), os.path.join(self.uri, name), overwrite=True
                )
        if not fileio.exists(os.path.join(self.uri, SPLITS_FILE)):
            raise FileNotFoundError(f"{self.uri}: TFRecord set has no {SPLITS_FILE}")

    def load(self, data_type: type[Any]) -> TFRecordSet:
        with fileio.open(os.path.join(self.uri, SPLITS_FILE), "r") as fh:
            spec = json.load(fh)
        return TFRecordSet(directory=self.uri, **spec)

    def extract_metadata(self, data: TFRecordSet) -> dict[str, Any]:
        return {
            "n_records": data.n_records,
            "n_shards": sum(len(v) for v in data.files.values()),
            **{f"records_{split}": n for split, n in data.counts.items()},
        }
