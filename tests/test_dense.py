import numpy as np
import pytest

from brisknn import _core, ops
from conftest import numeric_grad


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_matches_numpy_with_transposes_and_accumulate(trans_a, trans_b, dtype):
    rng = np.random.default_rng(0)
    m, k, n = 17, 33, 9
    a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.normal(size=(n, k) if trans_b else (k, n)).astype(dtype)
    expected = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)
    c = np.full((m, n), 2.0, dtype=dtype)
    _core.matmul(a, b, c, trans_a, trans_b, True)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c, expected + 2.0, rtol=tol, atol=tol)
    _core.matmul(a, b, c, trans_a, trans_b)
    np.testing.assert_allclose(c, expected, rtol=tol, atol=tol)


def test_large_matmul_matches_numpy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 500)).astype(np.float32)
    b = rng.normal(size=(500, 200)).astype(np.float32)
    np.testing.assert_allclose(ops.matmul(a, b), a @ b, rtol=1e-4, atol=1e-3)


# Deep products (k much larger than m) are cut along k into 2, 4 or 8 slices whose partials
# are added after, wide ones (n > m) into column blocks; odd sizes leave ragged slices and blocks.
@pytest.mark.parametrize("m,k,n", [(128, 784, 128), (32, 2048, 64), (9, 40001, 7), (40, 700, 33),
                                   (30, 64, 2000), (128, 128, 1601)])
@pytest.mark.parametrize("trans_a", [False, True])
def test_deep_matmul_matches_numpy_and_not_the_thread_count(m, k, n, trans_a):
    import brisknn
    rng = np.random.default_rng(6)
    a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.normal(size=(k, n)).astype(np.float32)
    start = rng.normal(size=(m, n)).astype(np.float32)
    expected = (a.T if trans_a else a).astype(np.float64) @ b + start
    before = brisknn.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            brisknn.set_num_threads(threads)
            c = start.copy()
            _core.matmul(a, b, c, trans_a, False, True)
            results.append(c)
    finally:
        brisknn.set_num_threads(before)
    np.testing.assert_allclose(results[0], expected, rtol=1e-3, atol=2e-5 * np.sqrt(k) * 10)
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


# Products whose c fits one 64-byte register row (n <= 16 float32, 8 float64: a classifier's
# output layer and its kernel gradient) take a register-tile kernel instead of Eigen's.
@pytest.mark.parametrize("dtype,n", [(np.float32, 1), (np.float32, 10), (np.float32, 16),
                                     (np.float32, 17), (np.float64, 3), (np.float64, 8),
                                     (np.float64, 9)])
@pytest.mark.parametrize("m,k", [(1, 1), (13, 5), (8, 300), (301, 129), (20, 3000)])
def test_narrow_matmul_matches_numpy_and_not_the_thread_count(dtype, n, m, k):
    import brisknn
    rng = np.random.default_rng(m * k + n)
    tol = 2e-5 * np.sqrt(k) if dtype == np.float32 else 1e-12 * np.sqrt(k)
    before = brisknn.get_num_threads()
    try:
        for trans_a in (False, True):
            for trans_b in (False, True):
                a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
                b = rng.normal(size=(n, k) if trans_b else (k, n)).astype(dtype)
                start = rng.normal(size=(m, n)).astype(dtype)
                expected = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)
                results = []
                for threads in (1, 2, 3):
                    brisknn.set_num_threads(threads)
                    c = start.copy()
                    _core.matmul(a, b, c, trans_a, trans_b, True)
                    results.append(c)
                np.testing.assert_allclose(results[0], expected + start, rtol=tol, atol=tol)
                for other in results[1:]:
                    np.testing.assert_array_equal(other, results[0])
    finally:
        brisknn.set_num_threads(before)


def test_matmul_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"cannot multiply shapes \(2, 3\) and \(4, 5\)"):
        ops.matmul(np.zeros((2, 3)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"c has shape \(2, 2\), expected \(2, 5\)"):
        _core.matmul(np.zeros((2, 3)), np.zeros((3, 5)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="rank 2"):
        _core.matmul(np.zeros(3), np.zeros((3, 5)), np.zeros((1, 5)))


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softmax",
                                        "log_softmax", "celu", "squareplus", "mish", "hard_silu"])
def test_dense_forward_matches_the_seed_formula(activation):
    # Slide 3: Z = X W (+ b), A = f(Z).
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(6, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
    z = x @ w + b
    expected = ops.activation(z, activation)
    np.testing.assert_allclose(ops.dense(x, w, b, activation), expected, rtol=1e-12)
    np.testing.assert_allclose(ops.dense(x, w, None, "linear"), x @ w, rtol=1e-12)


def test_dense_backward_matches_finite_differences():
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
    dz = rng.normal(size=(5, 3))

    def f():
        return float((ops.dense(x, w, b) * dz).sum())

    dx, dw, db = ops.dense_backward(dz, x, w)
    np.testing.assert_allclose(dx, numeric_grad(f, x), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dw, numeric_grad(f, w), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(db, numeric_grad(f, b), rtol=1e-7, atol=1e-9)


def test_dense_backward_accumulates_parameter_gradients_and_skips_none():
    rng = np.random.default_rng(4)
    x, w, dz = rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    dw, db = np.ones((4, 3)), np.ones(3)
    _core.dense_backward(dz, x, w, None, dw, db)
    np.testing.assert_allclose(dw, 1 + x.T @ dz, rtol=1e-12)
    np.testing.assert_allclose(db, 1 + dz.sum(0), rtol=1e-12)


def test_dense_results_do_not_depend_on_thread_count():
    import brisknn
    rng = np.random.default_rng(5)
    x = rng.normal(size=(512, 300)).astype(np.float32)
    w = rng.normal(size=(300, 200)).astype(np.float32)
    dz = rng.normal(size=(512, 200)).astype(np.float32)
    before = brisknn.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            brisknn.set_num_threads(threads)
            results.append((ops.dense(x, w, None, "relu"), *ops.dense_backward(dz, x, w)))
    finally:
        brisknn.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5, 4), (200, 784, 128), (128, 20, 300)])  # row/depth/col splits
def test_dense_forward_reports_a_nonfinite_input(dtype, shape):
    batch, units_in, units = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, units_in)).astype(dtype)
    w = np.zeros((units_in, units), dtype)  # inf * 0 is NaN: even a zero kernel passes it on
    y = np.empty((batch, units), dtype)
    assert _core.dense_forward(x, w, None, y, "relu") is True
    for bad in (np.nan, np.inf, -np.inf):
        for where in ((0, 0), (batch - 1, units_in - 1), (batch // 2, units_in // 3)):
            x2 = x.copy()
            x2[where] = bad
            assert _core.dense_forward(x2, w, np.zeros(units, dtype), y, "relu") is False
    # A non-finite bias is reported too; the model then scans x and finds it finite.
    assert _core.dense_forward(x, w, np.full(units, np.inf, dtype), y, "linear") is False


def test_dense_kernel_checks_every_argument():
    x, w = np.zeros((2, 3), np.float32), np.zeros((3, 4), np.float32)
    y = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"kernel has shape \(4, 4\), expected \(3, 4\)"):
        _core.dense_forward(x, np.zeros((4, 4), np.float32), None, y)
    with pytest.raises(ValueError, match=r"bias has shape \(5,\), expected \(4,\)"):
        _core.dense_forward(x, w, np.zeros(5, np.float32), y)
    with pytest.raises(TypeError, match="kernel has dtype float64"):
        _core.dense_forward(x, w.astype(np.float64), None, y)
    with pytest.raises(ValueError, match=r"dz has shape \(3, 4\), expected \(2, 4\)"):
        _core.dense_backward(np.zeros((3, 4), np.float32), x, w, None, None, None)
    with pytest.raises(ValueError, match="set_num_threads"):
        _core.set_num_threads(0)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "softmax", "elu", "log_softmax",
                                        "celu", "hard_tanh", "log_sigmoid", "squareplus",
                                        "sparse_plus"])
def test_dense_backward_applies_the_activation_derivative_from_y(activation):
    rng = np.random.default_rng(6)
    x, w = rng.normal(size=(7, 5)), rng.normal(size=(5, 4))
    y = ops.dense(x, w, None, activation)
    dy = rng.normal(size=y.shape)
    dz = ops.activation_backward(dy, y, activation)
    expected_dx, dw, db = np.empty_like(x), np.ones((5, 4)), np.ones(4)
    _core.dense_backward(dz, x, w, expected_dx, dw, db)
    dx, dw2, db2 = np.empty_like(x), np.ones((5, 4)), np.ones(4)
    _core.dense_backward(dy, x, w, dx, dw2, db2, y, activation, _core.activation_default_alpha(
        activation))  # ops take Keras' parameter (elu's alpha 1) by default, _core takes it given
    np.testing.assert_array_equal(dx, expected_dx)  # the same kernels, fused into one call
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)
    with pytest.raises(ValueError, match="activation 'relu' needs the layer output y"):
        _core.dense_backward(dy, x, w, dx, None, None, None, "relu")
    with pytest.raises(ValueError, match=r"y has shape \(7, 3\), expected \(7, 4\)"):
        _core.dense_backward(dy, x, w, dx, None, None, np.zeros((7, 3)), "relu")


@pytest.mark.parametrize("name", ["GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal",
                                  "Orthogonal", "RandomNormal", "RandomUniform"])
def test_an_initializer_with_a_seed_repeats_itself_and_ignores_the_global_generator(name):
    from brisknn import initializers, utils
    init = getattr(initializers, name)(seed=7)
    first = init((6, 5))
    utils.set_random_seed(99)
    assert np.array_equal(first, init((6, 5)))
    assert not np.array_equal(first, getattr(initializers, name)(seed=8)((6, 5)))
    unseeded = getattr(initializers, name)()
    assert not np.array_equal(unseeded((6, 5)), unseeded((6, 5)))


def test_layer_activation_is_the_function_as_in_keras():
    from brisknn import activations, layers
    dense = layers.Dense(3, activation="relu")
    assert dense.activation is activations.relu
    assert layers.Dense(3).activation is activations.linear
    assert layers.Conv2D(2, 3, activation=activations.tanh).activation is activations.tanh
    np.testing.assert_array_equal(dense.activation(np.array([-1.0, 2.0])), [0.0, 2.0])


@pytest.mark.parametrize("activation", ["softmax", "log_softmax"])
def test_wide_softmax_dense_matches_numpy_on_any_thread_count(activation):
    # Split by columns, the product's rows are finished only when every block is: the softmax
    # (and log_softmax) must still see whole rows.
    import brisknn
    rng = np.random.default_rng(9)
    x, w = rng.normal(size=(32, 64)), rng.normal(size=(64, 1000)) * 0.1
    b = rng.normal(size=1000)
    before = brisknn.get_num_threads()
    try:
        out = []
        for threads in (1, 2, 3):
            brisknn.set_num_threads(threads)
            out.append(ops.dense(x, w, b, activation))
    finally:
        brisknn.set_num_threads(before)
    z = x @ w + b
    e = np.exp(z - z.max(1, keepdims=True))
    if activation == "softmax":
        np.testing.assert_allclose(out[0], e / e.sum(1, keepdims=True), rtol=1e-10, atol=1e-15)
    else:
        np.testing.assert_allclose(out[0], z - z.max(1, keepdims=True) - np.log(
            e.sum(1, keepdims=True)), rtol=1e-12, atol=1e-12)
    for other in out[1:]:
        np.testing.assert_array_equal(other, out[0])


def test_core_layers_take_keras_keyword_arguments_and_config_keys():
    from brisknn import layers
    dense = layers.Dense(3, kernel_constraint=None, bias_constraint=None,
                         activity_regularizer=None)
    config = dense.get_config()
    assert config["kernel_constraint"] is None and config["bias_constraint"] is None
    assert "activity_regularizer" not in config  # Keras 3 writes it only when set
    assert type(layers.Dense.from_config(config)) is layers.Dense
    config = layers.Dense(3, activity_regularizer="l2").get_config()
    assert config["activity_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    assert layers.Dense.from_config(config).activity_regularizer.l2 == 0.01
    drop = layers.Dropout(0.5, noise_shape=None)
    assert drop.get_config()["noise_shape"] is None
    with pytest.raises(NotImplementedError, match="noise_shape"):
        layers.Dropout(0.5, noise_shape=(None, 1))
    flat = layers.Flatten(data_format="channels_last")
    assert flat.get_config()["data_format"] == "channels_last"
    assert layers.Flatten().get_config()["data_format"] == "channels_last"
    with pytest.raises(ValueError, match="data_format"):
        layers.Flatten(data_format="channels_middle")
    conv = layers.Conv2D(2, 3).get_config()
    lstm = layers.LSTM(2).get_config()
    assert conv["kernel_constraint"] is None and lstm["recurrent_constraint"] is None


def test_flatten_channels_first_flattens_in_channels_last_order_as_keras():
    from brisknn import layers
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)  # (batch, channels, height, width)
    flat = layers.Flatten(data_format="channels_first")
    y = flat(x)
    np.testing.assert_array_equal(y, np.transpose(x, (0, 2, 3, 1)).reshape(2, -1))
    dy = rng.normal(size=y.shape).astype(np.float32)
    dx = flat.backward(dy)
    # The adjoint of the forward map: <forward(x), dy> == <x, backward(dy)>.
    assert np.sum(y * dy, dtype=np.float64) == pytest.approx(np.sum(x * dx, dtype=np.float64))
    assert dx.shape == x.shape


def test_lecun_truncated_normal_and_identity_initializers_follow_keras():
    from brisknn import initializers
    w = initializers.get("truncated_normal")((400, 300))
    assert np.abs(w).max() <= 2 * 0.05 + 1e-7 and abs(w.std() - 0.05 * 0.8796) < 2e-3
    w = initializers.TruncatedNormal(mean=1.0, stddev=0.1, seed=3)((500, 400))
    assert abs(w.mean() - 1.0) < 2e-3 and np.abs(w - 1.0).max() <= 0.2 + 1e-6
    w = initializers.get("lecun_normal")((400, 300))  # stddev sqrt(1 / fan_in)
    assert abs(w.std() - np.sqrt(1 / 400)) < 2e-3 and np.abs(w).max() <= 2 * np.sqrt(
        1 / 400) / 0.8796 + 1e-6
    w = initializers.get("lecun_uniform")((400, 300))  # limit sqrt(3 / fan_in)
    assert np.abs(w).max() <= np.sqrt(3 / 400) and np.abs(w).max() > 0.95 * np.sqrt(3 / 400)
    np.testing.assert_array_equal(initializers.Identity(gain=2.0)((2, 3)), 2 * np.eye(2, 3))
    with pytest.raises(ValueError, match="2D matrices"):
        initializers.get("identity")((2, 2, 2))


def test_initializers_serialize_with_keras_class_names_and_read_older_names():
    from brisknn import initializers, layers
    config = layers.Dense(3, kernel_initializer="lecun_normal").get_config()
    assert config["kernel_initializer"] == {"class_name": "LecunNormal",
                                            "config": {"seed": None}}
    assert config["bias_initializer"]["class_name"] == "Zeros"
    assert type(layers.Dense.from_config(config).kernel_initializer) is initializers.LecunNormal
    old = initializers.deserialize({"class_name": "glorot_uniform", "config": {"seed": 1}})
    assert type(old) is initializers.GlorotUniform and old.seed == 1
    with pytest.raises(ValueError, match="Unknown initializer"):
        initializers.deserialize({"class_name": "os.system", "config": {}})


def test_layers_without_weights_called_alone_adapt_to_new_shapes_as_keras():
    from brisknn import layers
    drop = layers.Dropout(0.5)
    drop(np.ones((2, 4)))
    assert drop(np.ones((2, 3))).shape == (2, 3)
    flat = layers.Flatten()
    flat(np.ones((2, 4, 4)))
    x = np.arange(36, dtype=np.float32).reshape(2, 3, 3, 2)
    np.testing.assert_array_equal(flat(x), x.reshape(2, -1))
    pool = layers.MaxPooling2D()
    pool(np.ones((1, 4, 4, 1)))
    assert pool(np.ones((1, 6, 6, 1))).shape == (1, 3, 3, 1)
    dense = layers.Dense(2)  # a layer with weights keeps its input shape
    dense(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"expects input of shape \(None, 4\)"):
        dense(np.ones((2, 3)))


def test_fused_backward_kernels_refuse_activations_whose_derivative_needs_the_input():
    x, w = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    y, dz = np.zeros((2, 4), np.float32), np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match="derivative of 'gelu' needs the pre-activation"):
        _core.dense_backward(dz, x, w, None, np.zeros_like(w), None, y, "gelu")
    _core.dense_forward(x, w, None, y, "gelu")  # forward alone is fine
    np.testing.assert_allclose(y, ops.gelu(x @ w), rtol=1e-6)


def test_a_layer_reports_its_dtype_before_it_is_built_as_keras():
    import brisknn
    from brisknn import layers
    dense = layers.Dense(3)
    assert dense.dtype == "float32" and not dense.built  # Keras 3: the policy's, not None
    brisknn.backend.set_floatx("float64")  # conftest puts float32 back
    assert dense.dtype == "float64"
    dense.build((None, 2))  # built with floatx() at the build, as before
    assert dense.kernel.value.dtype == np.float64
    brisknn.backend.set_floatx("float32")
    assert dense.dtype == "float64" and layers.Dense(3, dtype="float64").dtype == "float64"
