"""Keras 3 layers of the model zoo, each serializable so `.keras` files load with
`safe_mode=True`.

Sequences are (batch, T, channels) with a Keras mask of valid frames (padding at the
end). Convolutions are causal, so an output never depends on later frames and padding
at the end cannot leak into valid frames; pooling and attention use the mask.
"""

from __future__ import annotations

import keras
from keras import layers, ops

PACKAGE = "islr"


def _masked_mean(x, mask):
    """Mean over time of (B, T, C) using a (B, T) boolean mask (all frames if None)."""
    if mask is None:
        return ops.mean(x, axis=1)
    m = ops.cast(mask, x.dtype)[..., None]
    return ops.sum(x * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ECA(layers.Layer):
    """Efficient channel attention: a 1-D convolution across the channels of the
    (masked) time average gates each channel."""

    def __init__(self, kernel_size: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.kernel_size = kernel_size
        self.conv = layers.Conv1D(1, kernel_size, padding="same", use_bias=False)

    def build(self, input_shape):
        self.conv.build((None, input_shape[-1], 1))

    def call(self, inputs, mask=None):
        pooled = _masked_mean(inputs, mask)[..., None]  # (B, C, 1)
        gate = ops.sigmoid(self.conv(pooled))[:, None, :, 0]  # (B, 1, C)
        return inputs * gate

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package=PACKAGE)
class CausalDWConv1D(layers.Layer):
    """Depthwise 1-D convolution padded on the left only: output t sees frames <= t."""

    def __init__(self, kernel_size: int = 17, dilation_rate: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.kernel_size = kernel_size
        self.dilation_rate = dilation_rate
        self.pad = layers.ZeroPadding1D(((kernel_size - 1) * dilation_rate, 0))
        self.conv = layers.DepthwiseConv1D(
            kernel_size, dilation_rate=dilation_rate, padding="valid", use_bias=False
        )

    def build(self, input_shape):
        self.conv.build((None, None, input_shape[-1]))

    def call(self, inputs, mask=None):
        if mask is not None:  # padded frames contribute zeros, whatever they hold
            inputs = inputs * ops.cast(mask, inputs.dtype)[..., None]
        return self.conv(self.pad(inputs))

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "dilation_rate": self.dilation_rate,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class Conv1DBlock(layers.Layer):
    """Expand -> causal depthwise conv -> BatchNorm -> ECA -> project -> dropout ->
    residual (the 1st-place ISLR block)."""

    def __init__(
        self,
        dim: int = 192,
        kernel_size: int = 17,
        dilation_rate: int = 1,
        expand_ratio: int = 2,
        drop_rate: float = 0.2,
        bn_momentum: float = 0.95,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.dim, self.kernel_size, self.dilation_rate = dim, kernel_size, dilation_rate
        self.expand_ratio, self.drop_rate, self.bn_momentum = expand_ratio, drop_rate, bn_momentum
        self.expand = layers.Dense(dim * expand_ratio, activation="swish")
        self.dwconv = CausalDWConv1D(kernel_size, dilation_rate)
        self.bn = layers.BatchNormalization(momentum=bn_momentum)
        self.eca = ECA()
        self.project = layers.Dense(dim)
        self.drop = layers.Dropout(drop_rate, noise_shape=(None, 1, 1))

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels != self.dim:
            raise ValueError(f"Conv1DBlock: input has {channels} channels, dim is {self.dim}")
        self.expand.build(input_shape)
        inner = (None, None, self.dim * self.expand_ratio)
        self.dwconv.build(inner)
        self.bn.build(inner)
        self.eca.build(inner)
        self.project.build(inner)

    def call(self, inputs, training=None, mask=None):
        x = self.expand(inputs)
        x = self.dwconv(x, mask=mask)
        x = self.bn(x, training=training, mask=mask)
        x = self.eca(x, mask=mask)
        x = self.project(x)
        x = self.drop(x, training=training)
        return inputs + x

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "kernel_size": self.kernel_size,
            "dilation_rate": self.dilation_rate,
            "expand_ratio": self.expand_ratio,
            "drop_rate": self.drop_rate,
            "bn_momentum": self.bn_momentum,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class LateDropout(layers.Layer):
    """Dropout that stays off for the first `start_step` training steps, so a large
    rate (0.8 in the head) does not slow the start of training."""

    def __init__(self, rate: float, start_step: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.rate, self.start_step = rate, start_step
        self.dropout = layers.Dropout(rate)

    def build(self, input_shape):
        self.step = self.add_weight(
            name="step", shape=(), dtype="int64", initializer="zeros", trainable=False
        )

    def call(self, inputs, training=None):
        if not training:
            return inputs
        self.step.assign_add(1)
        dropped = self.dropout(inputs, training=True)
        return ops.where(self.step > self.start_step, dropped, inputs)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "start_step": self.start_step}
