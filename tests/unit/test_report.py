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
    first_table = markdown.split("\n## ")[0]
    header = next(line for line in first_table.splitlines() if line.startswith("| run"))
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
    body = [line for line in first_table.splitlines() if line.startswith("| ")][1:]
    assert [line.split("|")[1].strip() for line in body] == ["mike", "zulu", "alpha", "ensemble"]
    cells = [c.strip() for c in body[-1].strip("|").split("|")]
    assert cells[2:] == ["7,000", "1.0000", "1.0000", "1.0000", "1.0000", "7.50", "6.00"]
    assert "test split `s1`, 4 recordings" in markdown.lower()
    html = (tmp_path / "reports" / "comparison.html").read_text()
    assert html.split("</table>")[0].count("<tr") == 5 and "<td>ensemble</td>" in html
    assert report.best_run == "mike" and report.ensemble.accuracy == 1.0
    # three runs of 4 records each: 3 pairs, none can be told apart on 4 records
    assert [(p.run_a, p.run_b) for p in report.pairs] == [
        ("mike", "zulu"),
        ("mike", "alpha"),
        ("zulu", "alpha"),
    ]
    assert report.warning == "these runs cannot be told apart on this data"
    assert "## Pairwise comparison" in markdown and "cannot be told apart" in html
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
    rows = {line.split("|")[1].strip(): line for line in lines if "−" not in line}
    assert "n/a" in rows["alpha"] and "n/a" in rows["ensemble"]
    assert report.rows[-1]["p50_ms"] is None


def _fold(run: str, predicted: list[int], labels: list[int], fold: int, **kw) -> tuple:
    probabilities = _probs(predicted)
    evaluation = Evaluation(
        run=run,
        architecture="cnn",
        metrics=classification_metrics(probabilities, np.array(labels)),
        validation=classification_metrics(_probs(kw.get("val", labels)), np.array(labels)),
        val_split_id=f"v{fold}",
        latency=Latency(),
        parameters=1000,
        model_size_bytes=1_000_000,
        n_test=len(labels),
        test_split_id=f"t{fold}",
        labels=labels,
        fold=fold,
    )
    return evaluation, probabilities


def test_cross_validation_summary_pairs_and_curves(tmp_path):
    """Two runs on two folds of 4 test records. Fold accuracies, by hand:
    a: 4/4 and 2/4 -> mean 0.75, sd sqrt(2 * 0.25^2 / 1) = 0.3536
    b: 1/4 and 1/4 -> mean 0.25, sd 0
    Pooled over the 8 records a is right on 6, b on 2; a alone right on 4 records
    (b = 4), b alone on none (c = 0): McNemar's exact p = 2 * 0.5^4 = 0.125."""
    labels = [0, 1, 2, 3]
    folds = [
        _fold("a", [0, 1, 2, 3], labels, 0),
        _fold("b", [0, 0, 0, 0], labels, 0, val=[5, 5, 5, 5]),
        _fold("a", [0, 1, 0, 0], labels, 1),
        _fold("b", [0, 0, 0, 0], labels, 1, val=[5, 5, 5, 5]),
    ]
    evaluations = [e for e, _ in folds]
    probabilities = [p for _, p in folds]
    histories = {
        "a": [{"val_loss": [2.0, 1.0], "val_accuracy": [0.5, 1.0]}] * 2,
        "b": [{"val_loss": [2.0, float("nan")], "val_accuracy": [0.2, 0.2]}] * 2,
    }
    report = write_comparison(
        evaluations, probabilities, tmp_path, histories=histories, n_resamples=2000
    )
    assert report.folds == [0, 1]
    cv = {row["run"]: row for row in report.cv_rows}
    assert cv["a"]["mean"]["test_accuracy"] == pytest.approx(0.75)
    assert cv["a"]["sd"]["test_accuracy"] == pytest.approx(0.5**0.5 / 2)
    assert cv["a"]["per_fold"]["test_accuracy"] == pytest.approx([1.0, 0.5])
    assert cv["b"]["mean"]["test_accuracy"] == pytest.approx(0.25)
    assert cv["b"]["sd"]["test_accuracy"] == 0.0
    assert "| a     | 1.0000 ± 0.0000 | 0.7500 ± 0.3536 |" in report.markdown
    (pair,) = report.pairs
    assert (pair.run_a, pair.run_b, pair.b, pair.c) == ("a", "b", 4, 0)
    assert pair.difference == pytest.approx(0.5)
    assert pair.p_value == pytest.approx(0.125)
    # the main table shows the first fold; selection reads validation (a: 1.0, b: 0.0)
    assert report.best_run == "a" and "Fold 0 (the fold whose models" in report.markdown
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![validation curves](curves.png)" in report.markdown
    assert "<img src='curves.png'" in (tmp_path / "comparison.html").read_text()


def test_runs_on_different_folds_are_not_compared(tmp_path):
    labels = [0, 1, 2, 3]
    evaluations = [
        _fold("a", labels, labels, 0)[0],
        _fold("a", labels, labels, 1)[0],
        _fold("b", labels, labels, 0)[0],
        _fold("b", labels, labels, 2)[0],
    ]
    with pytest.raises(EvaluationError, match=r"runs a and b were not evaluated on the same"):
        write_comparison(evaluations, None, tmp_path)
