"""The comparison across runs (the seed study's Tables 1 and 2), as markdown and HTML.

One row per run, sorted by test accuracy (then macro F1, then name), with its
architecture, parameters, accuracy, top-5, macro F1, micro F1, p50 latency and model
size; then an `ensemble` row: the mean of the runs' softmax probabilities on the same test
records, scored like a run. Its parameters, size and latency are the sums over the
members (running them one after the other). Runs evaluated on different test records
cannot be averaged record by record: the ensemble is refused with an error naming them.

Under cross-validation (several folds per run) that table shows each run's first fold,
and a second table gives every score's mean ± sd over the folds with the per-fold
values. Then, for every pair of runs, the accuracy difference with its paired bootstrap
interval and McNemar's p-value over the same test records (islr.evaluation.stats), and
the validation curves of all runs overlaid (islr.evaluation.curves), as the study's
Table 2 shows them.
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
from islr.evaluation.stats import (
    PairComparison,
    format_mean_sd,
    indistinguishable_warning,
    pairs_markdown,
    pairs_table,
    pairwise_comparisons,
)

log = logging.getLogger(__name__)

ENSEMBLE_ROW = "ensemble"
MARKDOWN_FILE = "comparison.md"
HTML_FILE = "comparison.html"
CURVES_FILE = "curves.png"
# Fold-summary column -> header: the mean ± sd of each score over the folds.
CV_COLUMNS: dict[str, str] = {
    "val_accuracy": "val accuracy",
    "test_accuracy": "accuracy",
    "test_top5": "top-5",
    "test_macro_f1": "macro F1",
    "test_micro_f1": "micro F1",
}
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
    folds: list[int] = []  # the folds of a cross-validation (empty: one fold)
    cv_rows: list[dict] = []  # per run: mean, sd and per-fold values of each score
    pairs: list[PairComparison] = []
    warning: str | None = None  # set when no pair of runs can be told apart
    curves_path: str | None = None


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


def _write_text(path: Path, text: str) -> None:
    atomic_write_bytes_via(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def cv_table(summaries: Sequence[Evaluation]) -> pd.DataFrame:
    """Per run (sorted by mean validation accuracy): each score's mean ± sd over the
    folds, and the test accuracy of every fold."""
    rows = []
    for evaluation in summaries:
        cv = evaluation.cv
        if cv is None:
            continue
        row = {"run": evaluation.run}
        for key, header in CV_COLUMNS.items():
            if key in cv.mean:
                row[header] = format_mean_sd(cv.mean[key], cv.sd[key])
        row["accuracy per fold"] = ", ".join(
            f"{k}: {v:.4f}"
            for k, v in zip(cv.folds, cv.per_fold.get("test_accuracy", []), strict=False)
        )
        row["_order"] = -cv.mean.get("val_accuracy", cv.mean.get("test_accuracy", 0.0))
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values(["_order", "run"]).drop(columns="_order").reset_index(drop=True)


def _best_on_validation(summaries: Sequence[Evaluation]) -> str | None:
    """The run with the best validation accuracy (the fold mean under cross-validation):
    the one selection picks; None when no run was scored on validation."""
    scored = [e for e in summaries if e.validation is not None]
    if not scored:
        return None
    return min(scored, key=lambda e: (-e.metric("val_accuracy"), e.run)).run


def _cv_caption(folds: list[int]) -> str:
    return (
        f"Mean ± sample sd over folds {folds}; each fold evaluated on its own validation "
        "and test halves (participants held out), the model trained on the other folds."
    )


def _html_page(sections: list[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Model comparison</title>"
        "<style>body{font-family:sans-serif;margin:2em}"
        "table.comparison{border-collapse:collapse}"
        "table.comparison td,table.comparison th{padding:4px 10px;border-bottom:1px solid #ddd;"
        "text-align:right}table.comparison td:nth-child(1){text-align:left}"
        ".warning{color:#a00;font-weight:bold}</style>"
        "</head><body><h1>Model comparison</h1>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def _html_table(table: pd.DataFrame) -> str:
    return table.to_html(index=False, escape=True, border=0, classes="comparison")


def write_comparison(
    evaluations: Sequence[Evaluation],
    probabilities: Sequence[np.ndarray] | None,
    report_dir: str | os.PathLike[str],
    ensemble: bool = True,
    *,
    histories: dict[str, list[dict[str, list[float]]]] | None = None,
    diverged: dict[str, list[bool]] | None = None,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> ComparisonReport:
    """Write `comparison.md` and `comparison.html` (and `curves.png` with `histories`:
    run -> one training history per fold) to `report_dir`, each atomically.

    `evaluations` and `probabilities`: one per (run, fold), folds of a run in the same
    order for every run; the first fold of each run fills the main table."""
    from islr.evaluation.crossval import by_run, correctness, summarize_folds

    summaries = summarize_folds(evaluations)
    firsts = {run: folds[0] for run, folds in by_run(evaluations).items()}
    first_probabilities = None
    if probabilities is not None:
        if len(probabilities) != len(evaluations):
            raise EvaluationError(
                f"{len(evaluations)} evaluations but {len(probabilities)} probability "
                "arrays; pass one array per evaluation, in the same order"
            )
        index = {id(e): i for i, e in enumerate(evaluations)}
        first_probabilities = [probabilities[index[id(e)]] for e in firsts.values()]
    table, ensemble_metrics = comparison_table(list(firsts.values()), first_probabilities, ensemble)
    first = list(firsts.values())
    splits = {e.test_split_id for e in first}
    split = next(iter(splits)) if len(splits) == 1 else None
    caption = _caption(first[0].n_test, split, ensemble_metrics is not None)
    if split is None:
        caption = "The runs were evaluated on different test splits; sorted by accuracy."
    folds = summaries[0].cv.folds if summaries[0].cv is not None else []
    if folds:
        caption = f"Fold {folds[0]} (the fold whose models are exported). " + caption
    markdown = to_markdown(table, caption)
    html_sections = [
        _html_table(_formatted(table)),
        f"<p>{html.escape(caption).replace('`', '')}</p>",
    ]

    cv = cv_table(summaries)
    if not cv.empty:
        markdown += (
            "\n## Cross-validation\n\n"
            + cv.to_markdown(index=False, disable_numparse=True)
            + f"\n\n{_cv_caption(folds)}\n"
        )
        html_sections += [
            "<h2>Cross-validation</h2>",
            _html_table(cv),
            f"<p>{html.escape(_cv_caption(folds))}</p>",
        ]

    pairs: list[PairComparison] = []
    warning = None
    if probabilities is not None and split is not None and len(firsts) > 1:
        pairs = pairwise_comparisons(
            correctness(evaluations, probabilities), n_resamples=n_resamples, seed=seed
        )
        warning = indistinguishable_warning(pairs)
        markdown += "\n## Pairwise comparison\n\n" + pairs_markdown(pairs)
        html_sections += [
            "<h2>Pairwise comparison</h2>",
            _html_table(pairs_table(pairs)),
            "<ul>" + "".join(f"<li>{html.escape(p.sentence())}</li>" for p in pairs) + "</ul>",
        ]
        if warning:
            html_sections.append(f"<p class='warning'>Warning: {html.escape(warning)}.</p>")

    out = Path(report_dir)
    curves_path = None
    if histories:
        from islr.evaluation.curves import comparison_curves_figure, figure_png

        figure = comparison_curves_figure(histories, diverged)
        curves_path = out / CURVES_FILE
        atomic_write_bytes_via(curves_path, lambda tmp: Path(tmp).write_bytes(figure_png(figure)))
        markdown += f"\n## Training curves\n\n![validation curves]({CURVES_FILE})\n"
        html_sections += [
            "<h2>Training curves</h2>",
            f"<img src='{CURVES_FILE}' alt='validation loss and accuracy of every run'>",
        ]

    md_path, html_path = out / MARKDOWN_FILE, out / HTML_FILE
    _write_text(md_path, markdown)
    _write_text(html_path, _html_page(html_sections))
    log.info("comparison of %d runs written to %s and %s", len(firsts), md_path, html_path)
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
        best_run=_best_on_validation(summaries) or str(table.iloc[0]["run"]),
        folds=folds,
        cv_rows=[
            {"run": e.run, "mean": e.cv.mean, "sd": e.cv.sd, "per_fold": e.cv.per_fold}
            for e in summaries
            if e.cv is not None
        ],
        pairs=pairs,
        warning=warning,
        curves_path=str(curves_path) if curves_path else None,
    )
