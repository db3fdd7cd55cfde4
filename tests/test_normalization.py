import numpy as np
import pytest

import brisknn
from brisknn import layers, models, optimizers
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
def test_batch_norm_backward_matches_finite_differences(training):
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 2, 3))
    bn = layers.BatchNormalization(momentum=0.0, gamma_initializer="random_normal",
                                   beta_initializer="random_normal")
    bn(x)
    bn.moving_mean.assign(rng.normal(size=3))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, size=3))
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
    for var in (bn.gamma, bn.beta):
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
