"""Whole-array passes at the Python boundary (reduce family): the finite check, the sparse-label
range check and the batch gather, and the model checks built on them."""
import numpy as np
import pytest

from brisknn import Sequential, layers


def test_take_rows_is_np_take_on_the_first_axis():
    from brisknn import _core
    rng = np.random.default_rng(9)
    for x in (rng.normal(size=(50, 3, 4)).astype(np.float32), rng.integers(0, 9, 50),
              rng.normal(size=(2000, 784)).astype(np.float32)):
        idx = rng.permutation(len(x))[:37]
        out = np.empty((37,) + x.shape[1:], x.dtype)
        _core.take_rows(x, idx, out)
        np.testing.assert_array_equal(out, np.take(x, idx, axis=0))
    x, out = np.zeros((5, 2)), np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"take_rows: index 5 at position 1 is outside \[0, 5\)"):
        _core.take_rows(x, np.array([0, 5]), out)
    with pytest.raises(ValueError, match="outside"):
        _core.take_rows(x, np.array([0, -1]), out)
    with pytest.raises(TypeError, match="out has dtype float32, expected x's float64"):
        _core.take_rows(x, np.array([0, 1]), out.astype(np.float32))
    with pytest.raises(ValueError, match=r"out has shape \(2, 3\)"):
        _core.take_rows(x, np.array([0, 1]), np.zeros((2, 3)))


def test_label_range_check_finds_the_first_label_outside():
    from brisknn import _core
    assert _core.first_label_outside(np.array([0, 3, 9, 2]), 10) == -1
    assert _core.first_label_outside(np.array([0, 3, 10, -1]), 10) == 2
    assert _core.first_label_outside(np.array([0, -3]), 10) == 1
    model = Sequential([layers.Dense(3, activation="softmax", input_shape=(2,))])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\).*got values in \[-1, 1\]"):
        model.train_on_batch(x, np.array([0, -1, 1]))
    big = np.array([0, 2**63 + 5, 1], dtype=np.uint64)  # wraps negative as int64: still refused
    with pytest.raises(ValueError, match=r"got values in \[0, 9223372036854775813\]"):
        model.train_on_batch(x, big)


def test_a_changed_input_shape_is_still_checked_after_a_step():
    model = Sequential([layers.Dense(3, input_shape=(4,))])
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(np.zeros((2, 4), np.float32), np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"expects input of shape \(None, 4\), got \(None, 5\)"):
        model.train_on_batch(np.zeros((2, 5), np.float32), np.zeros((2, 3), np.float32))
    model.train_on_batch(np.zeros((2, 4), np.float32), np.zeros((2, 3), np.float32))


def test_first_nonfinite_on_two_threads_finds_the_first_bad_value():
    import brisknn
    from brisknn import _core
    x = np.zeros((128, 784), np.float32)
    x[100, 3] = np.inf
    x[120, 0] = np.nan
    before = brisknn.get_num_threads()
    try:
        for threads in (1, 2):
            brisknn.set_num_threads(threads)
            assert _core.first_nonfinite(x) == 100 * 784 + 3
            assert _core.first_nonfinite(x[:100]) == -1
    finally:
        brisknn.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_sum_is_np_add_reduce_in_float64_bit_for_bit(dtype):
    from brisknn import _core
    rng = np.random.default_rng(10)
    # Sizes around NumPy's pairwise blocks (8, 128) and its 8192-element cast buffer.
    for n in list(range(0, 140)) + [255, 256, 257, 1000, 8191, 8192, 8193, 20000]:
        x = (rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 4, n)).astype(dtype)
        if n:
            x[0] = -0.0
        expected = float(np.add.reduce(x, dtype=np.float64))
        got = _core.numpy_sum(x)
        assert got == expected and np.signbit(got) == np.signbit(expected), n
        if n:
            assert got / n == float(x.mean(dtype=np.float64))
