"""Adversarial weight perturbation (AWP, Wu et al. 2020) as a Keras 3 train step.

From `start_step` on, each step first takes the loss gradient g at the current weights
w, moves every weight tensor to w + λ·g/(‖g‖ + ε) (a per-tensor step of length about
λ, towards higher loss), computes the gradient there, moves the weights back and applies
that gradient at w. The model learns weights whose neighbourhood also has low loss. The
1st-place ISLR recipe used λ = 0.2 from a given epoch on.

`AWPModel` wraps an existing model for training only; the model itself is what is saved
and served, so `.keras` files never depend on this class.
"""

from __future__ import annotations

import keras
import tensorflow as tf

# Keras reports the training loss through a tracker its own `train_step` updates; a
# custom step must do the same with the loss unscaled from the per-replica share.
from keras.src.losses.loss import unscale_loss_for_distribution


class AWPModel(keras.Model):
    """Train `model` with AWP; `fit`, `evaluate` and `predict` work as usual."""

    def __init__(
        self,
        model: keras.Model,
        awp_lambda: float = 0.2,
        start_step: int = 0,
        eps: float = 1e-4,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.model = model
        self.awp_lambda = awp_lambda
        self.start_step = start_step
        self.eps = eps
        # The wrapped model (functional) is built already; so is this wrapper, which
        # BackupAndRestore requires before `fit`.
        self.built = model.built

    def call(self, inputs, training=None):
        return self.model(inputs, training=training)

    def _loss(self, x, y, sample_weight, training=True):
        y_pred = self(x, training=training)
        return y_pred, self.compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )

    def _perturbations(self, grads):
        return [
            tf.math.divide_no_nan(self.awp_lambda * g, tf.norm(g) + self.eps)
            if g is not None
            else None
            for g in grads
        ]

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            y_pred, loss = self._loss(x, y, sample_weight)
            scaled = self.optimizer.scale_loss(loss)
        self._loss_tracker.update_state(
            unscale_loss_for_distribution(loss),
            sample_weight=tf.shape(keras.tree.flatten(x)[0])[0],
        )
        grads = tape.gradient(scaled, variables)

        def adversarial():
            deltas = self._perturbations(grads)
            for var, delta in zip(variables, deltas, strict=True):
                if delta is not None:
                    var.assign_add(tf.cast(delta, var.dtype))
            with tf.GradientTape() as tape2:
                _, adv_loss = self._loss(x, y, sample_weight)
                adv_scaled = self.optimizer.scale_loss(adv_loss)
            adv_grads = tape2.gradient(adv_scaled, variables)
            for var, delta in zip(variables, deltas, strict=True):
                if delta is not None:
                    var.assign_sub(tf.cast(delta, var.dtype))
            return [
                g if g is not None else tf.zeros_like(v)
                for g, v in zip(adv_grads, variables, strict=True)
            ]

        def plain():
            return [
                g if g is not None else tf.zeros_like(v)
                for g, v in zip(grads, variables, strict=True)
            ]

        use_awp = tf.logical_and(self.awp_lambda > 0, self.optimizer.iterations >= self.start_step)
        final = tf.cond(use_awp, adversarial, plain)
        self.optimizer.apply(final, variables)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
