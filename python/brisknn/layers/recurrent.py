"""SimpleRNN, LSTM and GRU: Keras 3 layers over whole sequences, each forward or backward pass one
fused C++ call (see cpp/src/recurrent.cpp)."""
import numpy as np

from brisknn import _core, activations, backend, constraints, initializers, regularizers, utils
from brisknn.layers.base import Layer, _shape_str, _tensor, is_symbolic, weight_args_config

# The kernels apply activations element by element inside their step loop and keep only outputs:
# every element-wise activation whose derivative follows from its output (Keras' parameter for
# the parameterised ones, e.g. leaky_relu's 0.2).
_SUPPORTED_ACTIVATIONS = tuple(name for name in activations.NAMES if name not in
                               activations.INPUT_DERIVATIVE + activations.ROW_WISE)


class _Recurrent(Layer):
    """What the three layers share: weights (kernel, recurrent_kernel, bias) in Keras' layout,
    dropout masks, buffers kept between forward and backward, config."""

    input_spec_last_axis_only = True  # Keras: the features; any number of steps
    _cell = None      # the kernel's cell name
    _gates = 1        # gate blocks side by side in the kernels

    # Keras' masking: a masked step keeps the state (h_t = h_{t-1}, c_t = c_{t-1}); the mask
    # passes on with return_sequences and is consumed without.
    supports_masking = True
    forward_takes_mask = True

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, implementation=2,
                 use_cudnn="auto", zero_output_for_mask=False, name=None, **kwargs):
        kind = type(self).__name__
        super().__init__(name=name, activity_regularizer=activity_regularizer, **kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"{kind}: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = self._activation_arg(activation, "activation")
        self.recurrent_activation = self._activation_arg(recurrent_activation,
                                                         "recurrent_activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        where = f"{kind} {self.name!r}"
        self.kernel_constraint = constraints.get(kernel_constraint, f"{where}: kernel_constraint")
        self.recurrent_constraint = constraints.get(recurrent_constraint,
                                                    f"{where}: recurrent_constraint")
        self.bias_constraint = constraints.get(bias_constraint, f"{where}: bias_constraint")
        # Keras clips the rates to [0, 1] and applies dropout only for 0 < rate < 1.
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self._seeds = np.random.default_rng(seed) if seed is not None else None
        self.return_sequences = bool(return_sequences)
        # The final states come with a direct call (layer(x) -> [output, *states]); a Sequential
        # passes one array on and refuses such a layer (see models.Sequential._ensure_built).
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        # Keras 3: a stateful layer starts each batch from the final states of the previous one
        # (no gradient flows back into it); `states` holds them, else None.
        self.stateful = bool(stateful)
        self.states = None
        self.unroll = bool(unroll)  # a speed hint in Keras; one fused loop computes the same
        self.implementation = int(implementation)
        self.use_cudnn = use_cudnn
        # Keras 3's RNN default (LSTM/GRU/SimpleRNN keep it): the output at a masked step is the
        # previous output, i.e. the carried state; True gives zeros there (return_sequences).
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.kernel = self.recurrent_kernel = self.bias = None
        self._buffers = {}
        self._saved = None

    @property
    def cell(self):
        """Keras keeps the weights on `layer.cell`; here the layer is its own cell."""
        return self

    def _activation_arg(self, value, arg):
        name = activations.name_of(value)
        if name not in _SUPPORTED_ACTIVATIONS:
            raise ValueError(f"{type(self).__name__}: {arg} must be one of "
                             f"{list(_SUPPORTED_ACTIVATIONS)}, got {value!r}")
        return name

    # -- weights -------------------------------------------------------------------------------
    def build(self, input_shape):
        kind = type(self).__name__
        if len(input_shape) != 3:
            raise ValueError(f"Layer {self.name!r} ({kind}) expects a 3-D input (batch, timesteps, "
                             f"features), got input shape {_shape_str(input_shape)}")
        if input_shape[-1] is None:
            raise ValueError(f"Layer {self.name!r} ({kind}) needs a known feature dimension, got "
                             f"input shape {_shape_str(input_shape)}")
        width = self._gates * self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], width), self.kernel_initializer,
                                      self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                self.recurrent_initializer,
                                                self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init(),
                                        self.bias_regularizer, constraint=self.bias_constraint)
        if self.stateful:
            self._build_states(input_shape[0])

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def compute_mask(self, inputs, mask=None):
        # As Keras: the mask goes on unchanged (not reversed with go_backwards) with the
        # sequence, and no mask follows the last state.
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            shape = (input_shape[0], input_shape[1], self.units)
        else:
            shape = (input_shape[0], self.units)
        if self.return_state:  # as Keras: [output shape, one (batch, units) per state]
            return [shape] + [(input_shape[0], self.units)] * self._state_count
        return shape

    _state_count = 1  # LSTM: h and c

    # After backward: the gradient of the loss with respect to the initial states the last
    # forward pass was given by `layer(x, initial_state=...)`, as a list in the same order
    # ([dh0] or LSTM's [dh0, dc0], each (batch, units)); None when it started from zeros or
    # from a stateful layer's carried states (no gradient flows into the previous batch).
    initial_state_grads = None
    _call_initial_state = None  # initial_state of the current direct call, for forward

    def __call__(self, x, training=None, mask=None, initial_state=None):
        """As Layer.__call__; with return_state, [output, *final states] (Keras' order: LSTM
        [output, h, c], SimpleRNN and GRU [output, h]). initial_state, as in Keras: the states
        to start from, [h0] (or a bare array) for SimpleRNN and GRU, [h0, c0] for LSTM, each
        (batch, units)."""
        if initial_state is not None and is_symbolic(x):
            raise NotImplementedError(
                f"Layer {self.name!r} ({type(self).__name__}): initial_state in a functional "
                "model would be a second input; brisknn's functional models are chains")
        self._call_initial_state = initial_state
        try:
            y = super().__call__(x, training=training, mask=mask)
        finally:
            self._call_initial_state = None
        if not self.return_state:
            return y
        return [y] + [_tensor(state) for state in self._final_states()]

    # -- initial and carried states ------------------------------------------------------------
    def _state_names(self):
        return ["h", "c"][:self._state_count]

    def _build_states(self, batch):
        """Keras 3's RNN.build for a stateful layer: zero states of the batch size, outside the
        weights (not trained, not saved); built again, they are reset. A batch size still
        unknown (a direct call, a Sequential without Input) is fixed by the first batch, as
        Keras' eager build does; a declared input shape without one is refused as in Keras."""
        if self.states is not None:
            self.reset_state()
            return
        if batch is None:
            if self._declared_input_shape is not None:
                self._require_static_batch(self._declared_input_shape)
            return
        self.states = [backend.Variable(np.zeros((batch, self.units), dtype=self.dtype),
                                        "rnn_state", trainable=False,
                                        path=f"{self.name}/rnn_state")
                       for _ in range(self._state_count)]

    def _require_static_batch(self, input_shape):
        """Keras' error for a stateful layer whose model declares no batch size."""
        if self.stateful and self.states is None and input_shape[0] is None:
            raise ValueError(
                "When using `stateful=True` in a RNN, the batch size must be static. Found "
                f"dynamic batch size: sequence.shape={tuple(input_shape)} (layer {self.name!r}: "
                "give it with Input(shape, batch_size=...), Input(batch_shape=...) or "
                "batch_input_shape=...)")

    def get_initial_state(self, batch_size):
        """Keras 3: the zero states a sequence starts from, one (batch_size, units) per state."""
        dtype = self.dtype
        return [_tensor(np.zeros((batch_size, self.units), dtype=dtype))
                for _ in range(self._state_count)]

    def reset_state(self):
        """Keras 3: zeroes the states a stateful layer carries (does nothing otherwise)."""
        if self.states is not None:
            for var in self.states:
                var.value.fill(0)

    def reset_states(self):
        """Keras 3's compatibility alias of reset_state."""
        self.reset_state()

    def _carried_states(self, batch):
        """Copies of a stateful layer's states (created at the first batch if the batch size
        was unknown at build), checked against the batch."""
        if self.states is None:
            self._build_states(batch)
        expected = self.states[0].shape[0]
        if batch != expected:
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}) is stateful with batch size "
                f"{expected} (states of shape {(expected, self.units)}), got a batch of {batch} "
                f"samples: every batch must have {expected} (pass fit/evaluate/predict "
                f"batch_size={expected} and a number of samples it divides)")
        return [var.value.copy() for var in self.states]

    def _checked_initial_state(self, initial_state, x):
        kind, names = type(self).__name__, self._state_names()
        batch, dtype = x.shape[0], self.kernel.dtype
        expected = (batch, self.units)
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
            else [initial_state]
        if len(states) != len(names):
            raise ValueError(
                f"Layer {self.name!r} ({kind}) expects {len(names)} initial "
                f"state{'s' if len(names) > 1 else ''} [{', '.join(names)}], each of shape "
                f"(batch, units) = {expected}, got {len(states)}")
        out = []
        for name, state in zip(names, states):
            a = np.asarray(state)
            if a.dtype.kind not in "biuf":
                raise TypeError(f"Layer {self.name!r} ({kind}): initial state {name} must hold "
                                f"real numbers, got dtype {a.dtype}")
            if a.shape != expected:
                raise ValueError(
                    f"Layer {self.name!r} ({kind}): initial state {name} must have shape "
                    f"(batch, units) = {expected} for input of shape {x.shape}, got {a.shape}")
            out.append(np.array(a, dtype=dtype, order="C"))  # a copy: backward reads it
        return out

    def _start_states(self, initial_state, x):
        """(h0, c0) for the kernel, None where zero, and whether they came from the caller."""
        carried = self._carried_states(x.shape[0]) if self.stateful else None
        if initial_state is not None:
            states, given = self._checked_initial_state(initial_state, x), True
        elif carried is not None:
            states, given = carried, False
        else:
            return None, None, False
        if not any(state.any() for state in states):
            # All zeros: the kernels' own zero start, bit for bit what no initial state gives.
            return None, None, given
        return states[0], states[1] if len(states) > 1 else None, given

    def _final_states(self):
        """The states after the last processed step of the last forward pass (the last input
        step, or the first with go_backwards), carried through masked steps as in Keras."""
        if self._saved is None:
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) has not run yet")
        h, carry = self._saved[3], self._saved[5]
        states = [h[:, -1].copy()]
        if self._state_count == 2:
            states.append(carry[:, -1].copy())
        return states

    # -- dropout masks -------------------------------------------------------------------------
    def _mask_counts(self, training):
        """(input masks, recurrent masks): 0, 1, or one per gate as Keras 3 draws them."""
        if not training:
            return 0, 0
        per_gate = self._gates if self._per_gate_masks() else 1
        return (per_gate if 0.0 < self.dropout < 1.0 else 0,
                self._gates if 0.0 < self.recurrent_dropout < 1.0 else 0)

    def _per_gate_masks(self):
        return False

    def _draw_mask(self, key, count, width, batch, rate, dtype):
        """(count, batch, width) inverted-dropout factors, fixed over the sequence."""
        shape = (count, batch, width)
        bufs = self._buffers.get(key)
        if bufs is None or bufs[0].shape != shape or bufs[0].dtype != dtype:
            bufs = (np.ones(shape, dtype=dtype), np.empty(shape, dtype=dtype),
                    np.empty(shape, dtype=np.uint8))
            self._buffers[key] = bufs
        seed = int((self._seeds or utils.rng()).integers(0, 2**63))
        _core.dropout_forward(bufs[0], bufs[1], bufs[2], rate, seed)
        return bufs[1]

    def _buffer(self, key, shape, dtype):
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype)
            self._buffers[key] = buf
        return buf

    def _workspace(self, key, size, dtype):
        buf = self._buffers.get(key)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = np.empty(max(size, 1), dtype=dtype)
            self._buffers[key] = buf
        return buf

    # -- computation ---------------------------------------------------------------------------
    def _step_mask(self, mask, batch, steps):
        """mask as a C-contiguous (batch, steps) bool array in the order the kernel runs."""
        mask = np.asarray(mask)
        if mask.shape != (batch, steps):
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) expects a mask of "
                             f"shape {(batch, steps)} for input of shape "
                             f"{(batch, steps, self.kernel.shape[0])}, got {mask.shape}")
        if mask.dtype != bool:
            mask = mask != 0
        return np.ascontiguousarray(mask[:, ::-1] if self.go_backwards else mask)

    def forward(self, x, training=False, mask=None, initial_state=None):
        kind = type(self).__name__
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"Layer {self.name!r} ({kind}) expects a 3-D input (batch, "
                             f"timesteps, features), got an array of shape {x.shape}")
        in_dim = self.kernel.shape[0]
        if x.shape[2] != in_dim:
            raise ValueError(f"Layer {self.name!r} ({kind}) expects input of shape "
                             f"(None, None, {in_dim}), got an array of shape {x.shape}")
        if x.shape[1] == 0:
            raise ValueError(f"Layer {self.name!r} ({kind}) needs at least one timestep, got "
                             f"an array of shape {x.shape}")
        dtype = self.kernel.dtype
        x = x[:, ::-1] if self.go_backwards else x
        x = np.ascontiguousarray(x, dtype=dtype)
        batch, steps, _ = x.shape
        if mask is not None:
            mask = self._step_mask(mask, batch, steps)
        if initial_state is None:
            initial_state = self._call_initial_state
        h0, c0, given = self._start_states(initial_state, x)
        n_in, n_rec = self._mask_counts(training)
        input_mask = self._draw_mask("input_mask", n_in, in_dim, batch, self.dropout,
                                     dtype) if n_in else None
        rec_mask = self._draw_mask("recurrent_mask", n_rec, self.units, batch,
                                   self.recurrent_dropout, dtype) if n_rec else None
        shape = (batch, steps, self.units)
        # The returned sequence is the caller's to keep: a fresh array. The rest is reused.
        h = np.empty(shape, dtype=dtype) if self.return_sequences else \
            self._buffer("h", shape, dtype)
        gates = carry = None
        if self._gates > 1:
            gates = self._buffer("gates", (batch, steps, self._gates * self.units), dtype)
            carry = self._buffer("carry", shape, dtype)
        ws = self._workspace("forward_ws", _core.recurrent_workspace_size(
            self._cell, batch, steps, in_dim, self.units, n_in, n_rec, False), dtype)
        _core.recurrent_forward(self._cell, x, self.kernel.value, self.recurrent_kernel.value,
                                self.bias.value if self.use_bias else None, input_mask, rec_mask,
                                h, gates, carry, ws, self.activation, self.recurrent_activation,
                                mask, h0, c0)
        self._saved = (x, input_mask, rec_mask, h, gates, carry, mask, h0, c0, given)
        if self.stateful:  # Keras: the final states become the next batch's initial states
            for var, state in zip(self.states, self._final_states()):
                var.value[...] = state
        if mask is not None and self.zero_output_for_mask:
            # h stays as backward needs it. Keras' backends zero the last output too when the
            # last step is masked.
            return h * mask[..., None] if self.return_sequences else h[:, -1] * mask[:, -1, None]
        return h if self.return_sequences else h[:, -1].copy()

    def backward(self, dy, need_dx=True):
        train = self.trainable
        x, input_mask, rec_mask, h, gates, carry, mask, h0, c0, given = self._saved
        self.initial_state_grads = None
        if not need_dx and not train and not given:
            return None
        batch, steps, in_dim = x.shape
        dy = np.ascontiguousarray(dy, dtype=x.dtype)
        if mask is not None and self.zero_output_for_mask:  # zeroed outputs have no gradient
            dy = dy * (mask[..., None] if self.return_sequences else mask[:, -1, None])
        n_in = 0 if input_mask is None else input_mask.shape[0]
        n_rec = 0 if rec_mask is None else rec_mask.shape[0]
        ws = self._workspace("backward_ws", _core.recurrent_workspace_size(
            self._cell, batch, steps, in_dim, self.units, n_in, n_rec, True), x.dtype)
        dx = np.empty_like(x) if need_dx else None
        state_grads = [np.empty((batch, self.units), dtype=x.dtype)
                       for _ in range(self._state_count)] if given else [None, None]
        _core.recurrent_backward(
            self._cell, dy, x, self.kernel.value, self.recurrent_kernel.value, input_mask,
            rec_mask, h, gates, carry, dx, self.kernel.grad if train else None,
            self.recurrent_kernel.grad if train else None,
            self.bias.grad if train and self.use_bias else None, ws, self.activation,
            self.recurrent_activation, mask, h0, c0, state_grads[0],
            state_grads[1] if len(state_grads) > 1 else None)
        if given:
            self.initial_state_grads = state_grads
        if dx is not None and self.go_backwards:
            dx = np.ascontiguousarray(dx[:, ::-1])
        return dx

    # -- serialization -------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units, activation=self.activation, use_bias=self.use_bias,
            **weight_args_config(self, ("kernel", "recurrent", "bias")),
            dropout=self.dropout, recurrent_dropout=self.recurrent_dropout, seed=self.seed,
            return_sequences=self.return_sequences, return_state=self.return_state,
            go_backwards=self.go_backwards, stateful=self.stateful, unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask)
        return config


class SimpleRNN(_Recurrent):
    """Fully-connected RNN: h_t = activation(x_t kernel + bias + h_{t-1} recurrent_kernel)."""

    _cell = "simple_rnn"
    _gates = 1

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, **kwargs):
        if "recurrent_activation" in kwargs:
            raise TypeError("SimpleRNN: unexpected argument 'recurrent_activation'")
        super().__init__(units, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, dropout=dropout,
                         recurrent_dropout=recurrent_dropout, return_sequences=return_sequences,
                         **kwargs)


class LSTM(_Recurrent):
    """Long Short-Term Memory (Hochreiter 1997), gates i, f, c, o as Keras lays them out:
    c_t = f c_{t-1} + i c~, h_t = o activation(c_t)."""

    _cell = "lstm"
    _gates = 4
    _state_count = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _per_gate_masks(self):
        # Keras 3 (since 3.8) switches to implementation 1 when recurrent_dropout is set, and
        # implementation 1 draws one input and one recurrent mask per gate.
        return self.recurrent_dropout != 0.0 or self.implementation == 1

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, units = self.bias_initializer, self.units

        def forget_ones(shape, dtype=None):
            # Keras: bias_initializer for i, ones for f, bias_initializer for c and o.
            dtype = dtype or "float32"
            return np.concatenate([np.asarray(base((units,), dtype=dtype)),
                                   np.ones(units, dtype=dtype),
                                   np.asarray(base((2 * units,), dtype=dtype))]).astype(dtype)
        return forget_ones

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=self.recurrent_activation,
                      unit_forget_bias=self.unit_forget_bias)
        return config


class GRU(_Recurrent):
    """Gated Recurrent Unit (Cho et al. 2014) with Keras' default reset_after=True: gates z, r, h,
    bias (2, 3*units) (input row, recurrent row), h_t = z h_{t-1} + (1 - z) hh."""

    _cell = "gru"
    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", reset_after=True, **kwargs):
        if not reset_after:
            raise NotImplementedError("GRU: reset_after=False is not supported (Keras' default "
                                      "reset_after=True is)")
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self.reset_after = True

    def _per_gate_masks(self):
        return self.recurrent_dropout != 0.0 or self.implementation == 1

    def _bias_shape(self):
        return (2, self._gates * self.units)

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=self.recurrent_activation,
                      reset_after=self.reset_after)
        return config
