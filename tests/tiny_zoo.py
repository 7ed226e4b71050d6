"""The model zoo at a tiny size, and padded recordings to feed it (shared by the zoo tests)."""

from typing import get_args

import numpy as np

from islr.models.zoo import Architecture

# every architecture the zoo builds: a new one is covered by the zoo tests as it is added
ARCHS = list(get_args(Architecture))
TINY = {
    "dim": 16,
    "max_len": 32,
    "conv_blocks": 1,
    "num_heads": 2,
    "rnn_units": 8,
    "linformer_k": 4,
    "n_classes": 5,
}


def recordings(rng, lengths, pad_to):
    """Random recordings of the given lengths, NaN-padded to `pad_to` frames, with the
    left hand never detected."""
    x = np.full((len(lengths), pad_to, 543, 3), np.nan, "float32")
    for i, n in enumerate(lengths):
        x[i, :n] = rng.random((n, 543, 3))
        x[i, :n, 468:489] = np.nan  # left hand never detected
    return x
