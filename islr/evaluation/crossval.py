"""Cross-validation: one run trained and evaluated on several folds, summarised.

Each fold of a run has its own Evaluation (validation and test halves of that fold).
`summarize_folds` turns the evaluations of every (run, fold) into one Evaluation per
run: the one of its first fold (the fold whose model is exported and registered), with
`cv` holding each metric per fold, its mean and its sample sd. The champion gate then
ranks by the fold mean of a validation metric.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from islr.evaluation.errors import EvaluationError
from islr.evaluation.metrics import CrossValidation, Evaluation
from islr.evaluation.stats import fold_summary

# Summarised per fold: the scores on both halves (latency and size do not vary by fold).
CV_METRICS = tuple(
    f"{split}_{metric}"
    for split in ("val", "test")
    for metric in ("accuracy", "top5", "macro_f1", "micro_f1")
)


def by_run(evaluations: Sequence[Evaluation]) -> dict[str, list[Evaluation]]:
    """Evaluations grouped by run name, runs and folds in the order given."""
    runs: dict[str, list[Evaluation]] = {}
    for evaluation in evaluations:
        runs.setdefault(evaluation.run, []).append(evaluation)
    return runs


def cv_split_id(folds: Sequence[Evaluation]) -> str:
    """Identifies the records of a cross-validation: every fold's validation and test."""
    parts = [f"{e.fold}:{e.val_split_id}:{e.test_split_id}" for e in folds]
    return "cv-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:13]


def check_same_folds(runs: dict[str, list[Evaluation]]) -> None:
    """Every run must be evaluated on the same folds, with the same records in each:
    the paired comparison scores them record by record. (With one fold each, the
    report's own test-split check says which runs differ.)"""
    if all(len(folds) == 1 for folds in runs.values()):
        return
    layouts = {
        run: [(e.fold, e.val_split_id, e.test_split_id) for e in folds]
        for run, folds in runs.items()
    }
    first_run, first = next(iter(layouts.items()))
    for run, layout in layouts.items():
        if layout != first:
            raise EvaluationError(
                f"runs {first_run} and {run} were not evaluated on the same folds "
                f"({[f for f, _, _ in first]} vs {[f for f, _, _ in layout]}, or other "
                "records in a fold); compare runs of one cross-validation"
            )
    folds = [f for f, _, _ in first]
    if len(set(folds)) != len(folds):
        raise EvaluationError(f"{first_run}: fold evaluated twice ({folds})")


def summarize_folds(evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """One Evaluation per run (its first fold's); with more than one fold, `cv` holds
    the per-fold values, means and sds of the validation and test scores."""
    if not evaluations:
        raise EvaluationError("no evaluations to summarise")
    runs = by_run(evaluations)
    check_same_folds(runs)
    out = []
    for folds in runs.values():
        first = folds[0]
        if len(folds) == 1:
            out.append(first)
            continue
        per_fold = {
            key: [e.mlflow_metrics()[key] for e in folds]
            for key in CV_METRICS
            if all(key in e.mlflow_metrics() for e in folds)
        }
        summary = {key: fold_summary(values) for key, values in per_fold.items()}
        cv = CrossValidation(
            folds=[int(e.fold) if e.fold is not None else -1 for e in folds],
            split_id=cv_split_id(folds),
            per_fold=per_fold,
            mean={k: float(m) for k, (m, _) in summary.items()},
            sd={k: float(s) for k, (_, s) in summary.items()},
        )
        out.append(first.model_copy(update={"cv": cv}))
    return out


def correctness(
    evaluations: Sequence[Evaluation], probabilities: Sequence[np.ndarray]
) -> dict[str, list[np.ndarray]]:
    """Run -> per fold, whether each test record's top prediction is right (records in
    sequence_id order, so every run's arrays line up record by record)."""
    if len(evaluations) != len(probabilities):
        raise EvaluationError(
            f"{len(evaluations)} evaluations but {len(probabilities)} probability arrays"
        )
    correct: dict[str, list[np.ndarray]] = {}
    for evaluation, probs in zip(evaluations, probabilities, strict=True):
        labels = np.asarray(evaluation.labels, dtype=np.int64)
        predicted = np.asarray(probs).argmax(axis=1)
        if predicted.shape != labels.shape:
            raise EvaluationError(
                f"{evaluation.run} fold {evaluation.fold}: {predicted.shape[0]} predictions "
                f"for {labels.shape[0]} test records"
            )
        correct.setdefault(evaluation.run, []).append(predicted == labels)
    return correct
