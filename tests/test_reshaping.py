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


def test_zero_padding2d_follows_keras_arguments_and_gradient():
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)  # Keras' docstring example
    y = layers.ZeroPadding2D(padding=1)(x).numpy()
    assert y.shape == (1, 3, 4, 2) and y.sum() == x.sum()
    assert y[0, 1, 1:3].tolist() == x[0, 0].tolist()
    asym = layers.ZeroPadding2D(((0, 1), (2, 0)))
    out = asym(np.ones((2, 3, 3, 1), np.float32)).numpy()
    assert out.shape == (2, 4, 5, 1) and out[:, 3].sum() == 0 and out[:, :, :2].sum() == 0
    first = layers.ZeroPadding2D((1, 2), data_format="channels_first")
    assert first.compute_output_shape((None, 3, 4, None)) == (None, 3, 6, None)
    assert layers.ZeroPadding2D.from_config(asym.get_config()).padding == ((0, 1), (2, 0))
    dy = np.random.default_rng(0).normal(size=out.shape)
    np.testing.assert_array_equal(asym.backward(dy), dy[:, 0:3, 2:5])
    for bad in (-1, (1, 2, 3), "same"):
        with pytest.raises(ValueError, match="padding"):
            layers.ZeroPadding2D(bad)


def test_keras_gan_recipe_with_batch_norm_upsampling_and_zero_padding_runs():
    # The classic Keras DCGAN (Keras-GAN's dcgan.py) at 12x12: the generator upsamples with
    # UpSampling2D + Conv2D + BatchNormalization(momentum=0.8); the discriminator pads with
    # ZeroPadding2D and uses LeakyReLU(alpha=0.2) and Dropout. Trained with the toggling form.
    generator = models.Sequential([
        layers.Input((8,)), layers.Dense(16 * 3 * 3, activation="relu"),
        layers.Reshape((3, 3, 16)), layers.UpSampling2D(), layers.Conv2D(8, 3, padding="same"),
        layers.BatchNormalization(momentum=0.8), layers.Activation("relu"),
        layers.UpSampling2D(), layers.Conv2D(1, 3, padding="same"), layers.Activation("tanh")])
    with pytest.warns(UserWarning, match="alpha"):
        discriminator = models.Sequential([
            layers.Input((12, 12, 1)), layers.Conv2D(8, 3, strides=2, padding="same"),
            layers.LeakyReLU(alpha=0.2), layers.Dropout(0.25),
            layers.Conv2D(16, 3, strides=2, padding="same"),
            layers.ZeroPadding2D(padding=((0, 1), (0, 1))),
            layers.BatchNormalization(momentum=0.8), layers.LeakyReLU(alpha=0.2),
            layers.Flatten(), layers.Dense(1, activation="sigmoid")])
    discriminator.compile(optimizers.Adam(0.0002, 0.5), "binary_crossentropy",
                          metrics=["accuracy"])
    discriminator.trainable = False
    combined = models.Sequential([generator, discriminator])
    combined.compile(optimizers.Adam(0.0002, 0.5), "binary_crossentropy")
    rng = np.random.default_rng(3)
    real = np.tanh(rng.normal(size=(8, 12, 12, 1))).astype(np.float32)
    for _ in range(2):
        noise = rng.normal(size=(8, 8))
        fake = generator.predict(noise, verbose=0)
        discriminator.trainable = True
        before = discriminator.get_weights()
        d_real = discriminator.train_on_batch(real, np.ones((8, 1)))
        d_fake = discriminator.train_on_batch(fake, np.zeros((8, 1)))
        assert not np.array_equal(before[0], discriminator.get_weights()[0])
        discriminator.trainable = False
        frozen, gen_before = discriminator.get_weights(), generator.get_weights()
        g_loss = combined.train_on_batch(noise, np.ones((8, 1)))
        for a, b in zip(frozen, discriminator.get_weights()):  # BN statistics too
            np.testing.assert_array_equal(a, b)
        assert not np.array_equal(gen_before[0], generator.get_weights()[0])
        assert np.isfinite([d_real[0], d_fake[0], g_loss]).all()
