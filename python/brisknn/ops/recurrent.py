"""Recurrent layers over whole sequences as NumPy-in / NumPy-out functions, with Keras 3 weight
layouts: x (batch, steps, in), kernel (in, G*units), recurrent_kernel (units, G*units), gates in
Keras' order (LSTM i, f, c, o; GRU z, r, h with reset_after=True, bias (2, 3*units)).

Dropout masks are optional arrays of inverted-dropout factors (0 or 1/(1-rate)) held fixed over
all steps: input_mask (batch, in) or (count, batch, in), recurrent_mask (batch, units) or
(count, batch, units), count being 1 or one mask per gate.

`mask` (batch, steps) is Keras' step mask (bool, or any numbers with 0 = masked): a masked step is
skipped, the state carrying over (h_t = h_{t-1}, LSTM c_t = c_{t-1}), so it holds the last
unmasked state; backward passes the gradient through it to the previous state.

`initial_state` (forward only) is Keras' call argument: [h0] (or a bare h0) for simple_rnn and
gru, [h0, c0] for lstm, each (batch, units); None starts from zeros. (Layers expose the gradient
with respect to it as `layer.initial_state_grads` after backward.)
"""
import numpy as np

from brisknn import _core
from brisknn.ops.core import as_float

__all__ = [
    "simple_rnn", "simple_rnn_backward", "lstm", "lstm_backward", "gru", "gru_backward",
    "recurrent_gates",
]

_GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def recurrent_gates(cell):
    """Gate blocks side by side in the kernels of a cell ('simple_rnn', 'lstm' or 'gru')."""
    return _GATES[cell]


def _mask(mask, name, dtype):
    if mask is None:
        return None
    mask = as_float(mask, name, dtype)
    return mask[None] if mask.ndim == 2 else mask


def _step_mask(mask, x):
    if mask is None:
        return None
    mask = np.asarray(mask)
    return np.ascontiguousarray(mask if mask.dtype == bool else mask != 0)


def _prepare(cell, x, kernel, recurrent_kernel, bias, input_mask, recurrent_mask):
    x = as_float(x)
    if x.ndim != 3:
        raise ValueError(f"{cell}: x must be 3-D (batch, steps, features), got shape {x.shape}")
    kernel = as_float(kernel, "kernel", x.dtype)
    recurrent_kernel = as_float(recurrent_kernel, "recurrent_kernel", x.dtype)
    bias = None if bias is None else as_float(bias, "bias", x.dtype)
    return (x, kernel, recurrent_kernel, bias, _mask(input_mask, "input_mask", x.dtype),
            _mask(recurrent_mask, "recurrent_mask", x.dtype))


def _initial_state(cell, initial_state, dtype):
    if initial_state is None:
        return None, None
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
    count = 2 if cell == "lstm" else 1
    if len(states) != count:
        raise ValueError(f"{cell}: initial_state needs {count} array(s) of shape (batch, units), "
                         f"got {len(states)}")
    states = [np.array(as_float(a, "initial_state", dtype), order="C") for a in states]
    return states[0], states[1] if count == 2 else None


def _forward(cell, x, kernel, recurrent_kernel, bias, input_mask, recurrent_mask, activation,
             recurrent_activation, mask=None, initial_state=None):
    x, kernel, recurrent_kernel, bias, im, rm = _prepare(cell, x, kernel, recurrent_kernel, bias,
                                                         input_mask, recurrent_mask)
    batch, steps, in_dim = x.shape
    units = recurrent_kernel.shape[0]
    g = _GATES[cell]
    h = np.empty((batch, steps, units), dtype=x.dtype)
    gates = carry = None
    if cell != "simple_rnn":
        gates = np.empty((batch, steps, g * units), dtype=x.dtype)
        carry = np.empty((batch, steps, units), dtype=x.dtype)
    counts = (0 if im is None else im.shape[0], 0 if rm is None else rm.shape[0])
    ws = np.empty(_core.recurrent_workspace_size(cell, batch, steps, in_dim, units, *counts,
                                                 False), dtype=x.dtype)
    mask = _step_mask(mask, x)
    h0, c0 = _initial_state(cell, initial_state, x.dtype)
    _core.recurrent_forward(cell, x, kernel, recurrent_kernel, bias, im, rm, h, gates, carry, ws,
                            activation, recurrent_activation, mask, h0, c0)
    return (x, kernel, recurrent_kernel, bias, im, rm, mask), (h, gates, carry)


def _backward(cell, dy, x, kernel, recurrent_kernel, bias, input_mask, recurrent_mask,
              activation, recurrent_activation, mask=None, initial_state=None):
    args, saved = _forward(cell, x, kernel, recurrent_kernel, bias, input_mask, recurrent_mask,
                           activation, recurrent_activation, mask, initial_state)
    x, kernel, recurrent_kernel, bias, im, rm, mask = args
    dy = as_float(dy, "dy", x.dtype)
    batch, steps, in_dim = x.shape
    units = recurrent_kernel.shape[0]
    dx = np.empty_like(x)
    dkernel = np.zeros_like(kernel)
    drecurrent = np.zeros_like(recurrent_kernel)
    dbias = None if bias is None else np.zeros_like(bias)
    counts = (0 if im is None else im.shape[0], 0 if rm is None else rm.shape[0])
    ws = np.empty(_core.recurrent_workspace_size(cell, batch, steps, in_dim, units, *counts,
                                                 True), dtype=x.dtype)
    h0, c0 = _initial_state(cell, initial_state, x.dtype)
    dh0 = None if h0 is None else np.empty_like(h0)
    dc0 = None if c0 is None else np.empty_like(c0)
    _core.recurrent_backward(cell, dy, x, kernel, recurrent_kernel, im, rm, *saved, dx, dkernel,
                             drecurrent, dbias, ws, activation, recurrent_activation, mask, h0, c0,
                             dh0, dc0)
    if initial_state is None:
        return dx, dkernel, drecurrent, dbias
    return dx, dkernel, drecurrent, dbias, [d for d in (dh0, dc0) if d is not None]


def simple_rnn(x, kernel, recurrent_kernel, bias=None, activation="tanh", input_mask=None,
               recurrent_mask=None, mask=None, initial_state=None):
    """Every hidden state (batch, steps, units) of h_t = act(x_t K + b + h_{t-1} U), h_{-1} = 0
    or initial_state."""
    return _forward("simple_rnn", x, kernel, recurrent_kernel, bias, input_mask, recurrent_mask,
                    activation, "sigmoid", mask, initial_state)[1][0]


def lstm(x, kernel, recurrent_kernel, bias=None, activation="tanh",
         recurrent_activation="sigmoid", input_mask=None, recurrent_mask=None, mask=None,
         initial_state=None):
    """Every hidden state (batch, steps, units) of a Keras LSTM (initial h and c zero, or
    initial_state [h0, c0])."""
    return _forward("lstm", x, kernel, recurrent_kernel, bias, input_mask, recurrent_mask,
                    activation, recurrent_activation, mask, initial_state)[1][0]


def gru(x, kernel, recurrent_kernel, bias=None, activation="tanh",
        recurrent_activation="sigmoid", input_mask=None, recurrent_mask=None, mask=None,
        initial_state=None):
    """Every hidden state (batch, steps, units) of a Keras GRU with reset_after=True (from
    zeros, or initial_state [h0])."""
    return _forward("gru", x, kernel, recurrent_kernel, bias, input_mask, recurrent_mask,
                    activation, recurrent_activation, mask, initial_state)[1][0]


def simple_rnn_backward(dy, x, kernel, recurrent_kernel, bias=None, activation="tanh",
                        input_mask=None, recurrent_mask=None, mask=None, initial_state=None):
    """(dx, dkernel, drecurrent_kernel, dbias) from dy, the gradient of every hidden state
    (batch, steps, units) or of the last one (batch, units). dbias is None without a bias.
    With initial_state, a fifth item: the gradients of its arrays, in its order."""
    return _backward("simple_rnn", dy, x, kernel, recurrent_kernel, bias, input_mask,
                     recurrent_mask, activation, "sigmoid", mask, initial_state)


def lstm_backward(dy, x, kernel, recurrent_kernel, bias=None, activation="tanh",
                  recurrent_activation="sigmoid", input_mask=None, recurrent_mask=None,
                  mask=None, initial_state=None):
    """As simple_rnn_backward, for lstm (initial_state [h0, c0])."""
    return _backward("lstm", dy, x, kernel, recurrent_kernel, bias, input_mask, recurrent_mask,
                     activation, recurrent_activation, mask, initial_state)


def gru_backward(dy, x, kernel, recurrent_kernel, bias=None, activation="tanh",
                 recurrent_activation="sigmoid", input_mask=None, recurrent_mask=None,
                 mask=None, initial_state=None):
    """As simple_rnn_backward, for gru."""
    return _backward("gru", dy, x, kernel, recurrent_kernel, bias, input_mask, recurrent_mask,
                     activation, recurrent_activation, mask, initial_state)
