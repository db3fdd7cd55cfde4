"""brisknn: a small, fast CPU deep-learning library with a Keras-style API.

    import brisknn
    model = brisknn.Sequential([brisknn.layers.Dense(10, activation="softmax")])

Submodules (layers, models, optimizers, losses, ...) load on first use, so `import brisknn`
stays fast.
"""
import importlib

from brisknn._core import get_num_threads, set_num_threads

__version__ = "0.1.0"

_SUBMODULES = ("activations", "backend", "callbacks", "constraints", "datasets", "initializers",
               "layers",
               "losses", "metrics", "models", "ops", "optimizers", "preprocessing",
               "regularizers", "saving", "utils", "plot", "examples")
_SUBMODULES += ("config",)  # keras.config
_NAMES = {"Sequential": "models", "Model": "models", "Input": "layers"}

__all__ = ["build_info", "get_num_threads", "set_num_threads", "__version__",
           *_SUBMODULES, *_NAMES]


def build_info():
    """Version, compiler, the SIMD instruction sets Eigen uses, and the OpenMP thread count."""
    from brisknn import _core
    info = dict(_core.build_info())
    info["num_threads"] = get_num_threads()
    return info


def __getattr__(name):
    # PEP 562: load submodules and top-level names on first access.
    if name in _SUBMODULES:
        return importlib.import_module(f"brisknn.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"brisknn.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'brisknn' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES) + list(_NAMES))
