"""Stateful metrics with Keras 3's names and semantics (keras/src/metrics): `update_state` per
batch, `result` over every sample seen, `m(y_true, y_pred)` for both at once, the state in
`variables` (float64 accumulators), `reset_state` to start again."""
import math
import re

import numpy as np

from brisknn import backend, losses
from brisknn.losses import squeeze_or_expand_to_same_rank


def _to_snake_case(name):
    # Keras' naming.to_snake_case: AUC -> auc, TopKCategoricalAccuracy ->
    # top_k_categorical_accuracy.
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _auto_name(cls_name):
    # Keras names unnamed metrics and layers from one counter ('precision', 'precision_1', ...)
    from brisknn.layers.base import _auto_name as auto_name
    return auto_name(cls_name)


class Metric:
    """Base class: a subclass creates its state with `add_variable` in `__init__` and defines
    `update_state` and `result`. `_direction` ("up" or "down", as Keras) tells callbacks with
    mode="auto" which way is better."""

    def __init__(self, dtype=None, name=None):
        self.name = name or _auto_name(type(self).__name__)
        self._dtype = dtype or backend.floatx()
        self._variables = []
        self._initial_values = []

    @property
    def dtype(self):
        return self._dtype

    @property
    def variables(self):
        return list(self._variables)

    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="sum", name=None):
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        value = np.zeros(shape, dtype=dtype or np.float64)
        if initializer not in ("zeros", "Zeros", None):
            from brisknn import initializers
            value[...] = initializers.get(initializer)(shape, dtype=value.dtype)
        var = backend.Variable(value, name, trainable=False, path=f"{self.name}/{name}")
        self._initial_values.append(value.copy())
        self._variables.append(var)
        return var

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        return self.add_variable(shape, initializer, dtype=dtype, name=name)

    def reset_state(self):
        for var, initial in zip(self._variables, self._initial_values):
            var.value[...] = initial  # back to its initial value (zeros unless told)

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        # Keras' Metric.__call__: accumulate, then return the running result.
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Sum(Metric):
    def __init__(self, name="sum", dtype=None):
        super().__init__(dtype=dtype, name=name)
        self.total = self.add_variable((), name="total")

    def update_state(self, values, sample_weight=None):
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is not None:
            values = values * np.asarray(sample_weight, dtype=np.float64)
        self.total.value += values.sum()

    def result(self):
        return backend.Scalar(self.total.value)


class Mean(Metric):
    """The (weighted) mean of the values given, as Keras' Mean: values are reduced to one per
    sample, and each sample counts its weight. The sums are kept as Python floats (a fit step
    updates them once per batch; 0-d arrays would cost a few microseconds more), mirrored into
    the `total` and `count` Variables whenever those are read."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(dtype=dtype, name=name)
        self._total_var = self.add_variable((), name="total")
        self._count_var = self.add_variable((), name="count")
        self._total = self._count = 0.0

    @property
    def total(self):
        self._sync()
        return self._total_var

    @property
    def count(self):
        self._sync()
        return self._count_var

    @property
    def variables(self):
        self._sync()
        return super().variables

    def _sync(self):
        self._total_var.value[...] = self._total
        self._count_var.value[...] = self._count

    def reset_state(self):
        super().reset_state()
        self._total = self._count = 0.0

    def update_state(self, values, sample_weight=None):
        values = np.asarray(values)
        if sample_weight is None:
            if values.ndim > 1:
                values = values.reshape(values.shape[0], -1).mean(axis=1, dtype=np.float64)
            self._total += float(values.sum(dtype=np.float64))
            self._count += values.shape[0] if values.ndim else 1
            return
        # Keras' reduce_to_samplewise_values: values averaged down to the weights' rank, then
        # each sample counts the mean of its weights (a (batch, steps) mask: its share of
        # unmasked steps).
        weight = np.asarray(sample_weight, dtype=np.float64)
        values = values.reshape(weight.shape + (-1,)).mean(axis=-1, dtype=np.float64)
        per_sample = weight[0].size if weight.ndim > 1 else 1
        self._total += float((values * weight).sum()) / per_sample
        self._count += float(weight.sum()) / per_sample

    def result(self):
        return backend.Scalar(self._total / self._count if self._count else 0.0)


class MeanMetricWrapper(Mean):
    """The mean of `fn(y_true, y_pred, **kwargs)`, a function giving one value per sample."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or _auto_name(type(self).__name__), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._fn(np.asarray(y_true), np.asarray(y_pred), **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        config = super().get_config()
        if type(self) is MeanMetricWrapper:
            config["fn"] = getattr(self._fn, "__name__", repr(self._fn))
            config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("fn"), str):
            name = config["fn"]
            if name not in _FUNCTIONS:
                raise ValueError(f"MeanMetricWrapper.from_config: unknown function {name!r}")
            config["fn"] = _FUNCTIONS[name]
        return cls(**config)


# -- per-sample functions (keras.metrics.<name>) -------------------------------------------------
def accuracy(y_true, y_pred):
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
    return (y_true.astype(y_pred.dtype) == y_pred).mean(axis=-1)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    # Keras compares the labels themselves with the thresholded predictions: a soft label such
    # as 0.9 (label smoothing) never counts as right.
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
    return (y_true == (y_pred > threshold).astype(y_true.dtype)).mean(axis=-1)


def categorical_accuracy(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return (y_true.argmax(axis=-1) == y_pred.argmax(axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1:] == (1,):
        y_true = y_true[..., 0]
    return (y_true == y_pred.argmax(axis=-1)).astype(np.float64)


def _in_top_k(targets, predictions, k):
    # Keras (numpy backend): the target's score is at least the k-th largest, i.e. fewer than k
    # classes score strictly higher (ties at the boundary count as in).
    predictions = predictions.reshape(-1, predictions.shape[-1])
    targets = np.asarray(targets).reshape(-1).astype(np.int64)
    scores = predictions[np.arange(targets.size), targets]
    return ((predictions > scores[:, None]).sum(axis=1) < k).astype(np.float64)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = y_true.argmax(axis=-1)
    return _in_top_k(labels, y_pred, k).reshape(labels.shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return _in_top_k(y_true, y_pred, k).reshape(y_true.shape)


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
    return np.square(y_true - y_pred).mean(axis=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
    return np.abs(y_true - y_pred).mean(axis=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """The metric's cosine similarity: +sum(l2_normalize(y_true) * l2_normalize(y_pred)) (the
    loss of that name is its negative)."""
    return -losses.cosine_similarity(y_true, y_pred, axis=axis)


# The loss functions Keras also exports as keras.metrics.<name> (one value per sample).
from brisknn.losses import (binary_crossentropy, categorical_crossentropy,  # noqa: E402
                            binary_focal_crossentropy, categorical_focal_crossentropy,
                            categorical_hinge, hinge, huber, kl_divergence, log_cosh,
                            mean_absolute_percentage_error, mean_squared_logarithmic_error,
                            poisson, sparse_categorical_crossentropy, squared_hinge)

def _returning_tensors(fn):
    # As Keras' metric functions return backend tensors: arrays that also answer .numpy().
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return np.asarray(fn(*args, **kwargs)).view(backend.Tensor)
    return wrapper


(accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
 top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_squared_error,
 mean_absolute_error) = map(_returning_tensors, (
     accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
     top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_squared_error,
     mean_absolute_error))

_FUNCTIONS = {f.__name__: f for f in (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_squared_error,
    mean_absolute_error, cosine_similarity, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, binary_focal_crossentropy, categorical_focal_crossentropy,
    categorical_hinge, hinge, squared_hinge, huber,
    kl_divergence, log_cosh, mean_absolute_percentage_error, mean_squared_logarithmic_error,
    poisson)}


# -- accuracy ----------------------------------------------------------------------------------
class Accuracy(MeanMetricWrapper):
    """Exact equality of y_true and y_pred (Keras' 'Accuracy' class, not the string 'accuracy')."""
    _direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    _direction = "up"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if threshold is not None and not 0 < threshold < 1:
            raise ValueError("Invalid value for argument `threshold`. Expected a value in "
                             f"interval (0, 1). Received: threshold={threshold}")
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    _direction = "up"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    _direction = "up"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    _direction = "up"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    _direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {**super().get_config(), "k": self.k}


# -- regression --------------------------------------------------------------------------------
class MeanSquaredError(MeanMetricWrapper):
    _direction = "down"

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    _direction = "down"

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    _direction = "down"

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    _direction = "down"

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, name=name, dtype=dtype)


class LogCoshError(MeanMetricWrapper):
    _direction = "down"

    def __init__(self, name="logcosh", dtype=None):  # Keras' default name
        super().__init__(log_cosh, name=name, dtype=dtype)


class CosineSimilarity(MeanMetricWrapper):
    """The mean cosine similarity (1 when y_pred points along y_true)."""
    _direction = "up"

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


class Hinge(MeanMetricWrapper):
    _direction = "down"

    def __init__(self, name="hinge", dtype=None):
        super().__init__(hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    _direction = "down"

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    _direction = "down"

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, name=name, dtype=dtype)


class KLDivergence(MeanMetricWrapper):
    _direction = "down"

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, name=name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    _direction = "down"

    def __init__(self, name="poisson", dtype=None):
        super().__init__(poisson, name=name, dtype=dtype)


class R2Score(Metric):
    """Keras' R2Score: 1 - sum((y_true - y_pred)^2) / sum((y_true - mean(y_true))^2) per
    output column over every sample seen, then averaged ('uniform_average'), weighted by each
    column's variance ('variance_weighted_average'), or not (None); `num_regressors` > 0 gives
    the adjusted score. Inputs are (batch, outputs)."""
    _direction = "up"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score",
                 dtype=None):
        super().__init__(dtype=dtype, name=name)
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError("Invalid value for argument `class_aggregation`. Expected one of "
                             "(None, 'uniform_average', 'variance_weighted_average'). "
                             f"Received: class_aggregation={class_aggregation}")
        if num_regressors < 0:
            raise ValueError("Invalid value for argument `num_regressors`. Expected a value "
                             f">= 0. Received: num_regressors={num_regressors}")
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.num_samples = self.add_variable((), name="num_samples")
        self._sums = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true, dtype=np.float64),
                                                        np.asarray(y_pred, dtype=np.float64))
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise ValueError("R2Score expects 2D inputs with shape (batch_size, output_dim). "
                             f"Received input shapes: y_pred.shape={y_pred.shape} and "
                             f"y_true.shape={y_true.shape}.")
        if self._sums is None:
            outputs = y_pred.shape[-1]
            self._sums = [self.add_variable((outputs,), name=n)
                          for n in ("squared_sum", "sum", "residual", "count")]
        weight = np.ones(()) if sample_weight is None else np.asarray(sample_weight, np.float64)
        if weight.ndim == 1:
            weight = weight[:, None]
        weight = np.broadcast_to(weight, y_true.shape)
        squared_sum, total, residual, count = (v.value for v in self._sums)
        total += (y_true * weight).sum(axis=0)
        squared_sum += (y_true * y_true * weight).sum(axis=0)
        residual += ((y_true - y_pred) ** 2 * weight).sum(axis=0)
        count += weight.sum(axis=0)
        self.num_samples.value += y_true.size

    def result(self):
        if self._sums is None:
            return backend.Scalar(0.0)
        squared_sum, total_sum, residual, count = (v.value for v in self._sums)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total_sum / count
            total = squared_sum - total_sum * mean
            raw = 1 - residual / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = raw.mean()
        elif self.class_aggregation == "variance_weighted_average":
            score = (total * raw).sum() / total.sum()
        else:
            return raw
        n, p = float(self.num_samples.value), self.num_regressors
        if p and p < n - 1:
            score = 1 - (1 - score) * (n - 1) / (n - p - 1)
        return backend.Scalar(score)

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class RootMeanSquaredError(Mean):
    """sqrt of the mean squared error over every sample seen (not the mean of batch RMSEs)."""
    _direction = "down"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true, dtype=np.float64),
                                                        np.asarray(y_pred, dtype=np.float64))
        super().update_state(np.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self):
        return backend.Scalar(math.sqrt(super().result()))


# -- probabilistic (the losses, averaged over samples) ------------------------------------------
class _CrossentropyMetric(MeanMetricWrapper):
    _direction = "down"
    _loss = None

    def __init__(self, name, dtype, from_logits, label_smoothing, axis):
        if axis != -1:
            raise NotImplementedError(f"{type(self).__name__}: axis={axis!r} is not supported "
                                      "yet (only -1)")
        super().__init__(self._per_sample, name=name, dtype=dtype)
        self.from_logits = from_logits
        self.label_smoothing = float(label_smoothing)

    def _per_sample(self, y_true, y_pred):
        loss = self._loss(from_logits=self.from_logits)
        if self.label_smoothing:
            loss.label_smoothing = self.label_smoothing
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if loss.label_smoothing:
            y_true = loss.smooth(np.asarray(y_true, dtype=np.asarray(y_pred).dtype))
        return losses._per_sample(loss.kernel, y_true, y_pred, self.from_logits)

    def get_config(self):
        return {**Metric.get_config(self), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(_CrossentropyMetric):
    _loss = losses.BinaryCrossentropy

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0, axis=-1):
        super().__init__(name, dtype, from_logits, label_smoothing, axis)


class CategoricalCrossentropy(_CrossentropyMetric):
    _loss = losses.CategoricalCrossentropy

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0, axis=-1):
        super().__init__(name, dtype, from_logits, label_smoothing, axis)


class SparseCategoricalCrossentropy(_CrossentropyMetric):
    _loss = losses.SparseCategoricalCrossentropy

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 axis=-1):
        super().__init__(name, dtype, from_logits, 0.0, axis)

    def _per_sample(self, y_true, y_pred):
        return losses._per_sample(self._loss.kernel, y_true, y_pred, self.from_logits)

    def get_config(self):
        return {**Metric.get_config(self), "from_logits": self.from_logits}


# -- confusion-matrix metrics ------------------------------------------------------------------
class _ThresholdMetric(Metric):
    """Keras' Precision/Recall counting: a prediction is positive when strictly above a
    threshold, a label when non-zero; `thresholds` a float or a list (one result each)."""
    _direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(dtype=dtype, name=name)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        listed = thresholds if isinstance(thresholds, (list, tuple)) else [thresholds]
        if thresholds is None:  # Keras: 0.5, or with top_k every one of the k largest counts
            listed = [0.5 if top_k is None else -np.inf]
        else:
            for t in listed:
                if not 0 <= t <= 1:
                    raise ValueError(f"Threshold values must be in [0, 1]. Received: {t}")
        self.thresholds = [float(t) for t in listed]
        self.true_positives = self.add_variable((len(self.thresholds),), name="true_positives")
        self.add_variable((len(self.thresholds),), name=self._other)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred, y_true = squeeze_or_expand_to_same_rank(np.asarray(y_pred, dtype=np.float64),
                                                        np.asarray(y_true))
        if self.top_k is not None:  # Keras' _filter_top_k: all but the k largest become -inf
            keep = np.argsort(-y_pred, axis=-1, kind="stable")[..., :self.top_k]
            top = np.full_like(y_pred, -np.inf)
            np.put_along_axis(top, keep, np.take_along_axis(y_pred, keep, axis=-1), axis=-1)
            y_pred = top
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        label = (y_true != 0).reshape(-1)
        pred = y_pred.reshape(-1)[None, :] > np.array(self.thresholds)[:, None]
        weight = _element_weights(sample_weight, y_pred)
        self.true_positives.value += (pred & label) @ weight
        self._variables[1].value += self._count_other(pred, label) @ weight

    def result(self):
        tp, other = self.true_positives.value, self._variables[1].value
        ratio = _divide_no_nan(tp, tp + other)
        return backend.Scalar(ratio[0]) if len(self.thresholds) == 1 else ratio

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_ThresholdMetric):
    _other = "false_positives"

    @staticmethod
    def _count_other(pred, label):
        return pred & ~label

    @property
    def false_positives(self):
        return self._variables[1]


class Recall(_ThresholdMetric):
    _other = "false_negatives"

    @staticmethod
    def _count_other(pred, label):
        return ~pred & label

    @property
    def false_negatives(self):
        return self._variables[1]


class _ConfusionCount(Metric):
    """Keras' TruePositives, FalsePositives, TrueNegatives, FalseNegatives: the (weighted)
    count of predictions above each threshold (0.5 by default) against non-zero labels."""
    _direction = "up"

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(dtype=dtype, name=name)
        listed = thresholds if isinstance(thresholds, (list, tuple)) else [
            0.5 if thresholds is None else thresholds]
        for t in listed:
            if not 0 <= t <= 1:
                raise ValueError(f"Threshold values must be in [0, 1]. Received: {t}")
        self.init_thresholds = thresholds
        self.thresholds = [float(t) for t in listed]
        self.accumulator = self.add_variable((len(self.thresholds),), name="accumulator")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred, y_true = squeeze_or_expand_to_same_rank(np.asarray(y_pred, dtype=np.float64),
                                                        np.asarray(y_true))
        label = (y_true != 0).reshape(-1)
        pred = y_pred.reshape(-1)[None, :] > np.array(self.thresholds)[:, None]
        weight = _element_weights(sample_weight, y_pred)
        self.accumulator.value += self._count(pred, label) @ weight

    def result(self):
        value = self.accumulator.value
        return backend.Scalar(value[0]) if len(self.thresholds) == 1 else value.copy()

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionCount):
    @staticmethod
    def _count(pred, label):
        return pred & label


class FalsePositives(_ConfusionCount):
    _direction = "down"

    @staticmethod
    def _count(pred, label):
        return pred & ~label


class TrueNegatives(_ConfusionCount):
    @staticmethod
    def _count(pred, label):
        return ~pred & ~label


class FalseNegatives(_ConfusionCount):
    _direction = "down"

    @staticmethod
    def _count(pred, label):
        return ~pred & label


class FBetaScore(Metric):
    """Keras' FBetaScore for (batch, classes) targets: per class, (1 + beta^2) P R /
    (beta^2 P + R) from true/false positive and false negative counts over every sample seen.
    A prediction counts as positive above `threshold`, or (threshold None) where it is its
    row's largest non-zero score; `average` None (one score per class), 'micro', 'macro' or
    'weighted' (by each class's support)."""
    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(dtype=dtype, name=name)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("Invalid `average` argument value. Expected one of: "
                             "{None, 'micro', 'macro', 'weighted'}. "
                             f"Received: average={average}")
        if not isinstance(beta, float):
            raise ValueError("Invalid `beta` argument value. It should be a Python float. "
                             f"Received: beta={beta} of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: "
                             f"beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError("Invalid `threshold` argument value. It should be a Python "
                                 f"float. Received: threshold={threshold} of type "
                                 f"'{type(threshold)}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError("Invalid `threshold` argument value. It should verify "
                                 f"0 < threshold <= 1. Received: threshold={threshold}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.axis = None if average == "micro" else 0
        self._counts = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(y_true, dtype=np.float64)
        y_pred = np.asarray(y_pred, dtype=np.float64)
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise ValueError("FBetaScore expects 2D inputs with shape (batch_size, output_dim). "
                             f"Received input shapes: y_pred.shape={y_pred.shape} and "
                             f"y_true.shape={y_true.shape}.")
        if self._counts is None:
            shape = () if self.average == "micro" else (y_pred.shape[-1],)
            self._counts = [self.add_variable(shape, name=n) for n in (
                "true_positives", "false_positives", "false_negatives", "intermediate_weights")]
        if self.threshold is None:
            top = y_pred.max(axis=-1, keepdims=True)
            pred = ((y_pred >= top) & (np.abs(y_pred) > 1e-9)).astype(np.float64)
        else:
            pred = (y_pred > self.threshold).astype(np.float64)
        weight = None if sample_weight is None else \
            np.asarray(sample_weight, dtype=np.float64).reshape(-1, 1)

        def weighted_sum(values):
            return (values if weight is None else values * weight).sum(axis=self.axis)

        for var, values in zip(self._counts, (pred * y_true, pred * (1 - y_true),
                                              (1 - pred) * y_true, y_true)):
            var.value += weighted_sum(values)

    @property
    def true_positives(self):
        return self._counts[0] if self._counts else None

    def result(self):
        if self._counts is None:
            return backend.Scalar(0.0)
        tp, fp, fn, support = (v.value for v in self._counts)
        eps = backend.epsilon()
        precision = tp / (tp + fp + eps)
        recall = tp / (tp + fn + eps)
        beta2 = self.beta ** 2
        score = precision * recall / (beta2 * precision + recall + eps) * (1 + beta2)
        if self.average == "weighted":
            score = (score * support / (support.sum() + eps)).sum()
        elif self.average is not None:
            score = np.mean(score)
        return backend.Scalar(score) if np.ndim(score) == 0 else score

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """FBetaScore with beta 1: the harmonic mean of precision and recall."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class IoU(Metric):
    """Keras' IoU: a (num_classes, num_classes) confusion matrix (rows the labels, columns the
    predictions) over every element seen, then tp / (tp + fp + fn) per target class, averaged
    over the classes whose denominator is not zero. Labels and predictions are class ids
    (sparse_y_true/sparse_y_pred), or one-hot/scores argmaxed along `axis`; elements labelled
    `ignore_class` are left out."""
    _direction = "up"

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(dtype=dtype, name=name)
        self.num_classes = int(num_classes)
        if max(target_class_ids) >= num_classes:
            raise ValueError(f"Target class id {max(target_class_ids)} is out of range, which "
                             f"is [0, {num_classes}).")
        self.target_class_ids = list(target_class_ids)
        self.ignore_class = ignore_class
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        self.axis = axis
        self.total_cm = self.add_variable((self.num_classes, self.num_classes),
                                          name="total_confusion_matrix")

    def _ids(self, y_true, y_pred):
        if not self.sparse_y_true:
            y_true = np.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = np.argmax(y_pred, axis=self.axis)
        return np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = self._ids(np.asarray(y_true), np.asarray(y_pred))
        y_true, y_pred = y_true.astype(np.int64), y_pred.astype(np.int64)
        weight = np.ones(y_true.shape) if sample_weight is None else np.broadcast_to(
            np.asarray(sample_weight, dtype=np.float64).reshape(-1), y_true.shape)
        if self.ignore_class is not None:
            keep = y_true != self.ignore_class
            y_true, y_pred, weight = y_true[keep], y_pred[keep], weight[keep]
        n = self.num_classes
        for name, ids in (("labels", y_true), ("predictions", y_pred)):
            if ids.size and (ids.min() < 0 or ids.max() >= n):
                raise ValueError(f"{type(self).__name__}: {name} must be class ids in "
                                 f"[0, {n}), got values in [{ids.min()}, {ids.max()}]")
        self.total_cm.value += np.bincount(y_true * n + y_pred, weights=weight,
                                           minlength=n * n).reshape(n, n)

    def result(self):
        cm = self.total_cm.value
        true_positives = np.diag(cm)
        denominator = cm.sum(axis=0) + cm.sum(axis=1) - true_positives
        ids = self.target_class_ids
        true_positives, denominator = true_positives[ids], denominator[ids]
        valid = float((denominator > 1e-9).sum())
        eps = backend.epsilon()
        return backend.Scalar((true_positives / (denominator + eps)).sum() / (valid + eps))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class MeanIoU(IoU):
    """The IoU averaged over every class."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(num_classes)), name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class BinaryIoU(IoU):
    """The IoU of binary labels against scores, a score at or above `threshold` predicting 1."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, list(target_class_ids), name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = (np.asarray(y_pred, dtype=np.float64) >= self.threshold).astype(np.int64)
        super().update_state(np.asarray(y_true), y_pred, sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype,
                "target_class_ids": self.target_class_ids, "threshold": self.threshold}


class OneHotIoU(IoU):
    """IoU with one-hot labels and per-class scores (both argmaxed)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """MeanIoU with one-hot labels and per-class scores (both argmaxed)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class AUC(Metric):
    """Keras' AUC: true/false positive/negative counts at `num_thresholds` thresholds (evenly
    spaced in (0, 1), plus -1e-7 and 1 + 1e-7 at the ends), then the area under the ROC or PR
    curve by a Riemann sum ('interpolation', 'minoring' or 'majoring'). A prediction counts as
    positive above a threshold, a label when non-zero. Single-label (flattened) only."""

    _direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        if multi_label or num_labels is not None or label_weights is not None:
            raise NotImplementedError("AUC: multi_label, num_labels and label_weights are not "
                                      "supported yet")
        curve, summation_method = str(curve).upper(), str(summation_method).lower()
        if curve not in ("ROC", "PR"):
            raise ValueError(f'Invalid `curve` argument value "{curve}". Expected one of: '
                             "['ROC', 'PR']")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f'Invalid `summation_method` argument value "{summation_method}". '
                             "Expected one of: ['interpolation', 'minoring', 'majoring']")
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self.num_thresholds = len(inner) + 2
        else:
            if num_thresholds <= 1:
                raise ValueError("Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        eps = backend.epsilon()
        self._thresholds = np.array([0.0 - eps] + inner + [1.0 + eps])
        self.curve, self.summation_method = curve, summation_method
        self.multi_label, self.num_labels, self.label_weights = False, None, None
        self._from_logits = bool(from_logits)
        super().__init__(dtype=dtype, name=name)
        shape = (self.num_thresholds,)
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.true_negatives = self.add_variable(shape, name="true_negatives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")

    @property
    def thresholds(self):
        return list(self._thresholds)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred, y_true = squeeze_or_expand_to_same_rank(np.asarray(y_pred, dtype=np.float64),
                                                        np.asarray(y_true))
        if self._from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        label = (y_true != 0).reshape(-1)
        weight = _element_weights(sample_weight, y_pred)
        above = y_pred.reshape(-1)[None, :] > self._thresholds[:, None]  # (thresholds, n)
        positive, negative = weight * label, weight * ~label
        below = ~above
        self.true_positives.value += above @ positive
        self.false_positives.value += above @ negative
        self.false_negatives.value += below @ positive
        self.true_negatives.value += below @ negative

    def result(self):
        tp, fp = self.true_positives.value, self.false_positives.value
        tn, fn = self.true_negatives.value, self.false_negatives.value
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc(tp, fp, fn)
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return backend.Scalar(np.sum((x[:-1] - x[1:]) * heights))

    @staticmethod
    def _interpolate_pr_auc(tp, fp, fn):
        # Keras' interpolate_pr_auc (Davis & Goadrich 2006): TP and TP + FP vary linearly
        # between thresholds, the area of each interval in closed form.
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore"):
            log_ratio = np.log(np.where(ratio > 0, ratio, 1.0))
        return backend.Scalar(np.sum(_divide_no_nan(slope * (dtp + intercept * log_ratio),
                                           np.maximum(tp[1:] + fn[1:], 0))))

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": False, "num_labels": None, "label_weights": None,
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


class _SensitivitySpecificityBase(Metric):
    """Keras' base of SensitivityAtSpecificity & co: true/false positive/negative counts at
    `num_thresholds` thresholds (as AUC's), then the largest value of one rate among the
    thresholds where the other reaches `value` (0 if none does)."""
    _direction = "up"

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(dtype=dtype, name=name)
        if num_thresholds <= 0:
            raise ValueError("Argument `num_thresholds` must be an integer > 0. "
                             f"Received: num_thresholds={num_thresholds}")
        self.value = value
        self.class_id = class_id
        self.num_thresholds = num_thresholds
        if num_thresholds == 1:
            self.thresholds = [0.5]
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds = [0.0 - backend.epsilon()] + inner + [1.0 + backend.epsilon()]
        shape = (len(self.thresholds),)
        self.true_positives = self.add_variable(shape, name="true_positives")
        self.false_positives = self.add_variable(shape, name="false_positives")
        self.true_negatives = self.add_variable(shape, name="true_negatives")
        self.false_negatives = self.add_variable(shape, name="false_negatives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred, y_true = squeeze_or_expand_to_same_rank(np.asarray(y_pred, dtype=np.float64),
                                                        np.asarray(y_true))
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        label = (y_true != 0).reshape(-1)
        weight = _element_weights(sample_weight, y_pred)
        above = y_pred.reshape(-1)[None, :] > np.array(self.thresholds)[:, None]
        positive, negative = weight * label, weight * ~label
        self.true_positives.value += above @ positive
        self.false_positives.value += above @ negative
        self.false_negatives.value += ~above @ positive
        self.true_negatives.value += ~above @ negative

    def _find_max_under_constraint(self, constrained, dependent):
        feasible = constrained >= self.value
        return backend.Scalar(max(0.0, float((dependent * feasible).max(initial=0.0))))

    def _rates(self):
        tp, fp = self.true_positives.value, self.false_positives.value
        tn, fn = self.true_negatives.value, self.false_negatives.value
        return {"sensitivity": _divide_no_nan(tp, tp + fn),
                "specificity": _divide_no_nan(tn, tn + fp),
                "precision": _divide_no_nan(tp, tp + fp)}

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds,
                "class_id": self.class_id}


class SensitivityAtSpecificity(_SensitivitySpecificityBase):
    """The best sensitivity (recall) among thresholds whose specificity is >= `specificity`."""

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        if not 0 <= specificity <= 1:
            raise ValueError("Argument `specificity` must be in the range [0, 1]. "
                             f"Received: specificity={specificity}")
        self.specificity = specificity
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self):
        rates = self._rates()
        return self._find_max_under_constraint(rates["specificity"], rates["sensitivity"])

    def get_config(self):
        return {**super().get_config(), "specificity": self.specificity}


class SpecificityAtSensitivity(_SensitivitySpecificityBase):
    """The best specificity among thresholds whose sensitivity is >= `sensitivity`."""

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        if not 0 <= sensitivity <= 1:
            raise ValueError("Argument `sensitivity` must be in the range [0, 1]. "
                             f"Received: sensitivity={sensitivity}")
        self.sensitivity = sensitivity
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self):
        rates = self._rates()
        return self._find_max_under_constraint(rates["sensitivity"], rates["specificity"])

    def get_config(self):
        return {**super().get_config(), "sensitivity": self.sensitivity}


class PrecisionAtRecall(_SensitivitySpecificityBase):
    """The best precision among thresholds whose recall is >= `recall`."""

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        if not 0 <= recall <= 1:
            raise ValueError(f"Argument `recall` must be in the range [0, 1]. Received: "
                             f"recall={recall}")
        self.recall = recall
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self):
        rates = self._rates()
        return self._find_max_under_constraint(rates["sensitivity"], rates["precision"])

    def get_config(self):
        return {**super().get_config(), "recall": self.recall}


class RecallAtPrecision(_SensitivitySpecificityBase):
    """The best recall among thresholds whose precision is >= `precision`."""

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        if not 0 <= precision <= 1:
            raise ValueError("Argument `precision` must be in the range [0, 1]. Received: "
                             f"precision={precision}")
        self.precision = precision
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self):
        rates = self._rates()
        return self._find_max_under_constraint(rates["precision"], rates["sensitivity"])

    def get_config(self):
        return {**super().get_config(), "precision": self.precision}


def _divide_no_nan(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def _element_weights(sample_weight, y_pred):
    """Per-element weights, flattened: sample_weight broadcast over y_pred (ones if None)."""
    if sample_weight is None:
        return np.ones(y_pred.size)
    weight = np.asarray(sample_weight, dtype=np.float64)
    weight = weight.reshape(weight.shape + (1,) * (y_pred.ndim - weight.ndim))
    return np.broadcast_to(weight, y_pred.shape).reshape(-1)


# -- lookup ------------------------------------------------------------------------------------
_CLASSES = (Mean, Sum, MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError, Precision,
            Recall, AUC, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
            Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
            TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanAbsolutePercentageError,
            MeanSquaredLogarithmicError, LogCoshError, CosineSimilarity, Hinge, SquaredHinge,
            CategoricalHinge, KLDivergence, Poisson, R2Score, TruePositives, FalsePositives,
            TrueNegatives, FalseNegatives, FBetaScore, F1Score, IoU, MeanIoU, BinaryIoU,
            OneHotIoU, OneHotMeanIoU, SensitivityAtSpecificity, SpecificityAtSensitivity,
            PrecisionAtRecall, RecallAtPrecision)
# As Keras' ALL_OBJECTS_DICT: class names, their snake_case forms, and short aliases.
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({_to_snake_case(cls.__name__): cls for cls in _CLASSES})
_BY_NAME.update({"bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
                 "mse": MeanSquaredError, "MSE": MeanSquaredError,
                 "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
                 "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
                 "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError})


def get(identifier, loss_name=None, output_shape=None, y_shape=None):
    """A metric for a Keras name, class, instance, function or {'class_name', 'config'} dict;
    a name also names the metric (the history key), as Keras' compile does. 'accuracy'/'acc'
    resolves from the shapes of the targets and the output (see _accuracy_for)."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict):
        cls = _BY_NAME.get(str(identifier.get("class_name")))
        if cls is None:
            raise ValueError(f"Unknown metric {identifier!r}")
        return cls.from_config(dict(identifier.get("config") or {}))
    if callable(identifier) and not isinstance(identifier, str):
        # Keras' get_object_name: a loss object's name, else the function's.
        name = getattr(identifier, "name", None) or getattr(identifier, "__name__", None)
        return MeanMetricWrapper(identifier, name=name)
    if not isinstance(identifier, str):
        raise ValueError(f"Unknown metric {identifier!r}")
    if identifier.lower() in ("accuracy", "acc"):
        return _accuracy_for(loss_name, output_shape, y_shape)(name=identifier)
    cls = _BY_NAME.get(identifier) or _BY_NAME.get(identifier.lower())
    if cls is None:
        raise ValueError(f"Unknown metric {identifier!r}; known: accuracy, "
                         f"{sorted(k for k in _BY_NAME if k.islower())}")
    return cls(name=identifier)


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
