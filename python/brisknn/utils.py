"""Seeding, label encoding, normalization and sequence padding helpers, and the PyDataset
(Sequence) base class (Keras' keras.utils names)."""
import random

import numpy as np

from brisknn.backend import clear_session  # noqa: F401  (keras.utils.clear_session)
from brisknn.data_adapters import PyDataset, Sequence  # noqa: F401  (keras.utils names)

_rng = np.random.default_rng()


def set_random_seed(seed):
    """Seeds Python's, NumPy's and brisknn's generators: the same seed gives the same initial
    weights, shuffling and dropout masks, hence the same training result."""
    global _rng
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"set_random_seed: expected an integer seed, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    _rng = np.random.default_rng(int(seed))


def rng():
    """brisknn's generator (initializers, shuffling, dropout seeds)."""
    return _rng


def to_categorical(x, num_classes=None, dtype="float64"):
    """One-hot encodes integer class labels as Keras 3 does (keras/src/utils/numerical_utils.py):
    float64 (`np.zeros` default; `dtype` is kept for Keras 2 code), a trailing axis of size 1 is
    replaced by the class axis, and num_classes None or 0 means max(x) + 1. Models cast targets
    to their own dtype, so a float64 one-hot trains the same."""
    x = np.asarray(x)
    if x.dtype.kind == "f":
        if not np.array_equal(x, np.floor(x)):
            raise ValueError("to_categorical: labels must be whole numbers")
    elif x.dtype.kind not in "biu":
        raise TypeError(f"to_categorical: expected integer labels, got dtype {x.dtype}")
    x = x.astype(np.int64)
    shape = x.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    x = x.reshape(-1)
    if not num_classes:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}), "
                         f"got values in [{x.min()}, {x.max()}]")
    out = np.zeros((x.size, num_classes), dtype=dtype)
    out[np.arange(x.size), x] = 1
    return out.reshape(shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    """Keras' utils.normalize for NumPy arrays: x divided by its `order`-norm along `axis`
    (np.linalg.norm's), a zero norm counted as 1 so zero vectors stay zero."""
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Keras' pad_sequences (see brisknn.preprocessing.sequence)."""
    from brisknn.preprocessing.sequence import pad_sequences as pad
    return pad(sequences, maxlen=maxlen, dtype=dtype, padding=padding, truncating=truncating,
               value=value)
