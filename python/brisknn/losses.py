"""Losses with Keras' names, formulas and reduction (the mean over the batch)."""
import numpy as np

from brisknn import _core, ops


class Loss:
    """Base: `loss(y_true, y_pred)` returns the batch mean as a float."""

    kernel = None  # the _core loss name

    def __init__(self, name=None, reduction="sum_over_batch_size", from_logits=False):
        if reduction not in ("sum_over_batch_size", "auto", "mean"):
            raise NotImplementedError(f"{type(self).__name__}: reduction {reduction!r} "
                                      "is not supported; brisknn averages over the batch")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self.from_logits = from_logits

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise NotImplementedError("sample_weight is not supported yet")
        return float(ops.loss(y_true, y_pred, self.kernel, self.from_logits))

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "from_logits": self.from_logits}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MeanSquaredError(Loss):
    kernel = "mean_squared_error"

    def __init__(self, name="mean_squared_error", reduction="sum_over_batch_size"):
        super().__init__(name, reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


class MeanAbsoluteError(Loss):
    kernel = "mean_absolute_error"

    def __init__(self, name="mean_absolute_error", reduction="sum_over_batch_size"):
        super().__init__(name, reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


class BinaryCrossentropy(Loss):
    kernel = "binary_crossentropy"

    def __init__(self, from_logits=False, name="binary_crossentropy",
                 reduction="sum_over_batch_size"):
        super().__init__(name, reduction, from_logits)


class CategoricalCrossentropy(Loss):
    kernel = "categorical_crossentropy"

    def __init__(self, from_logits=False, name="categorical_crossentropy",
                 reduction="sum_over_batch_size"):
        super().__init__(name, reduction, from_logits)


class SparseCategoricalCrossentropy(Loss):
    kernel = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, name="sparse_categorical_crossentropy",
                 reduction="sum_over_batch_size"):
        super().__init__(name, reduction, from_logits)


def _per_sample(kernel, y_true, y_pred, from_logits=False):
    y_pred = ops.as_float(y_pred, "y_pred")
    y_true = ops.core._targets(kernel, y_true, y_pred)
    out = np.empty(int(np.prod(y_pred.shape[:-1])), dtype=y_pred.dtype)
    _core.loss_forward(y_true, y_pred, out, kernel, from_logits)
    return out.reshape(y_pred.shape[:-1])


# Keras' function forms return the loss of each sample (no batch reduction).
def mean_squared_error(y_true, y_pred):
    return _per_sample("mean_squared_error", y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    return _per_sample("mean_absolute_error", y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False):
    return _per_sample("binary_crossentropy", y_true, y_pred, from_logits)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    return _per_sample("categorical_crossentropy", y_true, y_pred, from_logits)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    return _per_sample("sparse_categorical_crossentropy", y_true, y_pred, from_logits)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_ALIASES = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_FUNCTIONS = {mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
              binary_crossentropy: BinaryCrossentropy,
              categorical_crossentropy: CategoricalCrossentropy,
              sparse_categorical_crossentropy: SparseCategoricalCrossentropy}


def get(identifier):
    """A Loss instance from a Keras name, a Loss class or instance, or a function of this module."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _ALIASES:
            return _ALIASES[key]()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict):  # Keras' serialized form
        key = _snake(str(identifier.get("class_name", "")))
        if key in _ALIASES:
            return _ALIASES[key](**identifier.get("config", {}))
    elif callable(identifier) and identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    raise ValueError(f"Unknown loss {identifier!r}; known: {sorted(_ALIASES)}")


def serialize(loss):
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def _snake(name):
    import re
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
