import numpy as np
import pytest
from scipy import signal

import brisknn
from brisknn import _core, layers, ops
from conftest import numeric_grad


# -- NumPy references --------------------------------------------------------------------------
def same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def padded_input(x, kh, kw, strides, padding):
    """x padded as Keras does, and the output size (out_h, out_w)."""
    (_, h, w, _), (sh, sw) = x.shape, strides
    if padding == "valid":
        return x, ((h - kh) // sh + 1, (w - kw) // sw + 1), (0, 0)
    oh, top, bottom = same_pads(h, kh, sh)
    ow, left, right = same_pads(w, kw, sw)
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0))), (oh, ow), (top, left)


def window(xp, i, j, out, strides):
    return xp[:, i:i + (out[0] - 1) * strides[0] + 1:strides[0],
              j:j + (out[1] - 1) * strides[1] + 1:strides[1], :]


def conv_ref(x, kernel, bias, strides, padding):
    kh, kw, _, f = kernel.shape
    xp, out, _ = padded_input(x.astype(np.float64), kh, kw, strides, padding)
    y = np.zeros((x.shape[0],) + out + (f,))
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("nhwc,cf->nhwf", window(xp, i, j, out, strides), kernel[i, j])
    return y if bias is None else y + bias


def conv_backward_ref(dz, x, kernel, strides, padding):
    kh, kw, _, _ = kernel.shape
    xp, out, (top, left) = padded_input(x.astype(np.float64), kh, kw, strides, padding)
    dxp, dk = np.zeros_like(xp), np.zeros(kernel.shape)
    for i in range(kh):
        for j in range(kw):
            dk[i, j] = np.einsum("nhwc,nhwf->cf", window(xp, i, j, out, strides), dz)
            window(dxp, i, j, out, strides)[...] += np.einsum("nhwf,cf->nhwc", dz, kernel[i, j])
    dx = dxp[:, top:top + x.shape[1], left:left + x.shape[2], :]
    return dx, dk, dz.sum(axis=(0, 1, 2))


# (batch, height, width, channels, k_h, k_w, filters, strides, padding)
SHAPES = [
    (2, 5, 5, 3, 3, 3, 13, (1, 1), "valid"),
    (3, 9, 8, 1, 3, 3, 37, (1, 1), "same"),     # direct forward, channel chunks of 32 and 1
    (1, 7, 6, 2, 3, 2, 5, (2, 1), "same"),
    (3, 8, 8, 1, 1, 1, 3, (1, 1), "valid"),    # 1x1 stride 1: no im2col
    (2, 6, 5, 4, 1, 1, 2, (1, 1), "same"),
    (2, 5, 7, 2, 1, 1, 3, (2, 2), "valid"),    # 1x1 strided: im2col after all
    (1, 4, 5, 3, 4, 5, 2, (1, 1), "valid"),    # kernel as large as the input
    (2, 4, 5, 3, 4, 5, 2, (1, 1), "same"),
    (2, 3, 3, 2, 5, 4, 3, (1, 1), "same"),     # kernel larger than the input
    (2, 9, 9, 2, 2, 2, 3, (3, 3), "valid"),    # stride > kernel
    (2, 9, 10, 2, 2, 3, 3, (4, 3), "same"),
    (1, 3, 3, 64, 3, 3, 70, (1, 1), "same"),   # many channels
    (5, 11, 13, 3, 5, 3, 8, (2, 3), "same"),
    (40, 12, 12, 3, 3, 3, 16, (1, 1), "valid"),  # many blocks of images
]


def make_case(shape, dtype, seed=0):
    n, h, w, c, kh, kw, f, strides, padding = shape
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, h, w, c)).astype(dtype)
    kernel = rng.normal(size=(kh, kw, c, f)).astype(dtype)
    bias = rng.normal(size=f).astype(dtype)
    return x, kernel, bias, strides, padding


@pytest.mark.parametrize("shape", SHAPES)
def test_conv2d_forward_matches_numpy_reference(shape):
    x, kernel, bias, strides, padding = make_case(shape, np.float64)
    np.testing.assert_allclose(ops.conv2d(x, kernel, bias, strides, padding),
                               conv_ref(x, kernel, bias, strides, padding), rtol=1e-12, atol=1e-12)
    x32, k32 = x.astype(np.float32), kernel.astype(np.float32)
    y32 = ops.conv2d(x32, k32, None, strides, padding.upper())
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, conv_ref(x32, k32, None, strides, padding), rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("shape", SHAPES)
def test_conv2d_backward_matches_numpy_reference_and_accumulates(shape):
    x, kernel, _, strides, padding = make_case(shape, np.float64, seed=1)
    dz = np.random.default_rng(2).normal(size=ops.conv2d(x, kernel, None, strides, padding).shape)
    dx_ref, dk_ref, db_ref = conv_backward_ref(dz, x, kernel, strides, padding)
    dx, dk, db = ops.conv2d_backward(dz, x, kernel, strides, padding)
    for got, ref in ((dx, dx_ref), (dk, dk_ref), (db, db_ref)):
        np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-11)
    # The kernel and bias gradients add into what is there; dx is overwritten.
    dk2, db2, dx2 = np.ones_like(dk), np.ones_like(db), np.full_like(x, 7.0)
    ws = np.empty(_core.conv2d_workspace_size(x.shape, kernel.shape, strides, padding, True))
    _core.conv2d_backward(dz, x, kernel, dx2, dk2, db2, ws, strides, padding)
    np.testing.assert_allclose(dk2, dk_ref + 1, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(db2, db_ref + 1, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(dx2, dx_ref, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("shape", [SHAPES[2], SHAPES[4], SHAPES[8], SHAPES[10]])
def test_conv2d_backward_matches_finite_differences(shape):
    x, kernel, bias, strides, padding = make_case(shape, np.float64, seed=3)
    weights = np.random.default_rng(4).normal(
        size=ops.conv2d(x, kernel, bias, strides, padding).shape)

    def loss():
        return float((ops.conv2d(x, kernel, bias, strides, padding, "tanh") * weights).sum())

    y = ops.conv2d(x, kernel, bias, strides, padding, "tanh")
    dz = ops.activation_backward(weights, y, "tanh")
    dx, dk, db = ops.conv2d_backward(dz, x, kernel, strides, padding)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dk, numeric_grad(loss, kernel), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, numeric_grad(loss, bias), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus",
                                  "softmax"])
def test_conv2d_fuses_each_activation(name):
    x, kernel, bias, strides, padding = make_case(SHAPES[2], np.float64)
    z = conv_ref(x, kernel, bias, strides, padding)
    expected = {
        "relu": np.maximum(z, 0), "leaky_relu": np.where(z > 0, z, 0.2 * z),
        "elu": np.where(z > 0, z, np.expm1(z)), "sigmoid": 1 / (1 + np.exp(-z)),
        "tanh": np.tanh(z), "softplus": np.logaddexp(z, 0),
        "softmax": np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)}[name]
    np.testing.assert_allclose(ops.conv2d(x, kernel, bias, strides, padding, name), expected,
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["relu", "elu", "sigmoid", "softmax"])
@pytest.mark.parametrize("shape", [SHAPES[1], SHAPES[11]])
def test_conv2d_backward_fuses_the_activation_derivative(name, shape):
    x, kernel, bias, strides, padding = make_case(shape, np.float64)
    y = ops.conv2d(x, kernel, bias, strides, padding, name)
    dy = np.random.default_rng(10).normal(size=y.shape)
    fused = ops.conv2d_backward(dy, x, kernel, strides, padding, y=y, activation=name)
    dz = ops.activation_backward(dy, y, name, brisknn.activations.alpha(name))
    unfused = ops.conv2d_backward(dz, x, kernel, strides, padding)
    for got, ref in zip(fused, unfused):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.fixture
def threads():
    before = brisknn.get_num_threads()
    yield
    brisknn.set_num_threads(before)


@pytest.mark.parametrize("shape", [SHAPES[13], SHAPES[11],
                                   (1, 40, 40, 8, 3, 3, 16, (1, 1), "same"),
                                   (64, 6, 6, 16, 1, 1, 24, (1, 1), "valid")])
def test_conv2d_results_do_not_depend_on_the_thread_count(shape, threads):
    x, kernel, bias, strides, padding = make_case(shape, np.float32)
    dz = np.random.default_rng(5).normal(
        size=ops.conv2d(x, kernel, bias, strides, padding).shape).astype(np.float32)
    results = []
    for n in (1, 2):
        brisknn.set_num_threads(n)
        results.append((ops.conv2d(x, kernel, bias, strides, padding, "relu"),)
                       + ops.conv2d_backward(dz, x, kernel, strides, padding))
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


# -- argument checking -----------------------------------------------------------------------
def test_conv2d_rejects_bad_shapes_with_clear_messages():
    x, k = np.zeros((2, 5, 5, 3), np.float32), np.zeros((3, 3, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"4-D input.*\(5, 5, 3\)"):
        ops.conv2d(x[0], k)
    with pytest.raises(ValueError, match=r"\(2, 5, 5, 3\) has 3 channels.*\(3, 3, 2, 4\)"):
        ops.conv2d(x, k[:, :, :2])
    with pytest.raises(ValueError, match=r"kernel of shape \(6, 3, 3, 4\) is larger"):
        ops.conv2d(x, np.zeros((6, 3, 3, 4), np.float32))
    with pytest.raises(ValueError, match="strides must be positive"):
        ops.conv2d(x, k, strides=0)
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        ops.conv2d(x, k, padding="full")
    with pytest.raises(ValueError, match="Unknown activation"):
        ops.conv2d(x, k, activation="swishy")


def test_conv2d_binding_checks_every_argument():
    x, k = np.zeros((2, 5, 5, 3), np.float32), np.zeros((3, 3, 3, 4), np.float32)
    y, ws = np.zeros((2, 3, 3, 4), np.float32), np.zeros(10**5, np.float32)
    _core.conv2d_forward(x, k, None, y, ws, (1, 1), "valid")
    with pytest.raises(ValueError, match=r"conv2d_forward: kernel of shape \(3, 3, 2, 4\) "
                                         r"expects 2 input channels, x of shape \(2, 5, 5, 3\)"):
        _core.conv2d_forward(x, k[:, :, :2].copy(), None, y, ws, (1, 1), "valid")
    with pytest.raises(ValueError, match=r"is larger than the input's spatial size \(5, 5\)"):
        _core.conv2d_forward(x, np.zeros((3, 6, 3, 4), np.float32), None, y, ws, (1, 1), "valid")
    with pytest.raises(ValueError, match=r"y has shape \(2, 3, 3, 4\), expected \(2, 5, 5, 4\)"):
        _core.conv2d_forward(x, k, None, y, ws, (1, 1), "same")
    with pytest.raises(ValueError, match="strides must be >= 1"):
        _core.conv2d_forward(x, k, None, y, ws, (1, 0), "valid")
    with pytest.raises(ValueError, match=r"bias has shape \(3,\), expected \(4,\)"):
        _core.conv2d_forward(x, k, np.zeros(3, np.float32), y, ws, (1, 1), "valid")
    with pytest.raises(ValueError, match="workspace has 3 elements, needs at least"):
        _core.conv2d_backward(y, x, k, None, None, None, ws[:3], (1, 1), "valid")
    with pytest.raises(ValueError, match="activation 'relu' needs the forward output y"):
        _core.conv2d_backward(y, x, k, None, None, None, ws, (1, 1), "valid", None, "relu")
    with pytest.raises(TypeError, match="kernel has dtype float64"):
        _core.conv2d_forward(x, k.astype(np.float64), None, y, ws, (1, 1), "valid")
    with pytest.raises(ValueError, match="rank 4"):
        _core.conv2d_forward(x[0], k, None, y, ws, (1, 1), "valid")
    with pytest.raises(ValueError, match=r"dy has shape \(2, 3, 3, 3\), expected \(2, 3, 3, 4\)"):
        _core.conv2d_backward(y[..., :3].copy(), x, k, None, None, None, ws, (1, 1), "valid")
    with pytest.raises(ValueError, match=r"dkernel has shape \(3, 3, 3, 3\)"):
        _core.conv2d_backward(y, x, k, None, k[..., :3].copy(), None, ws, (1, 1), "valid")
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.conv2d_backward(y, x, k, np.zeros((5, 5, 3, 2), np.float32).transpose(3, 0, 1, 2),
                              None, None, ws, (1, 1), "valid")


# -- scipy.signal compatibility ----------------------------------------------------------------
@pytest.mark.parametrize("mode", ["full", "valid", "same"])
@pytest.mark.parametrize("image_shape,kernel_shape", [
    ((8, 8), (3, 3)), ((7, 9), (2, 4)), ((5, 6), (5, 6)), ((6, 5), (1, 1)), ((9, 4), (4, 1)),
    ((3, 4), (6, 7)),  # 'valid' swaps the inputs, as scipy does
    ((1, 1), (1, 1)), ((10, 12), (6, 3))])
def test_convolve2d_and_correlate2d_match_scipy(image_shape, kernel_shape, mode):
    rng = np.random.default_rng(6)
    image, kernel = rng.random(image_shape), rng.normal(size=kernel_shape)
    for ours, theirs in ((ops.convolve2d, signal.convolve2d),
                         (ops.correlate2d, signal.correlate2d)):
        expected = theirs(image, kernel, mode)
        got = ours(image, kernel, mode)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("mode", ["full", "same"])
def test_convolve2d_boundaries_match_scipy(boundary, mode):
    rng = np.random.default_rng(7)
    image, kernel = rng.random((6, 7)), rng.normal(size=(4, 3))
    for ours, theirs in ((ops.convolve2d, signal.convolve2d),
                         (ops.correlate2d, signal.correlate2d)):
        np.testing.assert_allclose(ours(image, kernel, mode, boundary, 0.5),
                                   theirs(image, kernel, mode, boundary, 0.5), rtol=1e-12,
                                   atol=1e-12)


def test_convolve2d_keeps_scipy_dtypes_and_runs_the_seed_example():
    # Slide 10: edge detection of a random 8x8 image with an integer kernel.
    image = np.random.default_rng(8).random((8, 8))
    edge = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
    got = ops.convolve2d(image, edge, mode="valid")
    np.testing.assert_allclose(got, signal.convolve2d(image, edge, mode="valid"), rtol=1e-12,
                               atol=1e-12)
    assert got.shape == (6, 6)
    ints = np.arange(20).reshape(4, 5)
    for fn, ref in ((ops.convolve2d, signal.convolve2d), (ops.correlate2d, signal.correlate2d)):
        out = fn(ints, edge, "same")
        assert out.dtype == ref(ints, edge, "same").dtype
        np.testing.assert_array_equal(out, ref(ints, edge, "same"))
    f32 = ops.convolve2d(image.astype(np.float32), edge.astype(np.float32))
    assert f32.dtype == np.float32


def test_convolve2d_rejects_what_scipy_rejects():
    with pytest.raises(ValueError, match="at least as large as the other"):
        ops.convolve2d(np.zeros((3, 5)), np.zeros((4, 2)), "valid")
    with pytest.raises(ValueError, match="2-D"):
        ops.correlate2d(np.zeros(3), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="mode"):
        ops.convolve2d(np.zeros((3, 3)), np.zeros((1, 1)), "wide")


# -- the Conv2D layer ------------------------------------------------------------------------
def test_conv2d_layer_weights_have_keras_shapes():
    layer = layers.Conv2D(32, kernel_size=(3, 3), activation="relu", input_shape=(28, 28, 1))
    y = layer(np.zeros((2, 28, 28, 1)))
    assert y.shape == (2, 26, 26, 32) and y.dtype == np.float32
    assert [w.shape for w in layer.get_weights()] == [(3, 3, 1, 32), (32,)]
    assert layer.count_params() == 3 * 3 * 32 + 32
    nobias = layers.Conv2D(8, 5, strides=2, padding="SAME", use_bias=False)
    assert nobias.compute_output_shape((None, 9, 10, 3)) == (None, 5, 5, 8)
    nobias(np.zeros((1, 9, 10, 3)))
    assert [w.shape for w in nobias.get_weights()] == [(5, 5, 3, 8)]


def test_conv2d_layer_forward_and_backward_match_ops():
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(9)
    layer = layers.Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="tanh")
    x = rng.normal(size=(3, 7, 6, 2))
    y = layer(x, training=True)
    kernel, bias = layer.get_weights()
    bias[:] = rng.normal(size=4)
    layer.set_weights([kernel, bias])
    y = layer.forward(x, training=True)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, ops.conv2d(x, kernel, bias, (2, 1), "same", "tanh"), rtol=1e-12)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    dx_ref, dk_ref, db_ref = ops.conv2d_backward(ops.tanh_backward(dy, y), x, kernel, (2, 1),
                                                 "same")
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12)
    np.testing.assert_allclose(layer.kernel.grad, dk_ref, rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, db_ref, rtol=1e-12)
    assert layer.backward(dy, need_dx=False) is None
    np.testing.assert_allclose(layer.kernel.grad, 2 * dk_ref, rtol=1e-12)  # accumulated


def test_conv2d_layer_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"'c1' \(Conv2D\) expects 4-D input"):
        layers.Conv2D(2, 3, name="c1")(np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match=r"'c2' \(Conv2D\): kernel of shape \(7, 7, 1, 2\) is "
                                         r"larger than the input of shape \(None, 5, 5, 1\)"):
        layers.Conv2D(2, 7, name="c2")(np.zeros((2, 5, 5, 1)))
    layer = layers.Conv2D(2, 3, name="c3")
    layer(np.zeros((2, 5, 5, 1)))
    with pytest.raises(ValueError, match=r"'c3' \(Conv2D\) expects input of shape "
                                         r"\(None, 5, 5, 1\), got \(None, 5, 5, 2\)"):
        layer(np.zeros((2, 5, 5, 2)))
    with pytest.raises(ValueError, match=r"Conv2D 'c4': the `data_format` argument must be one "
                                         r"of \{'channels_first', 'channels_last'\}"):
        layers.Conv2D(2, 3, data_format="NCHW", name="c4")
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        layers.Conv2D(2, (3, 3, 3))
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        layers.Conv2D(0, 3)


def test_conv2d_layer_config_round_trips():
    layer = layers.Conv2D(6, 3, strides=2, padding="Same", activation="relu", use_bias=False,
                          kernel_initializer="random_normal", name="conv")
    config = layer.get_config()
    assert config["kernel_size"] == (3, 3) and config["strides"] == (2, 2)
    assert config["padding"] == "same" and config["activation"] == "relu"
    clone = layers.Conv2D.from_config(config)
    assert clone.get_config() == config


def _bars(n, size=8, seed=0):
    """Images holding one horizontal (label 0) or vertical (label 1) bar, plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.1, (n, size, size, 1)).astype(np.float32)
    y = rng.integers(0, 2, n)
    where = rng.integers(1, size - 1, n)
    for i in range(n):
        if y[i]:
            x[i, :, where[i], 0] += 1
        else:
            x[i, where[i], :, 0] += 1
    return x, y


def test_a_small_cnn_learns_to_tell_bars_apart():
    x, y = _bars(600)
    model = brisknn.Sequential([
        layers.Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1)),
        layers.MaxPooling2D((2, 2)), layers.Flatten(), layers.Dense(2, activation="softmax")])
    model.compile(brisknn.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[:500], y[:500], epochs=8, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x[500:], y[500:], verbose=0)
    assert accuracy > 0.95


def test_cnn_model_gradients_match_finite_differences():
    brisknn.backend.set_floatx("float64")
    x, y = _bars(6, size=6)
    model = brisknn.Sequential([
        layers.Conv2D(2, (3, 3), padding="same", activation="tanh", input_shape=(6, 6, 1)),
        layers.AveragePooling2D((2, 2)), layers.Conv2D(2, (2, 2), strides=(2, 2)),
        layers.Flatten(), layers.Dense(2, activation="softmax")])
    lr = 1e-3
    model.compile(brisknn.optimizers.SGD(learning_rate=lr), "sparse_categorical_crossentropy")
    before = model.get_weights()

    def loss():
        return model.evaluate(x, y, batch_size=6, verbose=0)

    numeric = []
    for var in model.weights:
        grad = np.zeros_like(var.value)
        for i in np.ndindex(var.shape):
            old = var.value[i]
            var.value[i] = old + 1e-6
            up = loss()
            var.value[i] = old - 1e-6
            down = loss()
            var.value[i] = old
            grad[i] = (up - down) / 2e-6
        numeric.append(grad)
    model.train_on_batch(x, y)
    for w0, w1, g in zip(before, model.get_weights(), numeric):
        np.testing.assert_allclose((w0 - w1) / lr, g, rtol=1e-5, atol=1e-8)


def test_window_geometry_does_not_overflow_at_extreme_sizes_and_strides():
    big = 2 ** 63 - 1
    assert _core.window_output_length(5, 3, big, "same") == 1
    assert _core.window_output_length(big, 3, 2, "same") == 2 ** 62
    assert _core.window_output_length(big, 3, big, "same") == 1
    assert _core.window_output_length(big, 1, 1, "valid") == big
    x = np.ones((1, 5, 5, 1), np.float32)
    k = np.ones((3, 3, 1, 1), np.float32)
    y = ops.conv2d(x, k, None, (big, big), "same")  # one position, no padding (as TF): 3x3 ones
    np.testing.assert_array_equal(y, [[[[9.0]]]])


def conv_transpose_ref(x, kernel, strides, padding):
    """Keras' Conv2DTranspose in NumPy: every input pixel scatters kernel-weighted copies onto
    the full output, which TF's 'same' crops (pad_before = total // 2) to h * stride; 'valid'
    keeps h * stride + max(k - stride, 0) rows (zeros past the full output)."""
    n, h, w, _ = x.shape
    kh, kw, filters, _ = kernel.shape
    (sh, sw) = strides
    full = np.zeros((n, (h - 1) * sh + kh, (w - 1) * sw + kw, filters))
    for i in range(h):
        for j in range(w):
            full[:, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.einsum(
                "nc,abfc->nabf", x[:, i, j], kernel)
    out = []
    for size, k, s, axis in ((h, kh, sh, 1), (w, kw, sw, 2)):
        length = size * s if padding == "same" else size * s + max(k - s, 0)
        before = max((size - 1) * s + k - length, 0) // 2
        out.append((length, before))
    (oh, top), (ow, left) = out
    y = np.zeros((n, oh, ow, filters))
    part = full[:, top:top + oh, left:left + ow]
    y[:, :part.shape[1], :part.shape[2]] = part
    return y


TRANSPOSE = [((2, 3, 4, 2), (3, 3), (2, 2), "same"), ((2, 3, 4, 2), (3, 3), (2, 2), "valid"),
             ((1, 4, 3, 3), (4, 4), (2, 2), "same"), ((2, 2, 3, 1), (2, 3), (3, 1), "valid"),
             ((1, 3, 3, 2), (1, 1), (3, 2), "valid"), ((2, 3, 2, 2), (5, 5), (1, 1), "same")]


@pytest.mark.parametrize("x_shape,kernel_size,strides,padding", TRANSPOSE)
def test_conv2d_transpose_matches_a_numpy_scatter_and_keras_output_lengths(
        x_shape, kernel_size, strides, padding):
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(0)
    x = rng.normal(size=x_shape)
    layer = layers.Conv2DTranspose(3, kernel_size, strides=strides, padding=padding,
                                   bias_initializer="random_normal")
    y = layer(x).numpy()
    kernel, bias = layer.get_weights()
    assert kernel.shape == kernel_size + (3, x_shape[3])  # Keras: (k_h, k_w, filters, in)
    np.testing.assert_allclose(y, conv_transpose_ref(x, kernel, strides, padding) + bias,
                               rtol=1e-10, atol=1e-12)
    assert layer.compute_output_shape((None,) + x_shape[1:]) == (None,) + y.shape[1:]


@pytest.mark.parametrize("x_shape,kernel_size,strides,padding", TRANSPOSE[:4])
def test_conv2d_transpose_backward_matches_finite_differences(x_shape, kernel_size, strides,
                                                              padding):
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(1)
    x = rng.normal(size=x_shape)
    layer = layers.Conv2DTranspose(2, kernel_size, strides=strides, padding=padding,
                                   activation="tanh")
    weights = rng.normal(size=layer(x).shape)

    def loss():
        return float((layer.forward(x) * weights).sum())

    for var in layer.weights:
        var.grad.fill(0)
    layer.forward(x)
    dx = layer.backward(weights)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-9)
    for var in layer.weights:
        np.testing.assert_allclose(var.grad, numeric_grad(loss, var.value), rtol=1e-6,
                                   atol=1e-9)


def test_conv2d_transpose_config_refusals_and_a_dcgan_generator():
    layer = layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu",
                                   use_bias=False)
    again = layers.Conv2DTranspose.from_config(layer.get_config())
    assert (again.filters, again.strides, again.padding, again.use_bias) == (4, (2, 2), "same",
                                                                            False)
    with pytest.raises(ValueError, match="`output_padding` must be < `strides`"):
        layers.Conv2DTranspose(2, 3, output_padding=1)
    # Keras' DCGAN generator shape: Dense -> Reshape -> Conv2DTranspose(strides=2) x2.
    generator = brisknn.Sequential([
        layers.Input((8,)), layers.Dense(4 * 4 * 8), layers.Reshape((4, 4, 8)),
        layers.Conv2DTranspose(8, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="sigmoid")])
    assert generator.output_shape == (None, 16, 16, 1)
    generator.compile(brisknn.optimizers.Adam(0.01), "mse")
    z = np.random.default_rng(2).normal(size=(8, 8)).astype(np.float32)
    target = np.zeros((8, 16, 16, 1), np.float32)
    target[:, 4:12, 4:12] = 1.0
    losses = [generator.train_on_batch(z, target) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]
