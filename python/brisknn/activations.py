"""Activation functions by Keras name, evaluated by the C++ kernels."""
from brisknn import ops

# Keras' defaults for the parameterised ones, when named by string.
_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}
NAMES = ("linear", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus", "softmax",
         "relu6", "softsign", "hard_sigmoid", "exponential", "selu", "gelu", "silu")
_ALIASES = {"swish": "silu"}  # Keras 3 registers swish as silu
# Those whose derivative the kernels compute from the input, not the output (see core.py).
INPUT_DERIVATIVE = ("gelu", "silu")


def get(identifier):
    """The canonical activation name for None, a Keras name, or one of this module's functions."""
    if identifier is None:
        return "linear"
    if callable(identifier) and getattr(identifier, "__name__", None) in NAMES:
        return identifier.__name__
    if isinstance(identifier, str) and identifier.lower() in NAMES:
        return identifier.lower()
    if isinstance(identifier, str) and identifier.lower() in _ALIASES:
        return _ALIASES[identifier.lower()]
    raise ValueError(f"Unknown activation {identifier!r}; brisknn supports {list(NAMES)}")


def alpha(name):
    return _ALPHA.get(name, 0.0)


def linear(x):
    return ops.linear(x)


def relu(x):
    return ops.relu(x)


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
    if axis not in (-1, getattr(x, "ndim", 0) - 1):
        raise ValueError("softmax: brisknn computes softmax over the last axis only")
    return ops.softmax(x)


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
    """Keras' default, the exact x Phi(x); the tanh approximation is not implemented."""
    if approximate:
        raise NotImplementedError("gelu: approximate=True is not supported")
    return ops.gelu(x)


def silu(x):
    return ops.silu(x)


swish = silu
