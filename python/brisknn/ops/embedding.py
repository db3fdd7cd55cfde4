"""Embedding lookup and its gradient as NumPy-in / NumPy-out functions."""
import numpy as np

from brisknn import _core
from brisknn.ops.core import as_float

__all__ = ["embedding", "embedding_backward"]


def _ids(ids):
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be integers, got dtype {ids.dtype}")
    return np.ascontiguousarray(ids, dtype=ids.dtype if ids.dtype in (np.int32, np.int64)
                                else np.int64)


def embedding(ids, table):
    """table[ids]: ids of any shape (integers in [0, vocab)), table (vocab, dim) -> ids.shape +
    (dim,)."""
    ids = _ids(ids)
    table = as_float(table, "table")
    if table.ndim != 2:
        raise ValueError(f"embedding: table must be (vocab, dim), got shape {table.shape}")
    out = np.empty((ids.size, table.shape[1]), dtype=table.dtype)
    _core.embedding_forward(ids.reshape(-1), table, out)
    return out.reshape(ids.shape + (table.shape[1],))


def embedding_backward(ids, dy, vocab):
    """The gradient of the (vocab, dim) table from dy (ids.shape + (dim,)): dy's rows summed
    into the rows their ids name (np.add.at(grad, ids, dy)); rows never used stay zero."""
    ids = _ids(ids)
    dy = as_float(dy, "dy")
    if dy.shape[:-1] != ids.shape:
        raise ValueError(f"embedding_backward: dy of shape {dy.shape} does not match ids of "
                         f"shape {ids.shape} (expected ids.shape + (dim,))")
    grad = np.zeros((int(vocab), dy.shape[-1]), dtype=dy.dtype)
    _core.embedding_backward(ids.reshape(-1), dy.reshape(ids.size, dy.shape[-1]), grad)
    return grad
