"""Conv1D, MaxPooling1D and AveragePooling1D: (batch, steps, channels) layers run on the 2-D
kernels as images of height 1, checked against plain NumPy loops over the steps."""
import warnings

import numpy as np
import pytest

import brisknn
from brisknn import layers, models
from conftest import numeric_grad


# -- NumPy references (loops over the output steps) ------------------------------------------
def pads_1d(steps, k, s, padding):
    """(output steps, zeros before, zeros after) as Keras pads: TF's 'same' puts the odd step
    at the end; 'causal' puts k - 1 zeros before and then slides as 'valid'."""
    if padding == "valid":
        return (steps - k) // s + 1, 0, 0
    if padding == "causal":
        return (steps - 1) // s + 1, k - 1, 0
    out = -(-steps // s)
    total = max((out - 1) * s + k - steps, 0)
    return out, total // 2, total - total // 2


def conv1d_ref(x, kernel, bias, s, padding):
    k = kernel.shape[0]
    out, before, after = pads_1d(x.shape[1], k, s, padding)
    xp = np.pad(x.astype(np.float64), ((0, 0), (before, after), (0, 0)))
    y = np.zeros((x.shape[0], out, kernel.shape[2]))
    for t in range(out):
        y[:, t] = np.einsum("bkc,kcf->bf", xp[:, t * s:t * s + k], kernel) + bias
    return y


def pool1d_ref(x, p, s, padding, reduce):
    out, before, after = pads_1d(x.shape[1], p, s, padding)
    xp = np.pad(x.astype(np.float64), ((0, 0), (before, after), (0, 0)),
                constant_values=np.nan)  # padding: never a maximum, not counted in a mean
    y = np.zeros((x.shape[0], out, x.shape[2]))
    for t in range(out):
        y[:, t] = reduce(xp[:, t * s:t * s + p], axis=1)
    return y


POOLS = [(layers.MaxPooling1D, np.nanmax), (layers.AveragePooling1D, np.nanmean)]


def _x(shape, dtype, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


# -- forward ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("strides", [1, 2, 3])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 5])
def test_conv1d_forward_matches_numpy_loops(kernel_size, strides, padding, dtype):
    brisknn.backend.set_floatx(np.dtype(dtype).name)
    x = _x((3, 9, 4), dtype)
    layer = layers.Conv1D(5, kernel_size, strides=strides, padding=padding,
                          bias_initializer="random_normal")
    y = layer(x).numpy()
    kernel, bias = layer.get_weights()
    assert kernel.shape == (kernel_size, 4, 5) and bias.shape == (5,)
    expected = conv1d_ref(x, kernel, bias, strides, padding)
    assert y.dtype == dtype and y.shape == expected.shape == layer.compute_output_shape(x.shape)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


def test_causal_output_step_sees_only_its_past():
    x = _x((1, 8, 2), np.float64)
    layer = layers.Conv1D(3, 4, padding="causal", dtype="float64")
    y = layer(x).numpy()
    x2 = x.copy()
    x2[:, 5:] += 1.0  # change the future of step 4
    y2 = layer(x2).numpy()
    np.testing.assert_array_equal(y[:, :5], y2[:, :5])
    assert not np.allclose(y[:, 5:], y2[:, 5:])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool_size,strides", [(1, None), (2, None), (3, None), (2, 1), (3, 2),
                                               (2, 3), (4, 3)])
@pytest.mark.parametrize("cls,reduce", POOLS)
def test_pooling1d_forward_matches_numpy_loops(cls, reduce, pool_size, strides, padding, dtype):
    brisknn.backend.set_floatx(np.dtype(dtype).name)
    x = _x((2, 10, 3), dtype)
    layer = cls(pool_size, strides=strides, padding=padding)
    y = layer(x).numpy()
    expected = pool1d_ref(x, pool_size, strides or pool_size, padding, reduce)
    assert y.dtype == dtype and y.shape == expected.shape == layer.compute_output_shape(x.shape)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


def test_pooling1d_defaults_and_aliases_follow_keras():
    assert layers.MaxPool1D is layers.MaxPooling1D
    assert layers.AvgPool1D is layers.AveragePooling1D
    assert layers.Convolution1D is layers.Conv1D
    for cls in (layers.MaxPooling1D, layers.AveragePooling1D):
        layer = cls()
        assert layer.pool_size == (2,) and layer.strides == (2,) and layer.padding == "valid"
        assert cls(3).strides == (3,) and cls(3, 1).strides == (1,)
    assert layers.MaxPooling1D(name="p").get_config() == {
        "name": "p", "trainable": True, "dtype": "float32", "pool_size": (2,), "strides": (2,),
        "padding": "valid", "data_format": "channels_last"}
    assert layers.MaxPooling1D().name.startswith("max_pooling1d")
    assert layers.Conv1D(2, 3).name.startswith("conv1d")


# -- backward against finite differences -----------------------------------------------------
def _check_layer_gradients(layer, x, tol=1e-6):
    """dx and every weight's gradient of sum(r * layer(x)) against central differences."""
    y = layer(x).numpy()
    r = _x(y.shape, np.float64, seed=7)
    for w in layer.weights:
        w.grad[...] = 0
    dx = layer.backward(r.copy())
    loss = lambda: float((layer.forward(x) * r).sum())  # noqa: E731
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=tol, atol=1e-8)
    for w in layer.weights:
        np.testing.assert_allclose(w.grad, numeric_grad(loss, w.value), rtol=tol, atol=1e-8)


@pytest.mark.parametrize("padding,strides,kernel_size,activation", [
    ("valid", 1, 3, None), ("valid", 2, 2, "tanh"), ("same", 1, 4, None),
    ("same", 3, 3, "gelu"), ("causal", 1, 3, "tanh"), ("causal", 2, 4, None),
    ("causal", 3, 1, None)])
def test_conv1d_backward_matches_finite_differences(padding, strides, kernel_size, activation):
    brisknn.backend.set_floatx("float64")
    layer = layers.Conv1D(3, kernel_size, strides=strides, padding=padding,
                          activation=activation, bias_initializer="random_normal")
    _check_layer_gradients(layer, _x((2, 8, 2), np.float64))


def test_conv1d_without_bias_and_frozen_gives_input_gradients_only():
    brisknn.backend.set_floatx("float64")
    layer = layers.Conv1D(3, 3, padding="causal", use_bias=False)
    _check_layer_gradients(layer, _x((2, 6, 2), np.float64))
    assert [w.name for w in layer.weights] == ["kernel"]
    layer.trainable = False
    layer.weights[0].grad[...] = 0
    layer(_x((2, 6, 2), np.float64))
    layer.backward(np.ones((2, 6, 3)))
    assert not layer.weights[0].grad.any()


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool_size,strides", [(2, None), (3, 1), (3, 2), (2, 3)])
@pytest.mark.parametrize("cls", [layers.MaxPooling1D, layers.AveragePooling1D])
def test_pooling1d_backward_matches_finite_differences(cls, pool_size, strides, padding):
    brisknn.backend.set_floatx("float64")
    _check_layer_gradients(cls(pool_size, strides, padding), _x((2, 9, 2), np.float64))


# -- in a model ------------------------------------------------------------------------------
def _motif_data(n, steps=12, vocab=20, seed=0):
    """Token sequences; label 1 when the motif 3, 4 appears somewhere."""
    rng = np.random.default_rng(seed)
    x = rng.integers(5, vocab, (n, steps))
    y = rng.integers(0, 2, n)
    where = rng.integers(0, steps - 1, n)
    x[y == 1, where[y == 1]] = 3
    x[y == 1, where[y == 1] + 1] = 4
    return x, y.astype(np.float32)


def test_a_text_cnn_trains_with_fit_and_its_loss_falls():
    x, y = _motif_data(256)
    model = models.Sequential([
        layers.Input((12,)), layers.Embedding(20, 8, name="tokens"),
        layers.Conv1D(16, 2, activation="relu"),
        layers.GlobalMaxPooling1D(), layers.Dense(1, activation="sigmoid")])
    model.compile(brisknn.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert history.history["accuracy"][-1] > 0.9


def test_conv1d_drops_an_incoming_mask_with_a_warning_as_keras():
    model = models.Sequential([
        layers.Input((6,)), layers.Embedding(10, 4, mask_zero=True, name="masked_tokens"),
        layers.Conv1D(3, 2, padding="causal"), layers.MaxPooling1D(), layers.Flatten(),
        layers.Dense(1)])
    x = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]])
    with pytest.warns(UserWarning, match=r"'conv1d.*\(of type Conv1D\).*destroy the mask"):
        model.predict(x, verbose=0)
    assert model.compute_mask(x) is None
    assert not layers.Conv1D(2, 2).supports_masking
    assert not layers.MaxPooling1D().supports_masking


def _sequence_model():
    return models.Sequential([
        layers.Input((10, 3)), layers.Conv1D(4, 3, padding="causal", activation="relu"),
        layers.MaxPooling1D(), layers.Convolution1D(5, 2, strides=2, padding="same",
                                                    kernel_regularizer="l2"),
        layers.AveragePooling1D(2, padding="same"), layers.MaxPool1D(1), layers.AvgPool1D(1),
        layers.Conv1D(2, 1, use_bias=False), layers.Flatten(), layers.Dense(2)])


def test_save_and_load_keep_predictions_and_config_identical(tmp_path):
    model = _sequence_model()
    model.compile(optimizer="adam", loss="mse")
    x = _x((8, 10, 3), np.float32)
    model.fit(x, np.ones((8, 2), np.float32), epochs=2, batch_size=4, verbose=0)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "seq.keras")
    loaded = models.load_model(tmp_path / "seq.keras")
    assert loaded.get_config() == model.get_config()
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    assert [w.shape for w in loaded.weights] == [w.shape for w in model.weights]
    assert loaded.predict(x, verbose=0).tobytes() == expected.tobytes()


def test_conv1d_config_has_keras_keys_and_round_trips():
    layer = layers.Conv1D(6, 3, strides=2, padding="Causal", activation="relu", use_bias=False,
                          kernel_initializer="random_normal", name="conv")
    config = layer.get_config()
    assert config["kernel_size"] == (3,) and config["strides"] == (2,)
    assert config["dilation_rate"] == (1,) and config["groups"] == 1
    assert config["padding"] == "causal" and config["data_format"] == "channels_last"
    assert {"filters", "activation", "use_bias", "kernel_initializer", "bias_initializer",
            "kernel_regularizer", "bias_regularizer", "kernel_constraint",
            "bias_constraint"} <= set(config)
    assert layers.Conv1D.from_config(config).get_config() == config
    assert layers.Conv1D(2, [4]).kernel_size == (4,)


# -- bad input -------------------------------------------------------------------------------
def test_conv1d_bad_input_names_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"'c1' \(Conv1D\) expects 3-D input \(batch, steps, "
                                         r"channels\), got shape \(None, 5, 5, 1\)"):
        layers.Conv1D(2, 3, name="c1")(np.zeros((2, 5, 5, 1)))
    with pytest.raises(ValueError, match=r"'c2' \(Conv1D\): kernel_size 7 is larger than the "
                                         r"input of shape \(None, 5, 1\)"):
        layers.Conv1D(2, 7, name="c2")(np.zeros((2, 5, 1)))
    layers.Conv1D(2, 7, padding="causal")(np.zeros((2, 5, 1)))  # causal always fits
    layer = layers.Conv1D(2, 3, name="c3")
    layer(np.zeros((2, 5, 1)))
    with pytest.raises(ValueError, match=r"'c3' \(Conv1D\) expects input of shape "
                                         r"\(None, 5, 1\), got \(None, 5, 2\)"):
        layer(np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match=r"'c3' \(Conv1D\).*\(None, 5, 2\) has 2 channels, the "
                                         r"kernel of shape \(3, 1, 2\) expects 1"):
        layer.compute_output_shape((None, 5, 2))
    model = models.Sequential([layers.Input((5, 1)), layers.Conv1D(2, 3, name="c4")])
    with pytest.raises(ValueError, match=r"expects input of shape \(None, 5, 1\), got "
                                         r"\(None, 5, 3\)"):
        model.predict(np.zeros((2, 5, 3)), verbose=0)


def test_conv1d_refuses_what_it_does_not_support_by_name():
    with pytest.raises(ValueError, match=r"Conv1D .*`data_format`.*channels_first.*"
                                         r"channels_last.*'NWC'"):
        layers.Conv1D(2, 3, data_format="NWC")
    with pytest.raises(ValueError, match="`strides > 1` not supported in conjunction with "
                                         "`dilation_rate > 1`"):
        layers.Conv1D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="Conv1D .*number of filters must be evenly divisible "
                                         "by the number of groups. Received: groups=3"):
        layers.Conv1D(2, 3, groups=3)
    with pytest.raises(ValueError, match="padding must be 'valid', 'same' or 'causal'"):
        layers.Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match="kernel_size must be an int or a tuple of 1"):
        layers.Conv1D(2, (3, 3))
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        layers.Conv1D(0, 3)
    # Conv2D keeps its own names
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        layers.Conv2D(2, 3, padding="causal")


@pytest.mark.parametrize("cls", [layers.MaxPooling1D, layers.AveragePooling1D])
def test_pooling1d_bad_input_names_the_layer_and_shapes(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"'p' \({name}\) expects 3-D input \(batch, steps, "
                                         r"channels\), got shape \(None, 6\)"):
        cls(name="p")(np.zeros((2, 6)))
    with pytest.raises(ValueError, match=rf"'q' \({name}\): pool_size 4 is larger than the "
                                         r"input of shape \(None, 3, 2\)"):
        cls(4, name="q")(np.zeros((2, 3, 2)))
    assert cls(4, padding="same")(np.zeros((2, 3, 2))).shape == (2, 1, 2)
    with pytest.raises(ValueError, match="channels_last"):
        cls(data_format="channels_middle")
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        cls(padding="causal")
    with pytest.raises(ValueError, match="pool_size must be an int or a tuple of 1"):
        cls((2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cls(2)(np.zeros((1, 4, 1))).shape == (1, 2, 1)


def test_strided_views_are_accepted_by_forward():
    brisknn.backend.set_floatx("float64")
    x = _x((2, 12, 3), np.float64)
    view = x[:, ::2]
    for layer in (layers.Conv1D(2, 3, padding="same"), layers.MaxPooling1D(),
                  layers.AveragePooling1D(3, 1)):
        layer(view.copy())
        np.testing.assert_array_equal(layer.forward(view), layer.forward(view.copy()))


def test_a_model_with_unknown_steps_runs_sequences_of_any_length():
    model = models.Sequential([
        layers.Input((None,)), layers.Embedding(20, 4, name="any_length_tokens"),
        layers.Conv1D(3, 3, padding="causal"), layers.MaxPooling1D(2, padding="same"),
        layers.Conv1D(2, 2), layers.GlobalMaxPooling1D(), layers.Dense(1)])
    model.compile("adam", "mse")
    assert model.layers[1].output_shape == (None, None, 3)
    rng = np.random.default_rng(0)
    for steps in (7, 12, 3):
        x = rng.integers(0, 20, (5, steps))
        assert model.predict(x, verbose=0).shape == (5, 1)
        assert np.isfinite(model.train_on_batch(x, np.ones((5, 1))))
    with pytest.raises(ValueError, match=r"\(Conv1D\): kernel_size 2 is larger than the input "
                                         r"of shape \(5, 1, 3\)"):
        model.predict(rng.integers(0, 20, (5, 1)), verbose=0)
