"""Bidirectional: Keras 3's wrapper running a recurrent layer over the sequence in both
directions (keras/src/layers/rnn/bidirectional.py)."""
import numpy as np

from brisknn.layers.base import Layer, LayerContainer

_MERGE_MODES = ("concat", "sum", "ave", "mul")


class Bidirectional(LayerContainer, Layer):
    """Runs a copy of `layer` forwards and one backwards (go_backwards=True) over the same
    input and merges their outputs: concatenated (the default), summed, averaged or multiplied.
    With return_sequences the backward copy's sequence is flipped back, so step t of both
    outputs belongs to input step t. As in Keras, the copies are fresh layers named
    'forward_<name>' and 'backward_<name>' (the given layer's weights are not reused), their
    weights come forward first, and with return_sequences a masked step outputs zeros.
    """

    supports_masking = True
    forward_takes_mask = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None,
                 **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `Bidirectional` layer with a "
                             f"`keras.layers.Layer` instance. Received: {layer}")
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError("`backward_layer` need to be a `keras.layers.Layer` instance. "
                             f"Received: {backward_layer}")
        if merge_mode is None:
            raise NotImplementedError("Bidirectional: merge_mode=None (a list of two outputs) "
                                      "is not supported: a Sequential passes one array on")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Invalid merge mode. Received: {merge_mode}. Merge mode should "
                             'be one of {"sum", "mul", "ave", "concat", None}')
        for attr in ("go_backwards", "return_sequences"):
            if not hasattr(layer, attr):
                raise ValueError(f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, "
                                 f"GRU); {type(layer).__name__} has no `{attr}`")
        if getattr(layer, "return_state", False):
            raise NotImplementedError("Bidirectional: a wrapped layer with return_state=True "
                                      "(outputs and four states) is not supported")
        super().__init__(**kwargs)
        self.forward_layer = _copy(layer, "forward_", go_backwards=layer.go_backwards)
        self.backward_layer = backward_layer if backward_layer is not None else \
            _copy(layer, "backward_", go_backwards=not layer.go_backwards)
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError("Forward layer and backward layer should have different "
                             "`go_backwards` value. Received: forward_layer.go_backwards "
                             f"{self.forward_layer.go_backwards}, backward_layer.go_backwards="
                             f"{self.backward_layer.go_backwards}")
        for attr in ("stateful", "return_sequences", "return_state"):
            f, b = getattr(self.forward_layer, attr), getattr(self.backward_layer, attr)
            if f != b:
                raise ValueError("Forward layer and backward layer are expected to have the "
                                 f'same value for attribute "{attr}", got "{f}" for forward '
                                 f'layer and "{b}" for backward layer')
        for inner in (self.forward_layer, self.backward_layer):
            # Keras forces zeros at masked steps of a returned sequence.
            if getattr(inner, "zero_output_for_mask", None) is not None:
                inner.zero_output_for_mask = inner.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = False
        self.stateful = self.forward_layer.stateful  # each copy carries its own states
        self._initial_weights = list(weights) if weights else None
        self.trainable = self._trainable  # the copies follow the wrapper's flag

    # -- the two layers' weights are the wrapper's -----------------------------------------------
    @property
    def _wrapped_layers(self):  # saving keeps their random generators' states
        return (self.forward_layer, self.backward_layer)

    _inner_layers = _wrapped_layers


    # -- stateful copies (Keras 3) -------------------------------------------------------------
    @property
    def states(self):
        """The forward copy's states then the backward copy's, or None."""
        f, b = self.forward_layer.states, self.backward_layer.states
        return tuple(f + b) if f and b else None

    def reset_state(self):
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self):  # Keras' compatibility alias
        self.reset_state()

    def _require_static_batch(self, input_shape):
        self.forward_layer._require_static_batch(input_shape)

    # -- shapes --------------------------------------------------------------------------------
    def build(self, input_shape):
        self.forward_layer._ensure_built(input_shape)
        self.backward_layer._ensure_built(input_shape)
        if self._initial_weights is not None:  # Keras: first half forward, second backward
            half = len(self._initial_weights) // 2
            self.forward_layer.set_weights(self._initial_weights[:half])
            self.backward_layer.set_weights(self._initial_weights[half:])
            self._initial_weights = None

    def compute_output_shape(self, input_shape):
        shape = tuple(self.forward_layer.compute_output_shape(tuple(input_shape)))
        if self.merge_mode == "concat":
            shape = shape[:-1] + (shape[-1] * 2,)
        return shape

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    # -- computation ---------------------------------------------------------------------------
    # After backward, with an initial_state given: the forward copy's state gradients then the
    # backward copy's, as the states were given (see the recurrent layers).
    initial_state_grads = None
    _call_initial_state = None

    def __call__(self, x, training=False, mask=None, initial_state=None):
        """As Keras 3: initial_state holds the forward layer's states then the backward
        layer's (its first half goes to the forward layer)."""
        self._call_initial_state = initial_state
        try:
            return super().__call__(x, training=training, mask=mask)
        finally:
            self._call_initial_state = None

    def forward(self, x, training=False, mask=None, initial_state=None):
        if initial_state is None:
            initial_state = self._call_initial_state
        states = (None, None)
        if initial_state is not None:
            initial_state = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            half = len(initial_state) // 2
            states = (initial_state[:half], initial_state[half:])
        y = self.forward_layer.forward(x, training=training, mask=mask, initial_state=states[0])
        y_rev = self.backward_layer.forward(x, training=training, mask=mask,
                                            initial_state=states[1])
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        self._outputs = (y, y_rev)
        if self.merge_mode == "concat":
            return np.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) / y.dtype.type(2)
        return y * y_rev

    def backward(self, dy, need_dx=True):
        y, y_rev = self._outputs
        if self.merge_mode == "concat":
            dy_f, dy_b = dy[..., :y.shape[-1]], dy[..., y.shape[-1]:]
        elif self.merge_mode == "sum":
            dy_f = dy_b = dy
        elif self.merge_mode == "ave":
            dy_f = dy_b = dy / dy.dtype.type(2)
        else:
            dy_f, dy_b = dy * y_rev, dy * y
        if self.return_sequences:  # the backward copy's sequence was flipped in forward
            dy_b = dy_b[:, ::-1]
        dx = self.forward_layer.backward(np.ascontiguousarray(dy_f), need_dx)
        dx_b = self.backward_layer.backward(np.ascontiguousarray(dy_b), need_dx)
        grads = (self.forward_layer.initial_state_grads, self.backward_layer.initial_state_grads)
        self.initial_state_grads = grads[0] + grads[1] if grads[0] and grads[1] else None
        if dx is None or dx_b is None:
            return None
        return dx + dx_b

    # -- serialization -------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update(merge_mode=self.merge_mode,
                      layer={"class_name": type(self.forward_layer).__name__,
                             "config": self.forward_layer.get_config()},
                      backward_layer={"class_name": type(self.backward_layer).__name__,
                                      "config": self.backward_layer.get_config()})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from brisknn import saving
        config = dict(config)
        config["layer"] = saving.deserialize_layer(config["layer"], custom_objects)
        backward = config.pop("backward_layer", None)
        if backward is not None:
            config["backward_layer"] = saving.deserialize_layer(backward, custom_objects)
        return cls(**config)


def _copy(layer, prefix, go_backwards):
    """A fresh layer from `layer`'s config, renamed (Keras' removeprefix + prefix)."""
    config = layer.get_config()
    name = layer.name[len(prefix):] if layer.name.startswith(prefix) else layer.name
    config.update(name=prefix + name, go_backwards=go_backwards)
    config.pop("batch_input_shape", None)  # the wrapper is what a model is built from
    return type(layer).from_config(config)


class TimeDistributed(LayerContainer, Layer):
    """Applies `layer` to every time step of a (batch, steps, ...) input: the steps are folded
    into the batch ((batch * steps, ...) -> layer -> (batch, steps, ...)), so one call of the
    layer covers the whole sequence and every step shares its weights, which are the
    wrapper's. As in Keras 3, the input mask passes through unchanged."""

    supports_masking = True
    forward_takes_mask = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `TimeDistributed` layer with a "
                             f"`keras.layers.Layer` instance. Received: {layer}")
        if getattr(layer, "return_state", False):
            raise ValueError(f"TimeDistributed: the wrapped layer {layer.name!r} has "
                             "return_state=True and so several outputs; it needs one")
        super().__init__(**kwargs)
        self.layer = layer
        self.trainable = self._trainable  # the inner layer follows the wrapper's flag

    @property
    def _wrapped_layers(self):  # saving keeps their random generators' states
        return (self.layer,)

    _inner_layers = _wrapped_layers


    # -- shapes --------------------------------------------------------------------------------
    def _child_input_shape(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError("`TimeDistributed` Layer should be passed an `input_shape` with at "
                             f"least 3 dimensions, received: {tuple(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[2:])

    def build(self, input_shape):
        self.layer._ensure_built(self._child_input_shape(tuple(input_shape)))

    def compute_output_shape(self, input_shape):
        child = tuple(self.layer.compute_output_shape(self._child_input_shape(input_shape)))
        return (child[0], input_shape[1]) + child[1:]

    def compute_mask(self, inputs, mask=None):
        return mask

    # -- computation ---------------------------------------------------------------------------
    def forward(self, x, training=False, mask=None):
        x = np.asarray(x)
        if x.ndim < 3:
            raise ValueError(f"Layer {self.name!r} (TimeDistributed) expects an input with at "
                             f"least 3 dimensions (batch, steps, ...), got an array of shape "
                             f"{x.shape}")
        if mask is not None and np.shape(mask)[:2] != x.shape[:2]:
            raise ValueError("`TimeDistributed` Layer should be passed a `mask` of shape "
                             f"({x.shape[0]}, {x.shape[1]}, ...), received: "
                             f"mask.shape={np.shape(mask)}")
        batch, steps = x.shape[:2]
        # The inner layer sees no mask: its input has no time axis left (a Dense, a Conv2D).
        y = self.layer.forward(np.ascontiguousarray(x).reshape((batch * steps,) + x.shape[2:]),
                               training)
        self._fold = (batch, steps)
        return y.reshape((batch, steps) + y.shape[1:])

    def backward(self, dy, need_dx=True):
        batch, steps = self._fold
        dy = np.ascontiguousarray(dy).reshape((batch * steps,) + dy.shape[2:])
        dx = self.layer.backward(dy, need_dx)
        if dx is None:
            return None
        return dx.reshape((batch, steps) + dx.shape[1:])

    # -- serialization -------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        inner = self.layer.get_config()
        inner.pop("batch_input_shape", None)  # the wrapper is what a model is built from
        config["layer"] = {"class_name": type(self.layer).__name__, "config": inner}
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from brisknn import saving
        config = dict(config)
        config["layer"] = saving.deserialize_layer(config["layer"], custom_objects)
        return cls(**config)
