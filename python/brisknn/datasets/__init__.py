"""Keras' small datasets: mnist, fashion_mnist and imdb, each with Keras' `load_data()`.

Files are looked up in (and downloaded once into) a cache folder: `~/.brisknn/datasets`, or the
folder named by the BRISKNN_DATA environment variable, or the loader's `path` argument. Every
file whose name is known is checked against its SHA-256 before it is used, and nothing is
unpickled.
"""
import importlib

__all__ = ["mnist", "fashion_mnist", "imdb"]


def __getattr__(name):
    # Loaded on first use: importing brisknn.datasets costs nothing until a dataset is asked for.
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
