"""The comparison report: sorting by accuracy, the ensemble row computed from averaged
probabilities, refusal when runs saw different test records, atomic files."""

from __future__ import annotations

import numpy as np
import pytest

from islr.evaluation.errors import EvaluationError, TestSplitMismatchError
from islr.evaluation.metrics import Evaluation, Latency, classification_metrics
from islr.evaluation.report import comparison_table, write_comparison

LABELS = [0, 1, 2, 3]


def _probs(predicted: list[int], n_classes: int = 6, sure: float = 0.6) -> np.ndarray:
    out = np.full((len(predicted), n_classes), (1 - sure) / (n_classes - 1))
    out[np.arange(len(predicted)), predicted] = sure
    return out


def _evaluation(run: str, probabilities: np.ndarray, split: str = "s1", **kw) -> Evaluation:
    return Evaluation(
        run=run,
        architecture=kw.get("architecture", "cnn"),
        metrics=classification_metrics(probabilities, np.array(LABELS)),
        latency=Latency(p50_ms=kw.get("p50", 2.0), p95_ms=3.0, mean_ms=2.2, n=5),
        parameters=kw.get("parameters", 1000),
        model_size_bytes=kw.get("size", 2_000_000),
        n_test=len(LABELS),
        test_split_id=split,
        labels=LABELS,
    )


@pytest.fixture
def runs():
    # Each run is right on 2 or 3 of the 4 records, never on the same ones: their
    # averaged probabilities (equal confidence, so a majority vote) get all 4 right.
    alpha = _probs([1, 0, 2, 3])  # 2/4
    zulu = _probs([0, 1, 2, 0])  # 3/4
    mike = _probs([0, 1, 0, 3])  # 3/4, same macro F1 as zulu: ties break by name
    evaluations = [
        _evaluation("alpha", alpha, architecture="cnn", parameters=1000, size=1_000_000, p50=1.5),
        _evaluation("zulu", zulu, architecture="transformer", parameters=2000, size=3_000_000),
        _evaluation("mike", mike, architecture="cnn_bilstm", parameters=4000, p50=4.0),
    ]
    return evaluations, [alpha, zulu, mike]


def test_table_is_sorted_by_accuracy_with_an_ensemble_row(runs):
    evaluations, probabilities = runs
    table, ensemble = comparison_table(evaluations, probabilities)
    assert table["run"].tolist() == ["mike", "zulu", "alpha", "ensemble"]
    assert table["accuracy"].tolist() == pytest.approx([0.75, 0.75, 0.5, 1.0])
    assert ensemble.accuracy == 1.0 and ensemble.top5 == 1.0 and ensemble.macro_f1 == 1.0
    row = table.iloc[-1]
    assert row["architecture"] == "mean of 3 runs"
    assert row["parameters"] == 7000
    assert row["size_mb"] == pytest.approx(6.0)
    assert row["p50_ms"] == pytest.approx(1.5 + 2.0 + 4.0)
    first = table.iloc[0]
    assert (first["architecture"], first["parameters"], first["p50_ms"]) == ("cnn_bilstm", 4000, 4)

    plain, none = comparison_table(evaluations, probabilities, ensemble=False)
    assert none is None and "ensemble" not in plain["run"].tolist()


def test_written_report_markdown_and_html(runs, tmp_path):
    evaluations, probabilities = runs
    report = write_comparison(evaluations, probabilities, tmp_path / "reports")
    markdown = (tmp_path / "reports" / "comparison.md").read_text()
    assert markdown == report.markdown
    header = next(line for line in markdown.splitlines() if line.startswith("| run"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns == [
        "run",
        "architecture",
        "parameters",
        "accuracy",
        "top-5",
        "macro F1",
        "micro F1",
        "p50 latency (ms)",
        "size (MB)",
    ]
    body = [line for line in markdown.splitlines() if line.startswith("| ")][1:]
    assert [line.split("|")[1].strip() for line in body] == ["mike", "zulu", "alpha", "ensemble"]
    cells = [c.strip() for c in body[-1].strip("|").split("|")]
    assert cells[2:] == ["7,000", "1.0000", "1.0000", "1.0000", "1.0000", "7.50", "6.00"]
    assert "test split `s1`, 4 recordings" in markdown.lower()
    html = (tmp_path / "reports" / "comparison.html").read_text()
    assert html.count("<tr") == 5 and "<td>ensemble</td>" in html
    assert report.best_run == "mike" and report.ensemble.accuracy == 1.0
    assert report.rows[-1]["run"] == "ensemble" and report.test_split_id == "s1"
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        "comparison.html",
        "comparison.md",
    ]


def test_ensemble_refused_on_different_test_records(runs, tmp_path):
    evaluations, probabilities = runs
    evaluations[1] = evaluations[1].model_copy(update={"test_split_id": "s2"})
    with pytest.raises(TestSplitMismatchError, match=r"s1: alpha, mike; test_split_id s2: zulu"):
        write_comparison(evaluations, probabilities, tmp_path / "reports")
    assert not (tmp_path / "reports").exists()  # nothing half-written


def test_probabilities_must_match_the_evaluations(runs):
    evaluations, probabilities = runs
    with pytest.raises(EvaluationError, match="3 evaluations but 2 probability arrays"):
        comparison_table(evaluations, probabilities[:2])
    probabilities[2] = probabilities[2][:3]
    with pytest.raises(EvaluationError, match=r"mike: probabilities have shape \(3, 6\)"):
        comparison_table(evaluations, probabilities)


def test_unmeasured_latency_reads_n_a(runs, tmp_path):
    evaluations, probabilities = runs
    evaluations[0] = evaluations[0].model_copy(update={"latency": Latency()})
    report = write_comparison(evaluations, probabilities, tmp_path)
    lines = [line for line in report.markdown.splitlines() if line.startswith("| ")]
    rows = {line.split("|")[1].strip(): line for line in lines}
    assert "n/a" in rows["alpha"] and "n/a" in rows["ensemble"]
    assert report.rows[-1]["p50_ms"] is None
