"""Keras 3's initial_state call argument and stateful=True for SimpleRNN, LSTM and GRU: forward
against a NumPy loop of Keras' cell equations, the initial states' gradient against central
finite differences (float64), carried states across batches, reset_state, fixed batch sizes."""
import numpy as np
import pytest

import brisknn
from brisknn import layers, ops
from conftest import numeric_grad

CELLS = ["simple_rnn", "lstm", "gru"]
LAYERS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
STATES = {"simple_rnn": 1, "lstm": 2, "gru": 1}


@pytest.fixture(autouse=True)
def _restore_floatx():
    saved = brisknn.backend.floatx()
    yield
    brisknn.backend.set_floatx(saved)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def reference(cell, x, kernel, rkernel, bias, h0=None, c0=None, step_mask=None,
              go_backwards=False, rec_mask=None):
    """Keras 3's cells step by step (float64) from h0 (and LSTM's c0): (every h_t in the order
    processed, last h, last c). A masked step keeps the states (Keras' RNN); rec_mask (count,
    batch, units) scales h_{t-1} in each gate's product, as Keras' recurrent dropout."""
    batch, steps, _ = x.shape
    u = rkernel.shape[0]
    g = GATES[cell]
    if go_backwards:
        x = x[:, ::-1]
        step_mask = None if step_mask is None else step_mask[:, ::-1]
    h = np.zeros((batch, u)) if h0 is None else np.asarray(h0, dtype=np.float64)
    c = np.zeros((batch, u)) if c0 is None else np.asarray(c0, dtype=np.float64)

    def rec(j):
        m = 1.0 if rec_mask is None else rec_mask[j if len(rec_mask) > 1 else 0]
        return (h * m) @ rkernel[:, j * u:(j + 1) * u]

    out = []
    for t in range(steps):
        px = x[:, t] @ kernel
        ph = np.concatenate([rec(j) for j in range(g)], 1)
        if cell == "simple_rnn":
            h_new, c_new = np.tanh(px + ph + bias), c
        elif cell == "lstm":
            z = px + ph + bias
            i, f = _sigmoid(z[:, :u]), _sigmoid(z[:, u:2 * u])
            cc, o = np.tanh(z[:, 2 * u:3 * u]), _sigmoid(z[:, 3 * u:])
            c_new = f * c + i * cc
            h_new = o * np.tanh(c_new)
        else:
            px, ph = px + bias[0], ph + bias[1]
            zg = _sigmoid(px[:, :u] + ph[:, :u])
            r = _sigmoid(px[:, u:2 * u] + ph[:, u:2 * u])
            hh = np.tanh(px[:, 2 * u:] + r * ph[:, 2 * u:])
            h_new, c_new = zg * h + (1 - zg) * hh, c
        if step_mask is not None:
            keep = step_mask[:, t, None]
            h_new, c_new = np.where(keep, h_new, h), np.where(keep, c_new, c)
        h, c = h_new, c_new
        out.append(h)
    return np.stack(out, 1), h, c


def _layer(cell, units, in_dim, rng, dtype="float64", **kwargs):
    """A built layer with random weights (a bias far from zero)."""
    layer = LAYERS[cell](units, dtype=dtype, **kwargs)
    layer.build((None, None, in_dim))
    g = GATES[cell]
    kernel = rng.normal(size=(in_dim, g * units)) * 0.5
    rkernel = rng.normal(size=(units, g * units)) * 0.5
    bias = rng.normal(size=(2, g * units) if cell == "gru" else (g * units,)) * 0.3
    layer.set_weights([kernel, rkernel, bias])
    return layer, kernel, rkernel, bias


def _states(cell, batch, units, rng):
    return [rng.normal(size=(batch, units)) for _ in range(STATES[cell])]


def _step_mask(batch, steps):
    # Sample 0 fully kept; 1 leading masked steps (they carry the initial state); 2 a hole and
    # a masked tail; 3 fully masked (the output is the initial state).
    m = np.ones((batch, steps), dtype=bool)
    m[1, :2] = False
    m[2, 1] = m[2, -1] = False
    m[3] = False
    return m


# -- initial_state: forward -----------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_initial_state_forward_matches_keras_cell_equations(cell, go_backwards, masked):
    rng = np.random.default_rng(0)
    batch, steps, in_dim, units = 4, 5, 3, 6
    layer, kernel, rkernel, bias = _layer(cell, units, in_dim, rng, return_sequences=True,
                                          return_state=True, go_backwards=go_backwards)
    x = rng.normal(size=(batch, steps, in_dim))
    states = _states(cell, batch, units, rng)
    mask = _step_mask(batch, steps) if masked else None
    out = layer(x, initial_state=states, mask=mask)
    seq, h, c = reference(cell, x, kernel, rkernel, bias, *states[:1],
                          states[1] if cell == "lstm" else None, mask, go_backwards)
    assert len(out) == 1 + STATES[cell]
    np.testing.assert_allclose(out[0], seq, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out[1], h, rtol=1e-12, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(out[2], c, rtol=1e-12, atol=1e-12)
    if masked:  # a sequence masked throughout returns its initial states
        np.testing.assert_array_equal(out[1][3], states[0][3])
        if cell == "lstm":
            np.testing.assert_array_equal(out[2][3], states[1][3])


@pytest.mark.parametrize("cell", CELLS)
def test_initial_state_in_float32_and_as_a_bare_array_or_tuple(cell):
    rng = np.random.default_rng(1)
    layer, kernel, rkernel, bias = _layer(cell, 5, 3, rng, dtype="float32")
    x = rng.normal(size=(3, 4, 3)).astype(np.float32)
    states = _states(cell, 3, 5, rng)
    y = layer(x, initial_state=tuple(states))
    _, h, _ = reference(cell, x.astype(np.float64), kernel.astype(np.float32),
                        rkernel.astype(np.float32), bias.astype(np.float32), *states)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, h, rtol=2e-5, atol=2e-5)
    if cell != "lstm":  # Keras wraps a bare tensor into a one-state list
        np.testing.assert_array_equal(layer(x, initial_state=states[0]), y)


@pytest.mark.parametrize("cell", CELLS)
def test_zero_initial_state_is_bit_identical_to_none(cell):
    rng = np.random.default_rng(2)
    layer, *_ = _layer(cell, 7, 4, rng, dtype="float32", return_sequences=True)
    x = rng.normal(size=(5, 6, 4)).astype(np.float32)
    mask = np.ones((5, 6), dtype=bool)
    mask[1, :3] = False
    dy = rng.normal(size=(5, 6, 7)).astype(np.float32)
    results = []
    for initial in (None, [np.zeros((5, 7), np.float32)] * STATES[cell]):
        for var in layer.weights:
            var.grad.fill(0)
        y = layer(x, initial_state=initial, mask=mask)
        dx = layer.backward(dy)
        results.append([np.asarray(y).tobytes(), dx.tobytes()] +
                       [var.grad.tobytes() for var in layer.weights])
    assert results[0] == results[1]
    assert [g.shape for g in layer.initial_state_grads] == [(5, 7)] * STATES[cell]


def test_initial_state_through_ops_matches_the_layer():
    rng = np.random.default_rng(3)
    layer, kernel, rkernel, bias = _layer("lstm", 4, 3, rng, return_sequences=True)
    x = rng.normal(size=(2, 5, 3))
    states = _states("lstm", 2, 4, rng)
    np.testing.assert_array_equal(ops.lstm(x, kernel, rkernel, bias, initial_state=states),
                                  layer(x, initial_state=states))
    with pytest.raises(ValueError, match="initial_state needs 2"):
        ops.lstm(x, kernel, rkernel, bias, initial_state=states[:1])


@pytest.mark.parametrize("cell", CELLS)
def test_initial_state_gradients_through_ops_match_finite_differences(cell):
    rng = np.random.default_rng(5)
    _, kernel, rkernel, bias = _layer(cell, 4, 3, rng, return_sequences=True)
    x = rng.normal(size=(2, 5, 3))
    states = _states(cell, 2, 4, rng)
    forward, backward = getattr(ops, cell), getattr(ops, cell + "_backward")
    dy = rng.normal(size=(2, 5, 4))

    def loss():
        return float((forward(x, kernel, rkernel, bias, initial_state=states) * dy).sum())
    *plain, grads = backward(dy, x, kernel, rkernel, bias, initial_state=states)
    assert len(grads) == STATES[cell]
    for state, grad in zip(states, grads):
        np.testing.assert_allclose(grad, numeric_grad(loss, state), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(plain[0], numeric_grad(loss, x), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(plain[1], numeric_grad(loss, kernel), rtol=1e-6, atol=1e-9)
    assert len(backward(dy, x, kernel, rkernel, bias)) == 4  # without initial_state, as before


# -- initial_state: gradients ---------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("sequences", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_initial_state_gradients_match_finite_differences(cell, sequences, masked):
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(4)
    batch, steps, in_dim, units = 4, 4, 3, 5
    layer, *_ = _layer(cell, units, in_dim, rng, return_sequences=sequences,
                       go_backwards=masked)
    x = rng.normal(size=(batch, steps, in_dim))
    states = _states(cell, batch, units, rng)
    mask = _step_mask(batch, steps) if masked else None
    y = layer(x, initial_state=states, mask=mask)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    grads = layer.initial_state_grads
    assert len(grads) == STATES[cell] and all(g.shape == (batch, units) for g in grads)

    def loss():
        return float((np.asarray(layer.forward(x, mask=mask, initial_state=states)) * dy).sum())

    for state, grad in zip(states, grads):
        np.testing.assert_allclose(grad, numeric_grad(loss, state), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-9)
    for var in layer.weights:
        np.testing.assert_allclose(var.grad, numeric_grad(loss, var.value), rtol=1e-6,
                                   atol=1e-9, err_msg=var.name)
    if masked:  # sample 3 is masked throughout: its output is its initial state
        np.testing.assert_allclose(grads[0][3], dy[3].sum(0) if sequences else dy[3])


@pytest.mark.parametrize("cell", CELLS)
def test_initial_state_gradients_with_recurrent_dropout_match_finite_differences(cell):
    # Keras' recurrent dropout scales h_{t-1} at the first step too: h0 * mask.
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(5)
    layer, *_ = _layer(cell, 4, 3, rng, return_sequences=True, dropout=0.2,
                       recurrent_dropout=0.3, seed=3)
    kernel, rkernel, bias = (var.value for var in layer.weights)
    x = rng.normal(size=(3, 4, 3))
    states = _states(cell, 3, 4, rng)
    y = layer.forward(x, training=True, initial_state=states)
    _, im, rm, *_ = layer._saved
    dy = rng.normal(size=y.shape)
    layer.backward(dy)

    def loss():
        h = getattr(ops, cell)(x, kernel, rkernel, bias, input_mask=im, recurrent_mask=rm,
                               initial_state=states)
        return float((h * dy).sum())

    np.testing.assert_array_equal(y, getattr(ops, cell)(x, kernel, rkernel, bias, input_mask=im,
                                                        recurrent_mask=rm, initial_state=states))
    if im.shape[0] == 1:  # SimpleRNN's one mask: the reference applies it directly
        seq, _, _ = reference(cell, x * im[0][:, None, :], kernel, rkernel, bias, states[0],
                              rec_mask=rm)
        np.testing.assert_allclose(y, seq, rtol=1e-12, atol=1e-12)
    for state, grad in zip(states, layer.initial_state_grads):
        np.testing.assert_allclose(grad, numeric_grad(loss, state), rtol=1e-6, atol=1e-9)
    for var in layer.weights:
        np.testing.assert_allclose(var.grad, numeric_grad(loss, var.value), rtol=1e-6,
                                   atol=1e-9, err_msg=var.name)


def test_no_initial_state_leaves_no_state_gradient():
    rng = np.random.default_rng(6)
    layer, *_ = _layer("gru", 3, 2, rng)
    x = rng.normal(size=(2, 3, 2))
    layer(x, initial_state=[np.ones((2, 3))])
    layer.backward(np.ones((2, 3)))
    assert layer.initial_state_grads is not None
    layer(x)
    layer.backward(np.ones((2, 3)))
    assert layer.initial_state_grads is None


def test_frozen_layer_still_gives_initial_state_gradients():
    rng = np.random.default_rng(7)
    layer, *_ = _layer("lstm", 3, 2, rng)
    layer.trainable = False
    x = rng.normal(size=(2, 3, 2))
    states = _states("lstm", 2, 3, rng)
    layer(x, initial_state=states)
    assert layer.backward(np.ones((2, 3)), need_dx=False) is None
    assert [g.shape for g in layer.initial_state_grads] == [(2, 3), (2, 3)]
    assert not any(var.grad.any() for var in layer.weights)


# -- initial_state: bad input ---------------------------------------------------------------------
def test_bad_initial_states_raise_naming_layer_and_shapes():
    lstm = layers.LSTM(3, name="enc")
    x = np.zeros((2, 4, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=r"'enc' \(LSTM\) expects 2 initial states \[h, c\].*"
                                         r"\(2, 3\), got 1"):
        lstm(x, initial_state=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"'enc' \(LSTM\): initial state c must have shape "
                                         r"\(batch, units\) = \(2, 3\).*got \(2, 4\)"):
        lstm(x, initial_state=[np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match=r"initial state h .*\(2, 3\).*got \(3, 3\)"):
        lstm(x, initial_state=[np.zeros((3, 3)), np.zeros((2, 3))])
    gru = layers.GRU(3, name="dec")
    with pytest.raises(ValueError, match=r"'dec' \(GRU\) expects 1 initial state \[h\].*got 2"):
        gru(x, initial_state=[np.zeros((2, 3))] * 2)
    with pytest.raises(TypeError, match=r"'dec' \(GRU\): initial state h .*dtype"):
        gru(x, initial_state=[np.array([["a"] * 3] * 2)])
    with pytest.raises(ValueError, match=r"initial state h .*got \(2, 3, 1\)"):
        gru(x, initial_state=np.zeros((2, 3, 1)))


def test_kernel_bindings_check_initial_state_arguments():
    from brisknn import _core
    x = np.zeros((2, 3, 4))
    kernel, rk = np.zeros((4, 5)), np.zeros((5, 5))
    h = np.empty((2, 3, 5))
    ws = np.empty(_core.recurrent_workspace_size("simple_rnn", 2, 3, 4, 5, 0, 0, False))
    with pytest.raises(ValueError, match=r"h0.*\(2, 5\)"):
        _core.recurrent_forward("simple_rnn", x, kernel, rk, None, None, None, h, None, None,
                                ws, h0=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="c0 is for LSTM only"):
        _core.recurrent_forward("simple_rnn", x, kernel, rk, None, None, None, h, None, None,
                                ws, h0=np.zeros((2, 5)), c0=np.zeros((2, 5)))
    with pytest.raises(TypeError):
        _core.recurrent_forward("simple_rnn", x, kernel, rk, None, None, None, h, None, None,
                                ws, h0=np.zeros((2, 5), np.float32))


# -- stateful -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
def test_stateful_layer_carries_final_states_into_the_next_call(cell):
    rng = np.random.default_rng(8)
    layer, kernel, rkernel, bias = _layer(cell, 4, 3, rng, stateful=True, return_state=True)
    x1, x2 = rng.normal(size=(2, 3, 5, 3))
    assert layer.states is None  # built without a batch size: the first batch fixes it
    out1 = layer(x1)
    assert [s.shape for s in layer.states] == [(3, 4)] * STATES[cell]
    out2 = layer(x2)
    _, h1, c1 = reference(cell, x1, kernel, rkernel, bias)
    _, h2, c2 = reference(cell, x2, kernel, rkernel, bias, h1, c1)
    np.testing.assert_allclose(out1[1], h1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out2[0], h2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(layer.states[0]), h2, rtol=1e-12, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(np.asarray(layer.states[1]), c2, rtol=1e-12, atol=1e-12)
    # two halves of a sequence, statefully, are the whole sequence at once
    whole = LAYERS[cell](4, dtype="float64")
    whole.build((None, None, 3))
    whole.set_weights(layer.get_weights())
    np.testing.assert_allclose(whole(np.concatenate([x1, x2], 1)), out2[0], rtol=1e-12,
                               atol=1e-12)
    layer.reset_states()
    assert not any(np.asarray(s).any() for s in layer.states)
    np.testing.assert_array_equal(layer(x1)[0], out1[0])  # from zeros again
    layer.reset_state()  # Keras 3's name
    np.testing.assert_array_equal(layer(x1)[0], out1[0])


def test_stateful_masked_steps_carry_states_across_batches():
    rng = np.random.default_rng(9)
    layer, kernel, rkernel, bias = _layer("lstm", 3, 2, rng, stateful=True)
    x1, x2 = rng.normal(size=(2, 4, 5, 2))
    m1, m2 = _step_mask(4, 5), _step_mask(4, 5)[::-1].copy()
    layer(x1, mask=m1)
    y2 = layer(x2, mask=m2)
    _, h1, c1 = reference("lstm", x1, kernel, rkernel, bias, step_mask=m1)
    _, h2, _ = reference("lstm", x2, kernel, rkernel, bias, h1, c1, step_mask=m2)
    np.testing.assert_allclose(y2, h2, rtol=1e-12, atol=1e-12)


def test_stateful_states_are_not_weights_and_not_saved(tmp_path):
    model = brisknn.Sequential([brisknn.Input((5, 2), batch_size=4),
                                layers.LSTM(3, stateful=True), layers.Dense(1)])
    lstm = model.layers[0]
    assert [s.shape for s in lstm.states] == [(4, 3), (4, 3)]
    assert len(lstm.weights) == 3 and len(lstm.non_trainable_weights) == 0
    assert all(not s.trainable for s in lstm.states)
    x = np.random.default_rng(10).normal(size=(4, 5, 2)).astype(np.float32)
    first = model.predict(x, batch_size=4, verbose=0)
    second = model.predict(x, batch_size=4, verbose=0)  # starts from the carried states
    assert not np.allclose(first, second)
    assert model.input_shape == (4, 5, 2)  # the declared batch size stays
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = brisknn.models.load_model(path)
    assert loaded.layers[0].stateful and loaded.layers[0].get_config()["stateful"]
    assert not any(np.asarray(s).any() for s in loaded.layers[0].states)  # zeros, as Keras
    np.testing.assert_allclose(loaded.predict(x, batch_size=4, verbose=0), first, rtol=1e-6)
    model.layers[0].reset_states()
    np.testing.assert_array_equal(model.predict(x, batch_size=4, verbose=0), first)


def test_stateful_fit_trains_and_carries_states_without_gradient_into_past_batches():
    # Two stateful batches of 2 sequences: each step's gradient is that of the batch alone,
    # started from the (constant) states the previous batch left.
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(11)
    x = rng.normal(size=(4, 3, 2))
    y = rng.normal(size=(4, 1))
    model = brisknn.Sequential([brisknn.Input(batch_shape=(2, 3, 2)),
                                layers.SimpleRNN(3, stateful=True), layers.Dense(1)])
    model.compile(optimizer=brisknn.optimizers.SGD(0.1), loss="mse")
    rnn, dense = model.layers
    weights = model.get_weights()
    history = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # the same two steps by hand
    k, rk, b, dk, db = [w.copy() for w in weights]
    h = np.zeros((2, 3))
    for lo in (0, 2):
        xb, yb = x[lo:lo + 2], y[lo:lo + 2]
        hs = [h]
        for t in range(3):
            hs.append(np.tanh(xb[:, t] @ k + b + hs[-1] @ rk))
        out = hs[-1] @ dk + db
        g = 2 * (out - yb) / out.size
        gdk, gdb, gh = hs[-1].T @ g, g.sum(0), g @ dk.T
        gk, grk, gb = np.zeros_like(k), np.zeros_like(rk), np.zeros_like(b)
        for t in range(3, 0, -1):
            gz = gh * (1 - hs[t] ** 2)
            gk += xb[:, t - 1].T @ gz
            grk += hs[t - 1].T @ gz
            gb += gz.sum(0)
            gh = gz @ rk.T
        h = hs[-1]  # carried, as a constant: gh at the batch start goes nowhere
        k, rk, b, dk, db = k - 0.1 * gk, rk - 0.1 * grk, b - 0.1 * gb, dk - 0.1 * gdk, \
            db - 0.1 * gdb
    for got, want in zip(model.get_weights(), [k, rk, b, dk, db]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(rnn.states[0]), h, rtol=1e-10, atol=1e-12)


def test_stateful_needs_a_static_batch_size_as_keras():
    with pytest.raises(ValueError, match=r"batch size must be static.*\(None, 5, 2\)"):
        brisknn.Sequential([brisknn.Input((5, 2)), layers.GRU(3, stateful=True)])
    with pytest.raises(ValueError, match="batch size must be static"):
        brisknn.Sequential([layers.GRU(3, stateful=True, input_shape=(5, 2))])
    model = brisknn.Sequential([layers.GRU(3, stateful=True, batch_input_shape=(4, 5, 2))])
    assert model.layers[0].states[0].shape == (4, 3)
    with pytest.raises(ValueError, match=r"stateful with batch size 4.*batch of 3"):
        model.predict(np.zeros((3, 5, 2)), verbose=0)
    with pytest.raises(ValueError, match="batch size 4.*batch of 2"):  # the remainder batch
        model.predict(np.zeros((6, 5, 2)), batch_size=4, verbose=0)
    layer = layers.LSTM(2, stateful=True)
    layer(np.zeros((3, 2, 1)))
    with pytest.raises(ValueError, match="batch size"):
        layer(np.zeros((1, 2, 1)))


def test_stateful_with_an_explicit_initial_state_starts_from_it_and_keeps_the_result():
    rng = np.random.default_rng(12)
    layer, kernel, rkernel, bias = _layer("gru", 3, 2, rng, stateful=True)
    x = rng.normal(size=(2, 4, 2))
    h0 = rng.normal(size=(2, 3))
    y = layer(x, initial_state=[h0])
    _, h, _ = reference("gru", x, kernel, rkernel, bias, h0)
    np.testing.assert_allclose(y, h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(layer.states[0]), h, rtol=1e-12, atol=1e-12)
    layer.backward(np.ones((2, 3)))
    assert layer.initial_state_grads[0].shape == (2, 3)
    layer(x)
    layer.backward(np.ones((2, 3)))
    assert layer.initial_state_grads is None  # carried states get no gradient


def test_non_stateful_layer_has_no_states_and_reset_is_harmless():
    layer = layers.SimpleRNN(2)
    layer(np.zeros((1, 2, 1)))
    assert layer.states is None and layer.stateful is False
    layer.reset_states()
    zeros = layers.LSTM(3).get_initial_state(batch_size=2)  # Keras 3's RNN method
    assert [z.shape for z in zeros] == [(2, 3), (2, 3)] and not any(z.any() for z in zeros)
    config = layers.LSTM(2, stateful=True).get_config()
    assert config["stateful"] is True
    assert layers.LSTM.from_config(config).stateful


def test_bidirectional_of_a_stateful_layer_carries_both_copies_states():
    rng = np.random.default_rng(13)
    x1, x2 = rng.normal(size=(2, 2, 4, 3)).astype(np.float32)
    model = brisknn.Sequential([brisknn.Input(batch_shape=(2, 4, 3)),
                                layers.Bidirectional(layers.LSTM(3, stateful=True))])
    bi = model.layers[0]
    assert bi.stateful and len(bi.states) == 4
    first = model.predict(x1, batch_size=2, verbose=0)
    model.predict(x2, batch_size=2, verbose=0)
    bi.reset_states()
    assert not any(np.asarray(s).any() for s in bi.states)
    np.testing.assert_array_equal(model.predict(x1, batch_size=2, verbose=0), first)
    with pytest.raises(ValueError, match="batch size must be static"):
        brisknn.Sequential([brisknn.Input((4, 3)),
                            layers.Bidirectional(layers.GRU(3, stateful=True))])
    with pytest.raises(AttributeError, match="must be stateful"):
        layers.Bidirectional(layers.GRU(3)).reset_state()


@pytest.mark.parametrize("cell", CELLS)
def test_initial_state_results_do_not_depend_on_thread_count(cell):
    rng = np.random.default_rng(14)
    batch, steps, in_dim, units = 16, 12, 32, 24  # enough rows to split among threads
    layer, *_ = _layer(cell, units, in_dim, rng, dtype="float32", return_sequences=True,
                       recurrent_dropout=0.25, seed=5)
    x = rng.normal(size=(batch, steps, in_dim)).astype(np.float32)
    states = [s.astype(np.float32) for s in _states(cell, batch, units, rng)]
    mask = rng.random((batch, steps)) > 0.2
    dy = rng.normal(size=(batch, steps, units)).astype(np.float32)
    results = []
    saved = brisknn.get_num_threads()
    try:
        for threads in (1, 2):
            brisknn.set_num_threads(threads)
            layer._seeds = np.random.default_rng(5)  # the same dropout masks each time
            for var in layer.weights:
                var.grad.fill(0)
            y = layer.forward(x, training=True, mask=mask, initial_state=states)
            dx = layer.backward(dy)
            results.append([y.tobytes(), dx.tobytes()] +
                           [g.tobytes() for g in layer.initial_state_grads] +
                           [var.grad.tobytes() for var in layer.weights])
    finally:
        brisknn.set_num_threads(saved)
    assert results[0] == results[1]


def test_bidirectional_initial_state_halves_and_their_gradients():
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(15)
    bi = layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode="sum")
    x = rng.normal(size=(2, 4, 2))
    bi(x)  # build
    for var in bi.weights:
        var.value[...] = rng.normal(size=var.shape) * 0.5
    states = [rng.normal(size=(2, 3)) for _ in range(4)]
    y = bi(x, initial_state=states)
    fw, bw = bi.forward_layer, bi.backward_layer
    want = np.asarray(fw(x, initial_state=states[:2])) + \
        np.asarray(bw(x, initial_state=states[2:]))[:, ::-1]
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    bi(x, initial_state=states)
    dy = rng.normal(size=y.shape)
    bi.backward(dy)
    assert len(bi.initial_state_grads) == 4

    def loss():
        return float((np.asarray(bi.forward(x, initial_state=states)) * dy).sum())

    for state, grad in zip(states, bi.initial_state_grads):
        np.testing.assert_allclose(grad, numeric_grad(loss, state), rtol=1e-6, atol=1e-9)
