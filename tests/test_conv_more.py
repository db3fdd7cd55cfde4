"""Keras 3's grouped Conv2D, Conv2DTranspose(output_padding), DepthwiseConv2D, SeparableConv2D,
Lambda and Identity: forward against plain NumPy, backward against finite differences
(float64), Keras' weight shapes and order, configs, saving, and errors naming the layer."""
import numpy as np
import pytest

import brisknn
from brisknn import layers
from conftest import numeric_grad


# -- NumPy references ----------------------------------------------------------------------
def same_pad(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def conv_ref(x, kernel, strides, padding, dilation=(1, 1), groups=1):
    """Grouped cross-correlation, Keras/TF padding, kernel (kh, kw, cin // groups, f)."""
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "same":
        (oh, t, b), (ow, l, r) = same_pad(h, eh, sh), same_pad(w, ew, sw)
    else:
        (oh, t, b), (ow, l, r) = ((h - eh) // sh + 1, 0, 0), ((w - ew) // sw + 1, 0, 0)
    xp = np.pad(x.astype(np.float64), ((0, 0), (t, b), (l, r), (0, 0)))
    y = np.zeros((n, oh, ow, f))
    fg = f // groups
    for g in range(groups):
        xs = xp[..., g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                win = xs[:, i * dh:i * dh + (oh - 1) * sh + 1:sh,
                         j * dw:j * dw + (ow - 1) * sw + 1:sw]
                y[..., g * fg:(g + 1) * fg] += np.einsum(
                    "nhwc,cf->nhwf", win, kernel[i, j, :, g * fg:(g + 1) * fg])
    return y


def depthwise_ref(x, dkernel, strides, padding, dilation=(1, 1)):
    """Channel c convolved with dkernel[:, :, c, m] gives output channel c * dm + m (TF)."""
    kh, kw, c, dm = dkernel.shape
    return conv_ref(x, dkernel.reshape(kh, kw, 1, c * dm), strides, padding, dilation, groups=c)


def transpose_ref(x, kernel, strides, padding, output_padding, dilation=(1, 1)):
    """Scatter of each input pixel through the kernel (k_h, k_w, filters, in), then Keras'
    output length and its JAX backend's padding (= TF's where TF runs)."""
    n, h, w, _ = x.shape
    kh, kw, f, _ = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    axes = []
    for size, k, s, d, p in ((h, kh, sh, dh, output_padding[0]),
                             (w, kw, sw, dw, output_padding[1])):
        e = (k - 1) * d + 1
        if padding == "valid":
            axes.append(((size - 1) * s + e + (max(e, s) - e if p is None else p), 0))
        elif p is None:
            axes.append((size * s, max(e - s, 0) // 2))
        else:
            axes.append(((size - 1) * s + e % 2 + p, max(e - e % 2 - p, 0) // 2))
    (oh, top), (ow, left) = axes
    y = np.zeros((n, oh, ow, f))
    for i in range(h):
        for j in range(w):
            for a in range(kh):
                for b in range(kw):
                    o1, o2 = i * sh + a * dh - top, j * sw + b * dw - left
                    if 0 <= o1 < oh and 0 <= o2 < ow:
                        y[:, o1, o2] += x[:, i, j] @ kernel[a, b].T
    return y


def check_layer_gradients(layer, x, rtol=1e-6):
    """dx and every weight's gradient against central differences of sum(y * w)."""
    rng = np.random.default_rng(7)
    weights = rng.normal(size=layer(x).shape)

    def loss():
        return float((layer.forward(x) * weights).sum())

    for var in layer.weights:
        var.grad.fill(0)
    layer.forward(x, training=True)
    dx = layer.backward(weights)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=rtol, atol=1e-8)
    for var in layer.weights:
        np.testing.assert_allclose(var.grad, numeric_grad(loss, var.value), rtol=rtol,
                                   atol=1e-8, err_msg=var.name)


# -- Conv2D(groups) --------------------------------------------------------------------------
# (x shape, filters, kernel_size, strides, padding, dilation, groups)
GROUPED = [
    ((2, 6, 5, 4), 6, (3, 3), (1, 1), "valid", (1, 1), 2),   # direct (small patch)
    ((2, 7, 7, 6), 9, (3, 2), (2, 1), "same", (1, 1), 3),
    ((1, 5, 6, 8), 4, (1, 1), (1, 1), "same", (1, 1), 4),    # pointwise, strided channels
    ((2, 5, 5, 6), 6, (1, 1), (2, 2), "valid", (1, 1), 2),   # 1x1 strided: im2col
    ((2, 8, 8, 4), 4, (3, 3), (1, 1), "same", (2, 2), 4),    # one channel a group: depthwise
    ((2, 8, 7, 8), 4, (3, 3), (1, 1), "same", (2, 1), 2),    # dilated, im2col per tap
    ((2, 9, 9, 12), 8, (5, 5), (2, 2), "valid", (1, 1), 4),  # im2col + GEMMs, 3 channels a group
    ((1, 6, 6, 32), 64, (3, 3), (1, 1), "same", (1, 1), 2),  # im2col + GEMM per group
    ((3, 5, 5, 3), 6, (2, 2), (1, 1), "valid", (1, 1), 1),
]


@pytest.mark.parametrize("x_shape,filters,kernel_size,strides,padding,dilation,groups", GROUPED)
def test_grouped_conv2d_forward_matches_numpy(x_shape, filters, kernel_size, strides, padding,
                                               dilation, groups):
    rng = np.random.default_rng(0)
    x = rng.normal(size=x_shape).astype(np.float32)
    layer = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                          dilation_rate=dilation, groups=groups,
                          bias_initializer="random_normal")
    y = layer(x).numpy()
    kernel, bias = layer.get_weights()
    assert kernel.shape == kernel_size + (x_shape[3] // groups, filters)
    assert bias.shape == (filters,)
    ref = conv_ref(x, kernel, strides, padding, dilation, groups) + bias
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    assert layer.compute_output_shape((None,) + x_shape[1:]) == (None,) + y.shape[1:]


@pytest.mark.parametrize("x_shape,filters,kernel_size,strides,padding,dilation,groups",
                         [g for g in GROUPED if g[0][3] <= 8])
def test_grouped_conv2d_backward_matches_finite_differences(x_shape, filters, kernel_size,
                                                            strides, padding, dilation, groups):
    brisknn.backend.set_floatx("float64")
    x = np.random.default_rng(1).normal(size=x_shape)
    layer = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                          dilation_rate=dilation, groups=groups, activation="tanh",
                          bias_initializer="random_normal")
    check_layer_gradients(layer, x)


def test_grouped_conv1d_matches_grouped_conv2d_on_a_row():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 9, 6)).astype(np.float32)
    layer = layers.Conv1D(4, 3, padding="causal", groups=2)
    y = layer(x).numpy()
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 3, 4)
    xp = np.pad(x, ((0, 0), (2, 0), (0, 0)))[:, None]
    ref = conv_ref(xp, kernel[None], (1, 1), "valid", groups=2)[:, 0] + bias
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


def test_grouped_conv2d_errors_are_keras_and_name_the_layer():
    with pytest.raises(ValueError, match=r"Conv2D 'g1'.*The number of filters must be evenly "
                                         r"divisible by the number of groups. Received: "
                                         r"groups=4, filters=6\."):
        layers.Conv2D(6, 3, groups=4, name="g1")
    with pytest.raises(ValueError, match=r"Conv2D 'g2'.*The number of groups must be a "
                                         r"positive integer. Received: groups=0\."):
        layers.Conv2D(6, 3, groups=0, name="g2")
    layer = layers.Conv2D(6, 3, groups=3, name="g3")
    with pytest.raises(ValueError, match=r"'g3'.*The number of input channels must be evenly "
                                         r"divisible by the number of groups. Received "
                                         r"groups=3, but the input has 4 channels"):
        layer(np.zeros((1, 5, 5, 4), np.float32))
    from brisknn import _core
    x, k = np.zeros((1, 5, 5, 4), np.float32), np.zeros((3, 3, 2, 6), np.float32)
    y, ws = np.zeros((1, 3, 3, 6), np.float32), np.zeros(10**5, np.float32)
    _core.conv2d_forward(x, k, None, y, ws, (1, 1), "valid", groups=2)
    with pytest.raises(ValueError, match=r"kernel of shape \(3, 3, 2, 6\) with groups=3 "
                                         r"expects 6 input channels, x of shape \(1, 5, 5, 4\)"):
        _core.conv2d_forward(x, k, None, y, ws, (1, 1), "valid", groups=3)
    with pytest.raises(ValueError, match=r"6 output channels, not divisible by groups=4"):
        _core.conv2d_forward(np.zeros((1, 5, 5, 8), np.float32), k, None, y, ws, (1, 1),
                             "valid", groups=4)


def test_grouped_conv2d_config_round_trips_and_saves(tmp_path):
    model = brisknn.Sequential([layers.Input((6, 6, 4)), layers.Conv2D(6, 3, groups=2),
                                layers.Flatten(), layers.Dense(2)])
    config = model.layers[0].get_config()
    assert config["groups"] == 2
    again = layers.Conv2D.from_config(config)
    assert again.groups == 2 and again.get_config() == config
    path = str(tmp_path / "grouped.keras")
    model.save(path)
    loaded = brisknn.models.load_model(path)
    x = np.random.default_rng(3).normal(size=(2, 6, 6, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[0].get_weights()[0].shape == (3, 3, 2, 6)


# -- Conv2DTranspose(output_padding) ---------------------------------------------------------
# (x shape, kernel_size, strides, padding, output_padding, dilation)
TRANSPOSED = [
    ((2, 3, 4, 2), (3, 3), (2, 2), "same", (1, 1), (1, 1)),
    ((2, 3, 4, 2), (3, 3), (2, 2), "same", (0, 1), (1, 1)),
    ((1, 4, 3, 3), (4, 4), (2, 2), "same", (1, 0), (1, 1)),   # even kernel, op 0: padded canvas
    ((1, 3, 3, 2), (2, 2), (3, 3), "same", (0, 0), (1, 1)),
    ((2, 3, 4, 2), (3, 2), (2, 3), "valid", (1, 2), (1, 1)),
    ((2, 2, 3, 1), (2, 3), (3, 1), "valid", (2, 0), (1, 1)),
    ((1, 4, 4, 2), (3, 3), (1, 1), "same", (0, 0), (2, 2)),   # dilated span 5, op 0
    ((1, 4, 4, 2), (2, 2), (1, 1), "same", (0, 0), (1, 1)),   # shrinks by one: Keras' formula
    ((1, 3, 3, 2), (1, 1), (3, 2), "same", (2, 1), (1, 1)),   # op past the kernel
]


@pytest.mark.parametrize("x_shape,kernel_size,strides,padding,output_padding,dilation",
                         TRANSPOSED)
def test_conv2d_transpose_output_padding_matches_numpy_and_keras_lengths(
        x_shape, kernel_size, strides, padding, output_padding, dilation):
    brisknn.backend.set_floatx("float64")
    x = np.random.default_rng(4).normal(size=x_shape)
    layer = layers.Conv2DTranspose(3, kernel_size, strides=strides, padding=padding,
                                   output_padding=output_padding, dilation_rate=dilation,
                                   bias_initializer="random_normal")
    y = layer(x).numpy()
    kernel, bias = layer.get_weights()
    assert kernel.shape == kernel_size + (3, x_shape[3])
    ref = transpose_ref(x, kernel, strides, padding, output_padding, dilation) + bias
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-12)
    assert layer.compute_output_shape((None,) + x_shape[1:]) == (None,) + y.shape[1:]


@pytest.mark.parametrize("x_shape,kernel_size,strides,padding,output_padding,dilation",
                         TRANSPOSED[:5])
def test_conv2d_transpose_output_padding_backward_matches_finite_differences(
        x_shape, kernel_size, strides, padding, output_padding, dilation):
    brisknn.backend.set_floatx("float64")
    x = np.random.default_rng(5).normal(size=x_shape)
    layer = layers.Conv2DTranspose(2, kernel_size, strides=strides, padding=padding,
                                   output_padding=output_padding, dilation_rate=dilation,
                                   activation="tanh", bias_initializer="random_normal")
    check_layer_gradients(layer, x)


def test_conv2d_transpose_output_padding_checks_and_config():
    with pytest.raises(ValueError, match=r"Conv2DTranspose 't1'.*`output_padding` must be < "
                                         r"`strides`. output_padding=\(2, 0\), "
                                         r"strides=\(2, 2\)"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=(2, 0), name="t1")
    with pytest.raises(ValueError, match=r"Conv2DTranspose 't2'.*output_padding"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=-1, name="t2")
    layer = layers.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1)
    config = layer.get_config()
    assert config["output_padding"] == (1, 1)
    assert layers.Conv2DTranspose.from_config(config).get_config() == config
    assert layers.Conv2DTranspose(2, 3).get_config()["output_padding"] is None


# -- DepthwiseConv2D and SeparableConv2D -----------------------------------------------------
# (x shape, kernel_size, strides, padding, depth_multiplier, dilation)
DEPTHWISE = [
    ((2, 6, 5, 3), (3, 3), (1, 1), "valid", 1, (1, 1)),
    ((2, 7, 6, 4), (3, 2), (2, 1), "same", 2, (1, 1)),
    ((1, 8, 8, 2), (3, 3), (1, 1), "same", 3, (2, 2)),
    ((2, 5, 5, 5), (1, 1), (1, 1), "valid", 2, (1, 1)),   # 1x1: pointwise, one channel a group
    ((1, 9, 9, 40), (7, 7), (2, 2), "same", 1, (1, 1)),   # patch 49: im2col + GEMM per channel
]


def test_depthwise_conv2d_weights_defaults_and_config_are_keras():
    layer = layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")
    layer(np.zeros((1, 5, 5, 4), np.float32))
    kernel, bias = layer.get_weights()
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert kernel.shape == (3, 3, 4, 2) and bias.shape == (8,)
    assert layer.depthwise_kernel is layer.kernel
    config = layer.get_config()
    assert (config["kernel_size"], config["strides"], config["padding"],
            config["depth_multiplier"], config["dilation_rate"], config["use_bias"],
            config["activation"]) == ((3, 3), (1, 1), "valid", 2, (1, 1), True, "linear")
    assert config["depthwise_initializer"]["class_name"] == "GlorotUniform"
    assert "filters" not in config and "groups" not in config
    again = layers.DepthwiseConv2D.from_config(config)
    assert again.get_config() == config
    assert layer.compute_output_shape((None, 5, 5, 4)) == (None, 3, 3, 8)


@pytest.mark.parametrize("x_shape,kernel_size,strides,padding,multiplier,dilation", DEPTHWISE)
def test_depthwise_conv2d_forward_matches_numpy(x_shape, kernel_size, strides, padding,
                                                multiplier, dilation):
    x = np.random.default_rng(6).normal(size=x_shape).astype(np.float32)
    layer = layers.DepthwiseConv2D(kernel_size, strides=strides, padding=padding,
                                   depth_multiplier=multiplier, dilation_rate=dilation,
                                   bias_initializer="random_normal")
    y = layer(x).numpy()
    kernel, bias = layer.get_weights()
    ref = depthwise_ref(x, kernel, strides, padding, dilation) + bias
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    assert layer.compute_output_shape((None,) + x_shape[1:]) == (None,) + y.shape[1:]


@pytest.mark.parametrize("x_shape,kernel_size,strides,padding,multiplier,dilation",
                         DEPTHWISE[:4])
def test_depthwise_conv2d_backward_matches_finite_differences(x_shape, kernel_size, strides,
                                                              padding, multiplier, dilation):
    brisknn.backend.set_floatx("float64")
    x = np.random.default_rng(8).normal(size=x_shape)
    layer = layers.DepthwiseConv2D(kernel_size, strides=strides, padding=padding,
                                   depth_multiplier=multiplier, dilation_rate=dilation,
                                   activation="tanh", bias_initializer="random_normal")
    check_layer_gradients(layer, x)


def test_separable_conv2d_weights_order_and_config_are_keras():
    layer = layers.SeparableConv2D(5, 3, depth_multiplier=2, padding="same", name="sep")
    layer(np.zeros((1, 6, 6, 3), np.float32))
    assert [w.name for w in layer.weights] == ["depthwise_kernel", "pointwise_kernel", "bias"]
    assert [w.shape for w in layer.get_weights()] == [(3, 3, 3, 2), (1, 1, 6, 5), (5,)]
    config = layer.get_config()
    for key in ("depthwise_initializer", "pointwise_initializer", "bias_initializer",
                "depthwise_regularizer", "pointwise_regularizer", "depthwise_constraint",
                "pointwise_constraint"):
        assert key in config
    assert (config["filters"], config["depth_multiplier"], config["padding"]) == (5, 2, "same")
    assert layers.SeparableConv2D.from_config(config).get_config() == config
    assert layers.SeparableConvolution2D is layers.SeparableConv2D
    layer = layers.SeparableConv2D(4, 3, use_bias=False)
    layer(np.zeros((1, 5, 5, 2), np.float32))
    assert [w.shape for w in layer.get_weights()] == [(3, 3, 2, 1), (1, 1, 2, 4)]


@pytest.mark.parametrize("x_shape,kernel_size,strides,padding,multiplier,dilation", DEPTHWISE)
def test_separable_conv2d_forward_matches_numpy(x_shape, kernel_size, strides, padding,
                                                multiplier, dilation):
    x = np.random.default_rng(9).normal(size=x_shape).astype(np.float32)
    layer = layers.SeparableConv2D(6, kernel_size, strides=strides, padding=padding,
                                   depth_multiplier=multiplier, dilation_rate=dilation,
                                   bias_initializer="random_normal", activation="relu")
    y = layer(x).numpy()
    depthwise, pointwise, bias = layer.get_weights()
    middle = depthwise_ref(x, depthwise, strides, padding, dilation)
    ref = np.maximum(conv_ref(middle, pointwise, (1, 1), "valid") + bias, 0)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("x_shape,kernel_size,strides,padding,multiplier,dilation",
                         DEPTHWISE[:4])
@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_separable_conv2d_backward_matches_finite_differences(
        x_shape, kernel_size, strides, padding, multiplier, dilation, activation):
    brisknn.backend.set_floatx("float64")
    x = np.random.default_rng(10).normal(size=x_shape)
    layer = layers.SeparableConv2D(3, kernel_size, strides=strides, padding=padding,
                                   depth_multiplier=multiplier, dilation_rate=dilation,
                                   activation=activation, bias_initializer="random_normal")
    check_layer_gradients(layer, x)


def test_depthwise_and_separable_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"DepthwiseConv2D 'd1'.*Invalid value for argument "
                                         r"`depth_multiplier`. Expected a strictly positive "
                                         r"value. Received depth_multiplier=0\."):
        layers.DepthwiseConv2D(3, depth_multiplier=0, name="d1")
    with pytest.raises(ValueError, match=r"SeparableConv2D 's1'.*depth_multiplier"):
        layers.SeparableConv2D(4, 3, depth_multiplier=-1, name="s1")
    with pytest.raises(ValueError, match=r"SeparableConv2D 's2'.*filters must be a positive"):
        layers.SeparableConv2D(0, 3, name="s2")
    with pytest.raises(ValueError, match=r"'d2'.*larger than the input"):
        layers.DepthwiseConv2D(5, name="d2")(np.zeros((1, 3, 3, 2), np.float32))
    layer = layers.SeparableConv2D(4, 3, name="s3")
    layer(np.zeros((1, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"'s3'"):
        layer(np.zeros((1, 5, 5, 3), np.float32))


def test_a_mobilenet_style_model_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(32, 8, 8, 3)).astype(np.float32)
    y = (x[..., 0].mean(axis=(1, 2)) > 0).astype(np.int64)
    model = brisknn.Sequential([
        layers.Input((8, 8, 3)), layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu"),
        layers.Conv2D(8, 1, groups=4, activation="relu"),
        layers.SeparableConv2D(8, 3, strides=2, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(), layers.Dense(2, activation="softmax")])
    model.compile(brisknn.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = str(tmp_path / "mobile.keras")
    model.save(path)
    loaded = brisknn.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [w.shape for w in loaded.layers[1].get_weights()] == [(3, 3, 8, 2), (16,)]


# -- Lambda and Identity -----------------------------------------------------------------------
def test_lambda_forward_arguments_training_and_output_shapes():
    x = np.random.default_rng(12).normal(size=(3, 4, 2)).astype(np.float32)
    layer = layers.Lambda(lambda t, scale: t * scale, arguments={"scale": 3.0})
    np.testing.assert_allclose(layer(x).numpy(), x * 3.0, rtol=1e-6)
    assert layer(x).numpy().dtype == np.float32  # a float64 result comes back in the layer's
    assert layer.compute_output_shape((None, 4, 2)) == (None, 4, 2)
    seen = []
    flag = layers.Lambda(lambda t, training=None: seen.append(training) or t)
    flag(x, training=True)
    flag(x)
    assert seen[-2:] == [True, False]  # (building probed the output shape with False)
    assert layers.Lambda(lambda t: t.sum(axis=-1)).compute_output_shape((None, 4, 2)) == (None, 4)
    assert layers.Lambda(lambda t: t, output_shape=(8,)).compute_output_shape((5, 4, 2)) == (5, 8)
    assert layers.Lambda(lambda t: t, output_shape=lambda s: (s[0], 1)).compute_output_shape(
        (None, 3)) == (None, 1)
    with pytest.raises(NotImplementedError, match="Please specify the `output_shape`"):
        layers.Lambda(lambda t: t.reshape(7)).compute_output_shape((None, 4))


def test_lambda_models_predict_evaluate_and_refuse_backward_by_name():
    rng = np.random.default_rng(13)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = rng.normal(size=(16, 2)).astype(np.float32)
    front = brisknn.Sequential([layers.Input((4,)), layers.Lambda(lambda t: t * 2.0),
                                layers.Dense(2), layers.Identity()])
    front.compile("adam", "mse")
    dense = front.layers[1]
    w, b = dense.get_weights()
    np.testing.assert_allclose(front.predict(x, verbose=0), (x * 2.0) @ w + b, rtol=1e-5)
    history = front.fit(x, y, epochs=3, batch_size=8, verbose=0)  # nothing learns before it
    assert len(history.history["loss"]) == 3
    middle = brisknn.Sequential([layers.Input((4,)), layers.Dense(3),
                                 layers.Lambda(lambda t: t ** 2, name="square"), layers.Dense(2)])
    middle.compile("adam", "mse")
    assert np.isfinite(middle.evaluate(x, y, verbose=0))
    before = [v.copy() for v in middle.get_weights()]
    with pytest.raises(NotImplementedError, match=r"Layer 'square' \(Lambda\) cannot pass a "
                                                  r"gradient back"):
        middle.fit(x, y, epochs=1, verbose=0)
    for old, new in zip(before, middle.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_lambda_configs_hold_no_code_and_loading_is_refused(tmp_path):
    def double(t):
        return t * 2

    model = brisknn.Sequential([layers.Input((3,)), layers.Lambda(double, output_shape=(3,)),
                                layers.Lambda(lambda t: t + 1), layers.Dense(1)])
    config = model.layers[0].get_config()
    assert config["function"] == {"class_name": "function",
                                  "config": {"name": "double", "module": __name__}}
    assert config["output_shape"] == (3,)
    text = model.to_json()
    assert "__lambda__" in text and "t + 1" not in text and "co_code" not in text
    path = str(tmp_path / "lambda.keras")
    model.save(path)
    for safe_mode in (True, False):
        with pytest.raises(ValueError, match=r"Requested the deserialization of a `Lambda` "
                                             r"layer.*never stores or runs code"):
            brisknn.models.load_model(path, safe_mode=safe_mode)
    with pytest.raises(ValueError, match="deserialization of a `Lambda`"):
        brisknn.models.model_from_json(text)
    with pytest.raises(ValueError, match=r"Lambda 'l1'.*callable"):
        layers.Lambda(3, name="l1")


def test_identity_passes_values_gradients_and_masks():
    x = np.random.default_rng(14).normal(size=(2, 3)).astype(np.float32)
    layer = layers.Identity(name="same")
    np.testing.assert_array_equal(layer(x).numpy(), x)
    np.testing.assert_array_equal(layer.backward(x * 2), x * 2)
    assert layer.get_weights() == [] and layer.supports_masking
    assert layers.Identity.from_config(layer.get_config()).name == "same"


# -- the depthwise kernels themselves ----------------------------------------------------------
def test_depthwise_kernels_accumulate_and_match_numpy_and_the_grouped_gemm_path():
    from brisknn import _core
    rng = np.random.default_rng(15)
    x = rng.normal(size=(3, 7, 6, 5))
    kernel = rng.normal(size=(3, 2, 5, 3))
    bias = rng.normal(size=15)
    y = np.empty((3, 4, 6, 15))
    _core.depthwise_conv2d_forward(x, kernel, bias, y, (2, 1), "same")
    np.testing.assert_allclose(y, depthwise_ref(x, kernel, (2, 1), "same") + bias, rtol=1e-12,
                               atol=1e-12)
    dy = rng.normal(size=y.shape)
    dx, dk, db = np.empty_like(x), np.ones_like(kernel), np.ones(15)
    _core.depthwise_conv2d_backward(dy, x, kernel, dx, dk, db, (2, 1), "same")
    # The same gradients from the grouped convolution with one channel per group, run through
    # the im2col + GEMM path one group at a time (a 1-channel-group conv would be routed to
    # the depthwise kernel): each channel separately, stitched together.
    ref_dx, ref_dk = np.empty_like(x), np.empty_like(kernel)
    for c in range(5):
        out = slice(3 * c, 3 * c + 3)
        pdx, pdk, _ = brisknn.ops.conv2d_backward(
            np.ascontiguousarray(dy[..., out]), np.ascontiguousarray(x[..., c:c + 1]),
            np.ascontiguousarray(kernel[:, :, c:c + 1]), (2, 1), "same")
        ref_dx[..., c], ref_dk[:, :, c] = pdx[..., 0], pdk[:, :, 0]
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dk, 1 + ref_dk, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, 1 + dy.sum(axis=(0, 1, 2)), rtol=1e-12)


@pytest.mark.parametrize("multiplier", [1, 3])
def test_depthwise_results_do_not_depend_on_the_thread_count(multiplier):
    from brisknn import _core
    rng = np.random.default_rng(16)
    x = rng.normal(size=(21, 12, 12, 8)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 8, multiplier)).astype(np.float32)
    dy = rng.normal(size=(21, 12, 12, 8 * multiplier)).astype(np.float32)
    results = []
    threads = brisknn.get_num_threads()
    try:
        for count in (1, 2, 3):
            brisknn.set_num_threads(count)
            y = np.empty_like(dy)
            _core.depthwise_conv2d_forward(x, kernel, None, y, (1, 1), "same", "relu")
            dx, dk, db = np.empty_like(x), np.zeros_like(kernel), np.zeros(dy.shape[-1],
                                                                              np.float32)
            _core.depthwise_conv2d_backward(dy, x, kernel, dx, dk, db, (1, 1), "same", y, "relu")
            results.append([y, dx, dk, db])
    finally:
        brisknn.set_num_threads(threads)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert a.tobytes() == b.tobytes()


def test_depthwise_binding_checks_shapes_and_dtypes():
    from brisknn import _core
    x, k = np.zeros((2, 5, 5, 3), np.float32), np.zeros((3, 3, 3, 2), np.float32)
    y = np.zeros((2, 3, 3, 6), np.float32)
    _core.depthwise_conv2d_forward(x, k, None, y, (1, 1), "valid")
    with pytest.raises(ValueError, match=r"depthwise_conv2d_forward: kernel of shape "
                                         r"\(3, 3, 2, 2\) expects 2 input channels, x of shape "
                                         r"\(2, 5, 5, 3\) has 3"):
        _core.depthwise_conv2d_forward(x, k[:, :, :2].copy(), None, y, (1, 1), "valid")
    with pytest.raises(ValueError, match=r"y has shape \(2, 3, 3, 6\), expected \(2, 5, 5, 6\)"):
        _core.depthwise_conv2d_forward(x, k, None, y, (1, 1), "same")
    with pytest.raises(TypeError, match="kernel has dtype float64, expected float32"):
        _core.depthwise_conv2d_forward(x, k.astype(np.float64), None, y, (1, 1), "valid")
    with pytest.raises(ValueError, match="needs the forward output y"):
        _core.depthwise_conv2d_backward(y, x, k, None, None, None, (1, 1), "valid",
                                        activation="relu")
    with pytest.raises(ValueError, match=r"dbias has shape \(5,\), expected \(6,\)"):
        _core.depthwise_conv2d_backward(y, x, k, None, None, np.zeros(5, np.float32), (1, 1),
                                        "valid")


def test_depthwise_conv2d_channels_first_matches_channels_last():
    rng = np.random.default_rng(17)
    x = rng.normal(size=(2, 6, 5, 3)).astype(np.float32)
    last = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")
    first = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same",
                                   data_format="channels_first")
    y_last = last(x).numpy()
    first(np.moveaxis(x, -1, 1))
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(first(np.moveaxis(x, -1, 1)).numpy(), np.moveaxis(y_last, -1, 1),
                               rtol=1e-6)


def test_separable_conv2d_channels_first_and_the_functional_api():
    rng = np.random.default_rng(18)
    x = rng.normal(size=(2, 3, 6, 5)).astype(np.float32)
    last = layers.SeparableConv2D(4, 3, padding="same", depth_multiplier=2)
    first = layers.SeparableConv2D(4, 3, padding="same", depth_multiplier=2,
                                   data_format="channels_first")
    y_last = last(x).numpy()
    first(np.moveaxis(x, -1, 1))
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(first(np.moveaxis(x, -1, 1)).numpy(), np.moveaxis(y_last, -1, 1),
                               rtol=1e-6)
    inputs = brisknn.Input((3, 6, 5))
    outputs = layers.Lambda(lambda t: t * 2.0)(layers.DepthwiseConv2D(3)(inputs))
    model = brisknn.Model(inputs, outputs)
    assert model.output_shape == (None, 1, 4, 5)
    assert model.predict(x, verbose=0).shape == (2, 1, 4, 5)
