"""The study's recipe, pinned by numbers worked out by hand from the study's formulas and
the 1st-place reference (docs/recipe.md): preprocessing of a few-frame recording, the
learning rate and weight decay at chosen steps, LateDropout's start under AWP, the exact
parameter count of each of the seven runs at full scale, and impossible run files."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from islr.errors import ConfigError
from islr.models.layers import LateDropout
from islr.models.preprocessing import Preprocess
from islr.models.zoo import build_model
from islr.training.config import RunConfig, load_run_config
from islr.training.trainer import compile_trainer

REPO = Path(__file__).resolve().parents[2]
FULL = REPO / "configs" / "scales" / "full.yaml"
RUNS = sorted((REPO / "configs" / "runs").glob("*.yaml"))


# --- preprocessing (study §2.4) ---------------------------------------------------------


def test_preprocessing_of_a_four_frame_recording_by_hand():
    """Landmarks 17 (the centre) and 61; frame 2 has neither (only a pose point), so it
    is dropped and frame 3 moves up.

    centre c = mean of row 17 = (0.5, 0.5). Row 61 at (0.7, 0.6), (0.4, 0.7), (0.4, 0.4)
    deviates from c by x: 0.2, -0.1, -0.1 and y: 0.1, 0.2, -0.1; with row 17's zeros that
    is 6 values per axis, mean square 0.06 / 6 = 0.01, so s = (0.1, 0.1).
    Positions of 61: (2, 1), (-1, 2), (-1, -1); of 17: (0, 0).
    Velocity Δx_t = x_{t+1} - x_t: (-3, 1), (0, -3), 0 (no next frame).
    Acceleration Δ²x_t = Δx_{t+1} - Δx_t: (3, -4), then 0, 0.
    """
    rec = np.full((4, 543, 3), np.nan, np.float32)
    rec[[0, 1, 3], 17] = [0.5, 0.5, 0.0]
    rec[0, 61], rec[1, 61], rec[3, 61] = [0.7, 0.6, 0.0], [0.4, 0.7, 0.0], [0.4, 0.4, 0.0]
    rec[2, 500] = [0.3, 0.3, 0.0]  # a pose point: not a selected landmark
    layer = Preprocess(landmarks=[17, 61], max_len=384, center_index=17)
    out = layer(rec[None])
    # per frame: positions (17x, 17y, 61x, 61y), velocities, accelerations
    expected = [
        [0, 0, 2, 1, 0, 0, -3, 1, 0, 0, 3, -4],
        [0, 0, -1, 2, 0, 0, 0, -3, 0, 0, 0, 0],
        [0, 0, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0],
        [0] * 12,
    ]
    np.testing.assert_allclose(out.numpy()[0], expected, atol=1e-5)
    np.testing.assert_array_equal(out._keras_mask.numpy()[0], [True, True, True, False])


# --- optimisation (study §4.1, reference CFG) -------------------------------------------


@pytest.fixture(scope="module")
def full_cnn() -> RunConfig:
    return load_run_config(REPO / "configs" / "runs" / "cnn.yaml", FULL)


def test_learning_rate_and_weight_decay_at_chosen_steps(full_cnn):
    """Batch 512 = 64 x 8: peak lr 5e-4 x 512 / 64 = 4e-3. 100 steps per epoch x 120
    epochs = 12,000 steps, warm-up 10 % = 1,200 steps from 0. Weight decay is 0.1 x lr."""
    _, _, radam = compile_trainer(full_cnn, steps_per_epoch=100, global_batch=512)
    expected_lr = {
        0: 0.0,
        600: 4e-3 * 600 / 1200,
        1200: 4e-3,
        # half-way through the cosine: (6600 - 1200) / (12000 - 1200) = 0.5
        6600: 1e-6 + (4e-3 - 1e-6) * 0.5,
        # a quarter of the way: cos(pi / 4)
        3900: 1e-6 + (4e-3 - 1e-6) * (1 + np.cos(np.pi / 4)) / 2,
        12000: 1e-6,
    }
    for step, lr in expected_lr.items():
        radam.iterations.assign(step)
        got_lr = float(keras.ops.convert_to_numpy(radam.learning_rate))
        got_wd = float(keras.ops.convert_to_numpy(radam.weight_decay))
        assert got_lr == pytest.approx(lr, rel=1e-5, abs=1e-12), step
        assert got_wd == pytest.approx(0.1 * lr, rel=1e-5, abs=1e-12), step
    assert radam.sma_threshold == 4.0


def test_weight_decay_enters_the_update_multiplied_by_the_learning_rate(full_cnn):
    """With a zero gradient RAdam's step is zero, so one update at step 1,200 only decays:
    w <- w - lr * wd * w = w (1 - 4e-3 * 4e-4) = w (1 - 1.6e-6), as tfa's RectifiedAdam
    (var -= lr * (update + wd * var))."""
    _, _, radam = compile_trainer(full_cnn, steps_per_epoch=100, global_batch=512)
    w = keras.Variable(np.full((3,), 1000.0), dtype="float64")
    radam.build([w])
    radam.iterations.assign(1200)
    radam.apply([keras.ops.zeros((3,), dtype="float64")], [w])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(w), 1000.0 * (1 - 1.6e-6), rtol=1e-12)


def test_lr_follows_the_global_batch(full_cnn):
    """One GPU at 64 per replica: the reference's 5e-4 (5e-4 x replicas)."""
    _, _, radam = compile_trainer(full_cnn, steps_per_epoch=10, global_batch=64)
    radam.iterations.assign(120)  # end of the 10 % warm-up of 1,200 steps
    assert float(keras.ops.convert_to_numpy(radam.learning_rate)) == pytest.approx(5e-4)


def test_late_dropout_starts_after_optimizer_steps_not_forward_passes():
    """AWP from step 0 makes two forward passes a step. LateDropout set to start after
    4 steps stays off after 3 steps (6 forward passes) and is on after the 4th."""
    config = RunConfig.model_validate(
        {
            "name": "late",
            "model": {"dim": 8, "max_len": 8, "conv_blocks": 1, "stages": 1},
            "train": {"epochs": 10, "awp_start_epoch": 0, "late_dropout_start_epoch": 2},
            "augmentation": False,
        }
    )
    model, trainer, _ = compile_trainer(config, steps_per_epoch=2, global_batch=4)
    late = next(lay for lay in model._flatten_layers() if isinstance(lay, LateDropout))
    assert late.start_step == 4
    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 0.7, (4, 6, 543, 3)).astype("float32")
    y = keras.utils.to_categorical([0, 1, 2, 3], 250)
    probe = np.ones((64, 16), "float32")
    trainer.fit(x, y, batch_size=4, epochs=3, verbose=0)  # 3 steps
    assert int(trainer.optimizer.iterations.numpy()) == 3
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(late(probe, training=True)), probe)
    trainer.fit(x, y, batch_size=4, epochs=1, verbose=0)  # the 4th step
    dropped = keras.ops.convert_to_numpy(late(probe, training=True))
    assert (dropped == 0).mean() > 0.5  # rate 0.8


# --- architecture (study §3.5) -----------------------------------------------------------

D, K, F, C, T_MAX, LIN_K = 192, 17, 118 * 6, 250, 384, 128
STEM = F * D + 4 * D  # bias-free Dense + BatchNorm (gamma, beta, mean, variance)
# expand Dense(2D)+bias, depthwise kernel K x 2D, BatchNorm(2D), ECA Conv1D(k=5, no bias),
# project Dense(D)+bias
CONV = (D * 2 * D + 2 * D) + K * 2 * D + 4 * 2 * D + 5 + (2 * D * D + D)
# BatchNorm, bias-free qkv (3 D^2) and projection (D^2), BatchNorm, bias-free
# feed-forward D -> 4D -> D
TRANSFORMER = 4 * D + 3 * D * D + D * D + 4 * D + 2 * 4 * D * D
# the same with Linformer's two (max_len x k) projections and an output Dense with bias
LINFORMER = 4 * D + 3 * D * D + 2 * T_MAX * LIN_K + (D * D + D) + 4 * D + 2 * 4 * D * D
# BatchNorm, two directions of 192 units, projection 2 x 192 -> D with bias
LSTM = 4 * D + 2 * 4 * (D * 192 + 192 * 192 + 192) + (2 * 192 * D + D)
GRU = 4 * D + 2 * 3 * (D * 192 + 192 * 192 + 2 * 192) + (2 * 192 * D + D)  # reset_after
# Dense(2D)+bias per frame, LateDropout's step counter, Dense(250)+bias
HEAD = (D * 2 * D + 2 * D) + 1 + (2 * D * C + C)

FULL_SCALE_PARAMETERS = {
    "cnn": STEM + 6 * CONV + HEAD,
    "transformer": STEM + 2 * TRANSFORMER + HEAD,
    "cnn_transformer": STEM + 6 * CONV + 2 * TRANSFORMER + HEAD,
    "cnn_transformer_noaug": STEM + 6 * CONV + 2 * TRANSFORMER + HEAD,
    "cnn_bilstm": STEM + 6 * CONV + 2 * LSTM + HEAD,
    "cnn_bigru": STEM + 6 * CONV + 2 * GRU + HEAD,
    "cnn_linformer": STEM + 6 * CONV + 2 * LINFORMER + HEAD,
}


def test_the_seven_runs_are_the_configured_ones():
    assert sorted(p.stem for p in RUNS) == sorted(FULL_SCALE_PARAMETERS)


@pytest.mark.parametrize("run", sorted(FULL_SCALE_PARAMETERS))
def test_full_scale_parameter_count(run):
    config = load_run_config(REPO / "configs" / "runs" / f"{run}.yaml", FULL)
    assert build_model(config.model).count_params() == FULL_SCALE_PARAMETERS[run]


def test_reference_model_has_its_logged_parameter_count():
    """The 1st-place model (feed-forward x2) logged 1,836,569 parameters."""
    config = load_run_config(REPO / "configs" / "runs" / "cnn_transformer.yaml", FULL)
    model_cfg = config.model.model_copy(update={"ffn_expand": 2})
    assert build_model(model_cfg).count_params() == 1_836_569


# --- impossible run files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ("model: {architecture: cnn_transformer, num_heads: 5}", "num_heads", "must divide dim"),
        ("model: {architecture: transformer, dim: 100, num_heads: 8}", "num_heads", "dim (100)"),
        ("model: {architecture: cnn_linformer, linformer_k: 500}", "linformer_k", "max_len"),
        ("model: {architecture: cnn, drop_rate: -0.1}", "drop_rate", "greater than or equal"),
        ("model: {architecture: cnn, late_dropout: 1.5}", "late_dropout", "less than"),
        ("model: {architecture: cnn, landmarks: [17, 600]}", "landmarks", "600"),
        ("model: {architecture: cnn_gru}", "architecture", "cnn_gru"),
        ("train: {lr_max: 1.0e-6, lr_min: 1.0e-3}", "lr_min", "must not exceed"),
        ("augment: {cutout_range: [0.5, 0.2]}", "cutout_range", "low <= high"),
        ("augment: {rotate_deg: -5}", "rotate_deg", "greater than or equal"),
    ],
)
def test_impossible_run_file_fails_at_load_naming_file_and_field(tmp_path, body, field, message):
    run = tmp_path / "bad_run.yaml"
    run.write_text(body + "\n")
    with pytest.raises(ConfigError) as caught:
        load_run_config(run, FULL)
    text = str(caught.value)
    assert str(run) in text and field in text and message in text
