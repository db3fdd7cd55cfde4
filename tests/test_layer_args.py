"""Keras 3 layer arguments: weight constraints (keras/src/constraints/constraints.py, applied by
BaseOptimizer.apply after each step), checked against NumPy transcriptions of Keras' code."""
import numpy as np
import pytest

import brisknn
from brisknn import constraints, layers, models, optimizers

EPS = 1e-7  # backend.epsilon()


# -- NumPy transcriptions of keras/src/constraints/constraints.py ----------------------------
def keras_max_norm(w, max_value=2, axis=0):
    norms = np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))
    desired = np.clip(norms, 0, max_value)
    return w * (desired / (EPS + norms))


def keras_min_max_norm(w, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
    norms = np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))
    desired = rate * np.clip(norms, min_value, max_value) + (1 - rate) * norms
    return w * (desired / (EPS + norms))


def keras_unit_norm(w, axis=0):
    norms = np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))
    return w / (EPS + norms)


def weights(shape, dtype=np.float64, seed=0, scale=2.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [0, 1, -1, [0, 1, 2]])
def test_constraint_formulas_match_keras(dtype, axis):
    w = weights((3, 2, 4, 5), dtype)
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    cases = [(constraints.MaxNorm(1.5, axis=axis), keras_max_norm(w, 1.5, np_axis)),
             (constraints.MaxNorm(axis=axis), keras_max_norm(w, 2, np_axis)),
             (constraints.UnitNorm(axis=axis), keras_unit_norm(w, np_axis)),
             (constraints.MinMaxNorm(0.5, 2.0, 0.7, axis=axis),
              keras_min_max_norm(w, 0.5, 2.0, 0.7, np_axis)),
             (constraints.MinMaxNorm(axis=axis), keras_min_max_norm(w, axis=np_axis)),
             (constraints.NonNeg(), np.maximum(w, 0))]
    for constraint, expected in cases:
        got = constraint(w)
        assert got.dtype == dtype, constraint  # computed in the weight's dtype, as Keras
        np.testing.assert_array_equal(got, expected.astype(dtype), err_msg=repr(constraint))


def test_constraints_do_what_their_names_say():
    w = weights((6, 4))
    norms = lambda a: np.sqrt((a ** 2).sum(axis=0))  # noqa: E731
    assert norms(constraints.MaxNorm(1.0)(w)).max() <= 1.0
    np.testing.assert_allclose(norms(constraints.UnitNorm()(w)), 1.0, rtol=1e-6)
    out = norms(constraints.MinMaxNorm(2.0, 3.0)(w * 0.01))
    assert (out > 2.0 - 1e-5).all() and (out <= 3.0).all()
    small = w * 1e-3  # within bounds: only Keras' epsilon factor norm / (norm + 1e-7) remains
    np.testing.assert_allclose(constraints.MaxNorm(2)(small), small, rtol=1e-3)
    assert (constraints.NonNeg()(w) >= 0).all()
    zero = np.zeros((3, 2))
    np.testing.assert_array_equal(constraints.UnitNorm()(zero), zero)  # epsilon: no NaN


def test_get_takes_keras_names_classes_dicts_and_callables():
    for name, cls in [("max_norm", constraints.MaxNorm), ("MaxNorm", constraints.MaxNorm),
                      ("non_neg", constraints.NonNeg), ("NonNeg", constraints.NonNeg),
                      ("unit_norm", constraints.UnitNorm), ("UnitNorm", constraints.UnitNorm),
                      ("min_max_norm", constraints.MinMaxNorm),
                      ("MinMaxNorm", constraints.MinMaxNorm)]:
        assert type(constraints.get(name)) is cls
    assert constraints.get(None) is None
    assert type(constraints.get(constraints.NonNeg)) is constraints.NonNeg
    c = constraints.MaxNorm(3, axis=[0, 1])
    assert constraints.get(c) is c
    again = constraints.get(constraints.serialize(c))
    assert type(again) is constraints.MaxNorm and again.get_config() == {"max_value": 3,
                                                                         "axis": [0, 1]}
    assert constraints.serialize(c) == {"class_name": "MaxNorm",
                                        "config": {"max_value": 3, "axis": [0, 1]}}
    assert constraints.max_norm is constraints.MaxNorm and constraints.non_neg is \
        constraints.NonNeg
    fn = lambda w: w * 0  # noqa: E731
    assert constraints.get(fn) is fn and constraints.serialize(fn) is fn
    for bad in ("maxnorm", "MAX_NORM", 3, {"class_name": "Clip"}):
        with pytest.raises(ValueError, match="constraint"):
            constraints.get(bad)
    with pytest.raises(ValueError, match="MaxNorm: axis"):
        constraints.MaxNorm(axis="rows")
    with pytest.raises(ValueError, match="MinMaxNorm: rate"):
        constraints.MinMaxNorm(rate="fast")
    with pytest.raises(ValueError, match="Cannot serialize constraint"):
        constraints.serialize(3)


def constrained_layers():
    return [
        (layers.Dense(3, kernel_constraint="max_norm", bias_constraint="non_neg"), (4, 5),
         ["kernel", "bias"]),
        (layers.Conv2D(2, 3, kernel_constraint=constraints.MaxNorm(1.0, axis=[0, 1, 2]),
                       bias_constraint="non_neg"), (2, 5, 5, 3), ["kernel", "bias"]),
        (layers.Conv1D(2, 3, kernel_constraint="unit_norm"), (2, 6, 3), ["kernel"]),
        (layers.Conv2DTranspose(2, 3, kernel_constraint="non_neg",
                                bias_constraint="max_norm"), (2, 3, 3, 2), ["kernel", "bias"]),
        (layers.SimpleRNN(3, kernel_constraint="unit_norm", recurrent_constraint="max_norm",
                          bias_constraint="non_neg"), (2, 4, 3),
         ["kernel", "recurrent_kernel", "bias"]),
        (layers.LSTM(2, recurrent_constraint=constraints.MinMaxNorm(0.5, 1.0, 0.5)), (2, 4, 3),
         ["recurrent_kernel"]),
        (layers.GRU(2, kernel_constraint="non_neg"), (2, 4, 3), ["kernel"]),
        (layers.BatchNormalization(gamma_constraint="non_neg", beta_constraint="max_norm"),
         (4, 3), ["gamma", "beta"]),
    ]


@pytest.mark.parametrize("index", range(8))
def test_layers_keep_their_constraints_on_the_weights_and_in_the_config(index):
    layer, shape, constrained = constrained_layers()[index]
    layer(np.ones(shape, np.float32))
    by_name = {w.name: w for w in layer.weights}
    for name in constrained:
        assert isinstance(by_name[name].constraint, constraints.Constraint), name
    assert all(w.constraint is None for n, w in by_name.items() if n not in constrained)
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    again(np.ones(shape, np.float32))
    for name in constrained:
        got = {w.name: w for w in again.weights}[name].constraint
        assert got.get_config() == by_name[name].constraint.get_config()


def test_embedding_takes_embeddings_constraint():
    emb = layers.Embedding(10, 4, embeddings_constraint="unit_norm")
    assert emb.get_config()["embeddings_constraint"] == {"class_name": "UnitNorm",
                                                         "config": {"axis": 0}}
    emb(np.array([[1, 2]]))
    assert type(emb.embeddings.constraint) is constraints.UnitNorm
    assert type(layers.Embedding.from_config(emb.get_config()).embeddings_constraint) is \
        constraints.UnitNorm


def test_bad_constraint_arguments_name_the_layer_and_the_argument():
    with pytest.raises(ValueError, match="Dense 'd': kernel_constraint: Could not interpret "
                                         "constraint identifier: 'clip'"):
        layers.Dense(2, kernel_constraint="clip", name="d")
    with pytest.raises(ValueError, match=r"Conv2D 'c': bias_constraint: .*identifier: 1.5"):
        layers.Conv2D(2, 3, bias_constraint=1.5, name="c")
    with pytest.raises(ValueError, match="LSTM 'l': recurrent_constraint: .*'positive'"):
        layers.LSTM(2, recurrent_constraint="positive", name="l")
    with pytest.raises(ValueError, match="Embedding 'e': embeddings_constraint: Unknown "
                                         "constraint 'Clip'"):
        layers.Embedding(3, 2, embeddings_constraint={"class_name": "Clip"}, name="e")
    with pytest.raises(ValueError, match="BatchNormalization 'b': gamma_constraint: .*MaxNorm"):
        layers.BatchNormalization(gamma_constraint={"class_name": "MaxNorm",
                                                    "config": {"max_valu": 1}}, name="b")


@pytest.mark.parametrize("make", [lambda: optimizers.SGD(0.5),
                                  lambda: optimizers.Adam(0.1, amsgrad=True),
                                  lambda: optimizers.AdamW(0.1, weight_decay=0.1)])
def test_optimizer_projects_each_constrained_variable_after_its_step(make):
    rng = np.random.default_rng(1)
    value = rng.standard_normal((4, 3)).astype(np.float32)
    grad = rng.standard_normal((4, 3)).astype(np.float32)
    plain = brisknn.backend.Variable(value.copy(), "plain")
    kept = brisknn.backend.Variable(value.copy(), "kept", constraint=constraints.MaxNorm(0.5))
    opt_a, opt_b = make(), make()
    for _ in range(3):
        plain.grad[...] = grad
        kept.grad[...] = grad
        opt_a.apply([plain])
        opt_b.apply([kept])
        # Keras: variable.assign(variable.constraint(variable)) right after the update.
        expected = keras_max_norm(plain.value, 0.5)
        np.testing.assert_array_equal(kept.value, expected)
        plain.value[...] = expected
    # apply_gradients (a custom loop) applies it too, as Keras' apply does
    opt_b.apply_gradients([(grad * 10, kept)])
    assert np.sqrt((kept.value ** 2).sum(axis=0)).max() <= 0.5


def test_a_constraint_that_changes_the_shape_is_refused():
    var = brisknn.backend.Variable(np.ones((2, 2), np.float32), "w",
                                   constraint=lambda w: w.sum(axis=0))
    with pytest.raises(ValueError, match="returned shape"):
        optimizers.SGD().apply([var])


def dense_model(optimizer="adam"):
    brisknn.utils.set_random_seed(3)
    model = models.Sequential([layers.Input((6,)),
                               layers.Dense(8, activation="relu",
                                            kernel_constraint=constraints.MaxNorm(0.3),
                                            bias_constraint="non_neg"),
                               layers.Dense(3, activation="softmax",
                                            kernel_constraint="unit_norm")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def test_dense_only_model_with_constraints_same_bits_fast_and_general_path(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    y = rng.integers(0, 3, 40)

    def run():
        model = dense_model()
        losses = [model.train_on_batch(x[:16], y[:16]) for _ in range(3)]
        losses.append(model.fit(x, y, batch_size=16, epochs=2, verbose=0).history["loss"])
        return model, losses

    fast, fast_losses = run()
    assert fast._dense_step_cache[1] is not None  # the prepared step ran
    with monkeypatch.context() as m:
        m.setattr(models.Sequential, "_dense_step", lambda self, x: None)
        slow, slow_losses = run()
    assert fast_losses == slow_losses
    for a, b in zip(fast.get_weights(), slow.get_weights()):
        np.testing.assert_array_equal(a, b)
    kernel, bias, head, _ = fast.get_weights()
    assert np.sqrt((kernel ** 2).sum(axis=0)).max() <= 0.3 and (bias >= 0).all()
    np.testing.assert_allclose(np.sqrt((head ** 2).sum(axis=0)), 1.0, rtol=1e-5)


def test_frozen_weights_are_not_projected():
    model = dense_model("sgd")
    model.layers[0].trainable = False
    before = model.layers[0].kernel.numpy()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.train_on_batch(np.ones((4, 6), np.float32), np.zeros(4, int))
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), before)


class HalfMaxNorm(constraints.Constraint):
    def __init__(self, scale=0.5):
        self.scale = scale

    def __call__(self, w):
        return w * self.scale

    def get_config(self):
        return {"scale": self.scale}


def test_constraints_survive_save_and_load(tmp_path):
    model = models.Sequential([layers.Input((5, 3)),
                               layers.Conv1D(4, 2, kernel_constraint=constraints.MaxNorm(
                                   1.0, axis=[0, 1])),
                               layers.LSTM(3, recurrent_constraint="unit_norm"),
                               layers.Dense(2, kernel_constraint=HalfMaxNorm(0.25),
                                            bias_constraint="non_neg")])
    model.compile("sgd", "mse")
    path = tmp_path / "m.keras"
    model.save(path)
    with pytest.raises(ValueError, match="HalfMaxNorm"):
        models.load_model(path)
    loaded = models.load_model(path, custom_objects={"HalfMaxNorm": HalfMaxNorm})
    assert loaded.get_config() == model.get_config()
    conv, lstm, dense = loaded.layers
    assert conv.kernel.constraint.get_config() == {"max_value": 1.0, "axis": [0, 1]}
    assert type(lstm.recurrent_kernel.constraint) is constraints.UnitNorm
    assert type(dense.kernel.constraint) is HalfMaxNorm and dense.kernel.constraint.scale == 0.25
    x = np.ones((2, 5, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    loaded.train_on_batch(x, np.ones((2, 2), np.float32))
    assert (dense.bias.numpy() >= 0).all()


def test_a_function_constraint_trains_and_copies_but_cannot_be_saved(tmp_path):
    clip = lambda w: np.clip(w, -0.1, 0.1)  # noqa: E731
    model = models.Sequential([layers.Input((4, 3)),
                               layers.Bidirectional(layers.LSTM(2, kernel_constraint=clip)),
                               layers.Dense(2, kernel_constraint=clip)])
    model.compile("sgd", "mse")
    model.train_on_batch(np.ones((2, 4, 3), np.float32), np.full((2, 2), 5, np.float32))
    for layer in (model.layers[0].forward_layer, model.layers[0].backward_layer,
                  model.layers[1]):
        assert layer.kernel.constraint is clip
        assert np.abs(layer.kernel.numpy()).max() <= 0.1
    with pytest.raises(ValueError, match="cannot write the function .*lambda.* as JSON; give "
                                         "a layer's constraint as a brisknn.constraints"):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()


# -- dilation_rate (Keras' BaseConv, ops.conv; TF's 'same' padding with the dilated span) ----
def same_pads(size, k, stride, d):
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def conv_reference(x, kernel, bias, strides, padding, dilation):
    """A NumPy loop over output pixels and kernel taps (float64), and its transpose."""
    (sh, sw), (dh, dw) = strides, dilation
    kh, kw, _, filters = kernel.shape
    if padding == "same":
        ph, pw = same_pads(x.shape[1], kh, sh, dh), same_pads(x.shape[2], kw, sw, dw)
    else:
        ph = pw = (0, 0)
    xp = np.pad(x, ((0, 0), ph, pw, (0, 0)))
    out_h = (xp.shape[1] - (kh - 1) * dh - 1) // sh + 1
    out_w = (xp.shape[2] - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((x.shape[0], out_h, out_w, filters))
    for oh in range(out_h):
        for ow in range(out_w):
            for i in range(kh):
                for j in range(kw):
                    y[:, oh, ow] += xp[:, oh * sh + i * dh, ow * sw + j * dw] @ kernel[i, j]
    y += 0 if bias is None else bias

    def backward(dy):
        dxp, dk = np.zeros_like(xp), np.zeros_like(kernel)
        for oh in range(out_h):
            for ow in range(out_w):
                for i in range(kh):
                    for j in range(kw):
                        r, c = oh * sh + i * dh, ow * sw + j * dw
                        dxp[:, r, c] += dy[:, oh, ow] @ kernel[i, j].T
                        dk[i, j] += xp[:, r, c].T @ dy[:, oh, ow]
        dx = dxp[:, ph[0]:dxp.shape[1] - ph[1], pw[0]:dxp.shape[2] - pw[1]]
        return dx, dk, dy.sum(axis=(0, 1, 2))
    return y, backward


DILATED = [  # (x shape, kernel shape, strides, padding, dilation)
    ((2, 9, 8, 1), (3, 3, 1, 4), (1, 1), "valid", (2, 2)),    # direct path (small patch)
    ((2, 9, 8, 1), (3, 3, 1, 4), (1, 1), "same", (2, 3)),
    ((2, 10, 9, 6), (3, 2, 6, 5), (1, 1), "same", (3, 2)),    # im2col + GEMM path
    ((2, 10, 9, 6), (3, 3, 6, 5), (1, 1), "valid", (1, 4)),
    ((3, 7, 11, 5), (2, 4, 5, 40), (1, 1), "same", (4, 1)),   # wide output, GEMM
    ((1, 5, 6, 2), (3, 3, 2, 3), (1, 1), "same", (5, 5)),     # span wider than the image
    ((2, 9, 9, 3), (3, 3, 3, 2), (2, 3), "same", (2, 2)),     # the kernels also take strides
]


@pytest.mark.parametrize("case", DILATED)
def test_dilated_conv2d_kernels_match_a_numpy_loop(case):
    xs, ks, strides, padding, dilation = case
    rng = np.random.default_rng(4)
    x, kernel = rng.standard_normal(xs), rng.standard_normal(ks)
    bias = rng.standard_normal(ks[3])
    expected, backward = conv_reference(x, kernel, bias, strides, padding, dilation)
    y = brisknn.ops.conv2d(x, kernel, bias, strides, padding, dilation_rate=dilation)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    for got, want in zip(brisknn.ops.conv2d_backward(dy, x, kernel, strides, padding,
                                                     dilation_rate=dilation), backward(dy)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # float32 runs the same taps
    y32 = brisknn.ops.conv2d(x.astype(np.float32), kernel.astype(np.float32),
                             bias.astype(np.float32), strides, padding, dilation_rate=dilation)
    np.testing.assert_allclose(y32, expected, rtol=1e-4, atol=1e-4)


def test_dilated_kernel_equals_the_kernel_with_zeros_between_its_taps():
    rng = np.random.default_rng(5)
    x, kernel = rng.standard_normal((2, 12, 12, 4)), rng.standard_normal((3, 3, 4, 6))
    spread = np.zeros((5, 7, 4, 6))
    spread[::2, ::3] = kernel
    for padding in ("valid", "same"):
        np.testing.assert_allclose(
            brisknn.ops.conv2d(x, kernel, padding=padding, dilation_rate=(2, 3)),
            brisknn.ops.conv2d(x, spread, padding=padding), rtol=1e-12, atol=1e-12)


def keras_conv_output_length(size, k, stride, padding, d):
    # keras/src/ops/operation_utils.compute_conv_output_shape
    if padding == "valid":
        return (size - d * (k - 1) - 1) // stride + 1
    return (size - 1) // stride + 1


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("dilation", [(1, 1), (2, 1), (3, 2), (2, 4)])
def test_conv2d_layer_output_shape_is_keras(padding, dilation):
    layer = layers.Conv2D(3, (3, 2), padding=padding, dilation_rate=dilation)
    y = layer(np.ones((2, 13, 11, 2), np.float32))
    expected = tuple(keras_conv_output_length(n, k, 1, padding, d)
                     for n, k, d in zip((13, 11), (3, 2), dilation))
    assert y.shape == (2,) + expected + (3,)
    assert layer.compute_output_shape((None, 13, 11, 2)) == (None,) + expected + (3,)
    assert layer.kernel.shape == (3, 2, 2, 3)  # the weight never changes shape
    assert layer.get_config()["dilation_rate"] == dilation


def layer_gradients_match_finite_differences(layer, x, rtol=1e-6):
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(6)
    layer(x)
    for w in layer.weights:
        w.assign(rng.standard_normal(w.shape) * 0.5)
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    loss = lambda: float((layer.forward(x) * dy).sum())  # noqa: E731
    from conftest import numeric_grad
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=rtol, atol=1e-8)
    for w in layer.weights:
        np.testing.assert_allclose(w.grad, numeric_grad(loss, w.value), rtol=rtol, atol=1e-8,
                                   err_msg=w.name)
    return y


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_dilated_conv2d_layer_gradients_by_finite_differences(padding):
    x = np.random.default_rng(7).standard_normal((2, 7, 6, 3))
    layer = layers.Conv2D(2, (3, 2), padding=padding, dilation_rate=(2, 3), activation="tanh")
    layer_gradients_match_finite_differences(layer, x)


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_dilated_conv1d_matches_keras_and_its_gradients(padding):
    x = np.random.default_rng(8).standard_normal((2, 9, 3))
    layer = layers.Conv1D(2, 3, padding=padding, dilation_rate=2)
    y = layer_gradients_match_finite_differences(layer, x)
    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
    if padding == "causal":  # Keras: left pad dilation * (kernel_size - 1), then 'valid'
        xp, pad = np.pad(x, ((0, 0), (4, 0), (0, 0))), "valid"
    else:
        xp, pad = x, padding
    expected, _ = conv_reference(xp[:, None], kernel[None], bias, (1, 1), pad, (1, 2))
    np.testing.assert_allclose(y, expected[:, 0], rtol=1e-12, atol=1e-12)
    steps = keras_conv_output_length(9, 3, 1, "same" if padding == "causal" else padding, 2)
    assert y.shape == (2, steps, 2)
    if padding == "causal":  # output t depends on inputs t, t - 2, t - 4 only
        x2 = x.copy()
        x2[:, 5] += 1.0
        changed = np.abs(layer(x2) - layer(x)).sum(axis=(0, 2)) > 0
        assert changed.tolist() == [t in (5, 7) for t in range(9)]


def test_dilation_arguments_are_checked_with_keras_rules():
    with pytest.raises(ValueError, match=r"Conv2D 'c': `strides > 1` not supported in "
                                         r"conjunction with `dilation_rate > 1`"):
        layers.Conv2D(2, 3, strides=(2, 1), dilation_rate=(1, 2), name="c")
    with pytest.raises(ValueError, match="Conv1D 'c1': dilation_rate must be positive"):
        layers.Conv1D(2, 3, dilation_rate=0, name="c1")
    with pytest.raises(ValueError, match=r"dilation_rate must be an int or a pair"):
        layers.Conv2D(2, 3, dilation_rate=(1, 2, 3))
    with pytest.raises(ValueError, match=r"'d' \(Conv2D\): kernel of shape \(3, 3, 1, 2\) "
                                         r"with dilation_rate \(3, 3\) \(spanning \(7, 7\)\) "
                                         r"is larger than the input"):
        layers.Conv2D(2, 3, dilation_rate=3, name="d")(np.ones((1, 6, 6, 1), np.float32))
    with pytest.raises(ValueError, match=r"'e' \(Conv1D\): kernel_size 3 with dilation_rate 4 "
                                         r"\(spanning 9\) is larger"):
        layers.Conv1D(2, 3, dilation_rate=4, name="e")(np.ones((1, 8, 1), np.float32))
    with pytest.raises(ValueError, match=r"Conv2DTranspose 't': `strides > 1` not supported"):
        layers.Conv2DTranspose(2, 3, strides=2, dilation_rate=2, name="t")


def test_the_bindings_check_dilation_themselves():
    from brisknn import _core
    x, k = np.ones((1, 5, 5, 1), np.float32), np.ones((3, 3, 1, 1), np.float32)
    ws = np.empty(1 << 12, np.float32)
    y = np.empty((1, 5, 5, 1), np.float32)
    for bad in [(0, 1), (1, -2)]:
        with pytest.raises(ValueError, match="conv2d_forward: dilation_rate must be >= 1"):
            _core.conv2d_forward(x, k, None, y, ws, (1, 1), "same", dilation_rate=bad)
        with pytest.raises(ValueError, match="conv2d_backward: dilation_rate must be >= 1"):
            _core.conv2d_backward(y, x, k, x.copy(), None, None, ws, (1, 1), "same",
                                  dilation_rate=bad)
    with pytest.raises(ValueError, match="spans more positions than an index holds"):
        _core.conv2d_workspace_size(x.shape, k.shape, (1, 1), "same", False,
                                    dilation_rate=(1 << 62, 1))
    with pytest.raises(ValueError, match="larger than the input's spatial size"):
        _core.conv2d_forward(x, k, None, y, ws, (1, 1), "valid", dilation_rate=(3, 1))
    with pytest.raises(ValueError, match=r"y has shape \(1, 5, 5, 1\), expected "
                                         r"\(1, 1, 3, 1\)"):
        _core.conv2d_forward(x, k, None, y, ws, (1, 1), "valid", dilation_rate=(2, 1))
    with pytest.raises(ValueError, match="dilation >= 1"):
        _core.window_output_length(5, 3, 1, "same", 0)
    assert _core.window_output_length(10, 3, 1, "valid", 4) == 10 - 9 + 1


def test_dilated_convolutions_survive_save_and_load(tmp_path):
    model = models.Sequential([layers.Input((12, 10, 2)),
                               layers.Conv2D(3, 3, padding="same", dilation_rate=(2, 1)),
                               layers.Reshape((12, 30)),
                               layers.Conv1D(2, 2, padding="causal", dilation_rate=3)])
    model.compile("adam", "mse")
    x = np.random.default_rng(9).standard_normal((2, 12, 10, 2)).astype(np.float32)
    model.train_on_batch(x, np.zeros((2, 12, 2), np.float32))
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].dilation_rate == (2, 1) and loaded.layers[2].dilation_rate == (3,)
    assert loaded.predict(x, verbose=0).tobytes() == model.predict(x, verbose=0).tobytes()


# -- data_format='channels_first' (transposed to channels_last around the same kernels) -------
def last(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def first(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


CHANNELS_FIRST = [  # (class, arguments, channels_first input shape)
    (layers.Conv2D, dict(filters=4, kernel_size=(3, 2), activation="relu"), (2, 3, 7, 6)),
    (layers.Conv2D, dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 5, 7, 8)),
    (layers.Conv2D, dict(filters=3, kernel_size=3, padding="same", dilation_rate=(2, 1),
                         activation="tanh"), (2, 6, 7, 6)),
    (layers.Conv1D, dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2),
     (2, 3, 9)),
    (layers.Conv1D, dict(filters=4, kernel_size=2, strides=2, activation="sigmoid"), (2, 5, 9)),
    (layers.Conv2DTranspose, dict(filters=3, kernel_size=3, strides=2, padding="same",
                                  activation="relu"), (2, 4, 3, 5)),
    (layers.MaxPooling2D, dict(pool_size=(2, 3), strides=(1, 2), padding="same"), (2, 3, 7, 6)),
    (layers.AveragePooling2D, dict(pool_size=2, padding="same"), (2, 3, 5, 7)),
    (layers.MaxPooling1D, dict(pool_size=3, strides=2), (2, 4, 9)),
    (layers.AveragePooling1D, dict(pool_size=2, padding="same"), (2, 4, 7)),
]


@pytest.mark.parametrize("case", CHANNELS_FIRST, ids=lambda c: c[0].__name__)
def test_channels_first_is_channels_last_transposed(case):
    cls, kwargs, shape = case
    rng = np.random.default_rng(10)
    x = rng.standard_normal(shape).astype(np.float32)
    a = cls(data_format="channels_first", **kwargs)
    b = cls(data_format="channels_last", **kwargs)
    y_first = a(x)
    b(last(x))
    b.set_weights(a.get_weights())  # the weights have the same (Keras') shapes
    assert [w.shape for w in a.weights] == [w.shape for w in b.weights]
    ya = a.forward(x, training=True)
    yb = b.forward(last(x), training=True)
    assert ya.tobytes() == first(yb).tobytes() and np.array_equal(y_first, ya)
    assert a.compute_output_shape((None,) + shape[1:]) == (None,) + ya.shape[1:]
    dy = rng.standard_normal(ya.shape).astype(np.float32)
    dxa, dxb = a.backward(dy), b.backward(last(dy))
    assert dxa.shape == x.shape and dxa.tobytes() == first(dxb).tobytes()
    for wa, wb in zip(a.weights, b.weights):
        assert wa.grad.tobytes() == wb.grad.tobytes()
    config = a.get_config()
    assert config["data_format"] == "channels_first"
    assert type(a).from_config(config).get_config() == config


def test_channels_first_conv_weights_have_keras_shapes_and_gradients():
    conv = layers.Conv2D(5, (3, 2), data_format="channels_first")
    conv.build((None, 4, 9, 9))
    assert conv.kernel.shape == (3, 2, 4, 5) and conv.bias.shape == (5,)
    assert conv.compute_output_shape((None, 4, 9, 9)) == (None, 5, 7, 8)
    transpose = layers.Conv2DTranspose(5, 3, strides=2, data_format="channels_first")
    transpose.build((None, 4, 3, 3))
    assert transpose.kernel.shape == (3, 3, 5, 4)
    assert transpose.compute_output_shape((None, 4, 3, 3)) == (None, 5, 7, 7)
    conv1 = layers.Conv1D(2, 3, data_format="channels_first")
    conv1.build((None, 6, 10))
    assert conv1.kernel.shape == (3, 6, 2)
    assert conv1.compute_output_shape((None, 6, 10)) == (None, 2, 8)
    x = np.random.default_rng(11).standard_normal((2, 3, 6, 5))
    layer_gradients_match_finite_differences(
        layers.Conv2D(2, 3, padding="same", data_format="channels_first", activation="elu"), x)


def test_channels_first_input_spec_checks_the_channel_axis():
    conv = layers.Conv2D(2, 3, data_format="channels_first", name="cf")
    conv(np.zeros((1, 3, 8, 8), np.float32))
    assert conv(np.zeros((1, 3, 10, 9), np.float32)).shape == (1, 2, 8, 7)
    with pytest.raises(ValueError, match=r"'cf' \(Conv2D\) expects input of shape "
                                         r"\(None, 3, 8, 8\), got \(None, 4, 8, 8\)"):
        conv(np.zeros((1, 4, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"'cg' \(Conv2D\) expects 4-D input \(batch, channels, "
                                         r"height, width\)"):
        layers.Conv2D(2, 3, data_format="channels_first", name="cg")(np.zeros((1, 3, 8)))
    with pytest.raises(ValueError, match=r"'p' \(MaxPooling1D\) expects 3-D input \(batch, "
                                         r"channels, steps\)"):
        layers.MaxPooling1D(data_format="channels_first", name="p")(np.zeros((1, 3, 8, 2)))
    with pytest.raises(ValueError, match=r"MaxPooling2D 'q': the `data_format` argument"):
        layers.MaxPooling2D(data_format="first", name="q")
    assert layers.Conv2D(2, 3, data_format="Channels_First").data_format == "channels_first"


def channels_model(data_format):
    brisknn.utils.set_random_seed(12)
    shape = (3, 12, 12) if data_format == "channels_first" else (12, 12, 3)
    model = models.Sequential([
        layers.Input(shape),
        layers.Conv2D(4, 3, padding="same", activation="relu", data_format=data_format),
        layers.MaxPooling2D(data_format=data_format),
        layers.Conv2D(6, 3, dilation_rate=2, data_format=data_format),
        layers.AveragePooling2D(data_format=data_format),
        layers.Flatten(data_format=data_format),  # Keras: channels_last order either way
        layers.Dense(3, activation="softmax")])
    model.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    return model


def test_a_channels_first_cnn_trains_as_its_channels_last_twin(tmp_path):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((8, 3, 12, 12)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    a, b = channels_model("channels_first"), channels_model("channels_last")
    b.set_weights(a.get_weights())
    losses_a = [a.train_on_batch(x, y) for _ in range(3)]
    losses_b = [b.train_on_batch(last(x), y) for _ in range(3)]
    assert losses_a == losses_b
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    a.save(tmp_path / "cf.keras")
    loaded = models.load_model(tmp_path / "cf.keras")
    assert loaded.layers[0].data_format == "channels_first"
    assert loaded.predict(x, verbose=0).tobytes() == a.predict(x, verbose=0).tobytes()


def test_data_format_none_follows_image_data_format_as_keras():
    from brisknn import backend
    assert backend.image_data_format() == "channels_last"
    try:
        backend.set_image_data_format("channels_first")
        made = [layers.Conv2D(2, 3), layers.Conv1D(2, 3), layers.MaxPooling2D(),
                layers.AveragePooling1D(), layers.GlobalAveragePooling2D(), layers.Flatten(),
                layers.UpSampling2D(), layers.ZeroPadding2D(), layers.GlobalAveragePooling1D()]
        assert all(layer.data_format == "channels_first" for layer in made)
        assert layers.Conv2D(2, 3, data_format="channels_last").data_format == "channels_last"
        with pytest.raises(ValueError, match="set_image_data_format: the `data_format`"):
            backend.set_image_data_format("NHWC")
    finally:
        backend.set_image_data_format("channels_last")
    assert layers.Conv2D(2, 3).data_format == "channels_last"
    with pytest.raises(ValueError, match=r"Flatten 'f': the `data_format` argument"):
        layers.Flatten(data_format="last", name="f")


def conv_transpose_reference(x, kernel, bias, padding, dilation):
    """Keras' Conv2DTranspose (stride 1) as a NumPy scatter: each input pixel adds its
    kernel-weighted copy at the dilated taps; 'same' crops TF's padding from the full output."""
    (dh, dw), (kh, kw, filters, _) = dilation, kernel.shape
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    n, h, w, _ = x.shape
    full = np.zeros((n, h + span_h - 1, w + span_w - 1, filters))
    for i in range(kh):
        for j in range(kw):
            full[:, i * dh:i * dh + h, j * dw:j * dw + w] += x @ kernel[i, j].T
    if padding == "same":  # the convolution it transposes pads (span - 1) // 2 before
        top, left = (span_h - 1) // 2, (span_w - 1) // 2
        full = full[:, top:top + h, left:left + w]
    return full + bias


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("dilation", [(2, 2), (1, 3), (3, 2)])
def test_dilated_conv2d_transpose_matches_keras_shapes_a_scatter_and_gradients(padding,
                                                                               dilation):
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 4, 5, 3))
    layer = layers.Conv2DTranspose(2, (3, 2), padding=padding, dilation_rate=dilation,
                                   activation="tanh", dtype="float64")
    y = layer_gradients_match_finite_differences(layer, x)
    expected = np.tanh(conv_transpose_reference(x, layer.kernel.numpy(), layer.bias.numpy(),
                                                padding, dilation))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    span = [(k - 1) * d + 1 for k, d in zip((3, 2), dilation)]
    keras = [n if padding == "same" else n + max(s - 1, 0) for n, s in zip((4, 5), span)]
    assert y.shape == (2, *keras, 2)
    assert layer.compute_output_shape((None, 4, 5, 3)) == (None, *keras, 2)
    assert layer.get_config()["dilation_rate"] == dilation


@pytest.mark.parametrize("cls,kwargs,shape", [
    (layers.Conv2D, dict(filters=3, kernel_size=2), (2, 2, 5, 4)),
    (layers.Conv1D, dict(filters=3, kernel_size=2, padding="causal"), (2, 2, 6)),
    (layers.Conv2DTranspose, dict(filters=3, kernel_size=2), (2, 2, 3, 4))])
@pytest.mark.parametrize("activation", ["softmax", "log_softmax"])
def test_channels_first_softmax_runs_over_the_last_axis_as_keras(cls, kwargs, shape, activation):
    # Keras' activations.softmax(x, axis=-1): over width (steps), not the channels.
    x = np.random.default_rng(15).standard_normal(shape)
    layer = cls(data_format="channels_first", activation=activation, dtype="float64", **kwargs)
    y = layer_gradients_match_finite_differences(layer, x)
    linear = cls(data_format="channels_first", dtype="float64", **kwargs)
    linear(x)
    linear.set_weights(layer.get_weights())
    z = linear(x)
    expected = z - z.max(-1, keepdims=True)
    expected = expected - np.log(np.exp(expected).sum(-1, keepdims=True))
    np.testing.assert_allclose(y, expected if activation == "log_softmax" else
                               np.exp(expected), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(layer.forward(x, logits=True), z)  # the model's fused path


def test_a_channels_first_conv_softmax_head_trains_on_the_last_axis():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((4, 2, 5, 6)).astype(np.float32)
    y = rng.integers(0, 6, (4, 3, 5))  # a class per (filter, row): softmax over the width
    model = models.Sequential([layers.Input((2, 5, 6)),
                               layers.Conv2D(3, 3, padding="same", activation="softmax",
                                             data_format="channels_first")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    picked = np.take_along_axis(probs, y[..., None], -1)
    # the loss is fused with the softmax (logits from the layer), as Keras does
    np.testing.assert_allclose(model.train_on_batch(x, y), -np.log(picked).mean(), rtol=1e-5)


def test_dilated_convolution_gives_the_same_bits_on_any_thread_count():
    rng = np.random.default_rng(18)
    x = rng.standard_normal((48, 9, 9, 8)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
    before = brisknn.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            brisknn.set_num_threads(threads)
            y = brisknn.ops.conv2d(x, kernel, padding="same", dilation_rate=(2, 3))
            grads = brisknn.ops.conv2d_backward(y, x, kernel, 1, "same", dilation_rate=(2, 3))
            results.append([y.tobytes()] + [g.tobytes() for g in grads])
    finally:
        brisknn.set_num_threads(before)
    assert results[0] == results[1] == results[2]
