"""Training curves of several runs in one figure (the seed study's Table 2): validation
loss and accuracy of every run overlaid, with the learning rate and weight decay each
run trained under, and where a diverged run stopped.

Histories are Keras `History.history` dicts as `TrainResult.history` holds them: a list
per key, one value per epoch, with the keys the trainer logs (`val_loss`,
`val_accuracy`, and `learning_rate` / `weight_decay` from its schedule logger).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

History = Mapping[str, Sequence[float]]
# per run: one history, or one per cross-validation fold
RunHistories = History | Sequence[History]

PANELS: tuple[tuple[str, str], ...] = (
    ("val_loss", "validation loss"),
    ("val_accuracy", "validation accuracy"),
    ("learning_rate", "learning rate"),
    ("weight_decay", "weight decay"),
)
DIVERGED = "diverged"
DIVERGED_MARKER = "x"


def _fold_histories(run: str, histories: RunHistories) -> list[History]:
    if isinstance(histories, Mapping):
        return [histories]
    folds = list(histories)
    if not folds or not all(isinstance(h, Mapping) for h in folds):
        raise ValueError(
            f"{run}: expected a history (dict of per-epoch lists) or a non-empty list of "
            "them, one per fold"
        )
    return folds


def _fold_flags(run: str, flag: bool | Sequence[bool] | None, n_folds: int) -> list[bool]:
    if flag is None or isinstance(flag, bool | np.bool_):
        return [bool(flag)] * n_folds
    flags = [bool(f) for f in flag]
    if len(flags) != n_folds:
        raise ValueError(f"{run}: {len(flags)} diverged flags for {n_folds} fold histories")
    return flags


def _finite_prefix(values: Sequence[float]) -> np.ndarray:
    """The values up to the first NaN/Inf: after it a run's numbers mean nothing."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(array))
    return array[: bad[0]] if bad.size else array


def _has_non_finite(history: History) -> bool:
    # every key, not only the plotted ones: a diverging epoch often shows NaN in the
    # training loss while its validation numbers are still finite
    return any(
        not np.isfinite(np.asarray(values, dtype=np.float64)).all()
        for values in history.values()
        if len(values)
    )


def _mark_diverged(axis: Axes, run: str, x: float, y: float, color, text: str) -> None:
    # the label starts with "_" so the marker stays out of the legend
    axis.plot(
        [x],
        [y],
        linestyle="none",
        marker=DIVERGED_MARKER,
        markersize=9,
        markeredgewidth=2,
        color=color,
        label=f"_{DIVERGED}:{run}",
        zorder=3,
    )
    axis.annotate(
        text,
        (x, y),
        xytext=(4, 4),
        textcoords="offset points",
        fontsize="small",
        color=color,
    )


def _plot_run(
    axis: Axes, key: str, run: str, folds: list[History], flags: list[bool], color, label: str
) -> bool:
    """One run's line in one panel (the mean over folds, with their range shaded, when
    there are several); True when it had any value for `key`."""
    series = [_finite_prefix(history.get(key, ())) for history in folds]
    if not any(s.size for s in series):
        return False
    length = max(s.size for s in series)
    grid = np.full((len(series), length), np.nan)
    for index, values in enumerate(series):
        grid[index, : values.size] = values
    reached = ~np.isnan(grid).all(axis=0)
    epochs = np.arange(1, length + 1)[reached]
    # folds that stopped early drop out of the mean from the epoch after their last,
    # so the mean may jump there: that stretch is dashed to show it averages fewer folds
    mean = np.nanmean(grid[:, reached], axis=0)
    complete = min(s.size for s in series)
    if complete == length:
        axis.plot(epochs, mean, color=color, label=label)
    else:
        if complete:
            axis.plot(epochs[:complete], mean[:complete], color=color, label=label)
        axis.plot(
            epochs[max(complete - 1, 0) :],
            mean[max(complete - 1, 0) :],
            color=color,
            linestyle="--",
            label=f"_{label}: fewer folds" if complete else label,
        )
    if len(series) > 1:
        axis.fill_between(
            epochs,
            np.nanmin(grid[:, reached], axis=0),
            np.nanmax(grid[:, reached], axis=0),
            color=color,
            alpha=0.15,
            linewidth=0,
        )
    for index, (values, flag) in enumerate(zip(series, flags, strict=True)):
        if flag and values.size:
            text = DIVERGED if len(series) == 1 else f"{DIVERGED} (fold {index})"
            _mark_diverged(axis, run, float(values.size), float(values[-1]), color, text)
    return True


def comparison_curves_figure(
    histories: Mapping[str, RunHistories],
    diverged: Mapping[str, bool | Sequence[bool]] | None = None,
    *,
    title: str = "islr: training curves of the compared runs",
) -> Figure:
    """Four panels (validation loss, validation accuracy, learning rate, weight decay
    per epoch), one line per run in each, in the same colour across panels.

    `histories` maps a run to its history, or to a list of histories, one per
    cross-validation fold: then the line is the mean over the folds that reached that
    epoch, dashed after the first fold stopped, and the shaded band their range (min to
    max).

    A run is marked diverged where `diverged` says so (one flag, or one per fold) or
    where any of its history's values is NaN/Inf: its line stops at its last finite
    value, marked with an ✕ and the word "diverged" (with the fold when there are
    several), and its legend entry says "(diverged)". Training that stopped early
    without a NaN is only visible through the flag, as the trainer's `diverged`.

    The figure is built without pyplot (no global figure list to leak from a long
    pipeline) and draws with Agg; pass it to `mlflow.log_figure` or `figure_png`.
    """
    diverged = diverged or {}
    figure = Figure(figsize=(13, 8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 2).ravel()
    colors = [f"C{i % 10}" for i in range(len(histories))]
    runs = []
    for (run, run_histories), color in zip(histories.items(), colors, strict=True):
        folds = _fold_histories(run, run_histories)
        flags = _fold_flags(run, diverged.get(run), len(folds))
        flags = [flag or _has_non_finite(h) for flag, h in zip(flags, folds, strict=True)]
        label = f"{run} ({DIVERGED})" if any(flags) else run
        runs.append((run, folds, flags, color, label))
    for axis, (key, name) in zip(axes, PANELS, strict=True):
        plotted = [_plot_run(axis, key, *run) for run in runs]
        if not any(plotted):
            axis.text(
                0.5,
                0.5,
                f"no {key} recorded" if runs else "no runs",
                transform=axis.transAxes,
                ha="center",
                va="center",
                color="grey",
            )
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    handles, labels = [], []
    for axis in axes:
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if handles:
        figure.legend(handles, labels, loc="outside right upper", fontsize="small")
    figure.suptitle(title)
    return figure


def figure_png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for a ZenML artifact, a report or an HTTP response)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
