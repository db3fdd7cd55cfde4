"""Activation functions by Keras name, evaluated by the C++ kernels."""
import functools

import numpy as np

from brisknn import _core, backend, ops

NAMES = ("linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus", "softmax",
         "relu6", "softsign", "hard_sigmoid", "exponential", "selu", "gelu", "silu", "mish",
         "hard_silu", "log_softmax", "celu", "hard_tanh", "log_sigmoid", "tanh_shrink",
         "squareplus", "sparse_plus")
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}  # as Keras 3 registers them
# Those whose derivative the kernels compute from the input, not the output (see core.py).
INPUT_DERIVATIVE = ("gelu", "silu", "mish", "hard_silu", "tanh_shrink")
ROW_WISE = ("softmax", "log_softmax")  # over the last axis


def name_of(identifier):
    """The canonical activation name for None, a Keras name, or one of this module's functions
    (what layers keep and the kernels run)."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, dict):  # Keras' serialized form
        identifier = identifier.get("config", identifier.get("class_name"))
    if callable(identifier) and getattr(identifier, "__name__", None) in NAMES:
        return identifier.__name__
    if isinstance(identifier, str) and identifier.lower() in NAMES:
        return identifier.lower()
    if isinstance(identifier, str) and identifier.lower() in _ALIASES:
        return _ALIASES[identifier.lower()]
    raise ValueError(f"Unknown activation {identifier!r}; brisknn supports {list(NAMES)}")


def get(identifier):
    """The activation function for a Keras name (linear for None), as keras.activations.get;
    a callable is returned as is."""
    if callable(identifier) and not isinstance(identifier, str):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _DIRECT_ONLY:
        return globals()[identifier.lower()]
    return globals()[name_of(identifier)]


def alpha(name):
    """Keras' parameter of an activation named by string (leaky_relu 0.2, elu and celu 1,
    squareplus' b 4; 0 for the others): the kernels' one table."""
    return _core.activation_default_alpha(name)


def _along_axis(kernel, x, axis):
    """kernel (which works over the last axis) applied along `axis`, as Keras' softmax(x, axis)."""
    x = ops.as_float(x)
    if x.ndim == 0:
        raise ValueError("softmax: expected an array of at least one dimension, got a scalar")
    axis = int(axis)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of bounds for an array of dimension {x.ndim}")
    if axis % x.ndim == x.ndim - 1:
        return kernel(x)
    return np.moveaxis(kernel(np.ascontiguousarray(np.moveaxis(x, axis, -1))), -1, axis)


def linear(x):
    return ops.linear(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras 3's relu: max(x, 0) by default; x at or below `threshold` becomes
    negative_slope * (x - threshold), and the result is capped at `max_value`."""
    if negative_slope == 0 and max_value is None and threshold == 0:
        return ops.relu(x)
    if max_value is None and threshold == 0:
        return ops.leaky_relu(x, negative_slope)
    x = ops.as_float(x)
    # As Keras' ReLU.static_call: the part above the threshold kept, clipped to [0, max_value],
    # minus negative_slope * relu(threshold - x).
    y = x * (x > threshold).astype(x.dtype) if threshold != 0 else np.maximum(x, 0)
    if max_value is not None:
        y = np.clip(y, 0, max_value)
    if negative_slope != 0:
        y = y - negative_slope * np.maximum(threshold - x, 0)
    return y.astype(x.dtype, copy=False)


def leaky_relu(x, negative_slope=0.2):
    return ops.leaky_relu(x, negative_slope)


def elu(x, alpha=1.0):
    return ops.elu(x, alpha)


def sigmoid(x):
    return ops.sigmoid(x)


def tanh(x):
    return ops.tanh(x)


def softplus(x):
    return ops.softplus(x)


def softmax(x, axis=-1):
    return _along_axis(ops.softmax, x, axis)


def relu6(x):
    return ops.relu6(x)


def softsign(x):
    return ops.softsign(x)


def hard_sigmoid(x):
    """Keras 3's: relu6(x + 3) / 6 (Keras 2 used 0.2 x + 0.5, clipped)."""
    return ops.hard_sigmoid(x)


def exponential(x):
    return ops.exponential(x)


def selu(x):
    return ops.selu(x)


def gelu(x, approximate=False):
    """Keras' default, the exact x Phi(x); approximate=True is the tanh form
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). A layer's "gelu" is the exact one."""
    return ops.gelu(x, approximate=approximate)


def silu(x):
    return ops.silu(x)


swish = silu


def mish(x):
    """x tanh(softplus(x))."""
    return ops.mish(x)


def hard_silu(x):
    """x hard_sigmoid(x): 0 below -3, x above 3, x (x + 3) / 6 between."""
    return ops.hard_silu(x)


hard_swish = hard_silu


def log_softmax(x, axis=-1):
    return _along_axis(ops.log_softmax, x, axis)


def celu(x, alpha=1.0):
    """max(x, 0) + alpha expm1(min(x, 0) / alpha)."""
    return ops.celu(x, alpha)


def hard_tanh(x):
    """x clipped to [-1, 1]."""
    return ops.hard_tanh(x)


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x)."""
    return ops.log_sigmoid(x)


def tanh_shrink(x):
    """x - tanh(x)."""
    return ops.tanh_shrink(x)


def squareplus(x, b=4):
    """(x + sqrt(x^2 + b)) / 2."""
    return ops.squareplus(x, b)


def sparse_plus(x):
    """0 for x <= -1, (x + 1)^2 / 4 for -1 < x < 1, x for x >= 1."""
    return ops.sparse_plus(x)


def serialize(activation):
    """The Keras name of an activation function of this module (or of a name)."""
    return name_of(activation)


def deserialize(name):
    """The activation function of this module a Keras name refers to."""
    return globals()[name_of(name)]


# Keras 3's newer activations, for direct calls only (no kernel: a layer refuses their names).
def hard_shrink(x, threshold=0.5):
    """x where |x| > threshold, else 0."""
    x = ops.as_float(x)
    return np.where(np.abs(x) > threshold, x, 0).astype(x.dtype)


def soft_shrink(x, threshold=0.5):
    """x - threshold above threshold, x + threshold below -threshold, else 0."""
    x = ops.as_float(x)
    return np.where(x > threshold, x - threshold,
                    np.where(x < -threshold, x + threshold, 0)).astype(x.dtype)


def threshold(x, threshold, default_value):
    """x where x > threshold, else default_value."""
    x = ops.as_float(x)
    return np.where(x > threshold, x, default_value).astype(x.dtype)


def sparse_sigmoid(x):
    """0 for x <= -1, 1 for x >= 1, (x + 1) / 2 between."""
    x = ops.as_float(x)
    return np.clip(0.5 * (x + 1), 0, 1).astype(x.dtype)


def glu(x, axis=-1):
    """a * sigmoid(b), a and b the two halves of x along `axis` (which must be even)."""
    x = ops.as_float(x)
    if x.shape[axis] % 2:
        raise ValueError("axis size must be divisible by 2. "
                         f"Received: x.shape={x.shape} with axis={axis}")
    a, b = np.split(x, 2, axis=axis)
    return (a / (1 + np.exp(-b))).astype(x.dtype)


def sparsemax(x, axis=-1):
    """The Euclidean projection of x onto the probability simplex along `axis` (Martins &
    Astudillo, 2016): like softmax, but exact zeros for the small entries."""
    x = np.moveaxis(ops.as_float(x), axis, -1)
    z = np.sort(x, axis=-1)[..., ::-1]
    k = np.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    cumulative = np.cumsum(z, axis=-1)
    support = 1 + k * z > cumulative
    k_max = support.sum(axis=-1, keepdims=True)
    tau = (np.take_along_axis(cumulative, k_max - 1, axis=-1) - 1) / k_max
    return np.moveaxis(np.maximum(x - tau, 0), -1, axis).astype(x.dtype)


_DIRECT_ONLY = ("hard_shrink", "soft_shrink", "threshold", "sparse_sigmoid", "glu", "sparsemax")


def _returning_tensors(fn):
    # As Keras' activations return backend tensors: an array that also answers .numpy().
    @functools.wraps(fn)
    def wrapper(x, *args, **kwargs):
        return np.asarray(fn(x, *args, **kwargs)).view(backend.Tensor)
    return wrapper


for _name in NAMES + _DIRECT_ONLY:
    globals()[_name] = _returning_tensors(globals()[_name])
swish, hard_swish = silu, hard_silu  # noqa: F821  (the wrapped functions)
del _name
