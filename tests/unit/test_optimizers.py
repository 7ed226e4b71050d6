"""RAdam and Lookahead against hand-written NumPy references; the one-cycle schedules."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from islr.training.optimizers import Lookahead, RAdam  # noqa: E402
from islr.training.schedules import OneCycle, WeightDecaySchedule, one_cycle  # noqa: E402

W0 = np.array([[0.5, -1.0, 2.0], [1.5, -0.25, 0.75]], dtype=np.float64)


def _grad(w: np.ndarray, step: int) -> np.ndarray:
    """A deterministic gradient that depends on the weights and changes sign over time."""
    return 2.0 * w + 0.3 * np.sin(np.arange(w.size).reshape(w.shape) + step)


def radam_reference(w, lr, steps, b1=0.9, b2=0.999, eps=1e-7, threshold=5.0, wd=0.0):
    """The published RAdam update (Liu et al. 2020, Alg. 2) in float64, plus decoupled decay,
    with eps after the bias correction and the threshold test `>=`, as tfa's
    RectifiedAdam (the 1st-place solution's optimizer) computes it.

    Returns the weights after every step and, per step, whether it was rectified.
    """
    w = np.array(w, dtype=np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    history, rectified = [], []
    for t in range(1, steps + 1):
        g = _grad(w, t - 1)
        lr_t = lr(t - 1) if callable(lr) else lr
        wd_t = wd(t - 1) if callable(wd) else wd
        w = w - lr_t * wd_t * w  # decoupled: the decay never enters m or v
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho_t >= threshold:
            r_t = np.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            v_hat = np.sqrt(v / (1 - b2**t))
            w = w - lr_t * r_t * m_hat / (v_hat + eps)
            rectified.append(True)
        else:
            w = w - lr_t * m_hat
            rectified.append(False)
        history.append(w.copy())
    return history, rectified


def _run_keras(optimizer, steps: int) -> list[np.ndarray]:
    var = keras.Variable(W0.astype("float32"))
    history = []
    for step in range(steps):
        g = _grad(np.asarray(var.numpy(), dtype=np.float64), step).astype("float32")
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
        history.append(np.asarray(var.numpy(), dtype=np.float64))
    return history


def test_radam_matches_reference_in_both_branches():
    ref, rectified = radam_reference(W0, lr=0.01, steps=10)
    assert not all(rectified) and any(rectified)  # both branches exercised
    assert rectified == [False] * 5 + [True] * 5
    got = _run_keras(RAdam(learning_rate=0.01), steps=10)
    for t, (a, b) in enumerate(zip(got, ref, strict=True), start=1):
        np.testing.assert_allclose(a, b, rtol=1e-5, err_msg=f"step {t}")


def test_radam_threshold_is_a_parameter():
    ref4, rect4 = radam_reference(W0, lr=0.01, steps=10, threshold=4.0)
    # rho_t = 1999 - 2 t 0.999^t / (1 - 0.999^t): 3.9975 at t = 4, 4.9960 at t = 5
    assert rect4 == [False] * 4 + [True] * 6
    got = _run_keras(RAdam(learning_rate=0.01, sma_threshold=4.0), steps=10)
    np.testing.assert_allclose(got[-1], ref4[-1], rtol=1e-5)


def test_radam_weight_decay_is_decoupled():
    ref, _ = radam_reference(W0, lr=0.01, steps=10, wd=0.5)
    plain, _ = radam_reference(W0, lr=0.01, steps=10)
    got = _run_keras(RAdam(learning_rate=0.01, weight_decay=0.5), steps=10)
    np.testing.assert_allclose(got[-1], ref[-1], rtol=1e-5)
    assert np.abs(ref[-1] - plain[-1]).max() > 1e-3  # the decay actually does something


def test_radam_weight_decay_follows_a_schedule():
    lr = OneCycle(lr_max=0.02, total_steps=10, warmup_steps=3, lr_min=1e-3)
    wd = WeightDecaySchedule(wd_max=2.0, lr_schedule=lr)
    ref, _ = radam_reference(W0, lr=lr.numpy, steps=10, wd=wd.numpy)
    got = _run_keras(RAdam(learning_rate=lr, weight_decay=wd), steps=10)
    np.testing.assert_allclose(got[-1], ref[-1], rtol=1e-5)
    config = RAdam(learning_rate=lr, weight_decay=wd).get_config()
    again = RAdam.from_config(config)
    assert isinstance(again._wd, WeightDecaySchedule)
    assert again.get_config() == config


def test_radam_weight_decay_can_be_a_variable_the_training_loop_assigns():
    wd = keras.Variable(0.5, trainable=False)
    opt = RAdam(learning_rate=0.01, weight_decay=wd)
    ref, _ = radam_reference(W0, lr=0.01, steps=10, wd=0.5)
    np.testing.assert_allclose(_run_keras(opt, steps=10)[-1], ref[-1], rtol=1e-5)
    assert opt.get_config()["weight_decay"] == 0.5
    assert all(v is not wd for v in opt.variables)  # not saved as optimizer state


def test_lookahead_interpolates_slow_and_fast_weights_every_k_steps():
    k, alpha, lr = 3, 0.5, 0.1
    opt = Lookahead(keras.optimizers.SGD(learning_rate=lr), sync_period=k, slow_step_size=alpha)
    got = _run_keras(opt, steps=2 * k)
    fast = W0.copy()
    slow = W0.copy()
    for step in range(2 * k):
        fast = fast - lr * _grad(fast, step)
        if (step + 1) % k == 0:
            slow = slow + alpha * (fast - slow)
            fast = slow.copy()
            np.testing.assert_allclose(got[step], slow, rtol=1e-5)
        else:
            np.testing.assert_allclose(got[step], fast, rtol=1e-5)
    assert int(opt.iterations) == 2 * k


def test_lookahead_learning_rate_is_the_inner_one():
    opt = Lookahead(RAdam(learning_rate=0.01))
    assert float(opt.learning_rate) == pytest.approx(0.01)
    opt.learning_rate = 0.005
    assert float(opt.inner.learning_rate) == pytest.approx(0.005)
    again = Lookahead.from_config(opt.get_config())
    assert isinstance(again.inner, RAdam) and again.sync_period == 5
    assert float(again.learning_rate) == pytest.approx(0.005)


def test_one_cycle_shape():
    sched = OneCycle(lr_max=1e-3, total_steps=100, warmup_fraction=0.1, lr_min=1e-6)
    steps = np.arange(100)
    lr = np.asarray([float(sched(s)) for s in steps])
    np.testing.assert_allclose(lr, sched.numpy(steps), rtol=1e-5)
    assert sched.warmup_steps == 10
    assert np.all(np.diff(lr[:11]) > 0)  # warm-up is increasing
    assert lr[10] == pytest.approx(1e-3) and lr.max() == pytest.approx(1e-3)
    assert lr[0] == 0.0  # warm-up from zero, as the reference's OneCycleLR (lr_start=0)
    assert np.all(np.diff(lr[10:]) < 0)  # then decays along a cosine that reaches the
    # floor at step total_steps: lr_99 = 1e-6 + (1e-3 - 1e-6) (1 + cos(pi 89 / 90)) / 2
    assert lr[99] == pytest.approx(
        1e-6 + (1e-3 - 1e-6) * (1 + np.cos(np.pi * 89 / 90)) / 2, rel=1e-4
    )
    assert float(sched(100)) == pytest.approx(1e-6) and float(sched(500)) == pytest.approx(1e-6)


def test_schedules_serialize_and_weight_decay_follows_lr():
    sched = OneCycle(lr_max=2e-3, total_steps=50, warmup_steps=5, lr_min=0.0)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(sched))
    assert isinstance(again, OneCycle) and again.get_config() == sched.get_config()
    wd = WeightDecaySchedule(wd_max=0.1, lr_schedule=sched)
    wd2 = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(wd))
    steps = np.arange(50)
    np.testing.assert_allclose(wd2.numpy(steps), 0.1 * sched.numpy(steps) / 2e-3)
    np.testing.assert_allclose(float(wd2(5)), 0.1, rtol=1e-6)
    np.testing.assert_allclose(
        one_cycle(steps, lr_max=2e-3, total_steps=50, warmup_steps=5, lr_min=0.0),
        sched.numpy(steps),
    )


def test_one_cycle_rejects_impossible_warmup():
    with pytest.raises(ValueError, match="warmup_steps"):
        OneCycle(lr_max=1e-3, total_steps=10, warmup_steps=10)
    with pytest.raises(ValueError, match="warmup_fraction"):
        OneCycle(lr_max=1e-3, total_steps=10, warmup_fraction=1.5)
