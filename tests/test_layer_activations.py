import numpy as np
import pytest

import brisknn
from brisknn import layers, models, optimizers
from conftest import numeric_grad


def test_leaky_relu_layer_uses_keras_3_default_slope_and_arguments():
    x = np.array([[-2.0, -0.5, 0.0, 3.0]], np.float32)
    np.testing.assert_allclose(layers.LeakyReLU()(x).numpy(), [[-0.6, -0.15, 0.0, 3.0]],
                               rtol=1e-6)  # Keras 3's layer default 0.3
    np.testing.assert_allclose(layers.LeakyReLU(negative_slope=0.1)(x).numpy(),
                               np.where(x >= 0, x, 0.1 * x), rtol=1e-6)
    with pytest.warns(UserWarning, match="`alpha` is deprecated"):
        legacy = layers.LeakyReLU(alpha=0.2)
    assert legacy.negative_slope == pytest.approx(0.2)
    config = legacy.get_config()
    assert "activation" not in config and config["negative_slope"] == pytest.approx(0.2)
    assert layers.LeakyReLU.from_config(config).negative_slope == pytest.approx(0.2)
    with pytest.raises(ValueError, match="cannot be None or negative"):
        layers.LeakyReLU(negative_slope=-1)


def test_leaky_relu_layer_backward_matches_finite_differences():
    brisknn.backend.set_floatx("float64")
    x = np.random.default_rng(0).normal(size=(3, 4))
    layer = layers.LeakyReLU(negative_slope=0.25)
    layer(x)
    weights = np.random.default_rng(1).normal(size=(3, 4))

    def loss():
        return float((layer.forward(x) * weights).sum())

    layer.forward(x)
    np.testing.assert_allclose(layer.backward(weights), numeric_grad(loss, x), rtol=1e-7)


def test_gan_discriminator_with_leaky_relu_trains_on_its_own_step():
    # Keras' GAN recipe: Dense -> LeakyReLU(0.2) discriminator, toggled trainable around the
    # combined step.
    rng = np.random.default_rng(2)
    disc = models.Sequential([layers.Input((2,)), layers.Dense(8), layers.LeakyReLU(0.2),
                              layers.Dense(1, activation="sigmoid")])
    disc.compile(optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    real = rng.normal(3.0, 0.5, (32, 2))
    fake = rng.normal(-3.0, 0.5, (32, 2))
    x, y = np.concatenate([real, fake]), np.r_[np.ones(32), np.zeros(32)]
    for _ in range(30):
        loss, accuracy = disc.train_on_batch(x, y)
    assert accuracy == 1.0 and loss < 0.1
