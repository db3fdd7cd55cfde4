"""Stateful metrics with Keras' names: update_state per batch, result over all samples seen."""
import numpy as np


class Metric:
    def __init__(self, name=None):
        self.name = name or type(self).__name__.lower()
        self.reset_state()

    def reset_state(self):
        self._total = 0.0
        self._count = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._values(np.asarray(y_true), np.asarray(y_pred))
        if sample_weight is None:
            self._total += float(values.sum(dtype=np.float64))
            self._count += values.size
            return
        # Keras' Mean: values averaged down to the weights' rank, then each sample counts the
        # mean of its weights (a (batch, steps) mask: its share of unmasked steps).
        weight = np.asarray(sample_weight, dtype=np.float64)
        values = values.reshape(weight.shape + (-1,)).mean(axis=-1, dtype=np.float64)
        per_sample = weight[0].size if weight.ndim > 1 else 1
        self._total += float((values * weight).sum()) / per_sample
        self._count += float(weight.sum()) / per_sample

    def result(self):
        return self._total / self._count if self._count else 0.0

    def _values(self, y_true, y_pred):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name}


def _match_rank(y_true, y_pred):
    # Keras squeezes or expands a trailing axis of 1 so (batch,) labels meet (batch, 1) outputs.
    if y_true.ndim == y_pred.ndim - 1:
        y_true = y_true[..., None]
    return y_true


class BinaryAccuracy(Metric):
    def __init__(self, name="binary_accuracy", threshold=0.5):
        self.threshold = threshold
        super().__init__(name)

    def _values(self, y_true, y_pred):
        y_true = _match_rank(y_true, y_pred)
        return ((y_pred > self.threshold) == (y_true > 0.5)).mean(axis=-1)

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    def __init__(self, name="categorical_accuracy"):
        super().__init__(name)

    def _values(self, y_true, y_pred):
        return (y_true.argmax(axis=-1) == y_pred.argmax(axis=-1)).astype(np.float64)


class SparseCategoricalAccuracy(Metric):
    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(name)

    def _values(self, y_true, y_pred):
        if y_true.ndim == y_pred.ndim:
            y_true = y_true[..., 0]
        return (y_true == y_pred.argmax(axis=-1)).astype(np.float64)


class Accuracy(Metric):
    """Exact equality of y_true and y_pred (Keras' 'Accuracy' class, not the string 'accuracy')."""

    def __init__(self, name="accuracy"):
        super().__init__(name)

    def _values(self, y_true, y_pred):
        return (_match_rank(y_true, y_pred) == y_pred).astype(np.float64)


class MeanSquaredError(Metric):
    def __init__(self, name="mean_squared_error"):
        super().__init__(name)

    def _values(self, y_true, y_pred):
        return np.square(_match_rank(y_true, y_pred) - y_pred).mean(axis=-1)


class MeanAbsoluteError(Metric):
    def __init__(self, name="mean_absolute_error"):
        super().__init__(name)

    def _values(self, y_true, y_pred):
        return np.abs(_match_rank(y_true, y_pred) - y_pred).mean(axis=-1)


_CLASSES = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
}


def get(identifier, loss_name=None, output_shape=None, y_shape=None):
    """A metric for a Keras name or instance. 'accuracy'/'acc' resolves as Keras does, from the
    shapes of the targets and the output (see _accuracy_for)."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if not isinstance(identifier, str):
        raise ValueError(f"Unknown metric {identifier!r}")
    key = identifier.lower()
    if key in ("accuracy", "acc"):
        return _accuracy_for(loss_name, output_shape, y_shape)(name=identifier)
    if key in _CLASSES:
        return _CLASSES[key](name=identifier)
    raise ValueError(f"Unknown metric {identifier!r}; known: accuracy, {sorted(_CLASSES)}")


def _accuracy_for(loss_name, output_shape, y_shape=None):
    # Keras 3 (compile_utils.get_metric): binary when the output has one unit; sparse when the
    # targets have fewer axes, or one label per row against several outputs; else categorical.
    # So binary_crossentropy on several sigmoid outputs reports categorical accuracy, as Keras.
    if output_shape is not None and y_shape is not None:
        if output_shape[-1] == 1:
            return BinaryAccuracy
        if len(y_shape) < len(output_shape) or (y_shape and y_shape[-1] == 1):
            return SparseCategoricalAccuracy
        return CategoricalAccuracy
    by_loss = {"binary_crossentropy": BinaryAccuracy,
               "categorical_crossentropy": CategoricalAccuracy,
               "sparse_categorical_crossentropy": SparseCategoricalAccuracy}
    if loss_name in by_loss:
        return by_loss[loss_name]
    if output_shape is not None and output_shape[-1] == 1:
        return BinaryAccuracy
    return CategoricalAccuracy
