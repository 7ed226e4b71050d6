"""The comparison across runs (the seed study's Table 1), as markdown and HTML.

One row per run, sorted by test accuracy (then macro F1, then name), with its
architecture, parameters, accuracy, top-5, macro F1, micro F1, p50 latency and model
size; then an `ensemble` row: the mean of the runs' softmax probabilities on the same test
records, scored like a run. Its parameters, size and latency are the sums over the
members (running them one after the other). Runs evaluated on different test records
cannot be averaged record by record: the ensemble is refused with an error naming them.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel

from islr.data.format import atomic_write_bytes_via
from islr.evaluation.errors import EvaluationError, TestSplitMismatchError
from islr.evaluation.metrics import Evaluation, Metrics, classification_metrics

log = logging.getLogger(__name__)

ENSEMBLE_ROW = "ensemble"
MARKDOWN_FILE = "comparison.md"
HTML_FILE = "comparison.html"
# Table column -> header as printed.
COLUMNS: dict[str, str] = {
    "run": "run",
    "architecture": "architecture",
    "parameters": "parameters",
    "accuracy": "accuracy",
    "top5": "top-5",
    "macro_f1": "macro F1",
    "micro_f1": "micro F1",
    "p50_ms": "p50 latency (ms)",
    "size_mb": "size (MB)",
}


class ComparisonReport(BaseModel):
    """What `write_comparison` produced."""

    markdown: str
    markdown_path: str
    html_path: str
    rows: list[dict]  # the table, ensemble row last when there is one
    ensemble: Metrics | None = None
    test_split_id: str | None = None
    best_run: str


def check_same_test_split(evaluations: Sequence[Evaluation]) -> str:
    """The common test_split_id of the evaluations; TestSplitMismatchError otherwise."""
    if not evaluations:
        raise EvaluationError("no evaluations to compare")
    by_split: dict[str, list[str]] = {}
    for evaluation in evaluations:
        by_split.setdefault(evaluation.test_split_id, []).append(evaluation.run)
    if len(by_split) > 1:
        detail = "; ".join(f"test_split_id {s}: {', '.join(r)}" for s, r in by_split.items())
        raise TestSplitMismatchError(
            f"runs were evaluated on different test records ({detail}); an ensemble "
            "averages probabilities record by record, so evaluate every run on the same "
            "TFRecord test split"
        )
    return next(iter(by_split))


def ensemble_probabilities(
    evaluations: Sequence[Evaluation], probabilities: Sequence[np.ndarray]
) -> np.ndarray:
    """Mean of the runs' softmax probabilities, after checking they are comparable."""
    if len(evaluations) != len(probabilities):
        raise EvaluationError(
            f"{len(evaluations)} evaluations but {len(probabilities)} probability arrays; "
            "pass one array per evaluation, in the same order"
        )
    check_same_test_split(evaluations)
    arrays = [np.asarray(p, dtype=np.float64) for p in probabilities]
    for evaluation, array in zip(evaluations, arrays, strict=True):
        if array.shape != arrays[0].shape or array.shape[0] != evaluation.n_test:
            raise EvaluationError(
                f"{evaluation.run}: probabilities have shape {array.shape}, expected "
                f"({evaluation.n_test}, {arrays[0].shape[1]}) like the other runs"
            )
    return np.mean(arrays, axis=0)


def _row(evaluation: Evaluation) -> dict:
    return {
        "run": evaluation.run,
        "architecture": evaluation.architecture,
        "parameters": evaluation.parameters,
        **evaluation.metrics.model_dump(),
        "p50_ms": evaluation.latency.p50_ms,
        "size_mb": evaluation.model_size_bytes / 1e6,
    }


def comparison_table(
    evaluations: Sequence[Evaluation],
    probabilities: Sequence[np.ndarray] | None = None,
    ensemble: bool = True,
) -> tuple[pd.DataFrame, Metrics | None]:
    """The table (runs sorted by accuracy, ensemble row last) and the ensemble's metrics.

    The ensemble row needs `probabilities` (one array per evaluation) and at least two
    runs on the same test records.
    """
    if not evaluations:
        raise EvaluationError("no evaluations to compare")
    rows = sorted(
        (_row(e) for e in evaluations),
        key=lambda r: (-r["accuracy"], -r["macro_f1"], r["run"]),
    )
    ensemble_metrics = None
    if ensemble and probabilities is not None and len(evaluations) > 1:
        mean = ensemble_probabilities(evaluations, probabilities)
        labels = np.asarray(evaluations[0].labels, dtype=np.int64)
        ensemble_metrics = classification_metrics(mean, labels)
        latencies = [e.latency.p50_ms for e in evaluations]
        rows.append(
            {
                "run": ENSEMBLE_ROW,
                "architecture": f"mean of {len(evaluations)} runs",
                "parameters": sum(e.parameters for e in evaluations),
                **ensemble_metrics.model_dump(),
                "p50_ms": None if None in latencies else float(sum(latencies)),
                "size_mb": sum(e.model_size_bytes for e in evaluations) / 1e6,
            }
        )
    elif len({e.test_split_id for e in evaluations}) > 1:
        log.warning("the compared runs were evaluated on different test splits")
    return pd.DataFrame(rows, columns=list(COLUMNS)), ensemble_metrics


def _formatted(table: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=table.index)
    for column, header in COLUMNS.items():
        values = table[column]
        if column == "parameters":
            out[header] = [f"{int(v):,}" for v in values]
        elif column in ("accuracy", "top5", "macro_f1", "micro_f1"):
            out[header] = [f"{v:.4f}" for v in values]
        elif column in ("p50_ms", "size_mb"):
            out[header] = ["n/a" if v is None or pd.isna(v) else f"{v:.2f}" for v in values]
        else:
            out[header] = values.astype(str)
    return out


def _caption(n_test: int, test_split_id: str | None, ensemble: bool) -> str:
    text = f"Test split `{test_split_id}`, {n_test} recordings; sorted by accuracy."
    if ensemble:
        text += (
            " The ensemble averages the runs' softmax probabilities; its parameters,"
            " size and latency are the members' sums."
        )
    return text


def to_markdown(table: pd.DataFrame, caption: str = "") -> str:
    align = ["left", "left"] + ["right"] * (len(COLUMNS) - 2)
    body = _formatted(table).to_markdown(index=False, disable_numparse=True, colalign=align)
    title = "# Model comparison\n\n"
    return title + body + (f"\n\n{caption}\n" if caption else "\n")


def to_html(table: pd.DataFrame, caption: str = "") -> str:
    rows = _formatted(table).to_html(index=False, escape=True, border=0, classes="comparison")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Model comparison</title>"
        "<style>body{font-family:sans-serif;margin:2em}"
        "table.comparison{border-collapse:collapse}"
        "table.comparison td,table.comparison th{padding:4px 10px;border-bottom:1px solid #ddd;"
        "text-align:right}table.comparison td:nth-child(-n+2){text-align:left}</style>"
        "</head><body><h1>Model comparison</h1>\n"
        f"{rows}\n<p>{html.escape(caption).replace('`', '')}</p>\n</body></html>\n"
    )


def _write_text(path: Path, text: str) -> None:
    atomic_write_bytes_via(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_comparison(
    evaluations: Sequence[Evaluation],
    probabilities: Sequence[np.ndarray] | None,
    report_dir: str | os.PathLike[str],
    ensemble: bool = True,
) -> ComparisonReport:
    """Write `comparison.md` and `comparison.html` to `report_dir` (each atomically)."""
    table, ensemble_metrics = comparison_table(evaluations, probabilities, ensemble)
    splits = {e.test_split_id for e in evaluations}
    split = next(iter(splits)) if len(splits) == 1 else None
    caption = _caption(evaluations[0].n_test, split, ensemble_metrics is not None)
    if split is None:
        caption = "The runs were evaluated on different test splits; sorted by accuracy."
    markdown = to_markdown(table, caption)
    out = Path(report_dir)
    md_path, html_path = out / MARKDOWN_FILE, out / HTML_FILE
    _write_text(md_path, markdown)
    _write_text(html_path, to_html(table, caption))
    log.info("comparison of %d runs written to %s and %s", len(evaluations), md_path, html_path)
    rows = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in table.to_dict(orient="records")
    ]
    return ComparisonReport(
        markdown=markdown,
        markdown_path=str(md_path),
        html_path=str(html_path),
        rows=rows,
        ensemble=ensemble_metrics,
        test_split_id=split,
        best_run=str(table.iloc[0]["run"]),
    )
