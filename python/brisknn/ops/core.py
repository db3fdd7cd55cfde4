"""Dense algebra, activations and losses as NumPy-in / NumPy-out functions."""
import numpy as np

from brisknn import _core

__all__ = [
    "as_float", "matmul", "dense", "dense_backward", "activation", "activation_backward",
    "linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus", "softmax",
    "linear_backward", "relu_backward", "leaky_relu_backward", "elu_backward",
    "sigmoid_backward", "tanh_backward", "softplus_backward", "softmax_backward",
    "relu6", "softsign", "hard_sigmoid", "exponential", "selu", "relu6_backward",
    "softsign_backward", "hard_sigmoid_backward", "exponential_backward", "selu_backward",
    "gelu", "silu", "gelu_backward", "silu_backward",
    "mish", "hard_silu", "log_softmax", "celu", "hard_tanh", "log_sigmoid", "tanh_shrink",
    "squareplus", "sparse_plus", "mish_backward", "hard_silu_backward", "log_softmax_backward",
    "celu_backward", "hard_tanh_backward", "log_sigmoid_backward", "tanh_shrink_backward",
    "squareplus_backward", "sparse_plus_backward",
    "loss", "loss_backward",
    "mean_squared_error", "mean_absolute_error", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy",
    "mean_squared_error_backward", "mean_absolute_error_backward", "binary_crossentropy_backward",
    "categorical_crossentropy_backward", "sparse_categorical_crossentropy_backward",
    "dropout", "dropout_backward",
]


def as_float(x, name="x", dtype=None):
    """x as a C-contiguous float32/float64 array (kept if already one, else float32)."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric data, got dtype {x.dtype}")
    if dtype is None:
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float32
    return np.ascontiguousarray(x, dtype=dtype)


def matmul(a, b):
    """a @ b for 2-D arrays (Eigen GEMM, multithreaded)."""
    a = as_float(a, "a")
    b = as_float(b, "b", a.dtype)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul: cannot multiply shapes {a.shape} and {b.shape}")
    c = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    _core.matmul(a, b, c)
    return c


def _alpha(name, alpha):
    """The activation's parameter: Keras' default for the name unless given."""
    return _core.activation_default_alpha(name) if alpha is None else alpha


def dense(x, kernel, bias=None, activation="linear", alpha=None):
    """activation(x @ kernel + bias); alpha: the activation's parameter, Keras' by default."""
    x = as_float(x)
    kernel = as_float(kernel, "kernel", x.dtype)
    bias = None if bias is None else as_float(bias, "bias", x.dtype)
    if x.ndim != 2 or kernel.ndim != 2 or x.shape[1] != kernel.shape[0]:
        raise ValueError(f"dense: x of shape {x.shape} does not fit a kernel of shape {kernel.shape}")
    y = np.empty((x.shape[0], kernel.shape[1]), dtype=x.dtype)
    _core.dense_forward(x, kernel, bias, y, activation, _alpha(activation, alpha))
    return y


def dense_backward(dz, x, kernel):
    """(dx, dkernel, dbias) from dz, the gradient with respect to x @ kernel + bias."""
    x = as_float(x)
    kernel = as_float(kernel, "kernel", x.dtype)
    dz = as_float(dz, "dz", x.dtype)
    dx = np.empty_like(x)
    dkernel = np.zeros_like(kernel)
    dbias = np.zeros(kernel.shape[1:], dtype=x.dtype)
    _core.dense_backward(dz, x, kernel, dx, dkernel, dbias)
    return dx, dkernel, dbias


def activation(x, name, alpha=None):
    """name(x) for a Keras activation name; softmax and log_softmax over the last axis. alpha:
    the activation's parameter (leaky_relu slope, elu/celu alpha, squareplus b), Keras' by
    default."""
    shape = np.shape(x)  # ascontiguousarray makes a 0-d array 1-d; the result keeps x's shape
    x = as_float(x)
    y = np.empty_like(x)
    _core.activation_forward(x, y, name, _alpha(name, alpha))
    return y.reshape(shape)


def activation_backward(dy, y, name, alpha=None):
    """dy * name'(x), computed from the forward output y = name(x), or from its input x for
    the activations in brisknn.activations.INPUT_DERIVATIVE (and gelu_approximate)."""
    shape = np.shape(y)
    y = as_float(y, "y")
    dy = as_float(dy, "dy", y.dtype)
    dx = np.empty_like(y)
    _core.activation_backward(dy, y, dx, name, _alpha(name, alpha))
    return dx.reshape(shape)


def _activation_pair(name, default_alpha=None):
    def forward(x, alpha=default_alpha):
        return activation(x, name, alpha)

    def backward(dy, y, alpha=default_alpha):
        return activation_backward(dy, y, name, alpha)

    forward.__name__, backward.__name__ = name, name + "_backward"
    forward.__doc__ = f"{name}(x), elementwise" + (" (row-wise over the last axis)."
                                                   if "softmax" in name else ".")
    backward.__doc__ = f"Gradient through {name}, from dy and the forward output y."
    return forward, backward


linear, linear_backward = _activation_pair("linear")
relu, relu_backward = _activation_pair("relu")
leaky_relu, leaky_relu_backward = _activation_pair("leaky_relu", 0.2)
elu, elu_backward = _activation_pair("elu", 1.0)
sigmoid, sigmoid_backward = _activation_pair("sigmoid")
tanh, tanh_backward = _activation_pair("tanh")
softplus, softplus_backward = _activation_pair("softplus")
softmax, softmax_backward = _activation_pair("softmax")
relu6, relu6_backward = _activation_pair("relu6")
softsign, softsign_backward = _activation_pair("softsign")
hard_sigmoid, hard_sigmoid_backward = _activation_pair("hard_sigmoid")
exponential, exponential_backward = _activation_pair("exponential")
selu, selu_backward = _activation_pair("selu")
# For these the backward takes the forward's input x, not its output.
silu, silu_backward = _activation_pair("silu")
mish, mish_backward = _activation_pair("mish")
hard_silu, hard_silu_backward = _activation_pair("hard_silu")
tanh_shrink, tanh_shrink_backward = _activation_pair("tanh_shrink")
# And these from the output, as the ones above.
log_softmax, log_softmax_backward = _activation_pair("log_softmax")
celu, celu_backward = _activation_pair("celu", 1.0)
hard_tanh, hard_tanh_backward = _activation_pair("hard_tanh")
log_sigmoid, log_sigmoid_backward = _activation_pair("log_sigmoid")
sparse_plus, sparse_plus_backward = _activation_pair("sparse_plus")
for _fn in (mish_backward, hard_silu_backward, tanh_shrink_backward, silu_backward):
    _fn.__doc__ = f"Gradient through {_fn.__name__[:-9]}, from dy and the forward input x."


def gelu(x, approximate=False):
    """Keras' gelu: x Phi(x), or with approximate=True the tanh form
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return activation(x, "gelu_approximate" if approximate else "gelu")


def gelu_backward(dy, x, approximate=False):
    """Gradient through gelu, from dy and the forward input x."""
    return activation_backward(dy, x, "gelu_approximate" if approximate else "gelu")


def squareplus(x, b=4.0):
    """(x + sqrt(x^2 + b)) / 2, elementwise."""
    return activation(x, "squareplus", b)


def squareplus_backward(dy, y, b=4.0):
    """Gradient through squareplus, from dy and the forward output y."""
    return activation_backward(dy, y, "squareplus", b)


def _targets(name, y_true, y_pred):
    if name == "sparse_categorical_crossentropy":
        y_true = np.asarray(y_true)
        if y_true.ndim == y_pred.ndim and y_true.shape[-1:] == (1,):
            y_true = y_true[..., 0]  # Keras accepts (batch, 1) labels
        if y_true.dtype.kind == "f" and not (np.isfinite(y_true).all() and
                                             np.array_equal(y_true, np.floor(y_true))):
            raise ValueError(f"{name}: labels must be whole numbers")
        if y_true.dtype.kind not in "biuf":
            raise TypeError(f"{name}: labels must be integers, got dtype {y_true.dtype}")
        if y_true.size and y_true.dtype.kind in "uf" and y_true.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{name}: label {y_true.max()} is out of range")  # before int64 wraps
        return np.ascontiguousarray(y_true, dtype=np.int64)
    return as_float(y_true, "y_true", y_pred.dtype)


def loss(y_true, y_pred, name, from_logits=False):
    """The batch mean of a Keras loss (per-sample losses averaged, as Keras' default reduction)."""
    y_pred = as_float(y_pred, "y_pred")
    if y_pred.ndim == 0:
        raise ValueError(f"{name}: y_pred must have at least one dimension")
    y_true = _targets(name, y_true, y_pred)
    rows = y_pred.size // y_pred.shape[-1] if y_pred.shape[-1] else 0
    per_sample = np.empty(rows, dtype=y_pred.dtype)
    _core.loss_forward(y_true, y_pred, per_sample, name, from_logits)
    return per_sample.mean(dtype=np.float64) if rows else np.float64(np.nan)


def loss_backward(y_true, y_pred, name, from_logits=False):
    """Gradient of loss(y_true, y_pred) (the batch mean) with respect to y_pred."""
    y_pred = as_float(y_pred, "y_pred")
    y_true = _targets(name, y_true, y_pred)
    rows = y_pred.size // y_pred.shape[-1] if y_pred.ndim and y_pred.shape[-1] else 0
    grad = np.empty_like(y_pred)
    _core.loss_backward(y_true, y_pred, grad, name, from_logits, 1.0 / max(rows, 1))
    return grad


def _loss_pair(name):
    def forward(y_true, y_pred, from_logits=False):
        return loss(y_true, y_pred, name, from_logits)

    def backward(y_true, y_pred, from_logits=False):
        return loss_backward(y_true, y_pred, name, from_logits)

    forward.__name__, backward.__name__ = name, name + "_backward"
    forward.__doc__ = f"Batch mean of Keras' {name}."
    backward.__doc__ = f"Gradient of the batch mean of {name} with respect to y_pred."
    return forward, backward


mean_squared_error, mean_squared_error_backward = _loss_pair("mean_squared_error")
mean_absolute_error, mean_absolute_error_backward = _loss_pair("mean_absolute_error")
binary_crossentropy, binary_crossentropy_backward = _loss_pair("binary_crossentropy")
categorical_crossentropy, categorical_crossentropy_backward = _loss_pair(
    "categorical_crossentropy")
sparse_categorical_crossentropy, sparse_categorical_crossentropy_backward = _loss_pair(
    "sparse_categorical_crossentropy")


def dropout(x, rate, seed):
    """(y, mask): inverted dropout of x with a seeded, thread-count-independent mask."""
    x = as_float(x)
    y = np.empty_like(x)
    mask = np.empty(x.shape, dtype=np.uint8)
    _core.dropout_forward(x, y, mask, rate, seed)
    return y, mask


def dropout_backward(dy, mask, rate):
    dy = as_float(dy, "dy")
    dx = np.empty_like(dy)
    _core.dropout_backward(dy, np.ascontiguousarray(mask, dtype=np.uint8), dx, rate)
    return dx
