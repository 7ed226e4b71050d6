"""Summarize a data pipeline run: what came in, what was quarantined, where outputs are."""

import logging
from typing import Annotated

from zenml import step
from zenml.types import MarkdownString

from islr.data.lineage import DataFingerprint
from islr.data.tfrecord import TFRecordSet
from islr.data.validate import ValidationReport

log = logging.getLogger(__name__)


@step(enable_cache=False)
def summarize_data(
    data_fingerprint: DataFingerprint,
    validation_report: ValidationReport,
    tfrecords: TFRecordSet,
) -> Annotated[MarkdownString, "data_summary"]:
    counts = ", ".join(f"{k} {v}" for k, v in tfrecords.counts.items())
    text = "\n".join(
        [
            "## islr data pipeline",
            f"- data: `{data_fingerprint.data_dir}` ({data_fingerprint.n_files} files, "
            f"md5 `{data_fingerprint.md5}`, from {data_fingerprint.source})",
            f"- validation: {validation_report.n_valid} valid, {validation_report.n_invalid} "
            f"quarantined of {validation_report.n_recordings}; report "
            f"`{validation_report.report_path}` (and .html)",
            f"- TFRecords: {tfrecords.n_records} records ({counts}) in `{tfrecords.directory}`",
        ]
    )
    log.info("\n%s", text)
    return MarkdownString(text)
