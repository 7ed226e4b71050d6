"""The runs' curves in one figure: four titled panels, one line per run, the mean and
range over folds, and the ✕ where a diverged run stopped."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from islr.evaluation.curves import comparison_curves_figure, figure_png

TITLES = ["validation loss", "validation accuracy", "learning rate", "weight decay"]


def _history(val_loss, val_accuracy, lr=None, wd=None):
    n = len(val_loss)
    return {
        "loss": [v + 0.1 for v in val_loss],
        "val_loss": list(val_loss),
        "val_accuracy": list(val_accuracy),
        "learning_rate": list(lr or [1e-3] * n),
        "weight_decay": list(wd or [0.05] * n),
    }


def _run_lines(axis):
    """The lines that stand for a run (legend entries), not markers or fold stretches."""
    return [line for line in axis.get_lines() if not line.get_label().startswith("_")]


def _markers(axis):
    return [line for line in axis.get_lines() if line.get_marker() == "x"]


@pytest.fixture
def histories():
    return {
        "cnn": _history([2.0, 1.5, 1.2, 1.1], [0.3, 0.5, 0.6, 0.65]),
        "transformer": _history([2.1, 1.4, 1.0, 0.9], [0.25, 0.55, 0.7, 0.72]),
        # NaN at epoch 3, where the trainer stopped it: last finite point is epoch 2
        "linformer": _history([2.2, 1.6, math.nan], [0.2, 0.4, math.nan]),
    }


def test_four_titled_panels_one_line_per_run(histories):
    figure = comparison_curves_figure(histories)
    axes = figure.get_axes()
    assert [axis.get_title() for axis in axes] == TITLES
    for axis in axes:
        assert axis.get_xlabel() == "epoch"
        assert len(_run_lines(axis)) == 3
    val_accuracy = axes[1]
    cnn = _run_lines(val_accuracy)[0]
    assert list(cnn.get_xdata()) == [1, 2, 3, 4]
    assert list(cnn.get_ydata()) == [0.3, 0.5, 0.6, 0.65]
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["cnn", "transformer", "linformer (diverged)"]


def test_diverged_run_is_marked_at_its_last_finite_epoch(histories):
    axes = comparison_curves_figure(histories).get_axes()
    for axis, last_value in ((axes[0], 1.6), (axes[1], 0.4)):
        (marker,) = _markers(axis)
        assert list(marker.get_xdata()) == [2]
        assert list(marker.get_ydata()) == [last_value]
        assert [t.get_text() for t in axis.texts] == ["diverged"]
        # the line stops there too, nothing drawn for the NaN epoch
        linformer = _run_lines(axis)[2]
        assert list(linformer.get_xdata()) == [1, 2]
    # the learning rate was still finite at epoch 3, the epoch it stopped in
    (marker,) = _markers(axes[2])
    assert list(marker.get_xdata()) == [3]


def test_diverged_flag_marks_a_run_that_only_ended_early():
    histories = {
        "cnn": _history([2.0, 1.5, 1.2], [0.3, 0.5, 0.6]),
        "lstm": _history([2.0, 1.9], [0.3, 0.35]),
    }
    axes = comparison_curves_figure(histories, diverged={"cnn": False, "lstm": True}).get_axes()
    (marker,) = _markers(axes[1])
    assert (list(marker.get_xdata()), list(marker.get_ydata())) == ([2], [0.35])
    # without the flag and without a NaN, nothing says it diverged
    axes = comparison_curves_figure(histories).get_axes()
    assert not any(_markers(axis) for axis in axes)


def test_folds_give_a_mean_line_and_a_range():
    histories = {
        "cnn": [
            _history([2.0, 1.0], [0.2, 0.4]),
            _history([1.0, 0.6], [0.4, 0.6]),
        ],
        "lstm": _history([2.0, 1.8], [0.1, 0.2]),
    }
    figure = comparison_curves_figure(histories)
    val_accuracy = figure.get_axes()[1]
    cnn, lstm = _run_lines(val_accuracy)
    # mean of 0.2, 0.4 and of 0.4, 0.6
    assert list(cnn.get_ydata()) == pytest.approx([0.3, 0.5])
    assert list(lstm.get_ydata()) == [0.1, 0.2]
    (band,) = [c for c in val_accuracy.collections if isinstance(c, PolyCollection)]
    low, high = band.get_paths()[0].vertices[:, 1].min(), band.get_paths()[0].vertices[:, 1].max()
    assert (low, high) == pytest.approx((0.2, 0.6))


def test_a_diverged_fold_is_marked_and_drops_out_of_the_mean():
    histories = {
        "cnn": [
            _history([2.0, 1.0, 0.8], [0.2, 0.4, 0.5]),
            _history([1.0, math.nan], [0.4, math.nan]),
        ]
    }
    figure = comparison_curves_figure(histories)
    val_accuracy = figure.get_axes()[1]
    (marker,) = _markers(val_accuracy)
    assert (list(marker.get_xdata()), list(marker.get_ydata())) == ([1], [0.4])
    assert [t.get_text() for t in val_accuracy.texts] == ["diverged (fold 1)"]
    # both folds at epoch 1 (solid); from there only fold 0 (dashed)
    solid, dashed = [line for line in val_accuracy.get_lines() if line.get_marker() != "x"]
    assert list(solid.get_ydata()) == pytest.approx([0.3])
    assert list(dashed.get_xdata()) == [1, 2, 3]
    assert list(dashed.get_ydata()) == pytest.approx([0.3, 0.4, 0.5])
    assert dashed.get_linestyle() == "--"
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["cnn (diverged)"]


def test_missing_keys_and_no_runs_say_so():
    history = {"val_loss": [1.0, 0.5], "val_accuracy": [0.5, 0.6], "learning_rate": [1e-3] * 2}
    axes = comparison_curves_figure({"cnn": history}).get_axes()
    assert [t.get_text() for t in axes[3].texts] == ["no weight_decay recorded"]
    axes = comparison_curves_figure({}).get_axes()
    assert all([t.get_text() for t in axis.texts] == ["no runs"] for axis in axes)


def test_bad_inputs():
    history = _history([1.0], [0.5])
    with pytest.raises(ValueError, match="cnn: 1 diverged flags for 2 fold histories"):
        comparison_curves_figure({"cnn": [history, history]}, diverged={"cnn": [True]})
    with pytest.raises(ValueError, match="lstm: expected a history"):
        comparison_curves_figure({"lstm": []})


def test_png_bytes(histories):
    png = figure_png(comparison_curves_figure(histories, title="five folds"))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000


def test_numpy_histories_are_accepted():
    history = {key: np.asarray(values) for key, values in _history([1.0, 0.5], [0.5, 0.6]).items()}
    axes = comparison_curves_figure({"cnn": history}).get_axes()
    assert list(_run_lines(axes[0])[0].get_ydata()) == [1.0, 0.5]
