import numpy as np
import pytest

import brisknn
from brisknn import layers, models
from conftest import numeric_grad

RNNS = [layers.SimpleRNN, layers.LSTM, layers.GRU]
MERGES = {"concat": lambda a, b: np.concatenate([a, b], -1), "sum": lambda a, b: a + b,
          "ave": lambda a, b: (a + b) / 2, "mul": lambda a, b: a * b}


def _pair(cls, return_sequences, rng):
    """A Bidirectional and, with the same weights, its two halves as stand-alone layers."""
    bi = layers.Bidirectional(cls(3, return_sequences=return_sequences,
                                  bias_initializer="random_normal"))
    x = rng.normal(size=(2, 5, 4))
    bi(x)
    weights = bi.get_weights()
    half = len(weights) // 2
    forward = cls(3, return_sequences=return_sequences)
    backward = cls(3, return_sequences=return_sequences, go_backwards=True)
    forward(x), backward(x)
    forward.set_weights(weights[:half])
    backward.set_weights(weights[half:])
    return bi, forward, backward, x


@pytest.mark.parametrize("cls", RNNS)
@pytest.mark.parametrize("merge_mode", sorted(MERGES))
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_merges_a_forward_and_a_flipped_backward_pass(cls, merge_mode,
                                                                    return_sequences):
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(0)
    bi, forward, backward, x = _pair(cls, return_sequences, rng)
    bi.merge_mode = merge_mode
    y_rev = backward(x).numpy()
    if return_sequences:  # Keras flips the backward sequence back to input order
        y_rev = y_rev[:, ::-1]
    expected = MERGES[merge_mode](forward(x).numpy(), y_rev)
    np.testing.assert_allclose(bi(x).numpy(), expected, rtol=1e-12)
    assert bi.compute_output_shape((None, 5, 4)) == (None,) + expected.shape[1:]


@pytest.mark.parametrize("cls", RNNS)
@pytest.mark.parametrize("merge_mode", ["concat", "mul"])
def test_bidirectional_backward_matches_finite_differences(cls, merge_mode):
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(1)
    bi = layers.Bidirectional(cls(2, return_sequences=True, bias_initializer="random_normal"),
                              merge_mode=merge_mode)
    x = rng.normal(size=(2, 4, 3))
    mask = np.array([[True, True, True, False], [False, True, True, True]])
    bi(x)
    weights = rng.normal(size=bi.compute_output_shape((2, 4, 3)))

    def loss():
        return float((bi.forward(x, training=True, mask=mask) * weights).sum())

    for var in bi.weights:
        var.grad.fill(0)
    bi.forward(x, training=True, mask=mask)
    dx = bi.backward(weights)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-9)
    for var in bi.weights:
        np.testing.assert_allclose(var.grad, numeric_grad(loss, var.value), rtol=1e-6,
                                   atol=1e-9)


def test_bidirectional_follows_keras_naming_config_and_errors():
    lstm = layers.LSTM(4, return_sequences=True, name="enc")
    bi = layers.Bidirectional(lstm)
    assert (bi.forward_layer.name, bi.backward_layer.name) == ("forward_enc", "backward_enc")
    assert bi.backward_layer.go_backwards and not bi.forward_layer.go_backwards
    assert bi.forward_layer.zero_output_for_mask  # forced with return_sequences, as Keras
    model = models.Sequential([layers.Input((5, 3)), bi, layers.Dense(1)])
    assert [w.shape for w in bi.weights] == [(3, 16), (4, 16), (16,)] * 2
    assert model.output_shape == (None, 5, 1) and bi.count_params() == 2 * (48 + 64 + 16)
    again = layers.Bidirectional.from_config(bi.get_config())
    assert again.get_config()["layer"]["config"]["name"] == "forward_enc"
    bi.trainable = False
    assert bi.trainable_weights == [] and not bi.backward_layer.trainable
    weights = [np.full(w.shape, i, np.float32) for i, w in enumerate(bi.weights)]
    given = layers.Bidirectional(layers.LSTM(4), weights=weights)
    given(np.zeros((1, 5, 3), np.float32))
    assert given.forward_layer.get_weights()[0].flat[0] == 0  # first half forward
    assert given.backward_layer.get_weights()[0].flat[0] == 3
    with pytest.raises(NotImplementedError, match="merge_mode=None"):
        layers.Bidirectional(layers.LSTM(2), merge_mode=None)
    with pytest.raises(ValueError, match="Invalid merge mode"):
        layers.Bidirectional(layers.LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="has no `go_backwards`"):
        layers.Bidirectional(layers.Dense(2))
    with pytest.raises(ValueError, match="different `go_backwards`"):
        layers.Bidirectional(layers.LSTM(2), backward_layer=layers.LSTM(2))


def test_bidirectional_lstm_learns_a_direction_dependent_task():
    # Slide 15's stack with a Bidirectional LSTM: is the first non-padding token larger than
    # the last? Pre-padded ids, masked; both directions are needed to see both ends.
    rng = np.random.default_rng(2)
    ids = rng.integers(1, 10, (256, 7))
    for row, pad in zip(ids, rng.integers(0, 4, 256)):
        row[:pad] = 0
    first = np.array([row[row > 0][0] for row in ids])
    y = (first > ids[:, -1]).astype(np.float32)
    model = models.Sequential([layers.Embedding(10, 8, mask_zero=True),
                               layers.Bidirectional(layers.LSTM(8)),
                               layers.Dense(1, activation="sigmoid")])
    model.compile(brisknn.optimizers.Adam(0.02), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(ids, y, epochs=25, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.9


# -- TimeDistributed ------------------------------------------------------------------------------
def test_time_distributed_keras_docstring_conv2d_shapes_and_per_step_values():
    # Keras: TimeDistributed(Conv2D(64, (3, 3))) on (None, 10, 128, 128, 3) -> (None, 10, 126,
    # 126, 64); smaller here.
    rng = np.random.default_rng(20)
    x = rng.normal(size=(2, 10, 8, 8, 3)).astype(np.float32)
    conv = layers.Conv2D(4, (3, 3))
    td = layers.TimeDistributed(conv)
    y = td(x)
    assert y.shape == (2, 10, 6, 6, 4)
    assert td.compute_output_shape((None, 10, 8, 8, 3)) == (None, 10, 6, 6, 4)
    alone = layers.Conv2D(4, (3, 3))
    alone(x[:, 0])
    alone.set_weights(conv.get_weights())
    for t in range(10):
        np.testing.assert_allclose(y[:, t], alone(x[:, t]), rtol=1e-5, atol=1e-5)


def test_time_distributed_dense_matches_numpy_and_shares_the_inner_weights():
    rng = np.random.default_rng(21)
    x = rng.normal(size=(32, 10, 16)).astype(np.float32)
    dense = layers.Dense(8, activation="relu", bias_initializer="random_normal")
    td = layers.TimeDistributed(dense)
    y = td(x).numpy()
    kernel, bias = dense.get_weights()
    assert y.shape == (32, 10, 8) and y.dtype == np.float32
    np.testing.assert_allclose(y, np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-5)
    assert td.weights == dense.weights and [w.shape for w in td.get_weights()] == [(16, 8), (8,)]
    assert td.count_params() == dense.count_params() == 136
    td.trainable = False
    assert td.trainable_weights == [] and not dense.trainable
    assert td.non_trainable_weights == dense.weights


@pytest.mark.parametrize("inner", ["dense", "conv"])
def test_time_distributed_backward_matches_finite_differences(inner):
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(22)
    if inner == "dense":
        layer, x = layers.Dense(3, activation="tanh"), rng.normal(size=(2, 4, 5))
    else:
        layer, x = layers.Conv2D(2, 2, activation="sigmoid"), rng.normal(size=(2, 3, 4, 4, 2))
    td = layers.TimeDistributed(layer)
    y = td(x)
    dy = rng.normal(size=y.shape)

    def loss():
        return float((td.forward(x) * dy).sum())
    for var in td.weights:
        var.grad.fill(0)
    td.forward(x)
    dx = td.backward(dy)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-9)
    for var in td.weights:
        np.testing.assert_allclose(var.grad, numeric_grad(loss, var.value), rtol=1e-6,
                                   atol=1e-9)


def test_time_distributed_config_nests_the_inner_layer_as_keras():
    td = layers.TimeDistributed(layers.Dense(3, activation="relu", name="head"), name="per_step")
    config = td.get_config()
    assert config["name"] == "per_step"
    assert config["layer"]["class_name"] == "Dense"
    assert config["layer"]["config"]["name"] == "head"
    assert config["layer"]["config"]["units"] == 3
    clone = layers.TimeDistributed.from_config(config)
    assert isinstance(clone.layer, layers.Dense) and clone.get_config() == config
    assert layers.TimeDistributed(layers.Dense(1)).name.startswith("time_distributed")


def test_time_distributed_in_a_sequential_trains_and_round_trips(tmp_path):
    rng = np.random.default_rng(23)
    x = rng.normal(size=(64, 5, 3)).astype(np.float32)
    y = x @ np.array([[1.], [-2.], [0.5]], dtype=np.float32)
    model = models.Sequential([layers.Input((5, 3)), layers.TimeDistributed(layers.Dense(1))])
    assert model.output_shape == (None, 5, 1)
    model.compile(brisknn.optimizers.Adam(0.05), "mse")
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.05 * history.history["loss"][0]
    path = tmp_path / "td.keras"
    model.save(path)
    loaded = brisknn.models.load_model(path)
    assert loaded.get_config() == model.get_config()
    assert loaded.predict(x, verbose=0).tobytes() == model.predict(x, verbose=0).tobytes()


def test_time_distributed_passes_the_mask_through_unchanged():
    model = models.Sequential([layers.Input((None,)), layers.Embedding(10, 3, mask_zero=True),
                               layers.TimeDistributed(layers.Dense(4)), layers.LSTM(2)])
    padded = np.array([[4, 2, 7, 0, 0, 0]])
    np.testing.assert_allclose(model.predict(padded, verbose=0),
                               model.predict(padded[:, :3], verbose=0), rtol=1e-6, atol=1e-7)
    td = model.layers[1]
    mask = padded != 0
    assert td.compute_mask(None, mask) is mask
    with pytest.raises(ValueError, match="should be passed a `mask` of shape"):
        td.forward(np.zeros((1, 6, 3), np.float32), mask=np.ones((1, 5), bool))


def test_time_distributed_dropout_draws_independent_masks_per_step():
    td = layers.TimeDistributed(layers.Dropout(0.5, seed=3))
    y = td(np.ones((4, 6, 50), np.float32), training=True).numpy()
    assert not all(np.array_equal(y[:, 0], y[:, t]) for t in range(1, 6))
    np.testing.assert_array_equal(td(np.ones((4, 6, 50), np.float32)), 1)  # inference: identity


def test_time_distributed_errors_are_clear():
    with pytest.raises(ValueError, match="Please initialize `TimeDistributed` layer"):
        layers.TimeDistributed("dense")
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        layers.TimeDistributed(layers.Dense(2))(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="return_state"):
        layers.TimeDistributed(layers.LSTM(2, return_state=True))
