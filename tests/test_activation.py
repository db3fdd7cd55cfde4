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
                                  "gelu", "silu"])
def test_more_keras_activations_work_in_layers_by_name_and_function(name):
    import brisknn
    from brisknn import activations, layers
    x = np.random.default_rng(2).normal(size=(4, 3))
    w = np.random.default_rng(3).normal(size=(3, 2))
    for spec in (name, getattr(activations, name)):
        dense = layers.Dense(2, activation=spec, use_bias=False, dtype="float64")
        dense.build((None, 3))
        dense.set_weights([w])
        np.testing.assert_allclose(dense(x), REFERENCE[name](x @ w), rtol=1e-12)
        assert dense.get_config()["activation"] == name
    assert brisknn.layers.Activation(name)(x).shape == x.shape


@pytest.mark.parametrize("name", ["gelu", "silu", "swish"])
def test_gelu_and_silu_layers_train_with_exact_gradients(name):
    # Their derivative needs the pre-activation, which Dense and Conv2D keep for them: the
    # weight gradients must still match central differences of the loss.
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
        assert model.layers[0].get_config()["activation"] == "silu" if name == "swish" else name
