"""Losses with Keras' names, formulas and reduction (the mean over the batch)."""
import numpy as np

from brisknn import _core, backend, ops


class Loss:
    """Base: `loss(y_true, y_pred)` returns the batch mean as a float."""

    kernel = None  # the _core loss name

    def __init__(self, name=None, reduction="sum_over_batch_size", from_logits=False,
                 dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError("Invalid value for argument `reduction`. Expected one of "
                             f"{sorted(map(str, _REDUCTIONS))}. Received: reduction={reduction}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self.from_logits = from_logits
        self.dtype = dtype
        self.label_smoothing = 0.0

    def smooth(self, y_true):
        """Keras' label smoothing of the targets (none unless the loss was given some)."""
        ls = self.label_smoothing
        if not ls:
            return y_true
        classes = 2.0 if self.kernel == "binary_crossentropy" else y_true.shape[-1]
        return y_true * (1.0 - ls) + ls / classes

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
        if self.label_smoothing:
            y_true = self.smooth(np.asarray(y_true, dtype=np.asarray(y_pred).dtype))
        if self.reduction in _MEANS and sample_weight is None:
            return backend.Scalar(ops.loss(y_true, y_pred, self.kernel, self.from_logits))
        # Keras' reduce_values: 'sum' adds the per-sample losses, None/'none' returns them.
        values = np.asarray(_per_sample(self.kernel, y_true, y_pred, self.from_logits))
        weight = None
        if sample_weight is not None:
            values, weight = _weighted(values, sample_weight, type(self).__name__)
        if self.reduction is None or self.reduction == "none":
            return values.view(backend.Tensor)
        total = values.sum(dtype=np.float64)
        if self.reduction == "sum":
            return backend.Scalar(total)
        if self.reduction == "mean_with_sample_weight" and weight is not None:
            divisor = weight.sum(dtype=np.float64)  # Keras' divide_no_nan
            return backend.Scalar(total / divisor if divisor else 0.0)
        # sum_over_batch_size / mean: over the number of values, whatever the weights.
        return backend.Scalar(total / values.size if values.size else np.nan)

    def get_config(self):
        config = {"name": self.name, "reduction": self.reduction}
        if self.kernel in _REGRESSION:
            return config
        config["from_logits"] = self.from_logits
        if self.kernel != "sparse_categorical_crossentropy":
            config["label_smoothing"] = self.label_smoothing
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras' rule (keras/src/losses/loss.py), run by every loss object and by the mse/mae
    functions: when the ranks differ by one and the longer one ends in an axis of 1, a rank-1
    array gains that axis, otherwise the longer one loses it. So (batch,) labels meet a
    (batch, 1) output."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _weighted(values, sample_weight, owner):
    """Keras' reduce_weighted_values before the reduction: (values * weight, weight) in the
    values' dtype, their ranks matched by squeeze_or_expand_to_same_rank. A weight of fewer
    axes than the values weighs each sample's values alike ((batch,) against (batch, steps),
    as Keras' metrics; its losses would broadcast the trailing axes and fail)."""
    weight = np.asarray(sample_weight)
    if weight.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: sample_weight must be numeric, got dtype {weight.dtype}")
    weight = weight.astype(values.dtype)
    values, weight = squeeze_or_expand_to_same_rank(values, weight)
    if 0 < weight.ndim < values.ndim:
        weight = weight.reshape(weight.shape + (1,) * (values.ndim - weight.ndim))
    try:
        return values * weight, weight
    except ValueError:
        raise ValueError(f"{owner}: sample_weight of shape {np.shape(sample_weight)} does not "
                         f"fit the losses of shape {values.shape}") from None


def _unsupported(owner, **options):
    # Keras' arguments brisknn accepts at their defaults only; anything else is said, not ignored.
    for name, (value, default) in options.items():
        if value != default:
            raise NotImplementedError(f"{owner}: {name}={value!r} is not supported yet "
                                      f"(only {default!r})")


_REGRESSION = ("mean_squared_error", "mean_absolute_error")
# Keras 3's standardize_reduction (plus Keras 2's 'auto', read as the mean).
_MEANS = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "auto")
_REDUCTIONS = _MEANS + ("sum", "none", None)


class MeanSquaredError(Loss):
    kernel = "mean_squared_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name, reduction, dtype=dtype)


class MeanAbsoluteError(Loss):
    kernel = "mean_absolute_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name, reduction, dtype=dtype)


class BinaryCrossentropy(Loss):
    kernel = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        _unsupported("BinaryCrossentropy", axis=(axis, -1))
        super().__init__(name, reduction, from_logits, dtype)
        self.label_smoothing = float(label_smoothing)


class CategoricalCrossentropy(Loss):
    kernel = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        _unsupported("CategoricalCrossentropy", axis=(axis, -1))
        super().__init__(name, reduction, from_logits, dtype)
        self.label_smoothing = float(label_smoothing)


class SparseCategoricalCrossentropy(Loss):
    kernel = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        _unsupported("SparseCategoricalCrossentropy", ignore_class=(ignore_class, None))
        super().__init__(name, reduction, from_logits, dtype)


def _per_sample(kernel, y_true, y_pred, from_logits=False):
    y_pred = ops.as_float(y_pred, "y_pred")
    y_true = ops.core._targets(kernel, y_true, y_pred)
    out = np.empty(int(np.prod(y_pred.shape[:-1])), dtype=y_pred.dtype)
    _core.loss_forward(y_true, y_pred, out, kernel, from_logits)
    return out.reshape(y_pred.shape[:-1]).view(backend.Tensor)  # with Keras' .numpy()


# Keras' function forms return the loss of each sample (no batch reduction). As in Keras, only
# the regression ones match the ranks of y_true and y_pred; the cross-entropies refuse a
# mismatch (Keras' backends raise "must have the same rank"), the loss objects accept it.
def mean_squared_error(y_true, y_pred):
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
    return _per_sample("mean_squared_error", y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
    return _per_sample("mean_absolute_error", y_true, y_pred)


def _smoothed(y_true, y_pred, label_smoothing, classes):
    # Keras: y_true * (1 - ls) + ls / classes (2 for the binary case), in y_pred's dtype.
    y_true = ops.as_float(y_true, "y_true", ops.as_float(y_pred, "y_pred").dtype)
    classes = y_true.shape[-1] if classes is None else classes
    return y_true * (1.0 - label_smoothing) + label_smoothing / classes


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    _unsupported("binary_crossentropy", axis=(axis, -1))
    if label_smoothing:
        y_true = _smoothed(y_true, y_pred, label_smoothing, 2.0)
    return _per_sample("binary_crossentropy", y_true, y_pred, from_logits)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    _unsupported("categorical_crossentropy", axis=(axis, -1))
    if label_smoothing:
        y_true = _smoothed(y_true, y_pred, label_smoothing, None)
    return _per_sample("categorical_crossentropy", y_true, y_pred, from_logits)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    _unsupported("sparse_categorical_crossentropy", ignore_class=(ignore_class, None),
                 axis=(axis, -1))
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
