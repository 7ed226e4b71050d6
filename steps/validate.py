"""Great Expectations gate: quarantine invalid recordings, write the report, fail if too many."""

from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import get_step_context, step
from zenml.types import HTMLString

from islr.data.ingest import sign_map_for
from islr.data.lineage import DataFingerprint
from islr.data.outputs import check_output_dir
from islr.data.validate import ValidationConfig, ValidationReport, enforce_gate, validate_recordings


@step
def validate_data(
    recordings: pd.DataFrame,
    data_dir: str,
    data_fingerprint: DataFingerprint,
    config: ValidationConfig,
    output_root: str = "outputs",
) -> tuple[
    Annotated[pd.DataFrame, "valid_recordings"],
    Annotated[ValidationReport, "validation_report"],
    Annotated[HTMLString, "validation_report_html"],
]:
    """Run the metadata and recording suites; the report is written to
    `<output_root>/<pipeline run id>/validation/` before the gate decides, so a failed
    run still leaves it."""
    context = get_step_context()
    root = Path(data_dir).resolve()
    out = Path(output_root) / str(context.pipeline_run.id) / "validation"
    check_output_dir(out, data_dir=root, must_be_empty=False, what="report folder (output_root)")
    valid, report = validate_recordings(recordings, config, sign_map_for(root), str(root))
    json_path, _ = report.write(out)
    enforce_gate(report, str(json_path))
    lineage = {"data_md5": data_fingerprint.md5, "report_path": str(json_path.resolve())}
    context.add_output_metadata(
        {
            **lineage,
            "n_valid": report.n_valid,
            "n_invalid": report.n_invalid,
            "invalid_fraction": report.invalid_fraction,
        },
        "validation_report",
    )
    context.add_output_metadata(lineage, "valid_recordings")
    return valid, report, HTMLString(report.to_html())
