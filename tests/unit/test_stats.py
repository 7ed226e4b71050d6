"""The statistics of a comparison across folds: exact McNemar p-values, paired bootstrap
intervals stratified by fold, the pairwise table and its sentences. Every expected
number is worked out by hand in the test (binomial sums, normal approximations), never
taken from the code under test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from islr.evaluation.errors import EvaluationError
from islr.evaluation.stats import (
    INDISTINGUISHABLE,
    ComparisonInputError,
    PairComparison,
    RunSummary,
    fold_summary,
    format_mean_sd,
    indistinguishable_warning,
    mcnemar_exact,
    paired_bootstrap_ci,
    pairs_markdown,
    pairs_table,
    pairwise_comparisons,
    run_summaries,
)


def _fold(only_a: int, only_b: int, both: int = 0, neither: int = 0):
    """One fold's correctness of A and B with the given counts of each outcome."""
    a = [True] * only_a + [False] * only_b + [True] * both + [False] * neither
    b = [False] * only_a + [True] * only_b + [True] * both + [False] * neither
    return np.array(a), np.array(b)


def _runs(*folds):
    """[(a0, b0), (a1, b1), ...] -> ([a0, a1, ...], [b0, b1, ...])"""
    return [a for a, _ in folds], [b for _, b in folds]


# McNemar ---------------------------------------------------------------------------


def test_mcnemar_all_discordant_records_one_way():
    # b=5, c=0: P(X=0 or X=5) for X ~ Bin(5, 1/2) = 2 × 0.5^5
    a, b = _runs(_fold(5, 0, both=7, neither=3))
    result = mcnemar_exact(a, b)
    assert (result.b, result.c) == (5, 0)
    assert result.p_value == pytest.approx(2 * 0.5**5) == pytest.approx(0.0625)


def test_mcnemar_pools_the_folds():
    # b=5+3, c=1+1 over two folds: 2 × (C(10,0)+C(10,1)+C(10,2)) / 2^10 = 2 × 56/1024
    a, b = _runs(_fold(5, 1, both=4), _fold(3, 1, neither=2))
    result = mcnemar_exact(a, b)
    assert (result.b, result.c) == (8, 2)
    assert result.p_value == pytest.approx(2 * 56 / 1024) == pytest.approx(0.109375)
    # the test is symmetric: swapping the runs swaps b and c, not the p-value
    swapped = mcnemar_exact(b, a)
    assert (swapped.b, swapped.c) == (2, 8)
    assert swapped.p_value == pytest.approx(0.109375)


def test_mcnemar_balanced_or_no_disagreement_is_p_one():
    # b=c=3: X=3 is the mode of Bin(6, 1/2), every outcome is at least as extreme
    assert mcnemar_exact(*_runs(_fold(3, 3, both=2))).p_value == pytest.approx(1.0)
    # b=c=0: the runs never disagree; nothing speaks for either
    result = mcnemar_exact(*_runs(_fold(0, 0, both=4, neither=6)))
    assert (result.b, result.c, result.p_value) == (0, 0, 1.0)


def test_mcnemar_accepts_zero_one_integers():
    a, b = _fold(5, 0, both=1)
    assert mcnemar_exact([a.astype(int)], [b.astype(np.uint8)]).p_value == pytest.approx(0.0625)


# Bootstrap -------------------------------------------------------------------------


def test_runs_that_agree_everywhere_have_a_zero_interval():
    a, b = _runs(_fold(0, 0, both=30, neither=20), _fold(0, 0, both=5, neither=15))
    result = paired_bootstrap_ci(a, b, n_resamples=2000)
    assert (result.difference, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert [(f.ci_low, f.ci_high) for f in result.folds] == [(0.0, 0.0), (0.0, 0.0)]
    assert not result.distinguishable


def test_a_always_right_and_b_always_wrong_is_exactly_one():
    a, b = _runs(_fold(40, 0), _fold(25, 0))
    result = paired_bootstrap_ci(a, b, n_resamples=2000)
    assert (result.difference, result.ci_low, result.ci_high) == (1.0, 1.0, 1.0)
    assert all((f.difference, f.ci_low, f.ci_high) == (1.0, 1.0, 1.0) for f in result.folds)
    assert result.distinguishable
    assert result.n_records == 65


def test_resampling_is_stratified_by_fold():
    # Fold 0: A beats B on every record; fold 1: B beats A on every record. Within each
    # fold every resample is the fold itself, so the pooled difference is 0 in every
    # resample: the interval is exactly [0, 0]. Resampling the 100 pooled records
    # together would instead spread it by ±1.96 × sqrt(1/100) ≈ ±0.2.
    a, b = _runs(_fold(50, 0), _fold(0, 50))
    result = paired_bootstrap_ci(a, b, n_resamples=2000)
    assert (result.difference, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert [f.difference for f in result.folds] == [1.0, -1.0]


def test_pooled_difference_weights_folds_by_their_records():
    # 30 records with A right and B wrong, 10 where both are right: pooled 30/40 = 0.75,
    # while the mean of the fold differences (1.0 and 0.0) would be 0.5
    a, b = _runs(_fold(30, 0), _fold(0, 0, both=10))
    result = paired_bootstrap_ci(a, b, n_resamples=2000)
    assert (result.difference, result.ci_low, result.ci_high) == (0.75, 0.75, 0.75)
    assert [(f.fold, f.n_records, f.difference) for f in result.folds] == [
        (0, 30, 1.0),
        (1, 10, 0.0),
    ]


def _normal_width(variance: float, n: int, z: float = 1.959964) -> float:
    return 2 * z * math.sqrt(variance / n)


# Tolerance of the widths below: with R = 10,000 resamples a 2.5 % percentile endpoint
# has a Monte Carlo sd of sqrt(0.025 × 0.975 / R) / φ(1.96) ≈ 0.027 standard errors,
# so the width (3.92 standard errors) is off by about 1 % at most one sd; and the mean
# of 1000+ records of -1/0/+1 is close to normal. 5 % is about four such sds.
WIDTH_TOLERANCE = 0.05


def test_interval_width_matches_the_normal_approximation():
    # 300 records only A got right, 200 only B, 1500 agreeing: difference 100/2000 = 0.05;
    # per-record variance E[d²] − E[d]² = 500/2000 − 0.05² = 0.2475
    a, b = _runs(_fold(300, 200, both=1000, neither=500))
    result = paired_bootstrap_ci(a, b)
    assert result.difference == pytest.approx(0.05)
    assert result.ci_low < 0.05 < result.ci_high
    expected = _normal_width(0.2475, 2000)  # ≈ 0.0436
    assert result.ci_high - result.ci_low == pytest.approx(expected, rel=WIDTH_TOLERANCE)
    # the percentile interval of a near-normal mean is centred on it: within ≈0.1 se
    assert (result.ci_low + result.ci_high) / 2 == pytest.approx(0.05, abs=0.0015)
    assert result.distinguishable


def test_per_fold_and_pooled_intervals():
    # fold 0: 200 only A, 100 only B of 1000: difference 0.1, variance 0.3 − 0.01 = 0.29
    # fold 1: 100 only A, 100 only B of 1000: difference 0.0, variance 0.2
    # pooled: difference 100/2000 = 0.05; a stratified resample's variance is the sum of
    # the folds' n_f × var_f over N²: (290 + 200) / 2000²
    a, b = _runs(_fold(200, 100, both=500, neither=200), _fold(100, 100, both=600, neither=200))
    result = paired_bootstrap_ci(a, b)
    first, second = result.folds
    assert first.difference == pytest.approx(0.1)
    assert second.difference == pytest.approx(0.0)
    assert first.ci_high - first.ci_low == pytest.approx(
        _normal_width(0.29, 1000), rel=WIDTH_TOLERANCE
    )
    assert second.ci_high - second.ci_low == pytest.approx(
        _normal_width(0.2, 1000), rel=WIDTH_TOLERANCE
    )
    assert result.difference == pytest.approx(0.05)
    pooled_width = 2 * 1.959964 * math.sqrt(290 + 200) / 2000
    assert result.ci_high - result.ci_low == pytest.approx(pooled_width, rel=WIDTH_TOLERANCE)
    # two folds' worth of records: the pooled interval is narrower than either fold's
    assert result.ci_high - result.ci_low < min(
        first.ci_high - first.ci_low, second.ci_high - second.ci_low
    )
    assert first.ci_low > 0
    assert second.ci_low < 0 < second.ci_high


def test_same_seed_same_interval():
    a, b = _runs(_fold(30, 20, both=40, neither=10), _fold(12, 9, both=20, neither=5))
    first = paired_bootstrap_ci(a, b, n_resamples=500, seed=7)
    again = paired_bootstrap_ci(a, b, n_resamples=500, seed=7)
    other = paired_bootstrap_ci(a, b, n_resamples=500, seed=8)
    assert first == again
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    assert first.seed == 7 and first.n_resamples == 500


def test_lower_confidence_gives_a_narrower_interval():
    a, b = _runs(_fold(300, 200, both=1000, neither=500))
    wide = paired_bootstrap_ci(a, b, confidence=0.95)
    narrow = paired_bootstrap_ci(a, b, confidence=0.5)
    # 50 %: ±0.674 se instead of ±1.96 se
    ratio = (narrow.ci_high - narrow.ci_low) / (wide.ci_high - wide.ci_low)
    assert ratio == pytest.approx(0.6745 / 1.96, rel=0.1)


# Bad input -------------------------------------------------------------------------


def test_different_fold_sizes_name_the_fold_and_runs():
    a = [np.ones(5, bool), np.ones(6, bool)]
    b = [np.ones(5, bool), np.ones(7, bool)]
    with pytest.raises(ComparisonInputError, match=r"fold 1 .*cnn has 6 .*lstm has 7"):
        paired_bootstrap_ci(a, b, names=("cnn", "lstm"))
    with pytest.raises(ComparisonInputError, match="fold 1"):
        mcnemar_exact(a, b)


def test_different_fold_counts_are_refused():
    with pytest.raises(ComparisonInputError, match="cnn has 2 folds but lstm has 1"):
        mcnemar_exact([np.ones(3, bool)] * 2, [np.ones(3, bool)], names=("cnn", "lstm"))


@pytest.mark.parametrize(
    ("folds", "message"),
    [
        ([], "no folds"),
        ([np.array([], dtype=bool)], "fold 0 .*non-empty 1-D"),
        ([np.ones((2, 2), bool)], "fold 0 .*1-D"),
        ([np.array([0, 1, 2])], r"True/False or 1/0, found \[2\]"),
        (np.ones(4, bool), "not a single array"),
    ],
)
def test_bad_correctness_is_refused(folds, message):
    with pytest.raises(ComparisonInputError, match=message):
        mcnemar_exact(folds, folds, names=("cnn", "cnn"))


def test_bootstrap_needs_two_records_per_fold_and_sane_settings():
    one = [np.ones(4, bool), np.ones(1, bool)]
    with pytest.raises(ComparisonInputError, match=r"fold 1 .*at least 2"):
        paired_bootstrap_ci(one, one)
    a, b = _runs(_fold(2, 2))
    with pytest.raises(ComparisonInputError, match="n_resamples"):
        paired_bootstrap_ci(a, b, n_resamples=0)
    with pytest.raises(ComparisonInputError, match="confidence"):
        paired_bootstrap_ci(a, b, confidence=95)


def test_input_errors_are_evaluation_errors():
    assert issubclass(ComparisonInputError, EvaluationError)


# Fold summaries --------------------------------------------------------------------


def test_fold_summary_mean_and_sample_sd():
    # deviations -0.1, 0, +0.1: (0.01 + 0 + 0.01) / (3 − 1) = 0.01, sd 0.1
    mean, sd = fold_summary([0.7, 0.8, 0.9])
    assert mean == pytest.approx(0.8)
    assert sd == pytest.approx(0.1)


def test_one_fold_has_no_sd():
    mean, sd = fold_summary([0.7])
    assert mean == 0.7 and math.isnan(sd)
    assert format_mean_sd(mean, sd) == "0.7000 ± —"
    assert format_mean_sd(0.8, 0.1, digits=2) == "0.80 ± 0.10"
    with pytest.raises(ComparisonInputError):
        fold_summary([])


def test_run_summaries_sorted_by_pooled_accuracy():
    correct = {
        "beta": [np.array([1, 1, 0, 0]), np.array([1, 1, 1, 1])],  # 0.5, 1.0
        "alpha": [np.array([1, 0, 0, 0]), np.array([1, 1, 0, 0])],  # 0.25, 0.5
    }
    beta, alpha = run_summaries(correct)
    assert (beta.run, alpha.run) == ("beta", "alpha")
    assert beta.fold_accuracies == [0.5, 1.0]
    assert beta.accuracy == 0.75 and beta.n_records == 8
    # sd of 0.5 and 1.0: sqrt(2 × 0.25² / 1)
    assert (beta.mean, beta.sd) == (pytest.approx(0.75), pytest.approx(math.sqrt(0.125)))
    assert beta.mean_sd() == "0.7500 ± 0.3536"


def test_nan_sd_survives_json():
    summary = RunSummary(
        run="cnn", fold_accuracies=[0.7], mean=0.7, sd=math.nan, accuracy=0.7, n_records=10
    )
    loaded = RunSummary.model_validate_json(summary.model_dump_json())
    assert math.isnan(loaded.sd) and loaded.mean == 0.7


# Pairwise comparisons --------------------------------------------------------------


@pytest.fixture
def three_runs():
    # two folds of 20 records; zeta is always right, alpha right on the first half of
    # each fold, beta on the second half: alpha and beta tie at 0.5 (name breaks it)
    half = np.arange(20) < 10
    return {
        "beta": [~half, ~half],
        "zeta": [np.ones(20, bool), np.ones(20, bool)],
        "alpha": [half, half],
    }


def test_every_pair_in_a_stable_order(three_runs):
    pairs = pairwise_comparisons(three_runs, n_resamples=2000)
    assert [(p.run_a, p.run_b) for p in pairs] == [
        ("zeta", "alpha"),
        ("zeta", "beta"),
        ("alpha", "beta"),
    ]
    zeta_alpha, _, alpha_beta = pairs
    # zeta over alpha: 20 discordant records, all zeta's: p = 2 × 0.5^20
    assert (zeta_alpha.b, zeta_alpha.c) == (20, 0)
    assert zeta_alpha.p_value == pytest.approx(2 * 0.5**20)
    assert zeta_alpha.difference == 0.5 and zeta_alpha.fold_differences == [0.5, 0.5]
    assert (zeta_alpha.accuracy_a, zeta_alpha.accuracy_b) == (1.0, 0.5)
    # 40 records of 0 or 1, half each: 0.5 ± 1.96 × sqrt(0.25 / 40) ≈ 0.5 ± 0.155
    assert zeta_alpha.ci_low > 0.2 and zeta_alpha.distinguishable
    # alpha and beta disagree on every record, 20 each way
    assert (alpha_beta.b, alpha_beta.c, alpha_beta.p_value) == (20, 20, pytest.approx(1.0))
    assert alpha_beta.difference == 0.0
    assert alpha_beta.ci_low < 0 < alpha_beta.ci_high and not alpha_beta.distinguishable
    assert indistinguishable_warning(pairs) is None


def test_pairs_need_the_same_folds(three_runs):
    three_runs["short"] = [np.ones(20, bool), np.ones(19, bool)]
    with pytest.raises(ComparisonInputError, match=r"fold 1 .*short has 19"):
        pairwise_comparisons(three_runs)
    with pytest.raises(ComparisonInputError, match="no runs"):
        pairwise_comparisons({})


def test_one_run_has_no_pairs():
    assert pairwise_comparisons({"cnn": [np.ones(4, bool)]}) == []
    assert indistinguishable_warning([]) is None
    assert "nothing to compare" in pairs_markdown([])


def _pair(difference=0.062, low=0.011, high=0.113, p=0.012, **kw) -> PairComparison:
    values = {
        "run_a": "cnn_transformer",
        "run_b": "cnn",
        "accuracy_a": 0.8,
        "accuracy_b": 0.8 - difference,
        "difference": difference,
        "ci_low": low,
        "ci_high": high,
        "confidence": 0.95,
        "folds": [
            {"fold": 0, "n_records": 50, "difference": 0.04, "ci_low": -0.1, "ci_high": 0.2},
            {"fold": 1, "n_records": 50, "difference": 0.084, "ci_low": -0.1, "ci_high": 0.2},
        ],
        "b": 40,
        "c": 21,
        "p_value": p,
    }
    return PairComparison(**(values | kw))


def test_sentences():
    assert _pair().sentence() == (
        "cnn_transformer is more accurate than cnn by 6.2 points "
        "(95 % CI 1.1 to 11.3, McNemar p = 0.012)"
    )
    assert _pair(difference=0.004, low=-0.012, high=0.02, p=0.61).sentence() == (
        "cnn_transformer and cnn cannot be told apart: cnn_transformer is ahead by 0.4 "
        "points (95 % CI -1.2 to 2.0, McNemar p = 0.61)"
    )
    # an interval entirely below 0 speaks for B, with the interval turned around
    assert _pair(difference=-0.03, low=-0.05, high=-0.01, p=0.0004).sentence() == (
        "cnn is more accurate than cnn_transformer by 3.0 points "
        "(95 % CI 1.0 to 5.0, McNemar p < 0.001)"
    )
    assert "90 % CI" in _pair(confidence=0.9).sentence()


def test_warning_when_no_pair_can_be_told_apart():
    close = _pair(difference=0.004, low=-0.012, high=0.02, p=0.61)
    assert INDISTINGUISHABLE == "these runs cannot be told apart on this data"
    assert indistinguishable_warning([close, close]) == INDISTINGUISHABLE
    assert indistinguishable_warning([close, _pair()]) is None
    assert f"Warning: {INDISTINGUISHABLE}" in pairs_markdown([close])
    assert "Warning" not in pairs_markdown([_pair()])


def test_pairs_table_and_markdown():
    table = pairs_table([_pair(), _pair(p=0.00002)])
    assert table.columns.tolist() == [
        "pair",
        "difference (points)",
        "95 % CI",
        "McNemar p",
        "b / c",
        "per-fold differences (points)",
    ]
    assert table.iloc[0].tolist() == [
        "cnn_transformer − cnn",
        "6.2",
        "1.1 to 11.3",
        "0.012",
        "40 / 21",
        "4.0, 8.4",
    ]
    assert table.iloc[1]["McNemar p"] == "< 0.001"
    markdown = pairs_markdown([_pair()])
    assert "| cnn_transformer − cnn |" in markdown
    assert "- cnn_transformer is more accurate than cnn by 6.2 points" in markdown


def test_comparison_round_trips_through_json():
    pair = _pair()
    dumped = pair.model_dump()
    assert dumped["distinguishable"] is True
    assert PairComparison.model_validate_json(pair.model_dump_json()) == pair


def test_an_even_pair_reads_as_equally_accurate():
    # each run alone right on 2 of 4 records: difference 0, b = c = 2, p = 1
    a = [np.array([1, 1, 0, 0], dtype=bool)]
    b = [np.array([0, 0, 1, 1], dtype=bool)]
    (pair,) = pairwise_comparisons({"x": a, "y": b}, n_resamples=500)
    assert pair.difference == 0 and (pair.b, pair.c) == (2, 2) and pair.p_value == 1
    assert pair.sentence().startswith("x and y cannot be told apart: equally accurate on")
