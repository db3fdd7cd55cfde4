import re

import numpy as np
import pytest

import brisknn
from brisknn import _core, layers, ops
from conftest import numeric_grad

CELLS = ["simple_rnn", "lstm", "gru"]
LAYERS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference(cell, x, kernel, rkernel, bias, input_mask=None, rec_mask=None, act=np.tanh,
              rec_act=_sigmoid, step_mask=None, with_carry=False):
    """Keras 3's cell formulas step by step in NumPy (float64): every hidden state (and with
    with_carry, LSTM's last cell state too). Masks are (count, batch, width) with count 1
    (shared by the gates) or one per gate; step_mask (batch, steps) keeps the states at the
    masked steps, as Keras' RNN does."""
    batch, steps, _ = x.shape
    u = rkernel.shape[0]
    g = GATES[cell]

    def mask(m, j):
        return 1.0 if m is None else m[j if len(m) > 1 else 0]

    def gate_product(inp, m, w, j):
        return (inp * mask(m, j)) @ w[:, j * u:(j + 1) * u]

    h, c, out = np.zeros((batch, u)), np.zeros((batch, u)), []
    for t in range(steps):
        h_prev, c_prev = h, c
        xt = x[:, t]
        px = np.concatenate([gate_product(xt, input_mask, kernel, j) for j in range(g)], 1)
        ph = np.concatenate([gate_product(h, rec_mask, rkernel, j) for j in range(g)], 1)
        if cell == "simple_rnn":
            h = act(px + ph + (0 if bias is None else bias))
        elif cell == "lstm":
            z = px + ph + (0 if bias is None else bias)
            i, f = rec_act(z[:, :u]), rec_act(z[:, u:2 * u])
            cc, o = act(z[:, 2 * u:3 * u]), rec_act(z[:, 3 * u:])
            c = f * c + i * cc
            h = o * act(c)
        else:
            px = px + (0 if bias is None else bias[0])
            ph = ph + (0 if bias is None else bias[1])
            z = rec_act(px[:, :u] + ph[:, :u])
            r = rec_act(px[:, u:2 * u] + ph[:, u:2 * u])
            hh = act(px[:, 2 * u:] + r * ph[:, 2 * u:])
            h = z * h + (1 - z) * hh
        if step_mask is not None:
            keep = step_mask[:, t, None]
            h, c = np.where(keep, h, h_prev), np.where(keep, c, c_prev)
        out.append(h)
    return (np.stack(out, 1), c) if with_carry else np.stack(out, 1)


def _weights(cell, in_dim, units, rng, use_bias=True, scale=0.5):
    g = GATES[cell]
    kernel = rng.normal(size=(in_dim, g * units)) * scale
    rkernel = rng.normal(size=(units, g * units)) * scale
    bias = None
    if use_bias:
        bias = rng.normal(size=(2, g * units) if cell == "gru" else (g * units,)) * 0.3
    return kernel, rkernel, bias


def _masks(count, batch, width, rng, rate=0.3):
    if not count:
        return None
    return (rng.random((count, batch, width)) >= rate) / (1 - rate)


# -- forward against the NumPy reference ----------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("masks", ["none", "shared", "per_gate"])
def test_forward_matches_numpy_step_by_step_reference(cell, dtype, masks):
    rng = np.random.default_rng(0)
    batch, steps, in_dim, units = 5, 7, 6, 9
    count = {"none": 0, "shared": 1, "per_gate": GATES[cell]}[masks]
    x = rng.normal(size=(batch, steps, in_dim))
    kernel, rkernel, bias = _weights(cell, in_dim, units, rng)
    im, rm = _masks(count, batch, in_dim, rng), _masks(count, batch, units, rng)
    expected = reference(cell, x, kernel, rkernel, bias, im, rm)
    cast = [None if a is None else a.astype(dtype) for a in (x, kernel, rkernel, bias, im, rm)]
    got = getattr(ops, cell)(*cast[:4], input_mask=cast[4], recurrent_mask=cast[5])
    assert got.dtype == dtype and got.shape == (batch, steps, units)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("cell", CELLS)
def test_forward_without_bias_and_with_wide_units_matches_reference(cell):
    # 37 units: full vector panels plus a scalar tail in the per-step product.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 4, 3))
    kernel, rkernel, _ = _weights(cell, 3, 37, rng, scale=0.2)
    got = getattr(ops, cell)(x, kernel, rkernel, None)
    np.testing.assert_allclose(got, reference(cell, x, kernel, rkernel, None), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "linear"])
def test_simple_rnn_other_activations_match_reference(activation):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 5, 4))
    kernel, rkernel, bias = _weights("simple_rnn", 4, 6, rng, scale=0.3)
    f = {"relu": lambda z: np.maximum(z, 0), "sigmoid": _sigmoid, "linear": lambda z: z}[activation]
    h, out = np.zeros((3, 6)), []
    for t in range(5):
        h = f(x[:, t] @ kernel + bias + h @ rkernel)
        out.append(h)
    got = ops.simple_rnn(x, kernel, rkernel, bias, activation=activation)
    np.testing.assert_allclose(got, np.stack(out, 1), rtol=1e-12, atol=1e-12)


# Accepted since the kernels reuse the activation family's code: every element-wise activation
# whose derivative follows from its output (hard_sigmoid was Keras 2's LSTM recurrent_activation).
NEWLY_ACCEPTED = ["hard_sigmoid", "elu", "selu", "softsign", "softplus", "relu6", "leaky_relu",
                  "exponential", "celu", "hard_tanh", "log_sigmoid", "squareplus", "sparse_plus"]


@pytest.mark.parametrize("name", NEWLY_ACCEPTED)
@pytest.mark.parametrize("cell", CELLS)
def test_newly_accepted_activations_match_keras_formulas_and_finite_differences(cell, name):
    from test_activation import REFERENCE  # Keras' formulas in NumPy (Keras' default parameters)
    rng = np.random.default_rng(11)
    batch, steps, in_dim, units = 2, 3, 2, 3
    x = rng.normal(size=(batch, steps, in_dim))
    kernel, rkernel, bias = _weights(cell, in_dim, units, rng,
                                     scale=0.1 if name == "exponential" else 0.5)
    # As both activations of a gated cell, so each is checked in every role; but exp gates would
    # grow c by e^z a step and h = o exp(c) past any float, so exponential keeps sigmoid gates.
    rec_name = "sigmoid" if name == "exponential" else name
    kwargs = {"activation": name}
    if cell != "simple_rnn":
        kwargs["recurrent_activation"] = rec_name
    expected = reference(cell, x, kernel, rkernel, bias, act=REFERENCE[name],
                         rec_act=REFERENCE[rec_name])
    assert np.isfinite(expected).all()
    forward, backward = getattr(ops, cell), getattr(ops, cell + "_backward")
    np.testing.assert_allclose(forward(x, kernel, rkernel, bias, **kwargs), expected,
                               rtol=1e-12, atol=1e-12)
    cast = [a.astype(np.float32) for a in (x, kernel, rkernel, bias)]
    np.testing.assert_allclose(forward(*cast, **kwargs), expected, rtol=2e-5, atol=2e-5)
    dy = rng.normal(size=(batch, steps, units))

    def loss():
        return float((forward(x, kernel, rkernel, bias, **kwargs) * dy).sum())

    grads = backward(dy, x, kernel, rkernel, bias, **kwargs)
    for what, value, grad in zip(["x", "kernel", "recurrent_kernel", "bias"],
                                 [x, kernel, rkernel, bias], grads):
        np.testing.assert_allclose(grad, numeric_grad(loss, value), rtol=1e-6, atol=1e-8,
                                   err_msg=f"{cell} {name} d{what}")


def test_keras2_lstm_with_hard_sigmoid_gates_builds_trains_and_round_trips():
    from brisknn import models
    lstm = layers.LSTM(4, recurrent_activation="hard_sigmoid", activation="softsign")
    model = models.Sequential([layers.Input((5, 3)), lstm, layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.random.default_rng(3).normal(size=(6, 5, 3)).astype(np.float32)
    history = model.fit(x, np.ones((6, 1), np.float32), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    config = lstm.get_config()
    assert (config["activation"], config["recurrent_activation"]) == ("softsign", "hard_sigmoid")
    again = layers.LSTM.from_config(config)
    assert (again.activation, again.recurrent_activation) == ("softsign", "hard_sigmoid")
    rnn = layers.SimpleRNN(2, activation=brisknn.activations.leaky_relu)
    assert rnn.get_config()["activation"] == "leaky_relu"


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "gelu", "silu", "mish",
                                  "hard_silu", "tanh_shrink"])
def test_activations_needing_the_input_or_a_row_are_refused_clearly(name):
    with pytest.raises(ValueError, match="activation must be one of"):
        layers.GRU(3, activation=name)
    with pytest.raises(ValueError, match="recurrent_activation must be one of"):
        layers.LSTM(3, recurrent_activation=name)
    x = np.zeros((1, 2, 2))
    with pytest.raises(ValueError, match=f"element-wise activation .* got '{name}'"):
        ops.simple_rnn(x, np.zeros((2, 3)), np.zeros((3, 3)), activation=name)


# -- backpropagation through time against finite differences ---------------------------------------
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch", [1, 3, 6])
@pytest.mark.parametrize("sequences", [True, False])
@pytest.mark.parametrize("masks", ["none", "shared", "per_gate"])
def test_bptt_gradients_match_finite_differences(cell, batch, sequences, masks):
    rng = np.random.default_rng(batch)
    steps, in_dim, units = 4, 3, 5
    count = {"none": 0, "shared": 1, "per_gate": GATES[cell]}[masks]
    x = rng.normal(size=(batch, steps, in_dim))
    kernel, rkernel, bias = _weights(cell, in_dim, units, rng)
    im, rm = _masks(count, batch, in_dim, rng), _masks(count, batch, units, rng)
    dy = rng.normal(size=(batch, steps, units) if sequences else (batch, units))
    forward = getattr(ops, cell)

    def loss():
        h = forward(x, kernel, rkernel, bias, input_mask=im, recurrent_mask=rm)
        return float(((h if sequences else h[:, -1]) * dy).sum())

    grads = getattr(ops, cell + "_backward")(dy, x, kernel, rkernel, bias, input_mask=im,
                                             recurrent_mask=rm)
    for name, value, grad in zip(["x", "kernel", "recurrent_kernel", "bias"],
                                 [x, kernel, rkernel, bias], grads):
        np.testing.assert_allclose(grad, numeric_grad(loss, value), rtol=1e-6, atol=1e-8,
                                   err_msg=f"{cell} d{name}")


@pytest.mark.parametrize("cell", CELLS)
def test_bptt_gradients_with_vector_wide_units_match_finite_differences(cell):
    # 17 units: the per-step products run full SIMD panels plus scalar tails in both directions.
    rng = np.random.default_rng(12)
    x = rng.normal(size=(5, 3, 2))
    kernel, rkernel, bias = _weights(cell, 2, 17, rng, scale=0.3)
    g = GATES[cell]
    im, rm = _masks(g, 5, 2, rng), _masks(g, 5, 17, rng)
    dy = rng.normal(size=(5, 3, 17))

    def loss():
        return float((getattr(ops, cell)(x, kernel, rkernel, bias, input_mask=im,
                                         recurrent_mask=rm) * dy).sum())

    grads = getattr(ops, cell + "_backward")(dy, x, kernel, rkernel, bias, input_mask=im,
                                             recurrent_mask=rm)
    for value, grad in zip([x, kernel, rkernel, bias], grads):
        np.testing.assert_allclose(grad, numeric_grad(loss, value), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("sequences", [True, False])
def test_layer_backward_with_seeded_dropout_matches_finite_differences(cell, sequences):
    # The layer draws its masks from its seed; the gradients it adds must be those of the
    # forward pass with exactly those masks (per-gate masks, as recurrent_dropout is set).
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 5, 3))
    layer = LAYERS[cell](4, dropout=0.3, recurrent_dropout=0.4, seed=11,
                         return_sequences=sequences)
    layer(x)  # build
    kernel, rkernel, bias = (w.value for w in layer.weights)
    bias += rng.normal(size=bias.shape) * 0.3
    y = layer.forward(x, training=True)
    _, im, rm, *_ = layer._saved
    assert im.shape == (GATES[cell], 4, 3) and rm.shape == (GATES[cell], 4, 4)
    assert set(np.unique(im)) <= {0.0, 1 / 0.7} and set(np.unique(rm)) <= {0.0, 1 / 0.6}
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)

    def loss():
        h = getattr(ops, cell)(x, kernel, rkernel, bias, input_mask=im, recurrent_mask=rm)
        return float(((h if sequences else h[:, -1]) * dy).sum())

    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    for var in layer.weights:
        np.testing.assert_allclose(var.grad, numeric_grad(loss, var.value), rtol=1e-6,
                                   atol=1e-8, err_msg=var.name)


def test_backward_adds_into_weight_gradients_and_skips_dx():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4))
    layer = layers.LSTM(3, dtype="float64")
    layer(x)
    dy = rng.normal(size=(2, 3))
    layer.forward(x, training=True)
    assert layer.backward(dy, need_dx=False) is None
    once = [w.grad.copy() for w in layer.weights]
    assert all(np.abs(g).sum() > 0 for g in once)
    layer.forward(x, training=True)
    layer.backward(dy, need_dx=False)
    for w, g in zip(layer.weights, once):
        np.testing.assert_allclose(w.grad, 2 * g, rtol=1e-12)


# -- determinism -----------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
def test_results_do_not_depend_on_thread_count(cell):
    rng = np.random.default_rng(4)
    batch, steps, in_dim, units = 16, 25, 64, 48
    x = rng.normal(size=(batch, steps, in_dim)).astype(np.float32)
    kernel, rkernel, bias = (None if a is None else a.astype(np.float32)
                             for a in _weights(cell, in_dim, units, rng, scale=0.1))
    g = GATES[cell]
    im = _masks(g, batch, in_dim, rng).astype(np.float32)
    rm = _masks(g, batch, units, rng).astype(np.float32)
    dy = rng.normal(size=(batch, steps, units)).astype(np.float32)
    results = []
    saved = brisknn.get_num_threads()
    try:
        for threads in (1, 2):
            brisknn.set_num_threads(threads)
            y = getattr(ops, cell)(x, kernel, rkernel, bias, input_mask=im, recurrent_mask=rm)
            grads = getattr(ops, cell + "_backward")(dy, x, kernel, rkernel, bias, input_mask=im,
                                                     recurrent_mask=rm)
            results.append([y, *grads])
    finally:
        brisknn.set_num_threads(saved)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def test_same_seed_gives_same_dropout_masks_and_training_differs_from_inference():
    x = np.random.default_rng(5).normal(size=(3, 6, 4)).astype(np.float32)
    a = layers.GRU(5, dropout=0.5, recurrent_dropout=0.5, seed=3)
    b = layers.GRU(5, dropout=0.5, recurrent_dropout=0.5, seed=3)
    a(x)
    b(x)
    b.set_weights(a.get_weights())
    ya, yb = a.forward(x, training=True), b.forward(x, training=True)
    np.testing.assert_array_equal(ya, yb)
    plain = layers.GRU(5)
    plain(x)
    plain.set_weights(a.get_weights())
    np.testing.assert_array_equal(a(x), plain(x))  # inference: no dropout
    assert not np.allclose(ya, plain(x))


def test_mask_counts_follow_keras_3():
    # Keras 3.8+: dropout alone shares one input mask among the gates; once recurrent_dropout is
    # set the cell switches to implementation 1, one mask per gate for inputs and state.
    x = np.ones((2, 3, 4), dtype=np.float32)
    cases = [(layers.LSTM(3, dropout=0.2), (1, None)),
             (layers.LSTM(3, dropout=0.2, recurrent_dropout=0.2), (4, 4)),
             (layers.LSTM(3, recurrent_dropout=0.2), (None, 4)),
             (layers.GRU(3, dropout=0.2, recurrent_dropout=0.2), (3, 3)),
             (layers.SimpleRNN(3, dropout=0.2, recurrent_dropout=0.2), (1, 1)),
             (layers.LSTM(3, dropout=1.0), (None, None))]  # Keras applies no mask at rate 1
    for layer, (n_in, n_rec) in cases:
        layer(x)
        layer.forward(x, training=True)
        _, im, rm, *_ = layer._saved
        assert (None if im is None else im.shape[0]) == n_in
        assert (None if rm is None else rm.shape[0]) == n_rec


# -- the Keras layers ------------------------------------------------------------------------------
@pytest.mark.parametrize("cell,bias_shape", [("simple_rnn", (7,)), ("lstm", (28,)),
                                             ("gru", (2, 21))])
def test_weight_shapes_names_and_order_as_keras(cell, bias_shape):
    g = GATES[cell]
    model = brisknn.Sequential([brisknn.Input((10, 5)), LAYERS[cell](7)])
    layer = model.layers[0]
    assert re.fullmatch(cell + r"(_\d+)?", layer.name)  # Keras' names: lstm, lstm_1, ...
    assert [w.shape for w in model.get_weights()] == [(5, g * 7), (7, g * 7), bias_shape]
    assert [w.name.split("/")[-1] for w in layer.weights] == ["kernel", "recurrent_kernel",
                                                              "bias"]
    assert layer.cell.kernel is layer.kernel  # Keras keeps the weights on layer.cell
    assert layer.count_params() == 5 * g * 7 + 7 * g * 7 + int(np.prod(bias_shape))
    assert model.output_shape == (None, 7)
    seq = LAYERS[cell](7, return_sequences=True)
    brisknn.Sequential([brisknn.Input((10, 5)), seq])
    assert seq.output_shape == (None, 10, 7)
    nobias = LAYERS[cell](7, use_bias=False)
    nobias(np.zeros((1, 2, 5), dtype=np.float32))
    assert len(nobias.get_weights()) == 2


def test_lstm_forget_bias_and_orthogonal_recurrent_kernel_at_init():
    layer = layers.LSTM(6)
    layer(np.zeros((1, 2, 3), dtype=np.float32))
    kernel, rkernel, bias = layer.get_weights()
    np.testing.assert_array_equal(bias, np.r_[np.zeros(6), np.ones(6), np.zeros(12)])
    np.testing.assert_allclose(rkernel @ rkernel.T, np.eye(6), atol=1e-5)  # orthonormal rows
    limit = np.sqrt(6 / (3 + 24))
    assert np.abs(kernel).max() <= limit
    plain = layers.LSTM(6, unit_forget_bias=False)
    plain(np.zeros((1, 2, 3), dtype=np.float32))
    np.testing.assert_array_equal(plain.get_weights()[2], np.zeros(24))
    gru = layers.GRU(4)
    gru(np.zeros((1, 2, 3), dtype=np.float32))
    np.testing.assert_array_equal(gru.get_weights()[2], np.zeros((2, 12)))


@pytest.mark.parametrize("cell", CELLS)
def test_layer_output_is_last_state_or_whole_sequence(cell):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 5, 4)).astype(np.float32)
    seq = LAYERS[cell](6, return_sequences=True)
    last = LAYERS[cell](6)
    seq(x)
    last(x)
    last.set_weights(seq.get_weights())
    y_seq, y_last = seq(x), last(x)
    assert y_seq.shape == (3, 5, 6) and y_last.shape == (3, 6)
    np.testing.assert_array_equal(y_seq[:, -1], y_last)
    expected = reference(cell, x.astype(np.float64), *(w.astype(np.float64)
                                                       for w in seq.get_weights()))
    np.testing.assert_allclose(y_seq, expected, rtol=2e-5, atol=2e-5)
    first = seq(x)
    seq(x + 1)
    np.testing.assert_array_equal(first, y_seq)  # a returned sequence is not reused


def test_go_backwards_runs_the_reversed_sequence():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 6, 3))
    brisknn.backend.set_floatx("float64")
    back = layers.LSTM(4, go_backwards=True, return_sequences=True)
    back(x)
    kernel, rkernel, bias = back.get_weights()
    y = back.forward(x)
    np.testing.assert_allclose(y, reference("lstm", x[:, ::-1], kernel, rkernel, bias),
                               rtol=1e-12, atol=1e-12)
    dy = rng.normal(size=y.shape)
    dx = back.backward(dy)

    def loss():
        return float((reference("lstm", x[:, ::-1], kernel, rkernel, bias) * dy).sum())
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cell", CELLS)
def test_get_config_round_trip(cell):
    layer = LAYERS[cell](5, dropout=0.1, recurrent_dropout=0.2, return_sequences=True,
                         kernel_regularizer="l2", activation="relu", seed=4)
    config = layer.get_config()
    assert config["units"] == 5 and config["return_sequences"] is True
    assert config["dropout"] == 0.1 and config["recurrent_dropout"] == 0.2
    assert config["activation"] == "relu"
    if cell == "lstm":
        assert config["unit_forget_bias"] is True and config["recurrent_activation"] == "sigmoid"
    if cell == "gru":
        assert config["reset_after"] is True
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_sequence_sign_task_learns_through_fit():
    # Does the sum of a sequence come out positive? Needs the whole sequence remembered.
    rng = np.random.default_rng(9)
    x = rng.normal(size=(512, 12, 1)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.float32)[:, None]
    for layer in (layers.LSTM(8, dropout=0.1, recurrent_dropout=0.1), layers.GRU(8),
                  layers.SimpleRNN(8)):
        model = brisknn.Sequential([brisknn.Input((12, 1)), layer,
                                    layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=brisknn.optimizers.Adam(0.02), loss="binary_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
        assert history.history["loss"][-1] < history.history["loss"][0] / 2
        loss, accuracy = model.evaluate(x, y, verbose=0)
        assert accuracy > 0.9, type(layer).__name__


def test_stacked_lstms_train_end_to_end():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(64, 6, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.float32)[:, None]
    model = brisknn.Sequential([brisknn.Input((6, 2)), layers.LSTM(6, return_sequences=True),
                                layers.GRU(4), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before


# -- bad input -------------------------------------------------------------------------------------
def test_rank_2_input_raises_naming_layer_and_shape():
    with pytest.raises(ValueError, match=r"'my_lstm' \(LSTM\) expects a 3-D input.*\(None, 10\)"):
        brisknn.Sequential([brisknn.Input((10,)), layers.LSTM(4, name="my_lstm")])
    layer = layers.GRU(3, name="g")
    layer(np.zeros((2, 4, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"'g' \(GRU\) expects a 3-D input.*\(2, 5\)"):
        layer.forward(np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"'g' \(GRU\) expects input of shape \(None, None, 5\)"):
        layer.forward(np.zeros((2, 4, 6), dtype=np.float32))


def test_feature_mismatch_in_a_model_raises():
    model = brisknn.Sequential([brisknn.Input((4, 3)), layers.SimpleRNN(2)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"expects input of shape \(None, 4, 3\)"):
        model.predict(np.zeros((2, 4, 5), dtype=np.float32), verbose=0)


def test_unsupported_arguments_raise_clearly():
    with pytest.raises(NotImplementedError, match="reset_after"):
        layers.GRU(3, reset_after=False)
    with pytest.raises(ValueError, match="activation must be one of"):
        layers.LSTM(3, activation="softmax")
    with pytest.raises(ValueError, match="units must be a positive integer"):
        layers.SimpleRNN(0)
    with pytest.raises(TypeError, match="recurrent_activation"):
        layers.SimpleRNN(3, recurrent_activation="sigmoid")


def test_kernel_bindings_check_shapes_and_dtypes():
    x = np.zeros((2, 3, 4), dtype=np.float32)
    k, rk = np.zeros((4, 8), np.float32), np.zeros((2, 8), np.float32)
    with pytest.raises(ValueError, match=r"kernel has shape \(4, 8\), expected \(5, 8\)"):
        ops.lstm(np.zeros((2, 3, 5), np.float32), k, rk)
    with pytest.raises(ValueError, match=r"recurrent_kernel has shape \(2, 8\), expected \(2, 6\)"):
        ops.gru(x, np.zeros((4, 6), np.float32), rk)
    with pytest.raises(ValueError, match=r"bias has shape \(8,\), expected \(2, 6\)"):
        ops.gru(x, np.zeros((4, 6), np.float32), np.zeros((2, 6), np.float32),
                np.zeros(8, np.float32))
    with pytest.raises(ValueError, match="1 or 4 masks"):
        ops.lstm(x, k, rk, input_mask=np.ones((2, 2, 4), np.float32))
    with pytest.raises(ValueError, match=r"x must be 3-D"):
        ops.simple_rnn(np.zeros((2, 4)), np.zeros((4, 2)), np.zeros((2, 2)))
    ws = np.zeros(1, np.float32)
    h = np.zeros((2, 3, 2), np.float32)
    with pytest.raises(ValueError, match="workspace has 1 elements"):
        _core.recurrent_forward("simple_rnn", x, np.zeros((4, 2), np.float32),
                                np.zeros((2, 2), np.float32), None, None, None, h, None, None, ws)
    with pytest.raises(TypeError, match="dtype"):
        _core.recurrent_forward("lstm", x, k.astype(np.float64), rk, None, None, None, h,
                                np.zeros((2, 3, 8), np.float32), h.copy(), ws)
    with pytest.raises(ValueError, match="cell must be"):
        _core.recurrent_workspace_size("rnn", 1, 1, 1, 1, 0, 0, False)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_bits_do_not_depend_on_where_the_buffers_sit(cell, dtype):
    # Eigen's scalar head/tail code rounds tanh/sigmoid differently from its vector code: the
    # kernels must not let an output buffer's offset from a 64-byte boundary show in the bits.
    rng = np.random.default_rng(0)
    g = {"lstm": 4, "gru": 3, "simple_rnn": 1}[cell]
    batch, steps, features, units = 3, 5, 4, 6
    x = rng.normal(size=(batch, steps, features)).astype(dtype)
    kernel = rng.normal(size=(features, g * units)).astype(dtype)
    recurrent = rng.normal(size=(units, g * units)).astype(dtype)
    bias = rng.normal(size=(2, g * units) if cell == "gru" else (g * units,)).astype(dtype)

    def at(offset, *shape):
        size = int(np.prod(shape))
        return np.empty(size + 16, dtype)[offset:offset + size].reshape(shape)

    results = set()
    for offset in range(8):
        h = at(offset, batch, steps, units)
        gates = carry = None
        if cell != "simple_rnn":
            gates, carry = at(offset, batch, steps, g * units), at(offset, batch, steps, units)
        ws = at(offset, _core.recurrent_workspace_size(cell, batch, steps, features, units, 0, 0,
                                                       False))
        _core.recurrent_forward(cell, x, kernel, recurrent, bias, None, None, h, gates, carry,
                                ws, "tanh", "sigmoid", None)
        results.add(h.tobytes())
    assert len(results) == 1


# -- return_state: a direct call gives [output, *final states] ------------------------------------
def test_keras_lstm_docstring_example_with_return_state():
    inputs = np.random.random((32, 10, 8))
    lstm = layers.LSTM(4, return_sequences=True, return_state=True)
    whole_seq_output, final_memory_state, final_carry_state = lstm(inputs)
    assert whole_seq_output.shape == (32, 10, 4)
    assert final_memory_state.shape == (32, 4) and final_carry_state.shape == (32, 4)
    seq, c = reference("lstm", inputs.astype(np.float32).astype(np.float64),
                       *(w.astype(np.float64) for w in lstm.get_weights()), with_carry=True)
    np.testing.assert_allclose(whole_seq_output, seq, rtol=2e-5, atol=2e-5)
    np.testing.assert_array_equal(final_memory_state, whole_seq_output[:, -1])
    np.testing.assert_allclose(final_carry_state, c, rtol=2e-5, atol=2e-5)
    assert final_memory_state.numpy().dtype == np.float32


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("sequences", [True, False])
def test_return_state_gives_output_and_final_states_as_keras(cell, sequences):
    rng = np.random.default_rng(11)
    brisknn.backend.set_floatx("float64")
    x = rng.normal(size=(3, 5, 4))
    layer = LAYERS[cell](6, return_sequences=sequences, return_state=True)
    result = layer(x)
    assert isinstance(result, list) and len(result) == (3 if cell == "lstm" else 2)
    seq, c = reference(cell, x, *layer.get_weights(), with_carry=True)
    out, h = result[0], result[1]
    np.testing.assert_allclose(out, seq if sequences else seq[:, -1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, seq[:, -1], rtol=1e-12, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(result[2], c, rtol=1e-12, atol=1e-12)
    state_shape = (None, 6)
    assert layer.compute_output_shape((None, 5, 4)) == \
        [(None, 5, 6) if sequences else (None, 6)] + [state_shape] * (len(result) - 1)
    first_h = np.array(h)
    layer(x + 1)
    np.testing.assert_array_equal(h, first_h)  # the returned states are the caller's


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("zero_output", [False, True])
def test_return_state_carries_the_state_through_masked_steps(cell, zero_output):
    rng = np.random.default_rng(12)
    brisknn.backend.set_floatx("float64")
    x = rng.normal(size=(4, 6, 3))
    mask = np.ones((4, 6), dtype=bool)
    mask[0, 4:] = False   # post-padded
    mask[1, :2] = False   # pre-padded
    mask[2, 2] = False    # a hole
    layer = LAYERS[cell](5, return_sequences=True, return_state=True,
                         zero_output_for_mask=zero_output)
    result = layer(x, mask=mask)
    seq, c = reference(cell, x, *layer.get_weights(), step_mask=mask, with_carry=True)
    np.testing.assert_allclose(result[1], seq[:, -1], rtol=1e-12, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(result[2], c, rtol=1e-12, atol=1e-12)
    # The post-padded sample's final state is the one after its last real step.
    unpadded = LAYERS[cell].from_config(layer.get_config())
    unpadded(x[:1, :4])
    unpadded.set_weights(layer.get_weights())
    np.testing.assert_allclose(unpadded(x[:1, :4])[1], result[1][:1], rtol=1e-12, atol=1e-12)
    if zero_output:  # the output is zeroed at masked steps, the state is not
        assert np.all(result[0][0, -1] == 0) and np.any(result[1][0] != 0)


@pytest.mark.parametrize("cell", CELLS)
def test_return_state_with_go_backwards_is_the_state_after_the_first_input_step(cell):
    rng = np.random.default_rng(13)
    brisknn.backend.set_floatx("float64")
    x = rng.normal(size=(2, 5, 3))
    layer = LAYERS[cell](4, go_backwards=True, return_state=True)
    result = layer(x)
    seq, c = reference(cell, x[:, ::-1], *layer.get_weights(), with_carry=True)
    np.testing.assert_allclose(result[0], seq[:, -1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result[1], seq[:, -1], rtol=1e-12, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(result[2], c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_backward_after_a_return_state_call_matches_finite_differences(cell):
    # Training goes through the main output only (there is no functional API to use states).
    rng = np.random.default_rng(14)
    brisknn.backend.set_floatx("float64")
    x = rng.normal(size=(2, 4, 3))
    layer = LAYERS[cell](3, return_sequences=True, return_state=True)
    out = layer(x)[0]
    weights = layer.get_weights()
    dy = rng.normal(size=out.shape)
    layer.kernel.grad[...] = 0
    dx = layer.backward(dy)

    def loss():
        return float((reference(cell, x, *weights) * dy).sum())
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(layer.kernel.grad, numeric_grad(loss, weights[0]), rtol=1e-6,
                               atol=1e-8)


@pytest.mark.parametrize("cell", CELLS)
def test_return_state_survives_get_config_and_a_saved_model_refuses_it_clearly(cell):
    layer = LAYERS[cell](3, return_state=True)
    config = layer.get_config()
    assert config["return_state"] is True
    assert type(layer).from_config(config).return_state is True
    with pytest.raises(ValueError, match=r"return_state=True.*exactly one output"):
        brisknn.Sequential([brisknn.Input((4, 2)), LAYERS[cell](3, return_state=True)])
    model = brisknn.Sequential([LAYERS[cell](3, return_sequences=True), layers.Dense(1)])
    model.layers[0].return_state = True  # set after add: refused when the model builds
    with pytest.raises(ValueError, match="return_state"):
        model.predict(np.zeros((2, 4, 2)), verbose=0)


def test_bidirectional_with_return_state_is_refused_clearly():
    # (stateful layers and initial_state: tests/test_rnn_state.py)
    with pytest.raises(NotImplementedError, match="return_state"):
        layers.Bidirectional(layers.GRU(3, return_state=True))
