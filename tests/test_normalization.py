import numpy as np
import pytest

import brisknn
from brisknn import _core, layers, models, optimizers
from conftest import numeric_grad


def _reference(x, mean, variance, gamma, beta, axis, epsilon=1e-3):
    shape = [1] * x.ndim
    shape[axis] = -1
    return (x - mean.reshape(shape)) / np.sqrt(variance.reshape(shape) + epsilon) * \
        gamma.reshape(shape) + beta.reshape(shape)


@pytest.mark.parametrize("shape,axis", [((8, 5), -1), ((4, 3, 3, 2), -1), ((4, 3, 5), 1)])
def test_batch_norm_training_uses_batch_moments_and_moves_the_moving_ones(shape, axis):
    brisknn.backend.set_floatx("float64")
    x = np.random.default_rng(0).normal(2.0, 3.0, size=shape)
    bn = layers.BatchNormalization(axis=axis, momentum=0.9, gamma_initializer="random_normal",
                                   beta_initializer="random_normal")
    bn(x)
    gamma, beta, mean0, var0 = bn.get_weights()
    reduce = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    mean, variance = x.mean(axis=reduce), x.var(axis=reduce)  # biased, as Keras 3
    np.testing.assert_allclose(bn(x, training=True).numpy(),
                               _reference(x, mean, variance, gamma, beta, axis % x.ndim),
                               rtol=1e-10)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.9 * mean0 + 0.1 * mean)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 * var0 + 0.1 * variance)
    np.testing.assert_allclose(bn(x).numpy(), _reference(  # inference: the moving moments
        x, bn.moving_mean.numpy(), bn.moving_variance.numpy(), gamma, beta, axis % x.ndim),
        rtol=1e-10)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("axis,center,scale", [(-1, True, True), (1, True, True),
                                               (-1, False, True), (1, True, False)])
def test_batch_norm_backward_matches_finite_differences(training, axis, center, scale):
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 3, 4))
    bn = layers.BatchNormalization(axis=axis, momentum=0.0, center=center, scale=scale,
                                   gamma_initializer="random_normal",
                                   beta_initializer="random_normal")
    bn(x)
    channels = x.shape[axis]
    bn.moving_mean.assign(rng.normal(size=channels))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, size=channels))
    weights = rng.normal(size=x.shape)
    stats = [v.numpy() for v in (bn.moving_mean, bn.moving_variance)]

    def loss():
        for var, value in zip((bn.moving_mean, bn.moving_variance), stats):
            var.assign(value)  # momentum 0 keeps nothing between calls, but be explicit
        return float((bn.forward(x, training=training) * weights).sum())

    for var in bn.weights:
        var.grad.fill(0)
    loss()
    dx = bn.backward(weights)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-9)
    for var in bn.trainable_weights:
        np.testing.assert_allclose(var.grad, numeric_grad(loss, var.value), rtol=1e-6,
                                   atol=1e-9)


def test_frozen_batch_norm_runs_in_inference_mode_as_keras_3_transfer_learning():
    # Keras 3: trainable=False on BatchNormalization means inference mode, even in fit.
    rng = np.random.default_rng(2)
    x, y = rng.normal(3.0, 2.0, (32, 4)).astype(np.float32), rng.normal(size=(32, 1))
    base = models.Sequential([layers.Input((4,)), layers.Dense(6), layers.BatchNormalization()])
    base.trainable = False
    model = models.Sequential([base, layers.Dense(1)])
    model.compile(optimizers.SGD(0.01), "mse")
    frozen = base.get_weights()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(frozen, base.get_weights()):  # moving statistics included
        np.testing.assert_array_equal(a, b)
    bn = base.layers[1]
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert len(bn.non_trainable_weights) == 4
    base.trainable = True
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    model.compile(optimizers.SGD(0.01), "mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not np.array_equal(frozen[4], bn.moving_mean.numpy())
    lines = []
    model.summary(print_fn=lines.append)
    assert "Non-trainable params: 12 (48.00 B)" in lines[0]  # the moving statistics


def test_batch_norm_config_and_refusals_follow_keras():
    bn = layers.BatchNormalization(axis=1, momentum=0.8, epsilon=1e-5, center=False)
    again = layers.BatchNormalization.from_config(bn.get_config())
    assert (again.axis, again.momentum, again.epsilon, again.center) == (1, 0.8, 1e-5, False)
    again(np.ones((2, 3, 4), np.float32))
    assert [w.name for w in again.weights] == ["gamma", "moving_mean", "moving_variance"]
    with pytest.raises(ValueError, match="synchronized=True"):
        layers.BatchNormalization(synchronized=True)
    assert layers.BatchNormalization.from_config(layers.BatchNormalization(
        gamma_constraint="non_neg").get_config()).gamma_constraint.get_config() == {}
    masked = models.Sequential([layers.Embedding(5, 3, mask_zero=True),
                                layers.BatchNormalization()])
    with pytest.raises(NotImplementedError, match="masked steps"):
        masked(np.array([[1, 2, 0]]), training=True)


def _numpy_batch_norm(x3, dy3, gamma, epsilon=1e-3):
    """The kernels' results in NumPy on x viewed as (outer, channels, inner), float64."""
    axes = (0, 2)
    mean, variance = x3.mean(axis=axes), x3.var(axis=axes)
    inv = 1 / np.sqrt(variance + epsilon)
    x_hat = (x3 - mean[:, None]) * inv[:, None]
    y = x_hat * gamma[:, None] + 0.5
    dx_hat = dy3 * gamma[:, None]
    dx = (dx_hat - dx_hat.mean(axis=axes)[:, None] -
          x_hat * (dx_hat * x_hat).mean(axis=axes)[:, None]) * inv[:, None]
    return mean, variance, y, dx, (dy3 * x_hat).sum(axis=axes), dy3.sum(axis=axes)


@pytest.mark.parametrize("shape", [(3000, 24, 1), (64, 5, 300), (7, 3, 2),
                                   (3, 20000, 1), (4, 3, 6000)])  # rows wider than a chunk
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_kernels_match_numpy_and_not_the_thread_count(shape, dtype):
    rng = np.random.default_rng(2)
    x = (rng.normal(size=shape) * 3 + 1).astype(dtype)
    dy = rng.normal(size=shape).astype(dtype)
    gamma = rng.normal(size=shape[1]).astype(dtype)
    beta = np.full(shape[1], 0.5, dtype)
    expected = _numpy_batch_norm(x.astype(np.float64), dy.astype(np.float64),
                                 gamma.astype(np.float64))
    results = []
    for threads in (1, 2, 3):
        brisknn.set_num_threads(threads)
        try:
            mean, variance = np.empty(shape[1], dtype), np.empty(shape[1], dtype)
            _core.batch_norm_moments(x, mean, variance)
            inv = (1 / np.sqrt(variance + dtype(1e-3))).astype(dtype)
            y, dx = np.empty_like(x), np.empty_like(x)
            dgamma, dbeta = np.zeros(shape[1], dtype), np.zeros(shape[1], dtype)
            _core.batch_norm_forward(x, mean, inv, gamma, beta, y)
            _core.batch_norm_backward(dy, x, mean, inv, gamma, dx, dgamma, dbeta, True)
        finally:
            brisknn.set_num_threads(2)
        results.append((mean, variance, y, dx, dgamma, dbeta))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for got, want in zip(results[0], expected):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_batch_norm_variance_of_a_large_mean_is_exact():
    # Sums of squares about zero would lose the spread of 1e4 + N(0, 1e-2) in float32 and
    # cancel in double; the kernel sums about the channel's first element.
    rng = np.random.default_rng(3)
    x = (1e4 + rng.normal(scale=1e-2, size=(5000, 2, 1))).astype(np.float32)
    mean, variance = np.empty(2, np.float32), np.empty(2, np.float32)
    _core.batch_norm_moments(x, mean, variance)
    exact = x.astype(np.float64).var(axis=(0, 2))
    np.testing.assert_allclose(variance, exact, rtol=1e-6)


def test_batch_norm_kernels_refuse_bad_arguments():
    x = np.zeros((4, 3, 2), np.float32)
    vec = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"batch_norm_moments: mean has shape \(2,\), "
                                         r"expected \(3,\)"):
        _core.batch_norm_moments(x, np.zeros(2, np.float32), vec.copy())
    with pytest.raises(TypeError, match="batch_norm_forward: mean has dtype float64"):
        _core.batch_norm_forward(x, np.zeros(3), vec, None, None, np.empty_like(x))
    with pytest.raises(ValueError, match=r"batch_norm_forward: x must have rank 3, got shape \(4, 3\)"):
        _core.batch_norm_forward(x[:, :, 0], vec, vec, None, None, np.empty((4, 3), np.float32))
    with pytest.raises(ValueError, match="share memory"):
        _core.batch_norm_backward(x, x, vec, vec, None, None, vec, None, True)
    with pytest.raises(ValueError, match=r"dx has shape \(4, 3, 1\)"):
        _core.batch_norm_backward(x, x, vec, vec.copy(), None, np.zeros((4, 3, 1), np.float32),
                                  None, None, True)


def test_batch_norm_kernels_refuse_one_array_as_two_outputs_and_shifted_aliases():
    x = np.random.default_rng(4).normal(size=(4, 3, 5))
    both = np.empty(3)
    with pytest.raises(ValueError, match="batch_norm_moments: mean and variance share memory"):
        _core.batch_norm_moments(x, both, both)  # the variance would overwrite the mean
    mean, inv = np.full(3, 0.5), np.full(3, 2.0)
    flat = np.random.default_rng(5).normal(size=x.size + 5)
    for xs, ys in ((flat[:-5], flat[5:]), (flat[5:], flat[:-5])):
        with pytest.raises(ValueError, match="batch_norm_forward: (x and y|y and x) share memory"):
            _core.batch_norm_forward(xs.reshape(x.shape), mean, inv, None, None,
                                     ys.reshape(x.shape))
    in_place = x.copy()  # y may be x itself
    _core.batch_norm_forward(in_place, mean, inv, None, None, in_place)
    np.testing.assert_array_equal(in_place, (x - 0.5) * 2.0)


@pytest.mark.parametrize("axis,shape", [(-1, (6, 3)), (1, (6, 3, 4))])
def test_batch_norm_of_a_large_mean_keeps_the_spread_in_float32(axis, shape):
    # (x - mean) * scale + beta, as PyTorch: x * scale + (beta - mean * scale) would cancel
    # two products of 1e4 * 30 in float32, each rounded by up to 0.016, on outputs of 0.3.
    # x - mean is exact here: what is left is the float32 rounding of the mean itself.
    rng = np.random.default_rng(6)
    x = (1e4 + rng.normal(scale=1e-2, size=shape)).astype(np.float32)
    x[:, 1] = np.float32(1234.5)  # a constant channel normalizes to beta exactly
    dy = rng.normal(size=shape).astype(np.float32)
    bn = layers.BatchNormalization(axis=axis, beta_initializer="random_normal")
    bn(x)
    y = bn.forward(x, training=True)
    dx = bn.backward(dy)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    reduce = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    shape_c = [1] * x.ndim
    shape_c[axis] = -1
    mean = x64.mean(axis=reduce, keepdims=True).astype(np.float32).astype(np.float64)
    centered = x64 - mean
    inv = 1 / np.sqrt(x64.var(axis=reduce, keepdims=True) + 1e-3)
    beta = bn.beta.numpy().astype(np.float64).reshape(shape_c)
    n = x.size // x.shape[axis]
    want_dx = inv * (dy64 - dy64.mean(axis=reduce, keepdims=True) - centered * inv ** 2 *
                     (dy64 * centered).sum(axis=reduce, keepdims=True) / n)
    np.testing.assert_allclose(y, centered * inv + beta, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(np.take(y, 1, axis=axis),
                                  np.broadcast_to(bn.beta.numpy()[1], np.take(y, 1, axis).shape))
    if x.ndim == 2:  # one sample of features: every channel is constant
        one = bn.forward(x[:1], training=True)
        np.testing.assert_array_equal(one, bn.beta.numpy()[None, :])


def test_batch_norm_called_on_an_empty_batch_gives_an_empty_output():
    bn = layers.BatchNormalization(axis=1)
    bn(np.ones((2, 3, 4), np.float32))
    assert bn(np.zeros((0, 3, 4), np.float32)).shape == (0, 3, 4)
