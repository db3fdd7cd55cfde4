import math

import numpy as np
import pytest

from brisknn import _core, activations, ops
from conftest import numeric_grad


def _softplus(x):
    return np.logaddexp(x, 0.0)  # Keras' NumPy backend


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))

# The seed's formulas (slide 2) and Keras' definitions, in plain NumPy.
REFERENCE = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(0, x),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.exp(np.minimum(x, 0)) - 1),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softplus": lambda x: np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0),
    "softmax": lambda x: np.exp(x - x.max(-1, keepdims=True)) /
    np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True),
    # Keras 3 (keras/src/activations/activations.py and the TF backend's nn.py)
    "relu6": lambda x: np.clip(x, 0, 6),
    "softsign": lambda x: x / (np.abs(x) + 1),
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "exponential": np.exp,
    "selu": lambda x: 1.0507009873554804934193349852946 * np.where(
        x > 0, x, 1.6732632423543772848170429916717 * np.expm1(np.minimum(x, 0))),
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2))),  # exact, Keras'
    "silu": lambda x: x / (1 + np.exp(-x)),
    # Keras 3's further ones (keras/src/activations/activations.py, backend nn.py)
    "gelu_approximate": _gelu_tanh,  # activations.gelu(x, approximate=True)
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "hard_silu": lambda x: x * (np.clip(x + 3, 0, 6) / 6),
    "log_softmax": lambda x: x - x.max(-1, keepdims=True) - np.log(
        np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)),
    "celu": lambda x: np.maximum(x, 0) + 1.0 * np.expm1(np.minimum(x, 0) / 1.0),
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "log_sigmoid": lambda x: -_softplus(-x),
    "tanh_shrink": lambda x: x - np.tanh(x),
    "squareplus": lambda x: (x + np.sqrt(np.square(x) + 4)) / 2,
    "sparse_plus": lambda x: np.where(x <= -1, 0, np.where(x < 1, 0.25 * (x + 1) ** 2, x)),
}
# Their backward takes the forward's input.
FROM_INPUT = activations.INPUT_DERIVATIVE + ("gelu_approximate",)
NEW = ("mish", "hard_silu", "log_softmax", "celu", "hard_tanh", "log_sigmoid", "tanh_shrink",
       "squareplus", "sparse_plus")


def _forward(name, x):
    if name == "gelu_approximate":
        return ops.gelu(x, approximate=True)
    return getattr(ops, name)(x)


def _backward(name, dy, source):
    if name == "gelu_approximate":
        return ops.gelu_backward(dy, source, approximate=True)
    return getattr(ops, name + "_backward")(dy, source)


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-12)])
def test_activation_forward_matches_numpy(name, dtype, tol):
    x = np.random.default_rng(0).normal(0, 3, (37, 11)).astype(dtype)
    y = _forward(name, x)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, REFERENCE[name](x.astype(np.float64)), rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_activation_backward_matches_finite_differences(name):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 2, (5, 7))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from relu's kink
    dy = rng.normal(size=x.shape)
    y = _forward(name, x)
    dx = _backward(name, dy, x if name in FROM_INPUT else y)
    expected = numeric_grad(lambda: float((_forward(name, x) * dy).sum()), x)
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-8)


def test_large_activation_is_parallel_and_exact():
    x = np.random.default_rng(2).normal(size=(1000, 1000)).astype(np.float32)
    np.testing.assert_allclose(ops.sigmoid(x), REFERENCE["sigmoid"](x.astype(np.float64)),
                               atol=2e-7)
    np.testing.assert_array_equal(ops.relu(x), np.maximum(x, 0))


def test_softmax_is_stable_for_huge_inputs():
    x = np.array([[1000.0, 1000.0, -1000.0], [-1e30, 0.0, 1e30]], dtype=np.float32)
    y = ops.softmax(x)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], atol=1e-7)


def test_softplus_and_sigmoid_do_not_overflow():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32)
    assert np.isfinite(ops.softplus(x)).all()
    np.testing.assert_allclose(ops.softplus(x)[[0, 2, 4]], [0.0, np.log(2.0), 1000.0], rtol=1e-6)
    np.testing.assert_allclose(ops.sigmoid(x)[[0, 2, 4]], [0.0, 0.5, 1.0], atol=1e-7)


def test_activation_in_place_on_core():
    x = np.linspace(-2, 2, 9).reshape(3, 3)
    expected = np.tanh(x)
    _core.activation_forward(x, x, "tanh")
    np.testing.assert_allclose(x, expected)


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        ops.activation(np.zeros(3), "swishy")


def test_core_rejects_bad_outputs():
    x = np.zeros((4, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"y has shape \(4, 3\), expected \(4, 4\)"):
        _core.activation_forward(x, np.zeros((4, 3), np.float32), "relu")
    with pytest.raises(TypeError, match="y has dtype float64, expected float32"):
        _core.activation_forward(x, np.zeros((4, 4)), "relu")
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.activation_forward(x, np.zeros((4, 8), np.float32)[:, ::2], "relu")
    readonly = np.zeros((4, 4), np.float32)
    readonly.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        _core.activation_forward(x, readonly, "relu")
    with pytest.raises(TypeError, match="expected float32 or float64"):
        _core.activation_forward(x.astype(np.int32), x, "relu")


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_activation_bits_do_not_depend_on_memory_alignment(name):
    # The same values at every offset from a 64-byte boundary give the same bits, forward and
    # backward (Eigen's scalar head/tail code rounds exp/log differently from its vector code).
    rng = np.random.default_rng(5)
    x, dy = rng.normal(0, 3, (2, 37 * 11)).astype(np.float32)
    alpha = _core.activation_default_alpha(name)
    results = set()
    for offset in range(16):  # inputs and outputs at every offset from a 64-byte boundary
        xs, ys, dys, dxs = (np.empty(x.size + 16, np.float32)[offset:offset + x.size]
                            .reshape(37, 11) for _ in range(4))
        xs[...] = x.reshape(37, 11)
        dys[...] = dy.reshape(37, 11)
        _core.activation_forward(xs, ys, name, alpha)
        _core.activation_backward(dys, ys, dxs, name, alpha)
        results.add((ys.tobytes(), dxs.tobytes()))
    assert len(results) == 1


def test_ops_activations_keep_a_scalar_scalar():
    assert ops.relu(np.float32(-1.5)).shape == ()
    assert float(ops.sigmoid(0.0)) == 0.5
    assert ops.activation_backward(1.0, 0.5, "sigmoid").shape == ()
    assert float(ops.activation_backward(1.0, 0.5, "sigmoid")) == 0.25


@pytest.mark.parametrize("name", ["relu6", "softsign", "hard_sigmoid", "exponential", "selu",
                                  "gelu", "silu", *NEW, "hard_swish"])
def test_more_keras_activations_work_in_layers_by_name_and_function(name):
    import brisknn
    from brisknn import layers
    canonical = activations.name_of(name)  # hard_swish is Keras' alias of hard_silu
    x = np.random.default_rng(2).normal(size=(4, 3))
    w = np.random.default_rng(3).normal(size=(3, 2))
    for spec in (name, getattr(activations, name)):
        dense = layers.Dense(2, activation=spec, use_bias=False, dtype="float64")
        dense.build((None, 3))
        dense.set_weights([w])
        np.testing.assert_allclose(dense(x), REFERENCE[canonical](x @ w), rtol=1e-12, atol=1e-15)
        assert dense.get_config()["activation"] == canonical
        assert dense.activation is getattr(activations, canonical)
    assert brisknn.layers.Activation(name)(x).shape == x.shape
    # and as a plain function on NumPy arrays, keeping float32
    x32 = x.astype(np.float32)
    got = getattr(activations, name)(x32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, REFERENCE[canonical](x32.astype(np.float64)), rtol=2e-5,
                               atol=2e-6)


# dy/dx as x -> -inf and +inf, what the backward must give at huge inputs.
LIMITS = {"mish": (0, 1), "hard_silu": (0, 1), "gelu_approximate": (0, 1), "celu": (0, 1),
          "hard_tanh": (0, 0), "log_sigmoid": (1, 0), "tanh_shrink": (1, 1),
          "squareplus": (0, 1), "sparse_plus": (0, 1)}
# y as x -> -inf and +inf
ASYMPTOTES = {"mish": (0, "x"), "hard_silu": (0, "x"), "gelu_approximate": (0, "x"),
              "celu": (-1, "x"), "hard_tanh": (-1, 1), "log_sigmoid": ("x", 0),
              "tanh_shrink": ("x", "x"), "squareplus": (0, "x"), "sparse_plus": (0, "x")}


@pytest.mark.parametrize("name", sorted(LIMITS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_new_activations_are_stable_for_large_inputs(name, dtype):
    moderate = np.array([-1e3, -50, -20, 20, 50, 1e3], dtype)
    tol = 2e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(_forward(name, moderate), REFERENCE[name](moderate.astype(float)),
                               rtol=tol, atol=tol)
    huge = np.finfo(dtype).max / 4
    x = np.array([-huge, -1e30, 1e30, huge], dtype)
    y = _forward(name, x)
    expected = [x[i] if a == "x" else a for i, a in
                zip(range(4), [ASYMPTOTES[name][0]] * 2 + [ASYMPTOTES[name][1]] * 2)]
    np.testing.assert_allclose(y, np.array(expected, dtype), rtol=1e-6, atol=1e-29)
    dx = _backward(name, np.ones_like(x), x if name in FROM_INPUT else y)
    assert dx.dtype == dtype and np.isfinite(dx).all()
    low, high = LIMITS[name]
    np.testing.assert_allclose(dx, [low, low, high, high], rtol=0, atol=1e-30)


def test_log_softmax_is_row_wise_and_stable():
    x = np.array([[1000.0, 1000.0, -1000.0], [-1e30, 0.0, 1e30]], dtype=np.float32)
    y = ops.log_softmax(x)
    np.testing.assert_allclose(y, [[-np.log(2), -np.log(2), -2000 - np.log(2)], [-2e30, -1e30, 0]],
                               rtol=1e-6)
    dx = ops.log_softmax_backward(np.ones_like(x), y)
    np.testing.assert_allclose(dx, [[-0.5, -0.5, 1], [1, 1, -2]], atol=1e-6)
    x3 = np.random.default_rng(3).normal(size=(2, 3, 5))
    np.testing.assert_allclose(activations.log_softmax(x3), REFERENCE["log_softmax"](x3),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.exp(activations.log_softmax(x3)), activations.softmax(x3),
                               rtol=1e-12)
    # Keras' axis: along any axis, not just the last
    np.testing.assert_allclose(activations.log_softmax(x3, axis=0),
                               np.moveaxis(REFERENCE["log_softmax"](np.moveaxis(x3, 0, -1)), -1, 0),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "mish"])
def test_empty_inputs_give_empty_outputs(name):
    for shape in ((3, 0), (0, 4)):
        x = np.zeros(shape, np.float32)
        assert _forward(name, x).shape == shape
        assert _backward(name, x, x).shape == shape


def test_parameters_pass_through_and_default_as_keras():
    x = np.random.default_rng(4).normal(0, 3, size=(6, 7))
    np.testing.assert_allclose(activations.celu(x, alpha=2.0),
                               np.maximum(x, 0) + 2.0 * np.expm1(np.minimum(x, 0) / 2.0),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(activations.squareplus(x, b=1.0), (x + np.sqrt(x * x + 1)) / 2,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(activations.squareplus(x, b=0), np.maximum(x, 0))  # Keras: relu
    assert [activations.alpha(n) for n in ("leaky_relu", "elu", "celu", "squareplus", "mish")] \
        == [0.2, 1.0, 1.0, 4.0, 0.0]
    # ops default to the same parameters as the layers and activations
    np.testing.assert_array_equal(ops.celu(x), activations.celu(x))
    np.testing.assert_array_equal(ops.activation(x, "squareplus"), activations.squareplus(x))
    dy = np.random.default_rng(5).normal(size=x.shape)
    for name, param in (("celu", 2.0), ("squareplus", 1.0)):
        y = ops.activation(x, name, param)
        expected = numeric_grad(lambda: float((ops.activation(x, name, param) * dy).sum()), x)
        np.testing.assert_allclose(ops.activation_backward(dy, y, name, param), expected,
                                   rtol=1e-6, atol=1e-8)


def test_gelu_approximate_is_keras_tanh_form_only_when_called_as_a_function():
    from brisknn import layers
    x = np.random.default_rng(6).normal(0, 2, size=(5, 4))
    np.testing.assert_allclose(activations.gelu(x, approximate=True), _gelu_tanh(x), rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(activations.gelu(x), REFERENCE["gelu"](x), rtol=1e-12)
    assert np.abs(activations.gelu(x, approximate=True) - activations.gelu(x)).max() > 1e-5
    np.testing.assert_allclose(layers.Activation("gelu", dtype="float64")(x), REFERENCE["gelu"](x),
                               rtol=1e-12)


def test_fused_kernels_refuse_every_activation_whose_derivative_needs_the_input():
    x, w = np.ones((2, 3)), np.ones((3, 4))
    y, dz = np.zeros((2, 4)), np.ones((2, 4))
    for name in FROM_INPUT:
        with pytest.raises(ValueError, match=f"derivative of '{name}' needs the pre-activation"):
            _core.dense_backward(dz, x, w, None, np.zeros_like(w), None, y, name)


@pytest.mark.parametrize("name", ["gelu", "silu", "swish", *NEW, "hard_swish"])
def test_layers_train_with_exact_gradients(name):
    # Through Dense, Activation and Conv2D: from the output (fused into the layer kernels' backward)
    # or, for gelu, silu, mish, hard_silu and tanh_shrink, from the pre-activation the layers
    # keep. The first kernel's gradient must match central differences of the loss.
    import brisknn
    from brisknn import layers, models
    brisknn.backend.set_floatx("float64")  # conftest puts float32 back
    rng = np.random.default_rng(4)
    for model, x in (
            (models.Sequential([layers.Input((5,)), layers.Dense(4, activation=name),
                                layers.Activation(name), layers.Dense(1)]),
             rng.normal(size=(6, 5))),
            (models.Sequential([layers.Input((6, 6, 2)), layers.Conv2D(3, 3, activation=name),
                                layers.Flatten(), layers.Dense(1)]),
             rng.normal(size=(3, 6, 6, 2)))):
        y = rng.normal(size=(len(x), 1))
        model.compile(brisknn.optimizers.SGD(1.0), "mse")
        model.predict(x, verbose=0)  # builds it
        assert model.dtype == np.float64
        first = model.layers[0].kernel
        before = first.value.copy()

        def loss():
            return float(np.mean((model.predict(x, verbose=0) - y) ** 2))
        expected = numeric_grad(loss, first.value)
        model.train_on_batch(x, y)
        step = before - first.value  # SGD(1.0): the gradient itself
        np.testing.assert_allclose(step, expected, rtol=1e-5, atol=1e-7)
        assert model.layers[0].get_config()["activation"] == activations.name_of(name)


def test_new_activation_names_round_trip_through_config_and_saving(tmp_path):
    import brisknn
    from brisknn import layers, models
    model = models.Sequential(
        [layers.Input((5, 5, 2)), layers.Conv2D(4, 3, activation="hard_swish"),
         layers.Activation("mish"), layers.Flatten()] +
        [layers.Dense(6, activation=name) for name in NEW] +
        [layers.Activation(name) for name in NEW if name != "log_softmax"])
    x = np.random.default_rng(7).normal(size=(3, 5, 5, 2)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    names = [layer.get_config()["activation"] for layer in model.layers
             if "activation" in layer.get_config()]
    assert names[:2] == ["hard_silu", "mish"] and names[2:] == list(NEW) + [
        n for n in NEW if n != "log_softmax"]
    again = models.Sequential.from_config(model.get_config())
    assert [layer.get_config().get("activation") for layer in again.layers] == \
        [layer.get_config().get("activation") for layer in model.layers]
    model.save(tmp_path / "m.keras")
    loaded = brisknn.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-7)
    assert [layer.get_config().get("activation") for layer in loaded.layers] == \
        [layer.get_config().get("activation") for layer in model.layers]
