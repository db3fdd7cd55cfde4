import numpy as np
import pytest

import brisknn
from brisknn import layers, models, optimizers
from conftest import numeric_grad


def test_upsampling2d_repeats_rows_and_columns_as_keras_docstring():
    # keras/src/layers/reshaping/up_sampling2d.py's example: size=(1, 2) on (2, 2, 1, 3).
    x = np.arange(12).reshape(2, 2, 1, 3).astype(np.float32)
    y = layers.UpSampling2D(size=(1, 2))(x).numpy()
    np.testing.assert_array_equal(y, np.repeat(x, 2, axis=2))
    assert y[0, 1].tolist() == [[3, 4, 5], [3, 4, 5]]
    square = layers.UpSampling2D(3, data_format="channels_first")
    out = square(x).numpy()  # (batch, channels=2, rows=1, cols=3) -> rows and cols x3
    assert out.shape == (2, 2, 3, 9)
    np.testing.assert_array_equal(out, np.repeat(np.repeat(x, 3, axis=2), 3, axis=3))
    assert square.compute_output_shape((None, 2, None, 3)) == (None, 2, None, 9)
    again = layers.UpSampling2D.from_config(square.get_config())
    assert again.size == (3, 3) and again.data_format == "channels_first"
    with pytest.raises(NotImplementedError, match="interpolation='bilinear'"):
        layers.UpSampling2D(interpolation="bilinear")
    with pytest.raises(ValueError, match="expects input of rank 4"):
        layers.UpSampling2D()(np.ones((2, 3, 4)))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_upsampling2d_backward_matches_finite_differences(data_format):
    brisknn.backend.set_floatx("float64")
    x = np.random.default_rng(0).normal(size=(2, 3, 2, 2))
    layer = layers.UpSampling2D((2, 3), data_format=data_format)
    weights = np.random.default_rng(1).normal(size=layer(x).shape)

    def loss():
        return float((layer.forward(x) * weights).sum())

    np.testing.assert_allclose(layer.backward(weights), numeric_grad(loss, x), rtol=1e-7)


def test_gan_generator_with_upsampling_trains_through_a_frozen_discriminator():
    # Keras' classic recipe with a convolutional generator: Dense -> Reshape -> UpSampling2D
    # -> Conv2D; the combined model moves the generator only.
    generator = models.Sequential([layers.Input((4,)), layers.Dense(2 * 2 * 3, activation="relu"),
                                   layers.Reshape((2, 2, 3)), layers.UpSampling2D(),
                                   layers.Conv2D(1, 3, padding="same", activation="tanh")])
    discriminator = models.Sequential([layers.Input((4, 4, 1)), layers.Flatten(),
                                       layers.Dense(1, activation="sigmoid")])
    discriminator.compile(optimizers.Adam(0.01), "binary_crossentropy")
    discriminator.trainable = False
    gan = models.Sequential([generator, discriminator])
    gan.compile(optimizers.Adam(0.01), "binary_crossentropy")
    noise = np.random.default_rng(2).normal(size=(8, 4))
    assert generator.predict(noise, verbose=0).shape == (8, 4, 4, 1)
    frozen, before = discriminator.get_weights(), generator.get_weights()
    losses = [gan.train_on_batch(noise, np.ones((8, 1))) for _ in range(20)]
    assert losses[-1] < losses[0]
    for a, b in zip(frozen, discriminator.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert all(not np.array_equal(a, b) for a, b in zip(before, generator.get_weights()))
