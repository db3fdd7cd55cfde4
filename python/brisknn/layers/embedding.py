"""Embedding: integer token ids -> rows of a learned (input_dim, output_dim) table (Keras 3's
keras.layers.Embedding), and GlobalAveragePooling1D, the bag-of-words head it often feeds."""
import warnings

import numpy as np

from brisknn import _core, backend, constraints, initializers, regularizers
from brisknn.layers.base import Layer, _shape_str, is_symbolic, symbolic_call


class Embedding(Layer):
    """Turns ids (batch, ...) in [0, input_dim) into vectors (batch, ..., output_dim).

    The weight `embeddings` has shape (input_dim, output_dim), initialised by Keras' 'uniform'
    (RandomUniform(-0.05, 0.05)). Ids must be integers; float arrays are accepted when they hold
    whole numbers (Keras casts them). An id outside [0, input_dim) raises ValueError.

    With `mask_zero=True`, id 0 is padding: `compute_mask` returns `ids != 0` as in Keras, and a
    Sequential passes that mask on to the layers after it (SimpleRNN/LSTM/GRU skip the masked
    steps, GlobalAveragePooling1D averages over the others).
    """

    # Sequential keeps x as integers when its first layer says so (see DataChecks._prepare_x).
    input_dtype_kind = "int"

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, activity_regularizer=None, input_length=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        for arg, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Embedding: {arg} must be a positive integer, got {value!r}")
        if input_length is not None:
            warnings.warn("Embedding: argument `input_length` is deprecated (Keras 3 ignores "
                          "it). Just remove it.", stacklevel=2)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(
            embeddings_constraint, f"Embedding {self.name!r}: embeddings_constraint")
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero  # as Keras 3
        if weights is not None and not (isinstance(weights, (list, tuple)) and len(weights) == 1):
            weights = [weights]
        self._initial_weights = weights
        self.embeddings = None

    @property
    def _where(self):
        return f"Layer {self.name!r} (Embedding)"

    def _accepts(self, input_shape):
        return True  # Keras gives Embedding no InputSpec: its weights fit ids of any shape

    def build(self, input_shape=None):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def _check_input_shape(self, input_shape):
        pass  # a lookup takes ids of any shape, as Keras' (the model checks its own input)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return np.not_equal(inputs, 0)

    # -- ids ---------------------------------------------------------------------------------
    def as_ids(self, x, method=None):
        """x as C-contiguous int32/int64 ids, every one checked to be in [0, input_dim)."""
        where = f"{method}: {self._where}" if method else self._where
        ids = _integer_ids(np.asarray(x), where)
        if ids.size:
            low, high = ids.min(), ids.max()
            if low < 0 or high >= self.input_dim:
                self._raise_bad_id(ids, where)
        return ids

    def _raise_bad_id(self, ids, where):
        flat = ids.reshape(-1)
        pos = int(np.flatnonzero((flat < 0) | (flat >= self.input_dim))[0])
        index = tuple(int(i) for i in np.unravel_index(pos, ids.shape))
        raise ValueError(f"{where}: id {int(flat[pos])} at index {index} is out of range for "
                         f"input_dim={self.input_dim} (ids must be in [0, {self.input_dim}))")

    # -- computation -------------------------------------------------------------------------
    def __call__(self, x, training=None):
        if is_symbolic(x):
            return symbolic_call(self, x, training)
        ids = self.as_ids(x)
        self._ensure_built((None,) + ids.shape[1:])
        return self.forward(ids, training=bool(training))

    def forward(self, x, training=False):
        if x.dtype not in (np.int32, np.int64) or not x.flags.c_contiguous:
            x = _integer_ids(x, self._where)
        flat = x.reshape(-1)
        out = np.empty((flat.size, self.output_dim), dtype=self.embeddings.value.dtype)
        try:
            _core.embedding_forward(flat, self.embeddings.value, out)
        except ValueError:
            if ((flat < 0) | (flat >= self.input_dim)).any():
                self._raise_bad_id(x, self._where)
            raise
        self._ids = flat
        return out.reshape(x.shape + (self.output_dim,))

    def backward(self, dy, need_dx=True):
        # Ids have no gradient; the table's gradient gets only the rows that were looked up.
        if self.trainable:
            dy = np.ascontiguousarray(dy, dtype=self.embeddings.grad.dtype)
            _core.embedding_backward(self._ids, dy.reshape(self._ids.size, self.output_dim),
                                     self.embeddings.grad)
        return None

    def get_config(self):
        config = super().get_config()
        config.update(input_dim=self.input_dim, output_dim=self.output_dim,
                      embeddings_initializer=initializers.serialize(self.embeddings_initializer),
                      embeddings_regularizer=regularizers.serialize(self.embeddings_regularizer),
                      activity_regularizer=regularizers.serialize(self.activity_regularizer),
                      embeddings_constraint=constraints.serialize(self.embeddings_constraint),
                      mask_zero=self.mask_zero)
        return config


def _integer_ids(x, where):
    """x as C-contiguous int32 (for types that fit) or int64 ids; floats must be whole."""
    kind = x.dtype.kind
    if kind == "f":
        finite = np.isfinite(x)
        if not finite.all() or not np.array_equal(x, np.floor(x)):
            bad = np.flatnonzero(~finite.reshape(-1) | (x != np.floor(x)).reshape(-1))[0]
            index = tuple(int(i) for i in np.unravel_index(bad, x.shape))
            raise ValueError(f"{where}: ids must be whole numbers, got {x.reshape(-1)[bad]!r} "
                             f"at index {index} (dtype {x.dtype})")
        # Beyond int64 a float cannot be a valid id anyway: clip so the range check reports it.
        return np.ascontiguousarray(np.clip(x, -2.0**62, 2.0**62), dtype=np.int64)
    if kind == "b" or (kind in "iu" and x.dtype.itemsize < 4):
        return np.ascontiguousarray(x, dtype=np.int32)
    if x.dtype in (np.int32, np.int64):
        return np.ascontiguousarray(x)
    if kind == "u":  # uint32 fits int64; uint64 ids past int64 are out of range anyway
        if x.dtype.itemsize == 8 and x.size and x.max() > np.iinfo(np.int64).max:
            return np.ascontiguousarray(np.minimum(x, np.iinfo(np.int64).max), dtype=np.int64)
        return np.ascontiguousarray(x, dtype=np.int64)
    raise TypeError(f"{where}: ids must be integers, got dtype {x.dtype}")


class GlobalAveragePooling1D(Layer):
    """The mean over the steps axis: (batch, steps, features) -> (batch, features), or
    (batch, 1, features) with keepdims. `data_format='channels_first'` reads (batch, features,
    steps). With a mask (batch, steps) (from Embedding(mask_zero=True), say) it is the mean over
    the unmasked steps only, Keras' sum(x * mask) / sum(mask); a row with every step masked gives
    0 / 0 = NaN, as in Keras."""

    supports_masking = True
    forward_takes_mask = True

    def __init__(self, data_format=None, keepdims=False, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        data_format = backend.standardize_data_format(
            data_format, f"GlobalAveragePooling1D {self.name!r}")
        self.data_format = data_format
        self.keepdims = bool(keepdims)
        self._axis = 1 if data_format == "channels_last" else 2

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"Layer {self.name!r} (GlobalAveragePooling1D) expects input of "
                             f"rank 3 (batch, steps, features), got {_shape_str(input_shape)}")
        if self.keepdims:
            shape = list(input_shape)
            shape[self._axis] = 1
            return tuple(shape)
        return tuple(d for i, d in enumerate(input_shape) if i != self._axis)

    def compute_mask(self, inputs, mask=None):
        return None  # the steps axis is gone

    def forward(self, x, training=False, mask=None):
        self._in_shape = x.shape
        self._weights_per_step = None
        if mask is None:
            return x.mean(axis=self._axis, keepdims=self.keepdims, dtype=x.dtype)
        steps = x.shape[self._axis]
        mask = np.asarray(mask)
        if mask.shape != (x.shape[0], steps):
            raise ValueError(f"Layer {self.name!r} (GlobalAveragePooling1D) expects a mask of "
                             f"shape {(x.shape[0], steps)} for input of shape {x.shape}, got "
                             f"{mask.shape}")
        keep = (mask if mask.dtype == bool else mask != 0).astype(x.dtype)
        count = keep.sum(axis=1)
        # w[b, s] = mask / count, so the output is one batched product and dx a broadcast. A
        # row with every step masked gets Keras' 0 / 0 = NaN, and a zero dx.
        w = keep * np.divide(1, count, out=np.zeros_like(count), where=count > 0)[:, None]
        self._weights_per_step = w
        if self._axis == 1:  # (batch, 1, steps) @ (batch, steps, features)
            y = np.matmul(w[:, None, :], x)[:, 0]
        else:  # (batch, features, steps) @ (batch, steps, 1)
            y = np.matmul(x, w[:, :, None])[..., 0]
        y[count == 0] = np.nan
        if self.keepdims:
            y = np.expand_dims(y, self._axis)
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        steps = self._in_shape[self._axis]
        if not self.keepdims:
            dy = np.expand_dims(dy, self._axis)
        dx = np.empty(self._in_shape, dtype=dy.dtype)
        if self._weights_per_step is None:
            np.divide(dy, dy.dtype.type(steps), out=dx)  # broadcast over the steps
        else:
            w = self._weights_per_step.astype(dy.dtype, copy=False)
            np.multiply(dy, np.expand_dims(w, 3 - self._axis), out=dx)
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


GlobalAvgPool1D = GlobalAveragePooling1D
