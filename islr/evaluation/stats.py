"""Statistics for comparing runs across cross-validation folds: is one run really more
accurate than another, or is the gap within what a different draw of test records
would give?

The input of every comparison is per-record correctness: for each run, one boolean
array per fold (True where the run predicted the record's label), every run scored on
the same test records of that fold in the same order. From it:

- `paired_bootstrap_ci`: the accuracy difference A − B pooled over all folds' records,
  with a percentile bootstrap interval, and the same for each fold on its own;
- `mcnemar_exact`: the exact McNemar test on the discordant records, pooled over folds;
- `pairwise_comparisons`: both for every pair of runs, with a plain English sentence;
- `pairs_table` / `pairs_markdown`: the same for a report.

The intervals come from `scipy.stats.bootstrap` and the p-values from
`scipy.stats.binomtest`; nothing here re-implements a statistical procedure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, computed_field
from scipy import stats as scipy_stats

from islr.evaluation.errors import EvaluationError

INDISTINGUISHABLE = "these runs cannot be told apart on this data"
NO_SD = "—"
# scipy's bootstrap holds `batch` resamples of every record at once. Capping the batch
# at this many resampled records keeps memory near 50 MB per call whether a fold has a
# hundred test records or the whole asl-signs set (about 94,000); larger batches were
# not faster on a 2-core box.
_BATCH_RECORDS = 2**22


class ComparisonInputError(EvaluationError):
    """Per-record correctness that cannot be compared: no folds, different fold counts
    or fold sizes between runs, values other than right/wrong."""


class _Result(BaseModel):
    # NaN (the sd of a single fold) survives the JSON round trip of a ZenML artifact as
    # NaN; pydantic's default would write null and then refuse to read it back as float.
    model_config = ConfigDict(ser_json_inf_nan="constants")


class FoldDifference(_Result):
    """Accuracy difference A − B on one fold's test records, with its interval."""

    fold: int  # position in the input sequences, counting from 0
    n_records: int
    difference: float
    ci_low: float
    ci_high: float


class PairedInterval(_Result):
    """What `paired_bootstrap_ci` found: the pooled difference, its interval, and each
    fold's own difference and interval. Differences are fractions (0.062 = 6.2 points)."""

    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    n_resamples: int
    seed: int
    n_records: int
    folds: list[FoldDifference]

    @computed_field
    @property
    def distinguishable(self) -> bool:
        """True when the interval excludes 0."""
        return self.ci_low > 0 or self.ci_high < 0


class McNemarResult(_Result):
    """Exact McNemar test: `b` records only A got right, `c` records only B got right."""

    b: int
    c: int
    p_value: float


class RunSummary(_Result):
    """A run's accuracy on each fold, their mean and sample sd (NaN with one fold), and
    its accuracy pooled over all folds' records."""

    run: str
    fold_accuracies: list[float]
    mean: float
    sd: float
    accuracy: float
    n_records: int

    def mean_sd(self, digits: int = 4) -> str:
        return format_mean_sd(self.mean, self.sd, digits)


class PairComparison(_Result):
    """One pair of runs: A − B accuracy pooled over folds with its bootstrap interval,
    each fold's difference, and the exact McNemar test. A is the run with the higher
    pooled accuracy (ties: the name that sorts first), so `difference` is never
    negative; the interval may still be."""

    run_a: str
    run_b: str
    accuracy_a: float
    accuracy_b: float
    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    folds: list[FoldDifference]
    b: int
    c: int
    p_value: float

    @computed_field
    @property
    def distinguishable(self) -> bool:
        """True when the interval excludes 0."""
        return self.ci_low > 0 or self.ci_high < 0

    @property
    def fold_differences(self) -> list[float]:
        return [fold.difference for fold in self.folds]

    def sentence(self) -> str:
        """E.g. "cnn_transformer is more accurate than cnn by 6.2 points (95 % CI 1.1 to
        11.3, McNemar p = 0.012)"."""
        label = confidence_label(self.confidence)
        test = f"McNemar {format_p(self.p_value)}"
        if self.ci_high < 0:  # the interval says B, despite A's higher pooled accuracy
            return (
                f"{self.run_b} is more accurate than {self.run_a} by "
                f"{_points(-self.difference)} points ({label} {_points(-self.ci_high)} to "
                f"{_points(-self.ci_low)}, {test})"
            )
        ci = f"{label} {_points(self.ci_low)} to {_points(self.ci_high)}, {test}"
        if self.ci_low > 0:
            return (
                f"{self.run_a} is more accurate than {self.run_b} by "
                f"{_points(self.difference)} points ({ci})"
            )
        if self.difference == 0:
            return (
                f"{self.run_a} and {self.run_b} cannot be told apart: equally accurate on "
                f"these records ({ci})"
            )
        return (
            f"{self.run_a} and {self.run_b} cannot be told apart: {self.run_a} is ahead by "
            f"{_points(self.difference)} points ({ci})"
        )


def confidence_label(confidence: float) -> str:
    return f"{confidence * 100:g} % CI"


def format_p(p: float) -> str:
    """`p = 0.012`, two significant digits; `p < 0.001` below that."""
    value = _p_text(p)
    return f"p {value}" if value.startswith("<") else f"p = {value}"


def _p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def _points(fraction: float) -> str:
    # round before adding 0.0 so that -0.04 points prints as 0.0, not -0.0
    return f"{round(fraction * 100, 1) + 0.0:.1f}"


def fold_summary(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) of one number per fold. With one fold
    the sd is NaN, not 0: one fold says nothing about the spread between folds (render
    it with `format_mean_sd`, which prints "—")."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ComparisonInputError(
            f"fold_summary needs one number per fold, got shape {array.shape}"
        )
    sd = float(np.std(array, ddof=1)) if array.size > 1 else math.nan
    return float(np.mean(array)), sd


def format_mean_sd(mean: float, sd: float, digits: int = 4) -> str:
    """`0.7312 ± 0.0123`; `0.7312 ± —` when the sd is undefined (one fold)."""
    spread = NO_SD if math.isnan(sd) else f"{sd:.{digits}f}"
    return f"{mean:.{digits}f} ± {spread}"


def _folds(correct: Sequence[np.ndarray], run: str) -> list[np.ndarray]:
    """The run's folds as 1-D boolean arrays; ComparisonInputError naming the run and
    fold otherwise."""
    if isinstance(correct, np.ndarray) and correct.ndim == 1:
        raise ComparisonInputError(
            f"{run}: pass a sequence of folds (one array of per-record correctness each), "
            "not a single array; wrap it as [array] for one fold"
        )
    if len(correct) == 0:
        raise ComparisonInputError(f"{run}: no folds; pass one array per fold")
    out = []
    for index, fold in enumerate(correct):
        array = np.asarray(fold)
        if array.ndim != 1 or array.size == 0:
            raise ComparisonInputError(
                f"{run}, fold {index} (counting from 0): expected a non-empty 1-D array of "
                f"per-record correctness, got shape {array.shape}"
            )
        if array.dtype != bool:
            if not np.isin(array, (0, 1)).all():
                bad = array[~np.isin(array, (0, 1))][:3].tolist()
                raise ComparisonInputError(
                    f"{run}, fold {index} (counting from 0): correctness must be True/False "
                    f"or 1/0, found {bad}"
                )
            array = array.astype(bool)
        out.append(array)
    return out


def _paired_folds(
    correct_a: Sequence[np.ndarray], correct_b: Sequence[np.ndarray], names: tuple[str, str]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Both runs' folds, checked to pair up record for record."""
    name_a, name_b = names
    folds_a, folds_b = _folds(correct_a, name_a), _folds(correct_b, name_b)
    if len(folds_a) != len(folds_b):
        raise ComparisonInputError(
            f"{name_a} has {len(folds_a)} folds but {name_b} has {len(folds_b)}; compare "
            "runs cross-validated on the same folds"
        )
    for index, (a, b) in enumerate(zip(folds_a, folds_b, strict=True)):
        if a.size != b.size:
            raise ComparisonInputError(
                f"fold {index} (counting from 0): {name_a} has {a.size} test records but "
                f"{name_b} has {b.size}; a paired comparison needs both runs scored on the "
                "same records in the same order"
            )
    return folds_a, folds_b


def mcnemar_exact(
    correct_a: Sequence[np.ndarray],
    correct_b: Sequence[np.ndarray],
    *,
    names: tuple[str, str] = ("A", "B"),
) -> McNemarResult:
    """Exact (binomial) McNemar test of A against B, on the records of all folds.

    b = records A got right and B wrong, c = the reverse. If A and B were equally
    accurate each discordant record would go either way with probability 1/2, so the
    two-sided p-value is that of b successes in b + c fair coin flips; 1.0 when the runs
    never disagree. `names` only label error messages.
    """
    folds_a, folds_b = _paired_folds(correct_a, correct_b, names)
    a, b = np.concatenate(folds_a), np.concatenate(folds_b)
    only_a = int(np.count_nonzero(a & ~b))
    only_b = int(np.count_nonzero(~a & b))
    if only_a + only_b == 0:
        return McNemarResult(b=0, c=0, p_value=1.0)
    p_value = float(scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    return McNemarResult(b=only_a, c=only_b, p_value=p_value)


def _check_bootstrap_args(n_resamples: int, confidence: float, seed: int) -> None:
    if n_resamples < 1:
        raise ComparisonInputError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ComparisonInputError(f"confidence must be between 0 and 1, got {confidence}")
    if seed < 0:
        raise ComparisonInputError(f"seed must be a non-negative integer, got {seed}")


def paired_bootstrap_ci(
    correct_a: Sequence[np.ndarray],
    correct_b: Sequence[np.ndarray],
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    names: tuple[str, str] = ("A", "B"),
) -> PairedInterval:
    """Accuracy of A minus accuracy of B over all folds' records, with a percentile
    bootstrap interval; and each fold's difference with its own interval.

    Each element of `correct_a` / `correct_b` is one fold's per-record correctness, A's
    and B's on the same records in the same order. Records are resampled with
    replacement, the same draw for A and B (paired: the record-to-record variation both
    runs share cancels), within each fold (stratified: every resample keeps the folds'
    sizes, so the gap between folds, which the fixed fold assignment decides and record
    sampling does not, is not counted as noise).

    Both are `scipy.stats.bootstrap` with `method="percentile"`. A fold on its own is
    the two-sample `paired=True` case. Pooled, each fold's per-record difference
    (A − B: +1, 0 or −1) is one sample: scipy resamples separate samples independently,
    which is exactly resampling within each fold, and resampling the difference keeps
    A and B paired. Percentile rather than BCa: BCa is undefined (NaN) when every
    record agrees, a case a comparison of similar models does meet, while a percentile
    interval is then exactly [0, 0].

    Every fold needs at least 2 records. Same seed and inputs, same interval. Cost:
    n_resamples × records per interval (about 6 s for 10,000 resamples of 95,000
    records on one core), once pooled and once over the folds.
    """
    _check_bootstrap_args(n_resamples, confidence, seed)
    folds_a, folds_b = _paired_folds(correct_a, correct_b, names)
    for index, fold in enumerate(folds_a):
        if fold.size < 2:
            raise ComparisonInputError(
                f"fold {index} (counting from 0) of {names[0]} / {names[1]} has "
                f"{fold.size} test record; a bootstrap needs at least 2"
            )
    n_records = sum(fold.size for fold in folds_a)
    # int8: the differences are -1, 0 or +1, and the resampled copies are the memory cost
    differences = [
        a.astype(np.int8) - b.astype(np.int8) for a, b in zip(folds_a, folds_b, strict=True)
    ]

    def pooled(*folds: np.ndarray, axis: int = -1) -> np.ndarray:
        return sum(fold.sum(axis=axis, dtype=np.int64) for fold in folds) / n_records

    def fold_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return a.mean(axis=axis) - b.mean(axis=axis)

    def interval(data, statistic, paired: bool, size: int, stream: int) -> tuple[float, float]:
        result = scipy_stats.bootstrap(
            data,
            statistic,
            n_resamples=n_resamples,
            batch=max(1, _BATCH_RECORDS // size),
            vectorized=True,
            paired=paired,
            confidence_level=confidence,
            method="percentile",
            # a stream per interval, so a fold's interval does not depend on how many
            # folds come before it or on the pooled interval drawn first
            rng=np.random.default_rng([seed, stream]),
        )
        return float(result.confidence_interval.low), float(result.confidence_interval.high)

    low, high = interval(differences, pooled, False, n_records, 0)
    folds = []
    for index, (a, b) in enumerate(zip(folds_a, folds_b, strict=True)):
        fold_low, fold_high = interval((a, b), fold_difference, True, a.size, index + 1)
        folds.append(
            FoldDifference(
                fold=index,
                n_records=int(a.size),
                difference=float(a.mean() - b.mean()),
                ci_low=fold_low,
                ci_high=fold_high,
            )
        )
    return PairedInterval(
        difference=float(sum(int(d.sum()) for d in differences) / n_records),
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
        n_records=n_records,
        folds=folds,
    )


def _checked_runs(correct: Mapping[str, Sequence[np.ndarray]]) -> dict[str, list[np.ndarray]]:
    """Every run's folds, checked to pair with the first run's fold for fold."""
    if not correct:
        raise ComparisonInputError("no runs to compare")
    runs = {str(run): _folds(folds, str(run)) for run, folds in correct.items()}
    first, *others = runs
    for other in others:
        _paired_folds(runs[first], runs[other], (first, other))
    return runs


def _summary(run: str, folds: list[np.ndarray]) -> RunSummary:
    accuracies = [float(fold.mean()) for fold in folds]
    mean, sd = fold_summary(accuracies)
    n_records = sum(fold.size for fold in folds)
    return RunSummary(
        run=run,
        fold_accuracies=accuracies,
        mean=mean,
        sd=sd,
        accuracy=sum(int(fold.sum()) for fold in folds) / n_records,
        n_records=n_records,
    )


def _ordered(summaries: list[RunSummary]) -> list[RunSummary]:
    # pooled accuracy, the quantity the differences are taken on: ordering by the mean
    # of fold accuracies could, with unequal folds, put a negative difference first
    return sorted(summaries, key=lambda s: (-s.accuracy, s.run))


def run_summaries(correct: Mapping[str, Sequence[np.ndarray]]) -> list[RunSummary]:
    """Each run's accuracy per fold, mean ± sd over folds and pooled accuracy, sorted by
    pooled accuracy (best first), then name."""
    runs = _checked_runs(correct)
    return _ordered([_summary(run, folds) for run, folds in runs.items()])


def pairwise_comparisons(
    correct: Mapping[str, Sequence[np.ndarray]],
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[PairComparison]:
    """Every unordered pair of runs, compared: `correct` maps each run to its per-fold
    per-record correctness (see `paired_bootstrap_ci`).

    Runs are ordered by pooled accuracy (best first), then name; pairs follow that order
    ((1st, 2nd), (1st, 3rd), ..., (2nd, 3rd), ...), the better run as A. Every pair uses
    the same seed, so pairs are resampled with the same record draws.

    Seven runs make 21 pairs, so at 95 % about one pair may look distinguishable by
    chance alone even if all runs were equally accurate; read a single marginal pair
    with that in mind.
    """
    _check_bootstrap_args(n_resamples, confidence, seed)
    runs = _checked_runs(correct)
    ordered = _ordered([_summary(run, folds) for run, folds in runs.items()])
    pairs = []
    for first, second in combinations(ordered, 2):
        names = (first.run, second.run)
        folds_a, folds_b = runs[first.run], runs[second.run]
        interval = paired_bootstrap_ci(
            folds_a,
            folds_b,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
            names=names,
        )
        test = mcnemar_exact(folds_a, folds_b, names=names)
        pairs.append(
            PairComparison(
                run_a=first.run,
                run_b=second.run,
                accuracy_a=first.accuracy,
                accuracy_b=second.accuracy,
                difference=interval.difference,
                ci_low=interval.ci_low,
                ci_high=interval.ci_high,
                confidence=confidence,
                folds=interval.folds,
                b=test.b,
                c=test.c,
                p_value=test.p_value,
            )
        )
    return pairs


def indistinguishable_warning(pairs: Sequence[PairComparison]) -> str | None:
    """The warning "these runs cannot be told apart on this data" when no pair's interval
    excludes 0; None when some pair is distinguishable or there is no pair."""
    if pairs and not any(pair.distinguishable for pair in pairs):
        return INDISTINGUISHABLE
    return None


def pairs_table(pairs: Sequence[PairComparison]) -> pd.DataFrame:
    """One row per pair, as display strings: pair, difference in points, interval,
    McNemar p, b / c (records only A / only B got right), per-fold differences."""
    label = confidence_label(pairs[0].confidence) if pairs else confidence_label(0.95)
    columns = [
        "pair",
        "difference (points)",
        label,
        "McNemar p",
        "b / c",
        "per-fold differences (points)",
    ]
    rows = [
        [
            f"{pair.run_a} − {pair.run_b}",
            _points(pair.difference),
            f"{_points(pair.ci_low)} to {_points(pair.ci_high)}",
            _p_text(pair.p_value),
            f"{pair.b} / {pair.c}",
            ", ".join(_points(d) for d in pair.fold_differences),
        ]
        for pair in pairs
    ]
    return pd.DataFrame(rows, columns=columns)


def pairs_markdown(pairs: Sequence[PairComparison]) -> str:
    """The pairs table as markdown, then one sentence per pair, then the warning when no
    pair can be told apart."""
    if not pairs:
        return "Only one run: nothing to compare.\n"
    align = ["left", "right", "right", "right", "right", "right"]
    lines = [
        pairs_table(pairs).to_markdown(index=False, disable_numparse=True, colalign=align),
        "",
        *(f"- {pair.sentence()}" for pair in pairs),
    ]
    warning = indistinguishable_warning(pairs)
    if warning:
        lines += ["", f"**Warning: {warning}.**"]
    return "\n".join(lines) + "\n"
