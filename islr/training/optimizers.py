"""Keras 3 optimizers of the training recipe: ``RAdam`` and the ``Lookahead`` wrapper.

Both replace ``tfa.optimizers.RectifiedAdam`` / ``tfa.optimizers.Lookahead`` (TensorFlow
Addons does not support Keras 3). Both are registered as serializable (package ``islr``).

RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond", Alg. 2),
per variable at step ``t = iterations + 1``, written as ``tfa.optimizers.RectifiedAdam``
computes it (the optimizer of the 1st-place ISLR solution)::

    m_t   = b1 m + (1 - b1) g                 v_t = b2 v + (1 - b2) g^2
    m^_t  = m_t / (1 - b1^t)                  v^_t = sqrt(v_t / (1 - b2^t))
    rho_inf = 2 / (1 - b2) - 1                rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
    if rho_t >= sma_threshold:
        r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        w  <- w - lr * r_t * m^_t / (v^_t + eps)   (rectified adaptive step)
    else:
        w  <- w - lr * m^_t                        (un-adapted momentum step)

``eps`` is added to the bias-corrected ``sqrt(v_t / (1 - b2^t))``, as tfa does (the
authors' code and ``torch.optim.RAdam`` add it before the correction). The recipe sets
``sma_threshold=4`` (the paper's value, and the reference's ``sma_threshold=4``); the class
default 5 is tfa's. With ``b2 = 0.999``, ``rho_t`` is just under ``t`` for small ``t``, so
at threshold 4 the first 4 steps are momentum steps and the rectified steps start at step 5.

Decoupled weight decay comes from the Keras base ``Optimizer`` (AdamW style), applied before
the update as ``w <- w - lr_t * wd_t * w``. ``weight_decay`` may be ``None``, a float, a
``keras.Variable`` that a callback assigns, or a ``LearningRateSchedule`` such as
:class:`islr.training.schedules.WeightDecaySchedule`, evaluated at the optimizer's step
counter (the base class only handles a constant: it casts ``weight_decay`` to a tensor). A
plain float is baked into the traced train step, so re-assigning ``optimizer.weight_decay``
after training started has no effect; use a schedule or a variable for that.

Lookahead (Zhang et al. 2019, "Lookahead Optimizer: k steps forward, 1 step back"): the inner
optimizer updates the fast weights every step; every ``sync_period`` steps
``slow <- slow + slow_step_size * (fast - slow)`` and ``fast <- slow``. The slow weights start
at the weights before the first update. ``learning_rate`` reads and sets the inner
optimizer's learning rate, so callbacks and logging see the rate that is used. Tested with the
TensorFlow backend on a single replica.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

__all__ = ["Lookahead", "RAdam"]


def _is_schedule(value: Any) -> bool:
    return isinstance(value, keras.optimizers.schedules.LearningRateSchedule)


@keras.saving.register_keras_serializable(package="islr")
class RAdam(keras.optimizers.Optimizer):
    """Rectified Adam with optional decoupled weight decay (see the module docstring).

    Args:
        learning_rate: float, ``LearningRateSchedule`` or callable, as for any Keras optimizer.
        beta_1, beta_2, epsilon: the Adam constants.
        sma_threshold: rectify when ``rho_t >= sma_threshold`` (paper and recipe: 4; tfa: 5).
        weight_decay: ``None``, float, ``keras.Variable`` or ``LearningRateSchedule`` of the
            step; applied decoupled as ``w <- w - lr * wd * w``.
        **kwargs: the base ``keras.optimizers.Optimizer`` arguments (clipnorm, use_ema, ...).
    """

    def __init__(
        self,
        learning_rate: Any = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        sma_threshold: float = 5.0,
        weight_decay: Any = None,
        name: str = "radam",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay, name=name, **kwargs
        )
        if not 0.0 <= beta_1 < 1.0 or not 0.0 < beta_2 < 1.0:
            raise ValueError(f"need 0 <= beta_1 < 1 and 0 < beta_2 < 1, got {beta_1}, {beta_2}")
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.sma_threshold = float(sma_threshold)

    # The base class reads ``self.weight_decay`` and casts it to a tensor; a schedule is
    # evaluated here at the current step so that the base code applies it unchanged.
    @property
    def weight_decay(self):
        wd = self._wd
        if _is_schedule(wd):
            return wd(self._iterations)
        return wd

    @weight_decay.setter
    def weight_decay(self, value) -> None:
        # Bypass variable tracking: a user variable must not become optimizer state.
        object.__setattr__(self, "_wd", value)

    def build(self, var_list) -> None:
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )

    def update_step(self, gradient, variable, learning_rate) -> None:
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        beta_1_power = ops.power(beta_1, t)
        beta_2_power = ops.power(beta_2, t)

        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1.0 - beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1.0 - beta_2))

        m_hat = m / (1.0 - beta_1_power)
        rho_inf = 2.0 / (1.0 - beta_2) - 1.0
        rho_t = rho_inf - 2.0 * t * beta_2_power / (1.0 - beta_2_power)
        # Clamped so the branch that is not taken cannot produce NaN.
        r_sq = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf) / (
            (rho_inf - 4.0) * (rho_inf - 2.0) * rho_t
        )
        r_t = ops.sqrt(ops.maximum(r_sq, 0.0))
        v_hat = ops.sqrt(v / (1.0 - beta_2_power))
        step = ops.where(rho_t >= self.sma_threshold, r_t * m_hat / (v_hat + self.epsilon), m_hat)
        self.assign_sub(variable, lr * step)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        wd = self._wd
        if _is_schedule(wd):
            wd = keras.saving.serialize_keras_object(wd)
        elif isinstance(wd, keras.Variable):
            wd = float(ops.convert_to_numpy(wd))
        config.update(
            {
                "weight_decay": wd,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "sma_threshold": self.sma_threshold,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects=None):
        config = dict(config)
        if isinstance(config.get("weight_decay"), dict):
            config["weight_decay"] = keras.saving.deserialize_keras_object(
                config["weight_decay"], custom_objects=custom_objects
            )
        return super().from_config(config, custom_objects=custom_objects)


@keras.saving.register_keras_serializable(package="islr")
class Lookahead(keras.optimizers.Optimizer):
    """Lookahead wrapper around any Keras 3 optimizer (see the module docstring).

    Args:
        optimizer: the inner optimizer (instance, serialized dict or Keras name).
        sync_period: ``k``, the number of inner steps between synchronisations (tfa: 5).
        slow_step_size: ``alpha``, how far the slow weights move toward the fast (tfa: 0.5).

    Gradient clipping, weight decay, EMA and loss scaling belong on the inner optimizer.
    """

    def __init__(
        self,
        optimizer: Any,
        sync_period: int = 5,
        slow_step_size: float = 0.5,
        name: str = "lookahead",
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise ValueError(
                f"Lookahead takes no base-optimizer arguments, got {sorted(kwargs)}; "
                "set clipping, weight decay or EMA on the inner optimizer"
            )
        if isinstance(optimizer, (dict, str)):
            optimizer = keras.optimizers.get(optimizer)
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(
                f"optimizer must be a keras.optimizers.Optimizer, got {type(optimizer).__name__}"
            )
        if int(sync_period) < 1:
            raise ValueError(f"sync_period must be >= 1, got {sync_period}")
        if not 0.0 <= float(slow_step_size) <= 1.0:
            raise ValueError(f"slow_step_size must be in [0, 1], got {slow_step_size}")
        # A callable learning rate creates no variable of its own; the property below
        # delegates to the inner optimizer.
        super().__init__(learning_rate=lambda: self.inner.learning_rate, name=name)
        self.inner = optimizer
        self.sync_period = int(sync_period)
        self.slow_step_size = float(slow_step_size)

    @property
    def learning_rate(self):
        return self.inner.learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self.inner.learning_rate = value

    @property
    def variables(self):
        """All optimizer state: the inner optimizer's variables, then the slow weights."""
        return self.inner.variables + self._variables[:]

    # ``.keras`` saving walks attributes and stores ``self.inner`` under ``optimizer/inner``;
    # only the Lookahead's own state (iteration counter, slow weights) is stored here.
    def save_own_variables(self, store) -> None:
        for i, variable in enumerate(self._variables):
            store[str(i)] = ops.convert_to_numpy(variable)

    def load_own_variables(self, store) -> None:
        if len(store.keys()) != len(self._variables):
            raise ValueError(
                f"Lookahead '{self.name}' has {len(self._variables)} variables but the saved "
                f"state has {len(store.keys())}; was it saved with another model?"
            )
        for i, variable in enumerate(self._variables):
            variable.assign(store[str(i)])

    def build(self, var_list) -> None:
        if self.built:
            return
        self.inner.build(var_list)
        super().build(var_list)
        self._slow_weights = self.add_optimizer_variables(var_list, "slow")
        for slow, var in zip(self._slow_weights, var_list, strict=True):
            slow.assign(var)

    def apply(self, grads, trainable_variables=None) -> None:
        if trainable_variables is None:
            if not self.built:
                raise ValueError("Lookahead is not built: pass trainable_variables or build()")
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                with keras.name_scope(self.name, caller=self):
                    self.build(trainable_variables)
                self.built = True
        grads = list(grads)
        if not grads:
            return
        # The slow weights start where training starts (robust to weights loaded after
        # the optimizer was built).
        first = ops.equal(self._iterations, 0)
        for var in trainable_variables:
            slow = self._slow_weights[self._get_variable_index(var)]
            slow.assign(ops.where(first, var, slow))

        self.inner.apply(grads, trainable_variables)

        sync = ops.equal((self._iterations + 1) % self.sync_period, 0)
        for var in trainable_variables:
            slow = self._slow_weights[self._get_variable_index(var)]
            new_slow = slow + self.slow_step_size * (var - slow)
            slow.assign(ops.where(sync, new_slow, slow))
            var.assign(ops.where(sync, new_slow, var))
        self._iterations.assign_add(1)

    def finalize_variable_values(self, var_list) -> None:
        self.inner.finalize_variable_values(var_list)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "optimizer": keras.optimizers.serialize(self.inner),
            "sync_period": self.sync_period,
            "slow_step_size": self.slow_step_size,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects=None):
        config = dict(config)
        config["optimizer"] = keras.optimizers.deserialize(
            config["optimizer"], custom_objects=custom_objects
        )
        return cls(**config)
