"""Great Expectations suites for asl-signs data, the validation report and the data gate.

Two suites run on the ingested table (one row per line of `train.csv`):

- the **metadata suite** on the CSV columns: path present and inside the data folder
  (symbolic links included), file exists, each file listed once, non-negative int64
  ids, unique sequence ids, known signs;
- the **recording suite** on each recording's profile (see `islr.data.ingest`): readable,
  schema and dtypes, 543 rows per frame in canonical order, strictly increasing frame
  numbers, coordinates finite or NaN, NaN fraction per body part, frame count in range,
  at least one frame with a hand.

A recording that fails any expectation is quarantined: left out of the valid table and
listed in the report with its file, the check and the observed value. The gate fails
when the invalid fraction exceeds the configured limit.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from islr.data.format import PART_SLICES, atomic_write_bytes_via
from islr.errors import ValidationFailedError

log = logging.getLogger(__name__)
# GX logs every internal registration at INFO on import; keep pipeline logs readable.
logging.getLogger("great_expectations").setLevel(logging.WARNING)

ROW_KEY = "csv_line"  # line number in train.csv (header is line 1): unique even for dup rows


class ValidationConfig(BaseModel):
    """Thresholds of the recording suite and of the gate.

    The defaults are calibrated on real recordings (docs/data.md, "Thresholds"): every
    one of the 264 real recordings in ../shared passes, so quarantine means a defective
    file, not an unusual but genuine take.
    """

    model_config = ConfigDict(extra="forbid")

    max_invalid_fraction: float = Field(0.05, ge=0.0, le=1.0)
    min_frames: int = Field(1, ge=1)
    # Longer recordings are reported from the parquet footer without being loaded.
    max_frames: int = Field(1000, ge=1)
    # Fraction of NaN coordinates allowed per body part. Hands are often undetected (a
    # one-handed sign leaves the other hand NaN in every frame) and so is the face (real
    # takes with the face never detected exist; the model masks missing parts). Pose is
    # detected in every frame of every real recording, and MediaPipe Holistic finds the
    # hands and face from the pose, so a mostly pose-less file is not a real recording.
    max_nan_fraction: dict[str, float] = Field(
        default_factory=lambda: {"face": 1.0, "left_hand": 1.0, "pose": 0.5, "right_hand": 1.0}
    )
    # A recording with no detected hand in any frame carries no sign.
    min_hand_frames: int = Field(1, ge=0)

    @field_validator("max_nan_fraction")
    @classmethod
    def _known_parts(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(PART_SLICES)
        if unknown:
            raise ValueError(f"unknown body parts {sorted(unknown)}; use {list(PART_SLICES)}")
        out = {part: float(value.get(part, 1.0)) for part in PART_SLICES}
        wrong = {part: v for part, v in out.items() if not 0.0 <= v <= 1.0}
        if wrong:
            raise ValueError(f"fractions must be in [0, 1], got {wrong}")
        return out

    @model_validator(mode="after")
    def _frame_range(self) -> ValidationConfig:
        if self.min_frames > self.max_frames:
            raise ValueError(f"min_frames {self.min_frames} > max_frames {self.max_frames}")
        return self


class ValidationIssue(BaseModel):
    file: str | None
    csv_line: int
    suite: str
    check: str
    observed: Any


class ExpectationOutcome(BaseModel):
    suite: str
    check: str
    expectation: str
    column: str | None
    success: bool
    n_unexpected: int


class ValidationReport(BaseModel):
    data_dir: str
    n_recordings: int
    n_valid: int
    n_invalid: int
    invalid_fraction: float
    max_invalid_fraction: float
    passed: bool
    expectations: list[ExpectationOutcome]
    issues: list[ValidationIssue]
    report_path: str | None = None  # where `write` put the JSON report, once written

    def summary(self, limit: int = 5) -> str:
        text = (
            f"{self.n_invalid} of {self.n_recordings} recordings in {self.data_dir} failed "
            f"validation ({self.invalid_fraction:.1%}; limit {self.max_invalid_fraction:.1%})"
        )
        if self.issues:
            shown = "; ".join(
                f"{i.file}: {i.check} (observed: {i.observed})" for i in self.issues[:limit]
            )
            more = len(self.issues) - limit
            text += f". {shown}" + (f"; and {more} more" if more > 0 else "")
        return text

    def to_html(self) -> str:
        status = "PASSED" if self.passed else "FAILED"
        rows = "\n".join(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                *(html.escape(str(v)) for v in (i.file, i.csv_line, i.suite, i.check, i.observed))
            )
            for i in self.issues
        )
        checks = "\n".join(
            "<tr class='{}'><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                "ok" if e.success else "bad",
                *(html.escape(str(v)) for v in (e.suite, e.check, e.expectation, e.n_unexpected)),
            )
            for e in self.expectations
        )
        return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>islr validation report</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}} .bad{{background:#fdd}}
.ok{{background:#efe}}</style></head><body>
<h1>Validation report: {status}</h1>
<p>Data folder: <code>{html.escape(self.data_dir)}</code></p>
<p>{self.n_valid} valid, {self.n_invalid} quarantined of {self.n_recordings} recordings
({self.invalid_fraction:.2%}; the gate allows {self.max_invalid_fraction:.2%}).</p>
<h2>Expectations</h2>
<table><tr><th>suite</th><th>check</th><th>expectation</th><th>unexpected</th></tr>
{checks}</table>
<h2>Quarantined recordings</h2>
<table><tr><th>file</th><th>train.csv line</th><th>suite</th><th>check</th><th>observed</th></tr>
{rows}</table>
</body></html>
"""

    def write(self, out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write `validation_report.json` and `.html` atomically; return their paths."""
        out = Path(out_dir)
        json_path, html_path = out / "validation_report.json", out / "validation_report.html"
        self.report_path = str(json_path.resolve())
        payload = self.model_dump_json(indent=2).encode()
        atomic_write_bytes_via(json_path, lambda tmp: Path(tmp).write_bytes(payload))
        page = self.to_html().encode()
        atomic_write_bytes_via(html_path, lambda tmp: Path(tmp).write_bytes(page))
        return json_path, html_path


def _suites(config: ValidationConfig, signs: list[str]) -> dict[str, list]:
    """The expectations of both suites, each labelled with a readable check name."""
    import great_expectations as gx

    E = gx.expectations

    def check(expectation_cls, label: str, **kwargs):
        return expectation_cls(meta={"check": label}, **kwargs)

    metadata = [
        *(
            check(E.ExpectColumnValuesToNotBeNull, f"{col} is present", column=col)
            for col in ("path", "participant_id", "sequence_id", "sign")
        ),
        check(
            E.ExpectColumnValuesToBeNull, "path stays inside the data folder", column="path_escape"
        ),
        check(E.ExpectColumnValuesToBeNull, "file exists", column="path_missing"),
        check(
            E.ExpectColumnValuesToBeNull,
            "each file is listed once in train.csv",
            column="path_duplicate",
        ),
        check(
            E.ExpectColumnValuesToBeNull,
            "participant_id is a non-negative integer (at most 2^63-1)",
            column="participant_id_error",
        ),
        check(
            E.ExpectColumnValuesToBeNull,
            "sequence_id is a non-negative integer (at most 2^63-1)",
            column="sequence_id_error",
        ),
        check(E.ExpectColumnValuesToBeUnique, "sequence_id is unique", column="sequence_key"),
        check(
            E.ExpectColumnValuesToBeInSet,
            "sign is one of the known signs",
            column="sign",
            value_set=signs,
        ),
    ]
    recording = [
        check(E.ExpectColumnValuesToBeNull, "readable parquet file", column="read_error"),
        check(
            E.ExpectColumnValuesToBeNull,
            "columns and dtypes of the asl-signs format",
            column="schema_error",
        ),
        check(
            E.ExpectColumnValuesToBeBetween,
            "row count is a multiple of 543",
            column="rows_remainder",
            min_value=0,
            max_value=0,
        ),
        check(
            E.ExpectColumnValuesToBeNull,
            "543 rows per frame in canonical order",
            column="order_error",
        ),
        check(
            E.ExpectColumnValuesToBeNull,
            "frame numbers strictly increase",
            column="frames_error",
        ),
        check(
            E.ExpectColumnValuesToBeBetween,
            "coordinates are finite or NaN",
            column="n_nonfinite",
            min_value=0,
            max_value=0,
        ),
        check(
            E.ExpectColumnValuesToBeBetween,
            f"frame count in [{config.min_frames}, {config.max_frames}]",
            column="n_frames",
            min_value=config.min_frames,
            max_value=config.max_frames,
        ),
        *(
            check(
                E.ExpectColumnValuesToBeBetween,
                f"NaN fraction of {part} <= {limit}",
                column=f"nan_frac_{part}",
                min_value=0.0,
                max_value=limit,
            )
            for part, limit in config.max_nan_fraction.items()
        ),
        check(
            E.ExpectColumnValuesToBeBetween,
            f"at least {config.min_hand_frames} frame(s) with a detected hand",
            column="hand_frames",
            min_value=config.min_hand_frames,
        ),
    ]
    return {"metadata": metadata, "recording": recording}


def _observed(row: pd.Series, column: str, value: Any) -> Any:
    """The observed value as a user should read it in the report."""
    if column == "rows_remainder":
        return f"{row['n_rows']} rows ({value} left over after whole frames)"
    if column == "sequence_key":
        return row["sequence_id"]
    if hasattr(value, "item"):
        return value.item()
    return value


def _with_derived_columns(recordings: pd.DataFrame) -> pd.DataFrame:
    """A copy of the table with the metadata columns `read_index` derives, filled in
    when a caller built its own table (e.g. one uploaded file with made-up ids)."""
    from islr.data.ingest import id_problem

    table = recordings.copy()
    for col in ("path_escape", "path_missing", "path_duplicate"):
        if col not in table:
            table[col] = pd.Series([None] * len(table), index=table.index, dtype=object)
    for col in ("participant_id", "sequence_id"):
        if f"{col}_error" not in table:
            table[f"{col}_error"] = pd.Series(
                map(id_problem, table[col]), index=table.index, dtype=object
            )
    if "sequence_key" not in table:
        table["sequence_key"] = table["sequence_id"]
    return table


def run_suites(
    recordings: pd.DataFrame, config: ValidationConfig, signs: list[str]
) -> tuple[list[ExpectationOutcome], list[ValidationIssue]]:
    """Run both GX suites on an ingested table; return outcomes and per-row issues."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    table = _with_derived_columns(recordings)
    table[ROW_KEY] = range(2, len(table) + 2)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (
        context.data_sources.add_pandas("islr")
        .add_dataframe_asset("recordings")
        .add_batch_definition_whole_dataframe("all")
    )
    outcomes: list[ExpectationOutcome] = []
    issues: list[ValidationIssue] = []
    by_line = table.set_index(ROW_KEY)
    for suite_name, expectations in _suites(config, signs).items():
        # not added to the context's store: persisting each expectation there costs
        # more than validating them
        suite = gx.ExpectationSuite(name=f"islr_{suite_name}", expectations=expectations)
        result = batch_def.get_batch(batch_parameters={"dataframe": table}).validate(
            suite,
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [ROW_KEY]},
        )
        for res in result.results:
            cfg = res.expectation_config
            column = cfg.kwargs.get("column")
            unexpected = res.result.get("unexpected_index_list") or []
            if res.exception_info and res.exception_info.get("raised_exception"):
                raise RuntimeError(
                    f"expectation {cfg.type} on {column} raised: "
                    f"{res.exception_info.get('exception_message')}"
                )
            outcomes.append(
                ExpectationOutcome(
                    suite=suite_name,
                    check=cfg.meta["check"],
                    expectation=cfg.type,
                    column=column,
                    success=bool(res.success),
                    n_unexpected=len(unexpected),
                )
            )
            for item in unexpected:
                line = int(item[ROW_KEY])
                row = by_line.loc[line]
                issues.append(
                    ValidationIssue(
                        file=row["path"],
                        csv_line=line,
                        suite=suite_name,
                        check=cfg.meta["check"],
                        observed=_observed(row, column, item.get(column)),
                    )
                )
    issues.sort(key=lambda i: (i.csv_line, i.suite))
    return outcomes, issues


def validate_recordings(
    recordings: pd.DataFrame,
    config: ValidationConfig,
    sign_map: dict[str, int],
    data_dir: str,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate an ingested table; return the valid recordings (typed, labelled) and the
    report. Does not enforce the gate (see `enforce_gate`)."""
    outcomes, issues = run_suites(recordings, config, sorted(sign_map))
    bad_lines = {i.csv_line for i in issues}
    lines = pd.Series(range(2, len(recordings) + 2), index=recordings.index)
    # A row no expectation flagged but without a frame count could not be profiled for
    # a reason no check names: quarantine it rather than guess.
    unprofiled = ~lines.isin(bad_lines) & recordings["n_frames"].isna()
    for line, path in zip(lines[unprofiled], recordings.loc[unprofiled, "path"], strict=True):
        issues.append(
            ValidationIssue(
                file=path,
                csv_line=int(line),
                suite="recording",
                check="recording could be profiled",
                observed="no frame count",
            )
        )
        bad_lines.add(int(line))
    issues.sort(key=lambda i: (i.csv_line, i.suite))
    valid = recordings[~lines.isin(bad_lines)].copy()
    valid["participant_id"] = valid["participant_id"].map(int).astype("int64")
    valid["sequence_id"] = valid["sequence_id"].map(int).astype("int64")
    valid["label"] = valid["sign"].map(sign_map).astype("int64")
    valid["n_frames"] = valid["n_frames"].astype("int64")
    keep = ["path", "participant_id", "sequence_id", "sign", "label", "n_frames"]
    valid = valid[keep].reset_index(drop=True)
    n = len(recordings)
    n_invalid = n - len(valid)
    fraction = n_invalid / n if n else 0.0
    report = ValidationReport(
        data_dir=str(data_dir),
        n_recordings=n,
        n_valid=len(valid),
        n_invalid=n_invalid,
        invalid_fraction=fraction,
        max_invalid_fraction=config.max_invalid_fraction,
        passed=fraction <= config.max_invalid_fraction and len(valid) > 0,
        expectations=outcomes,
        issues=issues,
    )
    for issue in issues:
        log.warning(
            "quarantined %s (line %d): %s (observed: %s)",
            issue.file,
            issue.csv_line,
            issue.check,
            issue.observed,
        )
    return valid, report


def enforce_gate(report: ValidationReport, report_path: str | None = None) -> None:
    """Raise ValidationFailedError when the report did not pass the gate."""
    if report.passed:
        return
    message = report.summary()
    if report.n_valid == 0:
        message += ". No valid recordings remain"
    if report_path:
        message += f". Full report: {report_path}"
    raise ValidationFailedError(message)
