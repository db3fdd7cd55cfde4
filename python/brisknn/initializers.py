"""Weight initializers with Keras' names, formulas and defaults.

All draw from brisknn.utils' seeded generator, so `utils.set_random_seed` makes them repeatable;
one given its own `seed` draws from a generator of that seed instead (the same values each call).
"""
import math

import numpy as np

from brisknn import backend


def _rng():
    from brisknn import utils
    return utils.rng()


def _fans(shape):
    # Keras: the receptive field (all but the last two dims) multiplies both fans.
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_normal(rng, shape, stddev, dtype):
    # Draws within two standard deviations, redrawing the rest (as Keras' TruncatedNormal).
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return (out * stddev).astype(dtype)


class Initializer:
    seed = None

    def __init_subclass__(cls, **kwargs):
        # As Keras' initializers return backend tensors, each subclass's values come back as
        # an array that also answers .numpy().
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None and not getattr(call, "_returns_tensor", False):
            def __call__(self, shape, dtype=None, _call=call):
                # As Keras: dtype None means floatx().
                values = _call(self, shape, dtype=dtype or backend.floatx())
                return np.asarray(values).view(backend.Tensor)
            __call__._returns_tensor = True
            __call__.__doc__ = call.__doc__
            cls.__call__ = __call__

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        return self.__class__.from_config(self.get_config())

    def _generator(self):
        return np.random.default_rng(self.seed) if self.seed is not None else _rng()

    def get_config(self):
        return {}


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(shape, dtype=dtype or "float32")


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(shape, dtype=dtype or "float32")


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype=dtype or "float32")

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return self._generator().normal(self.mean, self.stddev, shape).astype(dtype or "float32")

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None):
        return self._generator().uniform(self.minval, self.maxval, shape).astype(dtype or "float32")

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class TruncatedNormal(Initializer):
    """Normal draws within two standard deviations of the mean (the rest redrawn), as Keras."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        values = _truncated_normal(self._generator(), shape, self.stddev, "float64")
        return (values + self.mean).astype(dtype or "float32")

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class Identity(Initializer):
    """gain * the identity matrix (2-D shapes only, as Keras)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D matrices. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        return (self.gain * np.eye(*shape)).astype(dtype or "float32")

    def get_config(self):
        return {"gain": self.gain}


class VarianceScaling(Initializer):
    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        # Keras 3's checks; 'normal' means the truncated normal, as there.
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        modes = {"fan_in", "fan_out", "fan_avg"}
        if mode not in modes:
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of {modes}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        distributions = {"uniform", "truncated_normal", "untruncated_normal"}
        if distribution not in distributions:
            raise ValueError(f"Invalid `distribution` argument: {distribution}."
                             f"Please use one of {distributions}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        dtype = dtype or "float32"
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return self._generator().uniform(-limit, limit, shape).astype(dtype)
        if self.distribution == "untruncated_normal":
            return self._generator().normal(0.0, math.sqrt(variance), shape).astype(dtype)
        # 0.8796...: the stddev of a unit normal truncated at two standard deviations.
        stddev = math.sqrt(variance) / 0.87962566103423978
        return _truncated_normal(self._generator(), shape, stddev, dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


def _seed_only_config(self):
    return {"seed": self.seed}


class GlorotUniform(VarianceScaling):
    get_config = _seed_only_config

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)


class GlorotNormal(VarianceScaling):
    get_config = _seed_only_config

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)


class HeUniform(VarianceScaling):
    get_config = _seed_only_config

    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)


class HeNormal(VarianceScaling):
    get_config = _seed_only_config

    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)


class LecunUniform(VarianceScaling):
    get_config = _seed_only_config

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "uniform", seed)


class LecunNormal(VarianceScaling):
    get_config = _seed_only_config

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)


class Orthogonal(Initializer):
    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError("The tensor to initialize must be at least two-dimensional. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        rows = math.prod(shape[:-1])
        cols = shape[-1]
        a = self._generator().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q[:rows, :cols]).reshape(shape).astype(dtype or "float32")

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


_ALIASES = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_normal": RandomNormal, "random_uniform": RandomUniform,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal, "orthogonal": Orthogonal,
    "variance_scaling": VarianceScaling, "truncated_normal": TruncatedNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "identity": Identity,
    # Keras' short names (Embedding's default 'uniform' is RandomUniform(-0.05, 0.05))
    "uniform": RandomUniform, "normal": RandomNormal,
}


_CLASSES = {cls.__name__: cls for cls in set(_ALIASES.values())}


def get(identifier):
    """An initializer from a Keras name ('glorot_uniform', 'GlorotUniform'), a
    {'class_name', 'config'} dict, an Initializer class or instance, or any
    callable(shape, dtype)."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _CLASSES.get(identifier) or _ALIASES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown initializer {identifier!r}; known: {sorted(_ALIASES)}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()  # Keras instantiates a class given in place of an instance
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret initializer {identifier!r}")


def deserialize(config):
    """An initializer from serialize()'s {'class_name', 'config'} dict (Keras' class name, or
    the snake_case name older brisknn files hold), or from a name."""
    if isinstance(config, dict):
        name = config["class_name"]
        cls = _CLASSES.get(name) or _ALIASES.get(str(name).lower())
        if cls is None:
            raise ValueError(f"Unknown initializer {name!r}; known: {sorted(_CLASSES)}")
        return cls(**config.get("config", {}))
    return get(config)


def serialize(init):
    """{'class_name', 'config'} with Keras' class name ('GlorotUniform', ...)."""
    if type(init).__name__ in _CLASSES and _CLASSES[type(init).__name__] is type(init):
        return {"class_name": type(init).__name__, "config": init.get_config()}
    raise ValueError(f"Cannot serialize initializer {init!r}")
