"""Write the fold manifest's recordings as islr-5fold TFRecord shards."""

import tempfile
from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import get_step_context, step
from zenml.io import fileio

from islr.data.lineage import DataFingerprint
from islr.data.split import manifest_hash
from islr.data.tfrecord import TFRecordConfig, TFRecordSet, write_tfrecords


@step(output_materializers={"tfrecords": "steps.materializers.TFRecordSetMaterializer"})
def write_tfrecord_shards(
    fold_manifest: pd.DataFrame,
    data_dir: str,
    data_fingerprint: DataFingerprint,
    config: TFRecordConfig,
) -> Annotated[TFRecordSet, "tfrecords"]:
    """Shards go straight into the artifact's folder when the artifact store is local;
    for a remote store they are staged in a local temporary folder and uploaded."""
    context = get_step_context()
    uri = context.get_output_artifact_uri("tfrecords")
    remote = "://" in uri
    if remote:
        staging = Path(tempfile.mkdtemp(prefix="islr-tfrecords-")) / "shards"
        record_set = write_tfrecords(fold_manifest, data_dir, staging, config)
    else:
        if fileio.exists(uri) and not fileio.listdir(uri):
            fileio.rmtree(uri)  # an empty folder the store may have made in advance
        record_set = write_tfrecords(fold_manifest, data_dir, uri, config)
    context.add_output_metadata(
        {"data_md5": data_fingerprint.md5, "manifest_hash": manifest_hash(fold_manifest)},
        "tfrecords",
    )
    return record_set
