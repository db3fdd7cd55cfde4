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
        if self.kernel is None:  # computed in NumPy by `call`, as a Keras Loss subclass
            return self._reduce(np.asarray(self.call(y_true, y_pred)))
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

    def call(self, y_true, y_pred):
        """The loss of each sample (Keras' `Loss.call`): what a subclass without a kernel
        defines."""
        raise NotImplementedError(f"{type(self).__name__} must define call(y_true, y_pred)")

    def _reduce(self, values):
        # Keras' reduce_values: the mean over every value, their sum, or the values themselves.
        if self.reduction in _MEANS:
            return backend.Scalar(values.mean(dtype=np.float64) if values.size else np.nan)
        if self.reduction == "sum":
            return backend.Scalar(values.sum(dtype=np.float64))
        return values.view(backend.Tensor)

    def batch_loss_and_grad(self, y_true, y_pred, with_grad, weights=None):
        """For fit: (loss of the batch, its gradient with respect to y_pred or None) of a loss
        computed in NumPy; `weights`, one per sample row, replace the batch mean (a mask)."""
        values = np.asarray(self.call(y_true, y_pred), dtype=np.float64).reshape(-1)
        rows = max(values.size, 1)
        loss = float(values @ weights) if weights is not None else float(values.sum() / rows)
        if not with_grad:
            return loss, None
        if not hasattr(self, "grad"):
            raise NotImplementedError(f"{type(self).__name__} has no gradient in brisknn: "
                                      "define grad(y_true, y_pred) to train with it")
        grad = np.asarray(self.grad(y_true, y_pred), dtype=y_pred.dtype)
        scale = weights if weights is not None else np.full(values.size, 1.0 / rows)
        grad = grad.reshape(values.size, -1) * scale[:, None].astype(y_pred.dtype)
        return loss, np.ascontiguousarray(grad.reshape(y_pred.shape))

    def get_config(self):
        config = {"name": self.name, "reduction": self.reduction}
        if self.kernel is None or self.kernel in _REGRESSION:
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
    """ignore_class: a label (-1 or 255, say) whose values count nothing: as in Keras 3 they
    are 0 and masked, so the mean is over the other values (sum / (valid + 1e-7))."""

    kernel = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name, reduction, from_logits, dtype)
        self.ignore_class = None if ignore_class is None else int(ignore_class)

    def valid(self, labels):
        """The mask of the labels that count (None when every label does)."""
        return None if self.ignore_class is None else np.asarray(labels) != self.ignore_class

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.ignore_class is None:
            return super().__call__(y_true, y_pred, sample_weight)
        y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
        values = np.asarray(sparse_categorical_crossentropy(y_true, y_pred, self.from_logits,
                                                            self.ignore_class))
        # Keras' apply_mask: the mask is a weight, scaled for the means to total / valid.
        weight = self.valid(y_true).reshape(values.shape).astype(values.dtype)
        if self.reduction in _MEANS and self.reduction != "mean_with_sample_weight":
            weight *= values.dtype.type(weight.size / (weight.sum(dtype=np.float64) + 1e-7))
        values = values * weight
        if sample_weight is not None:  # values * mask * sample_weight, and their weights
            values, sample = _weighted(values, sample_weight, type(self).__name__)
            weight = weight * sample
        if self.reduction is None or self.reduction == "none":
            return values.view(backend.Tensor)
        total = values.sum(dtype=np.float64)
        if self.reduction == "sum":
            return backend.Scalar(total)
        if self.reduction == "mean_with_sample_weight":
            divisor = weight.sum(dtype=np.float64)
            return backend.Scalar(total / divisor if divisor else 0.0)
        return backend.Scalar(total / values.size if values.size else np.nan)

    def get_config(self):
        return {**super().get_config(), "ignore_class": self.ignore_class}


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
    _unsupported("sparse_categorical_crossentropy", axis=(axis, -1))
    if ignore_class is None:
        return _per_sample("sparse_categorical_crossentropy", y_true, y_pred, from_logits)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    valid = y_true != ignore_class
    values = _per_sample("sparse_categorical_crossentropy", np.where(valid, y_true, 0), y_pred,
                         from_logits)
    return np.where(valid, values, 0).astype(values.dtype).view(backend.Tensor)


# -- losses computed in NumPy: each per-sample function (Keras' formula, reduced over the last
# axis) with the gradient of those values with respect to y_pred, for fit.
def _floats(y_true, y_pred, match_rank=True):
    y_pred = ops.as_float(y_pred, "y_pred")
    y_true = ops.as_float(y_true, "y_true", y_pred.dtype)
    if match_rank:  # Keras' regression functions do; the hinge and KL ones do not
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return y_true, y_pred


def _per_row(values):
    return np.asarray(values).view(backend.Tensor)


def mean_absolute_percentage_error(y_true, y_pred):
    """100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7)) over the last axis."""
    y_true, y_pred = _floats(y_true, y_pred)
    scale = np.maximum(np.abs(y_true), backend.epsilon()).astype(y_pred.dtype)
    return _per_row(100.0 * np.abs((y_true - y_pred) / scale).mean(axis=-1))


def _mape_grad(y_true, y_pred):
    scale = np.maximum(np.abs(y_true), backend.epsilon())
    return 100.0 * np.sign(y_pred - y_true) / scale / y_pred.shape[-1]


def mean_squared_logarithmic_error(y_true, y_pred):
    """mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))^2) over the last axis."""
    y_true, y_pred = _floats(y_true, y_pred)
    eps = backend.epsilon()
    diff = np.log(np.maximum(y_pred, eps) + 1.0) - np.log(np.maximum(y_true, eps) + 1.0)
    return _per_row(np.square(diff).mean(axis=-1))


def _msle_grad(y_true, y_pred):
    eps = backend.epsilon()
    clipped = np.maximum(y_pred, eps)
    diff = np.log(clipped + 1.0) - np.log(np.maximum(y_true, eps) + 1.0)
    return 2.0 * diff / (clipped + 1.0) * (y_pred > eps) / y_pred.shape[-1]


def _l2_normalize(x, axis):
    # Keras' ops.normalize (order 2): x * min(rsqrt(sum(x^2)), 1 / epsilon)
    with np.errstate(divide="ignore"):
        inv = 1.0 / np.sqrt(np.square(x).sum(axis=axis, keepdims=True))
    return x * np.minimum(inv, 1.0 / backend.epsilon()), inv


def cosine_similarity(y_true, y_pred, axis=-1):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) along `axis`: -1 when they point the
    same way, 0 when either is zero."""
    y_true, y_pred = _floats(y_true, y_pred)
    return _per_row(-(_l2_normalize(y_true, axis)[0] *
                      _l2_normalize(y_pred, axis)[0]).sum(axis=axis))


def _cosine_grad(y_true, y_pred, axis=-1):
    t = _l2_normalize(y_true, axis)[0]
    p, inv = _l2_normalize(y_pred, axis)
    clipped = inv > 1.0 / backend.epsilon()  # the norm is below epsilon: p / epsilon
    scale = np.minimum(inv, 1.0 / backend.epsilon())
    projection = (t * p).sum(axis=axis, keepdims=True)
    return np.where(clipped, -t * scale, -(t - projection * p) * scale)


def huber(y_true, y_pred, delta=1.0):
    """mean(0.5 e^2 where |e| <= delta, else delta |e| - 0.5 delta^2), e = y_pred - y_true."""
    y_true, y_pred = _floats(y_true, y_pred)
    error = y_pred - y_true
    abs_error = np.abs(error)
    values = np.where(abs_error <= delta, 0.5 * np.square(error),
                      delta * abs_error - 0.5 * delta * delta)
    return _per_row(values.astype(y_pred.dtype).mean(axis=-1))


def _huber_grad(y_true, y_pred, delta=1.0):
    error = y_pred - y_true
    return np.clip(error, -delta, delta) / y_pred.shape[-1]


def log_cosh(y_true, y_pred):
    """mean(log(cosh(y_pred - y_true))), as Keras: x + softplus(-2x) - log(2), no overflow."""
    y_true, y_pred = _floats(y_true, y_pred)
    x = y_pred - y_true
    return _per_row((x + np.logaddexp(0.0, -2.0 * x) - np.log(2.0)).mean(axis=-1))


def _log_cosh_grad(y_true, y_pred):
    return np.tanh(y_pred - y_true) / y_pred.shape[-1]


def _hinge_labels(y_true):
    # Keras' convert_binary_labels_to_hinge: labels all 0 or 1 become -1 or 1.
    if np.all((y_true == 0) | (y_true == 1)):
        return 2.0 * y_true - 1.0
    return y_true


def hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0)); 0/1 labels are read as -1/1."""
    y_true, y_pred = _floats(y_true, y_pred, match_rank=False)
    y_true = _hinge_labels(y_true)
    return _per_row(np.maximum(1.0 - y_true * y_pred, 0.0).mean(axis=-1))


def _hinge_grad(y_true, y_pred):
    y_true = _hinge_labels(y_true)
    return -y_true * (1.0 - y_true * y_pred > 0) / y_pred.shape[-1]


def squared_hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0)^2); 0/1 labels are read as -1/1."""
    y_true, y_pred = _floats(y_true, y_pred, match_rank=False)
    y_true = _hinge_labels(y_true)
    return _per_row(np.square(np.maximum(1.0 - y_true * y_pred, 0.0)).mean(axis=-1))


def _squared_hinge_grad(y_true, y_pred):
    y_true = _hinge_labels(y_true)
    return -2.0 * y_true * np.maximum(1.0 - y_true * y_pred, 0.0) / y_pred.shape[-1]


def categorical_hinge(y_true, y_pred):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) for one-hot y_true."""
    y_true, y_pred = _floats(y_true, y_pred, match_rank=False)
    pos = (y_true * y_pred).sum(axis=-1)
    neg = ((1.0 - y_true) * y_pred).max(axis=-1)
    return _per_row(np.maximum(neg - pos + 1.0, 0.0))


def _categorical_hinge_grad(y_true, y_pred):
    others = (1.0 - y_true) * y_pred
    neg = others.max(axis=-1)
    active = (neg - (y_true * y_pred).sum(axis=-1) + 1.0 > 0)[..., None]
    top = np.zeros_like(y_pred)
    np.put_along_axis(top, others.argmax(axis=-1)[..., None], 1.0, axis=-1)
    return active * (top * (1.0 - y_true) - y_true)


def kl_divergence(y_true, y_pred):
    """sum(y_true * log(y_true / y_pred)), both clipped to [1e-7, 1]."""
    y_true, y_pred = _floats(y_true, y_pred, match_rank=False)
    eps = backend.epsilon()
    y_true, y_pred = np.clip(y_true, eps, 1), np.clip(y_pred, eps, 1)
    return _per_row((y_true * np.log(y_true / y_pred)).sum(axis=-1))


def _kl_divergence_grad(y_true, y_pred):
    eps = backend.epsilon()
    inside = (y_pred >= eps) & (y_pred <= 1)
    return -np.clip(y_true, eps, 1) / np.clip(y_pred, eps, 1) * inside


def poisson(y_true, y_pred):
    """mean(y_pred - y_true * log(y_pred + 1e-7))."""
    y_true, y_pred = _floats(y_true, y_pred, match_rank=False)
    return _per_row((y_pred - y_true * np.log(y_pred + backend.epsilon())).mean(axis=-1))


def _poisson_grad(y_true, y_pred):
    return (1.0 - y_true / (y_pred + backend.epsilon())) / y_pred.shape[-1]


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    """mean((1 - p_t)^gamma * bce) over the last axis, p_t = y_true p + (1 - y_true)(1 - p);
    with apply_class_balancing each term weighs alpha (label 1) or 1 - alpha (label 0)."""
    _unsupported("binary_focal_crossentropy", axis=(axis, -1))
    y_true, y_pred = _floats(y_true, y_pred, match_rank=False)
    values, _ = _binary_focal(y_true, y_pred, apply_class_balancing, alpha, gamma, from_logits,
                              label_smoothing, with_grad=False)
    return _per_row(values.mean(axis=-1))


def _binary_focal(t, p, balance, alpha, gamma, from_logits, smoothing, with_grad=True):
    """(per-element loss, its derivative with respect to y_pred or None)."""
    if smoothing:
        t = t * (1.0 - smoothing) + 0.5 * smoothing
    z = p
    if from_logits:
        p = 1.0 / (1.0 + np.exp(-z))
    eps = backend.epsilon()
    q = np.clip(p, eps, 1 - eps)
    bce = -(t * np.log(q) + (1 - t) * np.log(1 - q))
    p_t = t * p + (1 - t) * (1 - p)
    with np.errstate(divide="ignore", invalid="ignore"):
        focal = np.power(1.0 - p_t, gamma)
    weight = t * alpha + (1 - t) * (1 - alpha) if balance else 1.0
    values = (weight * focal * bce).astype(p.dtype)
    if not with_grad:
        return values, None
    with np.errstate(divide="ignore", invalid="ignore"):
        dfocal = np.where(1.0 - p_t > 0, -gamma * np.power(1.0 - p_t, gamma - 1), 0.0) * (2 * t - 1)
    inside = (p > eps) & (p < 1 - eps)
    dbce = np.where(inside, (q - t) / (q * (1 - q)), 0.0)
    grad = weight * (dfocal * bce + focal * dbce)
    if from_logits:
        grad = grad * p * (1 - p)
    return values, grad


def _binary_focal_grad(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                       from_logits=False, label_smoothing=0.0, axis=-1):
    _, grad = _binary_focal(y_true, y_pred, apply_class_balancing, alpha, gamma, from_logits,
                            label_smoothing)
    return grad / y_pred.shape[-1]


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """sum(alpha (1 - q)^gamma * -y_true log q) over the last axis, q the predictions
    renormalised to sum to 1 and clipped to [1e-7, 1 - 1e-7] (softmax first from logits)."""
    _unsupported("categorical_focal_crossentropy", axis=(axis, -1))
    y_true, y_pred = _floats(y_true, y_pred, match_rank=False)
    values, _ = _categorical_focal(y_true, y_pred, alpha, gamma, from_logits, label_smoothing,
                                   with_grad=False)
    return _per_row(values)


def _categorical_focal(t, p, alpha, gamma, from_logits, smoothing, with_grad=True):
    if smoothing:
        t = t * (1.0 - smoothing) + smoothing / t.shape[-1]
    if from_logits:
        e = np.exp(p - p.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
    total = p.sum(axis=-1, keepdims=True)
    eps = backend.epsilon()
    raw = p / total
    q = np.clip(raw, eps, 1 - eps)
    values = (alpha * np.power(1.0 - q, gamma) * -t * np.log(q)).sum(axis=-1).astype(p.dtype)
    if not with_grad:
        return values, None
    # d/dq_j, zero where the clip holds q; then through q = p / sum(p) (and the softmax)
    with np.errstate(divide="ignore", invalid="ignore"):
        dq = alpha * t * (gamma * np.power(1.0 - q, gamma - 1) * np.log(q)
                          - np.power(1.0 - q, gamma) / q)
    dq = np.where((raw > eps) & (raw < 1 - eps), dq, 0.0)
    grad = (dq - (dq * raw).sum(axis=-1, keepdims=True)) / total
    if from_logits:
        grad = p * (grad - (grad * p).sum(axis=-1, keepdims=True))
    return values, grad


def _categorical_focal_grad(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                            label_smoothing=0.0, axis=-1):
    return _categorical_focal(y_true, y_pred, alpha, gamma, from_logits, label_smoothing)[1]


def dice(y_true, y_pred, axis=None):
    """1 - 2 sum(y_true y_pred) / (sum(y_true) + sum(y_pred) + 1e-7), summed over `axis`
    (everything by default: one value for the batch)."""
    y_true, y_pred = _floats(y_true, y_pred, match_rank=False)
    axis = tuple(axis) if isinstance(axis, list) else axis
    total = y_true.sum(axis=axis) + y_pred.sum(axis=axis) + backend.epsilon()
    return _per_row(1 - 2.0 * (y_true * y_pred).sum(axis=axis) / total)


def _dice_grad(y_true, y_pred, axis=None):
    axis = tuple(axis) if isinstance(axis, list) else axis
    total = y_true.sum(axis=axis, keepdims=True) + y_pred.sum(axis=axis, keepdims=True) + \
        backend.epsilon()
    intersection = (y_true * y_pred).sum(axis=axis, keepdims=True)
    return -(2.0 * y_true * total - 2.0 * intersection) / total ** 2


def tversky(y_true, y_pred, alpha=0.5, beta=0.5):
    """1 - I / (I + alpha sum((1 - y_pred) y_true) + beta sum(y_pred (1 - y_true)) + 1e-7),
    I = sum(y_true y_pred), over the whole batch (Keras' weighting: alpha = beta = 0.5 is the
    Dice loss)."""
    y_true, y_pred = _floats(y_true, y_pred, match_rank=False)
    t, p = y_true.reshape(-1), y_pred.reshape(-1)
    intersection = (t * p).sum()
    denominator = intersection + ((1 - p) * t).sum() * alpha + (p * (1 - t)).sum() * beta + \
        backend.epsilon()
    return _per_row(1 - intersection / denominator)


def _tversky_grad(y_true, y_pred, alpha=0.5, beta=0.5):
    intersection = (y_true * y_pred).sum()
    denominator = intersection + ((1 - y_pred) * y_true).sum() * alpha + \
        (y_pred * (1 - y_true)).sum() * beta + backend.epsilon()
    d_denominator = y_true - alpha * y_true + beta * (1 - y_true)
    return -(y_true * denominator - intersection * d_denominator) / denominator ** 2


class LossFunctionWrapper(Loss):
    """A Loss from a per-sample function `fn(y_true, y_pred, **kwargs)` (Keras'). It trains
    when `grad_fn(y_true, y_pred, **kwargs)` gives that function's gradient."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None,
                 grad_fn=None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", None), reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs
        if grad_fn is not None:
            self.grad = lambda y_true, y_pred: grad_fn(*_floats(y_true, y_pred), **kwargs)

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)


def _numpy_loss(class_name, fn, grad_fn, default_name, doc, **params):
    """A Keras loss class over one of the functions above (its extra arguments `params`)."""

    # Keras' argument order: the loss's own parameters, then reduction, name, dtype.
    order = list(params) + ["reduction", "name", "dtype"]

    def __init__(self, *args, **kwargs):
        if len(args) > len(order):
            raise TypeError(f"{class_name}() takes at most {len(order)} positional arguments")
        for key, value in zip(order, args):
            if key in kwargs:
                raise TypeError(f"{class_name}() got multiple values for argument {key!r}")
            kwargs[key] = value
        unknown = set(kwargs) - set(order)
        if unknown:
            raise TypeError(f"{class_name}() got an unexpected keyword argument "
                            f"{sorted(unknown)[0]!r}")
        values = {key: kwargs.get(key, default) for key, default in params.items()}
        LossFunctionWrapper.__init__(self, fn, kwargs.get("reduction", "sum_over_batch_size"),
                                     kwargs.get("name", default_name), kwargs.get("dtype"),
                                     grad_fn, **values)
        self.__dict__.update(values)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, **self._fn_kwargs}

    return type(class_name, (LossFunctionWrapper,),
                {"__init__": __init__, "get_config": get_config, "__doc__": doc,
                 "__module__": __name__})


MeanAbsolutePercentageError = _numpy_loss(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error, _mape_grad,
    "mean_absolute_percentage_error", mean_absolute_percentage_error.__doc__)
MeanSquaredLogarithmicError = _numpy_loss(
    "MeanSquaredLogarithmicError", mean_squared_logarithmic_error, _msle_grad,
    "mean_squared_logarithmic_error", mean_squared_logarithmic_error.__doc__)
CosineSimilarity = _numpy_loss("CosineSimilarity", cosine_similarity, _cosine_grad,
                               "cosine_similarity", cosine_similarity.__doc__, axis=-1)
Huber = _numpy_loss("Huber", huber, _huber_grad, "huber_loss", huber.__doc__, delta=1.0)
LogCosh = _numpy_loss("LogCosh", log_cosh, _log_cosh_grad, "log_cosh", log_cosh.__doc__)
Hinge = _numpy_loss("Hinge", hinge, _hinge_grad, "hinge", hinge.__doc__)
SquaredHinge = _numpy_loss("SquaredHinge", squared_hinge, _squared_hinge_grad, "squared_hinge",
                           squared_hinge.__doc__)
CategoricalHinge = _numpy_loss("CategoricalHinge", categorical_hinge, _categorical_hinge_grad,
                               "categorical_hinge", categorical_hinge.__doc__)
KLDivergence = _numpy_loss("KLDivergence", kl_divergence, _kl_divergence_grad, "kl_divergence",
                           kl_divergence.__doc__)
Poisson = _numpy_loss("Poisson", poisson, _poisson_grad, "poisson", poisson.__doc__)
BinaryFocalCrossentropy = _numpy_loss(
    "BinaryFocalCrossentropy", binary_focal_crossentropy, _binary_focal_grad,
    "binary_focal_crossentropy", binary_focal_crossentropy.__doc__, apply_class_balancing=False,
    alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1)
Dice = _numpy_loss("Dice", dice, _dice_grad, "dice", dice.__doc__, axis=None)
Tversky = _numpy_loss("Tversky", tversky, _tversky_grad, "tversky", tversky.__doc__, alpha=0.5,
                      beta=0.5)
CategoricalFocalCrossentropy = _numpy_loss(
    "CategoricalFocalCrossentropy", categorical_focal_crossentropy, _categorical_focal_grad,
    "categorical_focal_crossentropy", categorical_focal_crossentropy.__doc__, alpha=0.25,
    gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1)

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

_NUMPY_CLASSES = {mean_absolute_percentage_error: MeanAbsolutePercentageError,
                  mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
                  cosine_similarity: CosineSimilarity, huber: Huber, log_cosh: LogCosh,
                  hinge: Hinge, squared_hinge: SquaredHinge, categorical_hinge: CategoricalHinge,
                  kl_divergence: KLDivergence, poisson: Poisson,
                  binary_focal_crossentropy: BinaryFocalCrossentropy,
                  categorical_focal_crossentropy: CategoricalFocalCrossentropy,
                  dice: Dice, tversky: Tversky}
_FUNCTIONS = {mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
              binary_crossentropy: BinaryCrossentropy,
              categorical_crossentropy: CategoricalCrossentropy,
              sparse_categorical_crossentropy: SparseCategoricalCrossentropy, **_NUMPY_CLASSES}
_CLASSES = {cls.__name__: cls for cls in _FUNCTIONS.values()}
# As Keras' ALL_OBJECTS_DICT: class names, function names, and the short aliases.
_ALIASES = {**_CLASSES, **{fn.__name__: cls for fn, cls in _FUNCTIONS.items()},
            "bce": BinaryCrossentropy, "kld": KLDivergence, "mse": MeanSquaredError,
            "mae": MeanAbsoluteError, "mape": MeanAbsolutePercentageError,
            "msle": MeanSquaredLogarithmicError,
            # Keras 2's names, still in Keras 3's legacy namespace
            "logcosh": LogCosh, "kullback_leibler_divergence": KLDivergence}


def loss_object(identifier):
    """A Loss instance from a Keras name ('mse', 'huber', 'CategoricalCrossentropy', ...), a
    Loss class or instance, a {'class_name', 'config'} dict, or a function of this module:
    what compile keeps (it needs the loss's kernel or its NumPy gradient)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or _ALIASES.get(identifier.lower())
        if cls is not None:
            return cls()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict):  # Keras' serialized form
        name = str(identifier.get("class_name", ""))
        cls = _CLASSES.get(name) or _ALIASES.get(_snake(name))
        if cls is not None:
            return cls(**identifier.get("config", {}))
    elif callable(identifier) and identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    raise ValueError(f"Unknown loss {identifier!r}; known: "
                     f"{sorted(k for k in _ALIASES if k.islower())}")


# Keras' ALL_OBJECTS_DICT for get(): the short aliases name the functions.
_FUNCTION_ALIASES = {"bce": binary_crossentropy, "BCE": binary_crossentropy,
                     "kld": kl_divergence, "KLD": kl_divergence, "mae": mean_absolute_error,
                     "MAE": mean_absolute_error, "mse": mean_squared_error,
                     "MSE": mean_squared_error, "mape": mean_absolute_percentage_error,
                     "MAPE": mean_absolute_percentage_error,
                     "msle": mean_squared_logarithmic_error,
                     "MSLE": mean_squared_logarithmic_error}


def get(identifier):
    """As keras.losses.get: a class name ('CategoricalCrossentropy') or a dict gives a Loss
    instance, a function name or alias ('categorical_crossentropy', 'mse') the function (one
    value per sample), a class an instance, a callable itself; None gives None."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return loss_object(identifier)
    if isinstance(identifier, str):
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        fn = _FUNCTION_ALIASES.get(identifier) or next(
            (f for f in _FUNCTIONS if f.__name__ == identifier), None)
        if fn is None:
            raise ValueError(f"Could not interpret loss identifier: {identifier}")
        return fn
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret loss identifier: {identifier}")


def deserialize(config):
    """A Loss instance from serialize()'s dict, or the function or instance a name gives."""
    return loss_object(config) if isinstance(config, dict) else get(config)


def serialize(loss):
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def _snake(name):
    import re
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
