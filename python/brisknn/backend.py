"""Float precision policy, clear_session, and the Variable that layers keep their weights in."""
import gc

import numpy as np

_FLOATX = "float32"
_IMAGE_DATA_FORMAT = "channels_last"


def floatx():
    """The default float dtype name for new weights and inputs ('float32' unless set)."""
    return _FLOATX


def set_floatx(value):
    """Sets the default float dtype: 'float32' or 'float64' (as keras.backend.set_floatx)."""
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"set_floatx: expected 'float32' or 'float64', got {value!r}")
    _FLOATX = value


def image_data_format():
    """What a layer's data_format=None means: 'channels_last' unless set (as Keras)."""
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format):
    """Sets image_data_format(): 'channels_last' or 'channels_first' (Keras' check, any case)."""
    global _IMAGE_DATA_FORMAT
    _IMAGE_DATA_FORMAT = standardize_data_format(data_format, "set_image_data_format")


def standardize_data_format(data_format, where="data_format"):
    """Keras' standardize_data_format: None is image_data_format(); the name in any case."""
    if data_format is None:
        return _IMAGE_DATA_FORMAT
    value = str(data_format).lower()
    if value not in ("channels_first", "channels_last"):
        raise ValueError(f"{where}: the `data_format` argument must be one of "
                         "{'channels_first', 'channels_last'}. Received: "
                         f"data_format={data_format!r}")
    return value


def clear_session(free_memory=True):
    """Resets the global state brisknn keeps, as keras.backend.clear_session: the counters
    behind automatic layer and metric names, so the next Dense is 'dense' again. As in Keras,
    floatx and the random generators are left alone. `free_memory` runs the garbage collector."""
    from brisknn.layers import base
    base._name_counts.clear()
    if free_memory:
        gc.collect()


def epsilon():
    """The fuzz factor Keras clips probabilities with."""
    return 1e-7


class Tensor(np.ndarray):
    """What calling a model or layer returns: a NumPy array that also answers `.numpy()`, as
    the tensors Keras returns on its TensorFlow and PyTorch backends do."""

    def numpy(self):
        return self.view(np.ndarray)

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # Reductions give NumPy scalars, as on a plain array ((argmax(p, 1) == y).mean() is a
        # float64, hashable and JSON-able); arrays stay Tensors.
        if return_scalar or array.ndim == 0:
            return array[()]
        return array.view(type(self)) if type(array) is np.ndarray else array


class Scalar(float):
    """What a loss or a metric's result returns: a float that also answers `.numpy()` (a
    float32, the dtype Keras computes losses and metrics in)."""

    def numpy(self):
        return np.float32(self)


# Counts changes of any layer's or Variable's `trainable` flag (and of a layer's activation): a
# model compares it with the count it saw when it cached its trainable weights, so it can tell
# when a backward pass may write gradients into weights it will not step, or its output layer
# no longer fuses with the loss (see Trainer._train_step).
_trainable_changes = 0


def trainable_changed():
    global _trainable_changes
    _trainable_changes += 1


def trainable_changes():
    return _trainable_changes


class Variable(np.lib.mixins.NDArrayOperatorsMixin):
    """A weight: its value as a C-contiguous NumPy array and the gradient accumulated for it.

    Backward passes add into `grad`; the optimizer applies it and sets it back to zero, so a
    gradient is never applied twice. Arithmetic, comparisons and indexing read the value and
    give NumPy arrays (`layer.kernel * 2`, `layer.bias[0]`), as Keras variables allow; `==`
    is identity.
    """

    __slots__ = ("value", "grad", "name", "path", "_trainable", "regularizer", "constraint")

    def __init__(self, value, name, trainable=True, regularizer=None, path=None,
                 constraint=None):
        value = np.asarray(value)  # np.ascontiguousarray would turn a scalar into shape (1,)
        self.value = value if value.flags.c_contiguous else np.ascontiguousarray(value)
        self.grad = np.zeros_like(self.value)
        # As Keras 3: name "kernel", path "dense/kernel" (the owning layer's name first).
        self.name = name
        self.path = path or name
        self._trainable = bool(trainable)
        self.regularizer = regularizer
        # As Keras: the optimizer projects the weight with it after each step.
        self.constraint = constraint

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        trainable_changed()

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    def numpy(self):
        return self.value.copy()

    def assign(self, value):
        value = np.asarray(value)
        if value.shape != self.value.shape:
            raise ValueError(
                f"Variable {self.path}: cannot assign a value of shape {value.shape} "
                f"to a variable of shape {self.value.shape}")
        self.value[...] = value

    def assign_add(self, value):
        self.assign(self.value + np.asarray(value))
        return self

    def assign_sub(self, value):
        self.assign(self.value - np.asarray(value))
        return self

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if any(isinstance(a, Variable) for a in kwargs.get("out", ())):
            return NotImplemented  # writing goes through assign()
        inputs = tuple(a.value if isinstance(a, Variable) else a for a in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    # Equality and hashing stay by identity: variables key the optimizer's slots and are
    # looked up in lists.
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __getitem__(self, key):
        return self.value[key].copy()

    def __len__(self):
        return len(self.value)

    def __repr__(self):
        return f"<Variable {self.path} shape={self.shape} dtype={self.dtype}>"
