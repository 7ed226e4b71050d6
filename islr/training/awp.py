"""Adversarial weight perturbation (AWP, Wu et al. 2020) as a Keras 3 train step.

From `start_step` on, each step first takes the loss gradient g at the current weights
w, moves every weight tensor to w + λ·g/(‖g‖ + ε) (a per-tensor step of length about
λ, towards higher loss), computes the gradient there, puts the weights back and applies
that gradient at w. The model learns weights whose neighbourhood also has low loss. The
1st-place ISLR recipe used λ = 0.2 from a given epoch on.

Three details make the step safe beyond one float32 device:

- Loss scaling (`mixed_float16`): g is the gradient of the *scaled* loss. It is unscaled
  before it is normalised, so ε weighs as it does in float32; and when any gradient is
  not finite (the scaled loss overflowed) the perturbation is skipped and that
  non-finite gradient goes to the `LossScaleOptimizer`, which skips the update and
  lowers the scale, exactly as without AWP. Otherwise λ·g/‖g‖ = inf/inf = NaN would be
  added to the weights and survive the skipped update.
- The weights are put back from a copy, not by subtracting the perturbation: in floating
  point (w + δ) − δ is not always w, and a skipped step must leave w unchanged.
- Several replicas (`MirroredStrategy`, `MultiWorkerMirroredStrategy`): the perturbation
  is computed from the all-reduced gradient, so every replica moves its copy of the
  weights by the same δ that one device would use for the whole global batch. A step
  is treated as overflowed on every replica when it overflowed on any: Keras's
  loss-scale optimizer decides from the first replica's gradients only, and would
  otherwise apply another replica's inf through the all-reduce.

`AWPModel` wraps an existing model for training only; the model itself is what is saved
and served, so `.keras` files never depend on this class.
"""

from __future__ import annotations

import keras
import tensorflow as tf

# Keras reports the training loss through a tracker its own `train_step` updates; a
# custom step must do the same with the loss unscaled from the per-replica share.
from keras.src.losses.loss import unscale_loss_for_distribution


def all_finite(tensors) -> tf.Tensor:
    """One boolean: every element of every tensor (None skipped) is finite."""
    checks = [tf.reduce_all(tf.math.is_finite(t)) for t in tensors if t is not None]
    return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)


def _replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


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

    def _perturbations(self, grads, variables):
        """δ = λ·g/(‖g‖ + ε) per tensor, from the unscaled gradient, in float32."""
        # the factor `scale_loss` multiplied the loss by (1 without loss scaling)
        scale = tf.cast(self.optimizer.scale_loss(tf.constant(1.0)), tf.float32)
        deltas = []
        for g, v in zip(grads, variables, strict=True):
            if g is None:
                deltas.append(None)
                continue
            g = tf.cast(g, tf.float32) / scale
            # divide_no_nan: a zero gradient (eps 0, as in the reference) gives no step
            delta = tf.math.divide_no_nan(self.awp_lambda * g, tf.norm(g) + self.eps)
            deltas.append(tf.cast(delta, v.dtype))
        return deltas

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
        replica = tf.distribute.get_replica_context()
        several = replica is not None and _replicas() > 1

        def dense(gs):
            pairs = zip(gs, variables, strict=True)
            return [g if g is not None else tf.zeros_like(v) for g, v in pairs]

        if self.awp_lambda > 0:
            # The gradient of the whole global batch, as one device would see it (each
            # replica's loss is already divided by the number of replicas, so the sum is
            # the global mean's gradient). Reduced here, outside the `tf.cond` below: a
            # cross-replica reduction cannot run inside a branch.
            present = [i for i, g in enumerate(grads) if g is not None]
            reduced = list(grads)
            if several and present:
                summed = replica.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in present])
                for i, g in zip(present, summed, strict=True):
                    reduced[i] = g
            use_awp = tf.logical_and(
                all_finite(reduced), self.optimizer.iterations >= self.start_step
            )

            def adversarial():
                deltas = self._perturbations(reduced, variables)
                saved = [
                    tf.identity(v.value) if d is not None else None
                    for v, d in zip(variables, deltas, strict=True)
                ]
                for var, delta in zip(variables, deltas, strict=True):
                    if delta is not None:
                        var.assign_add(delta)
                with tf.GradientTape() as tape2:
                    _, adv_loss = self._loss(x, y, sample_weight)
                    adv_scaled = self.optimizer.scale_loss(adv_loss)
                adv_grads = tape2.gradient(adv_scaled, variables)
                # exactly the weights before the perturbation
                for var, value in zip(variables, saved, strict=True):
                    if value is not None:
                        var.assign(value)
                return dense(adv_grads)

            # Before `start_step`, and on an overflowed step: the plain gradient (the
            # loss-scale optimizer skips a non-finite one and lowers its scale).
            final = tf.cond(use_awp, adversarial, lambda: dense(grads))
        else:
            final = dense(grads)
        if several:
            final = self._overflow_everywhere(final, replica)
        self.optimizer.apply(final, variables)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data):
        # Under a distribution strategy the last, partial validation batch is split over
        # the replicas in order, so a replica can get an empty batch. TensorFlow's
        # (depthwise) convolution kernels return an empty batch with the wrong number of
        # frames, which the model then fails on; an empty batch adds nothing to the
        # loss or the metrics, so it is skipped.
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        size = tf.shape(keras.tree.flatten(x)[0])[0]

        def evaluate():
            super(AWPModel, self).test_step(data)
            return tf.constant(True)

        tf.cond(size > 0, evaluate, lambda: tf.constant(False))
        return self.get_metrics_result()

    @staticmethod
    def _overflow_everywhere(grads, replica):
        """Make every replica's gradient non-finite when any replica's is, so that the
        loss-scale optimizer, which checks the first replica only, skips the step on all
        of them; without loss scaling the all-reduced update would be NaN anyway."""
        bad = tf.cast(tf.logical_not(all_finite(grads)), tf.float32)
        any_bad = replica.all_reduce(tf.distribute.ReduceOp.SUM, bad) > 0
        return [g + tf.cast(tf.where(any_bad, float("nan"), 0.0), g.dtype) for g in grads]
