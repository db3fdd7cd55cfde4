import numpy as np
import pytest

import brisknn
from brisknn import _core, layers, ops
from conftest import numeric_grad


def windows(x, pool, strides, padding):
    """Yields (n-independent) output index (oh, ow) and the input window slices, padding
    excluded, as Keras/TF place them."""
    (_, h, w, _), (ph, pw), (sh, sw) = x.shape, pool, strides
    if padding == "valid":
        out, top, left = ((h - ph) // sh + 1, (w - pw) // sw + 1), 0, 0
    else:
        out = (-(-h // sh), -(-w // sw))
        top = max((out[0] - 1) * sh + ph - h, 0) // 2
        left = max((out[1] - 1) * sw + pw - w, 0) // 2
    for oh in range(out[0]):
        for ow in range(out[1]):
            h0, w0 = oh * sh - top, ow * sw - left
            yield (oh, ow), (slice(max(h0, 0), min(h0 + ph, h)),
                             slice(max(w0, 0), min(w0 + pw, w))), out


def pool_ref(x, pool, strides, padding, reduce):
    y = None
    for (oh, ow), (hs, ws), out in windows(x, pool, strides, padding):
        if y is None:
            y = np.zeros((x.shape[0],) + out + (x.shape[3],))
        y[:, oh, ow] = reduce(x[:, hs, ws], axis=(1, 2))
    return y


def max_pool_backward_ref(dy, x, pool, strides, padding):
    dx = np.zeros(x.shape)
    for (oh, ow), (hs, ws), _ in windows(x, pool, strides, padding):
        win = x[:, hs, ws]
        flat = win.reshape(x.shape[0], -1, x.shape[3])
        first = flat.argmax(axis=1)  # the first maximum, as the kernel keeps
        mask = np.zeros_like(flat)
        np.put_along_axis(mask, first[:, None], 1.0, axis=1)
        dx[:, hs, ws] += mask.reshape(win.shape) * dy[:, oh:oh + 1, ow:ow + 1]
    return dx


# (batch, height, width, channels, pool, strides, padding)
SHAPES = [
    (2, 4, 4, 3, (2, 2), None, "valid"),
    (2, 5, 7, 3, (2, 2), None, "valid"),     # odd sizes drop the last row/column
    (2, 5, 7, 3, (2, 2), None, "same"),      # ...or pad them
    (1, 6, 6, 2, (3, 3), (1, 1), "valid"),   # overlapping windows
    (3, 7, 5, 4, (3, 2), (2, 1), "same"),
    (2, 9, 9, 1, (2, 2), (3, 3), "valid"),   # stride > pool: skipped pixels
    (2, 9, 8, 2, (2, 3), (4, 3), "same"),
    (1, 4, 5, 2, (4, 5), None, "valid"),     # one window over the whole image
    (2, 3, 3, 70, (5, 5), (2, 2), "same"),   # pool larger than the image, many channels
    (64, 8, 8, 8, (2, 2), None, "valid"),
]


def case(shape, seed=0):
    n, h, w, c, pool, strides, padding = shape
    x = np.random.default_rng(seed).normal(size=(n, h, w, c))
    return x, pool, strides or pool, padding


@pytest.mark.parametrize("shape", SHAPES)
def test_pooling_forward_matches_numpy_reference(shape):
    x, pool, strides, padding = case(shape)
    for dtype in (np.float64, np.float32):
        xd = x.astype(dtype)
        y, argmax = ops.max_pool2d(xd, pool, shape[5], padding, return_argmax=True)
        assert y.dtype == dtype and argmax.dtype == np.int32
        np.testing.assert_array_equal(y, pool_ref(xd, pool, strides, padding, np.max))
        np.testing.assert_allclose(ops.avg_pool2d(xd, pool, shape[5], padding.upper()),
                                   pool_ref(xd.astype(np.float64), pool, strides, padding, np.mean),
                                   rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_pooling_backward_matches_numpy_reference(shape):
    x, pool, strides, padding = case(shape, seed=1)
    y, argmax = ops.max_pool2d(x, pool, strides, padding, return_argmax=True)
    dy = np.random.default_rng(2).normal(size=y.shape)
    np.testing.assert_allclose(ops.max_pool2d_backward(dy, argmax, x.shape),
                               max_pool_backward_ref(dy, x, pool, strides, padding), rtol=1e-13,
                               atol=1e-13)
    # Average pooling is linear: its backward is its transpose, <avg(x), dy> = <x, avg^T(dy)>.
    dx = ops.avg_pool2d_backward(dy, x.shape, pool, strides, padding)
    np.testing.assert_allclose((ops.avg_pool2d(x, pool, strides, padding) * dy).sum(),
                               (x * dx).sum(), rtol=1e-12)


@pytest.mark.parametrize("shape", [SHAPES[2], SHAPES[3], SHAPES[4], SHAPES[6]])
def test_pooling_backward_matches_finite_differences(shape):
    x, pool, strides, padding = case(shape, seed=3)
    weights = np.random.default_rng(4).normal(size=ops.avg_pool2d(x, pool, strides, padding).shape)
    _, argmax = ops.max_pool2d(x, pool, strides, padding, return_argmax=True)
    np.testing.assert_allclose(
        ops.max_pool2d_backward(weights, argmax, x.shape),
        numeric_grad(lambda: float((ops.max_pool2d(x, pool, strides, padding) * weights).sum()),
                     x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        ops.avg_pool2d_backward(weights, x.shape, pool, strides, padding),
        numeric_grad(lambda: float((ops.avg_pool2d(x, pool, strides, padding) * weights).sum()),
                     x), rtol=1e-6, atol=1e-8)


def test_max_pool_ignores_padding_even_when_all_values_are_negative():
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    y = ops.max_pool2d(x, 2, padding="same")
    np.testing.assert_array_equal(y[0, :, :, 0], [[-1.0, -3.0], [-7.0, -9.0]])
    np.testing.assert_array_equal(ops.avg_pool2d(x, 2, padding="same")[0, :, :, 0],
                                  [[-3.0, -4.5], [-7.5, -9.0]])


def test_pooling_results_do_not_depend_on_the_thread_count():
    before = brisknn.get_num_threads()
    x, pool, strides, padding = case((64, 9, 9, 16, (3, 3), (2, 2), "same"), seed=5)
    dy = np.random.default_rng(6).normal(size=ops.avg_pool2d(x, pool, strides, padding).shape)
    results = []
    try:
        for n in (1, 2):
            brisknn.set_num_threads(n)
            y, argmax = ops.max_pool2d(x, pool, strides, padding, return_argmax=True)
            results.append((y, argmax, ops.max_pool2d_backward(dy, argmax, x.shape),
                            ops.avg_pool2d(x, pool, strides, padding),
                            ops.avg_pool2d_backward(dy, x.shape, pool, strides, padding)))
    finally:
        brisknn.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def test_pooling_bindings_check_their_arguments():
    x = np.zeros((2, 4, 4, 3), np.float32)
    y, argmax = np.zeros((2, 2, 2, 3), np.float32), np.zeros((2, 2, 2, 3), np.int32)
    dx = np.zeros_like(x)
    _core.max_pool2d_forward(x, y, argmax, (2, 2), (2, 2), "valid")
    with pytest.raises(ValueError, match=r"pool_size \(5, 2\) is larger than the input's spatial "
                                         r"size \(4, 4\)"):
        _core.max_pool2d_forward(x, y, argmax, (5, 2), (2, 2), "valid")
    with pytest.raises(ValueError, match=r"argmax has shape \(2, 2, 2, 2\), expected "
                                         r"\(2, 2, 2, 3\)"):
        _core.max_pool2d_forward(x, y, argmax[..., :2].copy(), (2, 2), (2, 2), "valid")
    with pytest.raises(TypeError, match="argmax has dtype int64"):
        _core.max_pool2d_backward(y, argmax.astype(np.int64), dx)
    bad = argmax.copy()
    bad[1, 1, 1, 2] = 16
    with pytest.raises(ValueError, match=r"positions outside \[0, 16\)"):
        _core.max_pool2d_backward(y, bad, dx)
    bad[1, 1, 1, 2] = -1
    with pytest.raises(ValueError, match=r"positions outside"):
        _core.max_pool2d_backward(y, bad, dx)
    with pytest.raises(ValueError, match=r"dy has shape \(2, 2, 2, 3\), expected \(3, \?, \?, 3\)"):
        _core.max_pool2d_backward(y, argmax, np.zeros((3, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="strides must be >= 1"):
        _core.avg_pool2d_forward(x, y, (2, 2), (0, 2), "valid")
    with pytest.raises(ValueError, match=r"dy has shape \(2, 2, 2, 3\), expected \(2, 4, 4, 3\)"):
        _core.avg_pool2d_backward(y, dx, (2, 2), (1, 1), "same")
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        ops.max_pool2d(x, 2, padding="causal")


def test_pooling_layers_follow_keras():
    layer = layers.MaxPooling2D()
    assert layer.pool_size == (2, 2) and layer.strides == (2, 2) and layer.padding == "valid"
    assert layers.MaxPool2D is layers.MaxPooling2D and layers.AvgPool2D is layers.AveragePooling2D
    assert layer.compute_output_shape((None, 26, 26, 32)) == (None, 13, 13, 32)
    same = layers.AveragePooling2D(3, strides=2, padding="SAME")
    assert same.compute_output_shape((None, 7, 8, 4)) == (None, 4, 4, 4)
    assert same.get_config()["strides"] == (2, 2)
    x = np.random.default_rng(7).normal(size=(3, 7, 8, 4)).astype(np.float32)
    np.testing.assert_array_equal(same(x), ops.avg_pool2d(x, 3, 2, "same"))
    with pytest.raises(ValueError, match=r"'p' \(MaxPooling2D\): pool_size \(3, 3\) is larger "
                                         r"than the input of shape \(None, 2, 2, 1\)"):
        layers.MaxPooling2D(3, name="p")(np.zeros((1, 2, 2, 1)))
    with pytest.raises(ValueError, match="4-D input"):
        layers.AveragePooling2D()(np.zeros((1, 4, 4)))


def test_pooling_layers_backward_routes_gradients():
    x = np.random.default_rng(8).normal(size=(2, 6, 6, 3)).astype(np.float32)
    dy = np.random.default_rng(9).normal(size=(2, 3, 3, 3)).astype(np.float32)
    maxp, avgp = layers.MaxPooling2D(), layers.AveragePooling2D()
    _, argmax = ops.max_pool2d(x, 2, return_argmax=True)
    maxp(x, training=True)
    np.testing.assert_array_equal(maxp.backward(dy), ops.max_pool2d_backward(dy, argmax, x.shape))
    avgp(x, training=True)
    np.testing.assert_array_equal(avgp.backward(dy), ops.avg_pool2d_backward(dy, x.shape, 2))
    assert maxp.backward(dy, need_dx=False) is None


GLOBAL = [(layers.GlobalAveragePooling2D, 4, np.mean), (layers.GlobalMaxPooling2D, 4, np.max),
          (layers.GlobalMaxPooling1D, 3, np.max)]


@pytest.mark.parametrize("cls,rank,reduce", GLOBAL)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_matches_numpy_and_keras_shapes(cls, rank, reduce, data_format,
                                                       keepdims):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)[:rank]).astype(np.float32)
    layer = cls(data_format=data_format, keepdims=keepdims)
    axes = tuple(range(1, rank - 1)) if data_format == "channels_last" else \
        tuple(range(2, rank))
    y = layer(x).numpy()
    np.testing.assert_allclose(y, reduce(x, axis=axes, keepdims=keepdims), rtol=1e-6)
    assert layer.compute_output_shape((None,) + x.shape[1:]) == (None,) + y.shape[1:]
    assert cls.from_config(layer.get_config()).get_config()["keepdims"] == keepdims
    with pytest.raises(ValueError, match=f"expects input of rank {rank}"):
        cls()(np.ones((2, 3, 4, 5, 6)[:rank + 1]))


@pytest.mark.parametrize("cls,rank,reduce", GLOBAL)
def test_global_pooling_backward_matches_finite_differences(cls, rank, reduce):
    brisknn.backend.set_floatx("float64")
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 2) if rank == 4 else (2, 5, 2))
    weights = np.random.default_rng(2).normal(size=(2, 2))
    layer = cls()
    layer(x)

    def loss():
        return float((layer.forward(x) * weights).sum())

    layer.forward(x)
    dx = layer.backward(weights)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-9)


def test_global_max_pooling_shares_the_gradient_among_tied_maxima():
    # TensorFlow's reduce_max gradient: equal shares for every position holding the maximum.
    x = np.array([[[[1.0], [3.0]], [[3.0], [0.0]]]], np.float32)
    layer = layers.GlobalMaxPooling2D()
    layer(x)
    np.testing.assert_array_equal(layer.backward(np.array([[2.0]], np.float32))[0, ..., 0],
                                  [[0.0, 1.0], [1.0, 0.0]])


def test_global_average_pooling_heads_a_frozen_convolutional_base():
    # The transfer-learning head of Keras' guide: frozen conv base, global pooling, new Dense.
    x = np.random.default_rng(3).random((16, 8, 8, 1)).astype(np.float32)
    y = np.random.default_rng(4).integers(0, 2, 16)
    base = brisknn.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu")])
    base.trainable = False
    model = brisknn.Sequential([base, layers.GlobalAveragePooling2D(),
                                layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    frozen = base.get_weights()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(frozen, base.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.output_shape == (None, 2)
    np.testing.assert_allclose(
        model.predict(x, verbose=0),
        model.layers[2](base.predict(x, verbose=0).mean(axis=(1, 2))).numpy(), rtol=1e-5)
