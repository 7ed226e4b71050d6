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
    rate (0.8 in the head) does not slow the start of training.

    The study switches it on "after a specified number of training steps". The layer
    counts its own training calls, which equals optimizer steps only when each step makes
    one forward pass; a trainer that makes more (AWP makes two) binds the layer to its
    optimizer's step counter with `follow(iterations)`, and the layer then reads that."""

    def __init__(self, rate: float, start_step: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.rate, self.start_step = rate, start_step
        self.dropout = layers.Dropout(rate)
        self._iterations = None

    def build(self, input_shape):
        self.step = self.add_weight(
            name="step", shape=(), dtype="int64", initializer="zeros", trainable=False
        )

    def follow(self, iterations) -> None:
        """Read the step from `iterations` (an optimizer's counter: the number of steps
        already applied) instead of counting calls."""
        object.__setattr__(self, "_iterations", iterations)  # not tracked as own state

    def call(self, inputs, training=None):
        if not training:
            return inputs
        if self._iterations is None:
            self.step.assign_add(1)
            step = self.step
        else:  # the step being taken is number iterations + 1
            step = ops.cast(self._iterations, "int64") + 1
        dropped = self.dropout(inputs, training=True)
        return ops.where(step > self.start_step, dropped, inputs)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "start_step": self.start_step}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MultiHeadSelfAttention(layers.Layer):
    """Self-attention as the 1st-place solution wrote it: one bias-free Dense to queries,
    keys and values, scores scaled by dim^-0.5 (the model width, not the head width),
    softmax over valid keys, dropout on the weights, a bias-free output projection."""

    def __init__(self, dim: int = 192, num_heads: int = 4, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be a multiple of num_heads ({num_heads})")
        self.supports_masking = True
        self.dim, self.num_heads, self.dropout_rate = dim, num_heads, dropout
        self.qkv = layers.Dense(3 * dim, use_bias=False)
        self.proj = layers.Dense(dim, use_bias=False)
        self.drop = layers.Dropout(dropout)

    def build(self, input_shape):
        self.qkv.build(input_shape)
        self.proj.build((None, None, self.dim))

    def call(self, inputs, training=None, mask=None):
        h, d = self.num_heads, self.dim // self.num_heads
        batch = ops.shape(inputs)[0]
        qkv = ops.reshape(self.qkv(inputs), (batch, -1, h, 3 * d))
        q, k, v = ops.split(ops.transpose(qkv, (0, 2, 1, 3)), 3, axis=-1)  # (B, h, T, d)
        scores = ops.einsum("bhtd,bhsd->bhts", q, k) * (self.dim**-0.5)
        keep = None if mask is None else ops.cast(mask, "bool")[:, None, None, :]
        if keep is not None:  # padded keys get no weight; -3e4 fits float16 and bfloat16
            scores = ops.where(keep, scores, ops.full_like(scores, -3e4))
        weights = ops.softmax(scores, axis=-1)
        if keep is not None:  # a recording with no kept frame attends to nothing
            weights = ops.where(keep, weights, ops.zeros_like(weights))
        weights = self.drop(weights, training=training)
        x = ops.transpose(ops.einsum("bhts,bhsd->bhtd", weights, v), (0, 2, 1, 3))
        return self.proj(ops.reshape(x, (batch, -1, self.dim)))

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "num_heads": self.num_heads,
            "dropout": self.dropout_rate,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class TransformerBlock(layers.Layer):
    """BatchNorm -> multi-head self-attention -> dropout -> residual, then
    BatchNorm -> feed-forward (x`expand`, swish) -> dropout -> residual."""

    def __init__(
        self,
        dim: int = 192,
        num_heads: int = 4,
        expand: int = 4,
        attn_dropout: float = 0.2,
        drop_rate: float = 0.2,
        bn_momentum: float = 0.95,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.dim, self.num_heads, self.expand = dim, num_heads, expand
        self.attn_dropout, self.drop_rate, self.bn_momentum = attn_dropout, drop_rate, bn_momentum
        self.bn1 = layers.BatchNormalization(momentum=bn_momentum)
        self.attn = MultiHeadSelfAttention(dim, num_heads, dropout=attn_dropout)
        self.drop1 = layers.Dropout(drop_rate, noise_shape=(None, 1, 1))
        self.bn2 = layers.BatchNormalization(momentum=bn_momentum)
        # bias-free feed-forward, as in the reference
        self.ff1 = layers.Dense(dim * expand, activation="swish", use_bias=False)
        self.ff2 = layers.Dense(dim, use_bias=False)
        self.drop2 = layers.Dropout(drop_rate, noise_shape=(None, 1, 1))

    def build(self, input_shape):
        self.bn1.build(input_shape)
        self.attn.build(input_shape)
        self.bn2.build(input_shape)
        self.ff1.build(input_shape)
        self.ff2.build((None, None, self.dim * self.expand))

    def call(self, inputs, training=None, mask=None):
        x = self.bn1(inputs, training=training, mask=mask)
        x = self.attn(x, training=training, mask=mask)
        x = inputs + self.drop1(x, training=training)
        y = self.bn2(x, training=training, mask=mask)
        y = self.ff2(self.ff1(y))
        return x + self.drop2(y, training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "num_heads": self.num_heads,
            "expand": self.expand,
            "attn_dropout": self.attn_dropout,
            "drop_rate": self.drop_rate,
            "bn_momentum": self.bn_momentum,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class LinformerAttention(layers.Layer):
    """Self-attention whose keys and values are projected along time to `k` positions
    (Wang et al. 2020), so cost grows linearly with T. The projection has `max_len`
    rows; a sequence of T frames uses the first T. Padded frames are zeroed before the
    projection, so they contribute nothing."""

    def __init__(
        self,
        dim: int = 192,
        num_heads: int = 4,
        k: int = 128,
        max_len: int = 384,
        dropout: float = 0.2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.dim, self.num_heads, self.k, self.max_len, self.dropout_rate = (
            dim,
            num_heads,
            k,
            max_len,
            dropout,
        )
        self.qkv = layers.Dense(3 * dim, use_bias=False)
        self.out = layers.Dense(dim)
        self.dropout = layers.Dropout(dropout)

    def build(self, input_shape):
        self.qkv.build(input_shape)
        self.out.build((None, None, self.dim))
        self.proj_k = self.add_weight(
            name="proj_k", shape=(self.max_len, self.k), initializer="glorot_uniform"
        )
        self.proj_v = self.add_weight(
            name="proj_v", shape=(self.max_len, self.k), initializer="glorot_uniform"
        )

    def call(self, inputs, training=None, mask=None):
        t = ops.shape(inputs)[1]
        q, key, v = ops.split(self.qkv(inputs), 3, axis=-1)
        if mask is not None:
            m = ops.cast(mask, inputs.dtype)[..., None]
            key, v = key * m, v * m
        key = ops.einsum("btc,tk->bkc", key, self.proj_k[:t])
        v = ops.einsum("btc,tk->bkc", v, self.proj_v[:t])
        h, d = self.num_heads, self.dim // self.num_heads

        def heads(x):
            return ops.transpose(ops.reshape(x, (ops.shape(x)[0], -1, h, d)), (0, 2, 1, 3))

        q, key, v = heads(q), heads(key), heads(v)
        scores = ops.einsum("bhtd,bhkd->bhtk", q, key) / (d**0.5)
        weights = self.dropout(ops.softmax(scores, axis=-1), training=training)
        x = ops.einsum("bhtk,bhkd->bhtd", weights, v)
        x = ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (ops.shape(inputs)[0], -1, self.dim))
        return self.out(x)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "num_heads": self.num_heads,
            "k": self.k,
            "max_len": self.max_len,
            "dropout": self.dropout_rate,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class LinformerBlock(TransformerBlock):
    """A TransformerBlock whose attention is LinformerAttention (k = 128)."""

    def __init__(
        self, dim: int = 192, num_heads: int = 4, k: int = 128, max_len: int = 384, **kwargs
    ):
        super().__init__(dim=dim, num_heads=num_heads, **kwargs)
        self.k, self.max_len = k, max_len
        self.attn = LinformerAttention(dim, num_heads, k, max_len, dropout=self.attn_dropout)

    def build(self, input_shape):
        self.bn1.build(input_shape)
        self.attn.build(input_shape)
        self.bn2.build(input_shape)
        self.ff1.build(input_shape)
        self.ff2.build((None, None, self.dim * self.expand))

    def call(self, inputs, training=None, mask=None):
        x = self.bn1(inputs, training=training, mask=mask)
        x = self.attn(x, training=training, mask=mask)
        x = inputs + self.drop1(x, training=training)
        y = self.bn2(x, training=training, mask=mask)
        y = self.ff2(self.ff1(y))
        return x + self.drop2(y, training=training)

    def get_config(self):
        return {**super().get_config(), "k": self.k, "max_len": self.max_len}


@keras.saving.register_keras_serializable(package=PACKAGE)
class BiRNNBlock(layers.Layer):
    """BatchNorm -> bidirectional LSTM or GRU (`units` per direction, mask-aware: the
    backward pass starts at each recording's last valid frame) -> project to `dim` ->
    dropout -> residual."""

    def __init__(
        self,
        dim: int = 192,
        units: int = 192,
        cell: str = "lstm",
        drop_rate: float = 0.2,
        bn_momentum: float = 0.95,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if cell not in ("lstm", "gru"):
            raise ValueError(f"BiRNNBlock cell must be 'lstm' or 'gru', got {cell!r}")
        self.supports_masking = True
        self.dim, self.units, self.cell = dim, units, cell
        self.drop_rate, self.bn_momentum = drop_rate, bn_momentum
        rnn = layers.LSTM if cell == "lstm" else layers.GRU
        self.bn = layers.BatchNormalization(momentum=bn_momentum)
        self.rnn = layers.Bidirectional(rnn(units, return_sequences=True))
        self.project = layers.Dense(dim)
        self.drop = layers.Dropout(drop_rate, noise_shape=(None, 1, 1))

    def build(self, input_shape):
        self.bn.build(input_shape)
        self.rnn.build(input_shape)
        self.project.build((None, None, 2 * self.units))

    def call(self, inputs, training=None, mask=None):
        x = self.bn(inputs, training=training, mask=mask)
        x = self.rnn(x, training=training, mask=mask)
        return inputs + self.drop(self.project(x), training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "units": self.units,
            "cell": self.cell,
            "drop_rate": self.drop_rate,
            "bn_momentum": self.bn_momentum,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class ClassifierHead(layers.Layer):
    """Dense(2 x dim) per frame -> average over valid frames -> LateDropout -> logits."""

    def __init__(
        self,
        dim: int = 192,
        n_classes: int = 250,
        late_dropout: float = 0.8,
        late_dropout_step: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.dim, self.n_classes = dim, n_classes
        self.late_dropout, self.late_dropout_step = late_dropout, late_dropout_step
        self.top = layers.Dense(2 * dim)
        self.drop = LateDropout(late_dropout, start_step=late_dropout_step)
        # logits in float32 whatever the policy, so the softmax and the loss are stable
        self.logits = layers.Dense(n_classes, dtype="float32")

    def build(self, input_shape):
        self.top.build(input_shape)
        self.drop.build((None, 2 * self.dim))
        self.logits.build((None, 2 * self.dim))

    def call(self, inputs, training=None, mask=None):
        x = _masked_mean(self.top(inputs), mask)
        return self.logits(ops.cast(self.drop(x, training=training), "float32"))

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "n_classes": self.n_classes,
            "late_dropout": self.late_dropout,
            "late_dropout_step": self.late_dropout_step,
        }
