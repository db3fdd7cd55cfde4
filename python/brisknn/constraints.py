"""Weight constraints, as Keras 3's keras.constraints: projections an optimizer applies to a
weight right after each step (Keras' BaseOptimizer.apply: `variable.assign(
variable.constraint(variable))` for every stepped variable that has one).

The formulas are Keras' own, epsilon (1e-7) included: norms are taken over `axis` with
keepdims, and a rescaling constraint multiplies by `desired / (epsilon + norms)`, so a norm
already within bounds still shrinks by a factor norm / (norm + 1e-7), as in Keras.
"""
import contextlib
import inspect

import numpy as np

from brisknn import backend


class Constraint:
    """Base class: a stateless callable w -> projected w. The identity unless overridden."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _axis(axis, where):
    """Keras' axis: an int or a list of ints (a tuple for NumPy's sum)."""
    if isinstance(axis, (list, tuple)):
        items = tuple(axis)
    else:
        items = (axis,)
    if not items or any(isinstance(a, bool) or not isinstance(a, (int, np.integer))
                        for a in items):
        raise ValueError(f"{where}: axis must be an integer or a list of integers, got "
                         f"{axis!r}")
    return axis if isinstance(axis, (list, tuple)) else int(axis)


def _number(value, name, where):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{where}: {name} must be a number, got {value!r}")
    return value


def _norms(w, axis):
    # ops.sqrt(ops.sum(ops.square(w), axis=axis, keepdims=True)), in w's float dtype.
    w = np.asarray(w)
    if w.dtype.kind != "f":
        w = w.astype(backend.floatx())
    axis = tuple(axis) if isinstance(axis, list) else axis
    return w, np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


def _rescale(w, norms, desired):
    # Keras: w * (desired / (backend.epsilon() + norms)); the Python epsilon keeps w's dtype.
    return w * (desired / (backend.epsilon() + norms))


class MaxNorm(Constraint):
    """Rescales each slice along `axis` whose L2 norm exceeds max_value down to max_value
    (axis=0: each unit's incoming weights of a Dense kernel (in, out); [0, 1, 2]: each filter
    of a Conv2D kernel (kh, kw, in, out))."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = _number(max_value, "max_value", "MaxNorm")
        self.axis = _axis(axis, "MaxNorm")

    def __call__(self, w):
        w, norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return _rescale(w, norms, desired)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """max(w, 0)."""

    def __call__(self, w):
        w = np.asarray(w)
        return np.maximum(w, w.dtype.type(0) if w.dtype.kind == "f" else 0)


class UnitNorm(Constraint):
    """w / (epsilon + ||w||) along `axis`."""

    def __init__(self, axis=0):
        self.axis = _axis(axis, "UnitNorm")

    def __call__(self, w):
        w, norms = _norms(w, self.axis)
        return w / (backend.epsilon() + norms)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves each slice's norm towards [min_value, max_value]: the desired norm is
    rate * clip(norm, min_value, max_value) + (1 - rate) * norm."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = _number(min_value, "min_value", "MinMaxNorm")
        self.max_value = _number(max_value, "max_value", "MinMaxNorm")
        self.rate = _number(rate, "rate", "MinMaxNorm")
        self.axis = _axis(axis, "MinMaxNorm")

    def __call__(self, w):
        w, norms = _norms(w, self.axis)
        desired = (self.rate * np.clip(norms, self.min_value, self.max_value)
                   + (1 - self.rate) * norms)
        return _rescale(w, norms, desired)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


# Keras' lower-case function-style names
max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_CLASSES = {cls.__name__: cls for cls in (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)}
# Keras' ALL_OBJECTS_DICT: the class names and their snake_case forms (case matters, as there).
_ALIASES = {**_CLASSES, "constraint": Constraint, "max_norm": MaxNorm,
            "min_max_norm": MinMaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm}


def serialize(constraint):
    """{'class_name', 'config'} for a Constraint (None gives None). A plain function stays as it
    is: a layer's config copied in memory (Bidirectional, clone_model) keeps it, but it cannot
    be written to a file without pickling, which brisknn never does (saving says so: subclass
    Constraint)."""
    if constraint is None:
        return None
    if isinstance(constraint, Constraint):
        return {"class_name": type(constraint).__name__, "config": constraint.get_config()}
    if callable(constraint):
        return constraint
    raise ValueError(f"Cannot serialize constraint {constraint!r}")


# The custom_objects of the model being loaded (see saving.deserialize_layer).
_custom_objects = {}


@contextlib.contextmanager
def custom_objects_scope(custom_objects):
    global _custom_objects
    saved, _custom_objects = _custom_objects, {**_custom_objects, **(custom_objects or {})}
    try:
        yield
    finally:
        _custom_objects = saved


def deserialize(config, custom_objects=None):
    """A constraint from serialize()'s dict; `custom_objects` maps names to your Constraint
    subclasses."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"Could not interpret constraint config: {config!r}")
    name = config["class_name"]
    custom = {k: v for k, v in {**_custom_objects, **(custom_objects or {})}.items()
              if inspect.isclass(v) and issubclass(v, Constraint)}
    cls = custom.get(name) or _ALIASES.get(name)
    if cls is None:
        raise ValueError(f"Unknown constraint {name!r}; known: {sorted(_CLASSES)}")
    options = config.get("config") or {}
    if not isinstance(options, dict):
        raise ValueError(f"Could not interpret constraint config: {config!r}")
    try:
        return cls.from_config(dict(options))
    except TypeError as e:
        raise ValueError(f"Invalid config for constraint {name!r}: {e}") from e


def get(identifier, where=None):
    """As keras.constraints.get: None, a name ('max_norm', 'MaxNorm', 'non_neg', ...), a
    {'class_name', 'config'} dict, a Constraint class (instantiated) or any callable w -> w.
    `where` (say "Dense 'dense': kernel_constraint") starts the error message."""
    if identifier is None:
        return None
    try:
        if isinstance(identifier, dict):
            return deserialize(identifier)
        obj = _ALIASES.get(identifier) if isinstance(identifier, str) else identifier
        if callable(obj):
            return obj() if inspect.isclass(obj) else obj
        raise ValueError(f"Could not interpret constraint identifier: {identifier!r} (known "
                         f"names: {sorted(_ALIASES)})")
    except (ValueError, TypeError) as e:
        if where is None:
            raise
        raise ValueError(f"{where}: {e}") from e


def apply(var):
    """Projects a Variable in place with its constraint, as Keras' optimizer does after a step."""
    value = np.asarray(var.constraint(var.value))
    if value.shape != var.value.shape:
        raise ValueError(f"The constraint {var.constraint!r} of {var.path} returned shape "
                         f"{value.shape}, expected {var.value.shape}")
    np.copyto(var.value, value, casting="same_kind")
