import numpy as np
import pytest

import brisknn


@pytest.fixture(autouse=True)
def _float32_and_seeded():
    """Every test starts in float32 with a fixed seed, whatever the previous test set."""
    brisknn.backend.set_floatx("float32")
    brisknn.utils.set_random_seed(1234)
    yield
    brisknn.backend.set_floatx("float32")


def numeric_grad(f, x, eps=1e-6):
    """Central finite differences of the scalar f() with respect to x (modified in place)."""
    g = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return g
