"""L1/L2 weight penalties, as Keras defines them. Their gradients are applied inside the fused
optimizer update (see optimizers.py), so regularization costs no extra pass over the weights."""
import math

import numpy as np


class Regularizer:
    l1 = 0.0
    l2 = 0.0

    def __call__(self, x):
        x = np.asarray(x)
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(np.abs(x).sum())
        if self.l2:
            penalty += self.l2 * float(np.square(x).sum())
        from brisknn import backend
        return backend.Scalar(penalty)  # a float that also answers .numpy(), as Keras' tensor

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _penalty(value, name, default):
    # Keras 3's validate_float_arg: None means the default; a negative, infinite or non-number
    # factor is refused.
    value = default if value is None else value
    if (not isinstance(value, (float, int, np.floating, np.integer)) or isinstance(value, bool)
            or math.isinf(value) or math.isnan(value) or value < 0):
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float."
                         f"Received: {name}={value}")
    return float(value)


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _penalty(l1, "l1", 0.0), _penalty(l2, "l2", 0.0)


class L1(Regularizer):
    def __init__(self, l1=0.01):
        self.l1 = _penalty(l1, "l1", 0.01)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    def __init__(self, l2=0.01):
        self.l2 = _penalty(l2, "l2", 0.01)

    def get_config(self):
        return {"l2": self.l2}


# Keras' lower-case function-style names
l1, l2, l1_l2 = L1, L2, L1L2
_ALIASES = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}


def get(identifier):
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if isinstance(identifier, str) and identifier.lower() in _ALIASES:
        return _ALIASES[identifier.lower()]()
    if isinstance(identifier, dict):
        return _ALIASES[identifier["class_name"].lower()](**identifier.get("config", {}))
    raise ValueError(f"Unknown regularizer {identifier!r}: use regularizers.L1, L2 or L1L2")


def gradient(reg, x, owner):
    """d reg(x) / dx = l1 sign(x) + 2 l2 x, in x's dtype (an activity regularizer's share of a
    layer's output gradient). A Regularizer subclass with its own __call__ has no known
    gradient."""
    if type(reg).__call__ is not Regularizer.__call__:
        raise NotImplementedError(f"{owner}: cannot train through the activity regularizer "
                                  f"{type(reg).__name__} (its gradient is not known; use L1, "
                                  "L2 or L1L2)")
    grad = np.zeros_like(x)
    if reg.l1:
        grad += x.dtype.type(reg.l1) * np.sign(x)
    if reg.l2:
        grad += x.dtype.type(2 * reg.l2) * x
    return grad


def serialize(reg):
    if reg is None:
        return None
    return {"class_name": type(reg).__name__, "config": reg.get_config()}
