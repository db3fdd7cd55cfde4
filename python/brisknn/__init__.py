"""brisknn: a small, fast CPU deep-learning library with a Keras-style API."""
from brisknn._core import build_info as _core_build_info, get_num_threads, set_num_threads

__version__ = "0.1.0"


def build_info():
    """Version, compiler, the SIMD instruction sets Eigen uses, and the OpenMP thread count."""
    info = dict(_core_build_info())
    info["num_threads"] = get_num_threads()
    return info
