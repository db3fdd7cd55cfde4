import numpy as np
import pytest

import brisknn
from brisknn import layers, models
from conftest import numeric_grad


def test_rescaling_maps_uint8_pixels_to_float32_unit_range():
    x = np.random.default_rng(0).integers(0, 256, (4, 5, 5, 3)).astype(np.uint8)
    layer = layers.Rescaling(1. / 255)
    y = layer(x).numpy()
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, x.astype(np.float32) * np.float32(1. / 255))
    assert y.min() >= 0 and y.max() <= 1
    assert layer.weights == [] and layer.count_params() == 0


def test_rescaling_with_offset_follows_keras_formula():
    x = np.array([[0., 127.5, 255.]], dtype=np.float32)
    y = layers.Rescaling(scale=1. / 127.5, offset=-1)(x).numpy()
    np.testing.assert_allclose(y, [[-1., 0., 1.]], atol=1e-7)
    brisknn.backend.set_floatx("float64")
    y64 = layers.Rescaling(0.1, offset=2.0)(np.arange(6.).reshape(2, 3)).numpy()
    assert y64.dtype == np.float64
    np.testing.assert_array_equal(y64, np.arange(6.).reshape(2, 3) * 0.1 + 2.0)
    assert layers.Rescaling(2.0, dtype="float64")(np.ones((1, 2), np.float32)).dtype == \
        np.float64


def test_rescaling_per_channel_scale_and_offset_broadcast_over_the_last_axis():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 3, 3)).astype(np.float32)
    scale, offset = [0.5, 2.0, -1.0], [0.0, 1.0, 2.0]
    y = layers.Rescaling(scale, offset)(x).numpy()
    np.testing.assert_allclose(y, x * np.float32(scale) + np.float32(offset), rtol=1e-7)


@pytest.mark.parametrize("scale, offset", [(0.25, 1.5), ([0.5, -2.0, 3.0], [1.0, 0.0, -1.0])])
def test_rescaling_backward_matches_finite_differences(scale, offset):
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 4, 3))
    dy = rng.normal(size=x.shape)
    layer = layers.Rescaling(scale, offset)
    layer(x)
    dx = layer.backward(dy)

    def loss():
        return float((layer.forward(x) * dy).sum())
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-7, atol=1e-9)
    assert layer.backward(dy, need_dx=False) is None


def test_rescaling_config_round_trip():
    layer = layers.Rescaling(1. / 255, name="scale_pixels")
    config = layer.get_config()
    assert config["scale"] == 1. / 255 and config["offset"] == 0.0
    assert config["name"] == "scale_pixels"
    clone = layers.Rescaling.from_config(config)
    assert clone.get_config() == config
    per_channel = layers.Rescaling(np.array([1., 2.]), offset=np.float32(0.5))
    config = per_channel.get_config()
    assert config["scale"] == [1., 2.] and config["offset"] == 0.5
    assert layers.Rescaling.from_config(config).get_config() == config
    keras_saved = dict(config, scale={"class_name": "__numpy__",
                                      "config": {"value": [1., 2.], "dtype": "float64"}})
    assert layers.Rescaling.from_config(keras_saved).get_config() == config


def test_rescaling_passes_a_mask_on_as_keras():
    mask = np.array([[True, False]])
    assert layers.Rescaling(0.5).compute_mask(None, mask) is mask


def test_rescaling_at_the_start_of_a_cnn_trains_and_matches_prescaled_input():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (16, 6, 6, 1)).astype(np.uint8)
    y = (x.reshape(16, -1).mean(1, keepdims=True) / 255).astype(np.float32)
    model = models.Sequential([layers.Input((6, 6, 1)), layers.Rescaling(1. / 255),
                               layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
                               layers.Dense(1)])
    model.compile("adam", "mse")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    plain = models.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3, activation="relu"),
                               layers.Flatten(), layers.Dense(1)])
    plain.set_weights(model.get_weights())
    scaled = x.astype(np.float32) * np.float32(1. / 255)
    np.testing.assert_array_equal(model.predict(x, verbose=0), plain.predict(scaled, verbose=0))


def test_rescaling_bad_arguments_raise_clearly():
    with pytest.raises(TypeError, match="scale must be a real number"):
        layers.Rescaling("1/255")
    with pytest.raises(TypeError, match="offset must be a real number"):
        layers.Rescaling(1.0, offset=None)
    with pytest.raises(ValueError, match=r"scale of shape \(4,\) does not broadcast"):
        layers.Rescaling([1., 2., 3., 4.])(np.zeros((2, 3), np.float32))
