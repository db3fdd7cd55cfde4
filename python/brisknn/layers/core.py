"""Dense, Activation, Dropout, Flatten, Reshape and the input marker."""
import math

import numpy as np

from brisknn import _core, activations, backend, constraints, initializers, regularizers, utils
from brisknn.layers.base import Layer, _as_shape, _shape_str, weight_args_config


class InputLayer(Layer):
    """Marks a Sequential's input shape (what `brisknn.Input(shape)` returns); not a real layer.
    Layers called on it start a functional-API chain (see Model(inputs, outputs))."""

    is_input_marker = True

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_shape=None,
                 batch_shape=None, sparse=None, ragged=None, optional=False, **kwargs):
        for arg, value in (("sparse", sparse), ("ragged", ragged), ("optional", optional)):
            if value:  # Keras' configs carry them as False
                raise NotImplementedError(f"InputLayer: {arg}={value!r} is not supported")
        shape = shape if shape is not None else input_shape
        if shape is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `shape` and `batch_shape` at the same time.")
        if batch_shape is not None:  # Keras' (batch, *shape) form
            batch_shape = _as_shape(batch_shape)
            if not batch_shape:
                raise ValueError("Input: batch_shape needs a batch axis, got ()")
            batch_size, shape = batch_shape[0], batch_shape[1:]
        if shape is None:
            raise ValueError("Input: a shape is required, e.g. Input(shape=(784,))")
        super().__init__(name=name, dtype=dtype, **kwargs)
        self._declared_input_shape = (batch_size,) + _as_shape(shape)
        self.shape = self._declared_input_shape
        # As Keras' InputLayer, listed first in a functional model's layers: built, no weights.
        self.input_shape = self.output_shape = self.shape
        self.built = True

    @property
    def output(self):  # what layers are called on: the Input itself (Keras' KerasTensor)
        return self

    def forward(self, x, training=False):
        return x

    def backward(self, dy, need_dx=True):
        return dy

    def get_config(self):  # Keras 3's InputLayer config
        return {"batch_shape": list(self._declared_input_shape), "dtype": super().get_config()[
            "dtype"], "sparse": False, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None, optional=False, **kwargs):
    """Keras' `Input(shape)` or `Input(batch_shape=(batch, ...))`: put first in a Sequential
    to fix its input shape."""
    for arg, value, default in (("sparse", sparse, None), ("tensor", tensor, None),
                                ("optional", optional, False)):
        if value is not default and value is not False:
            raise NotImplementedError(f"Input: {arg}={value!r} is not supported")
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name,
                      batch_shape=batch_shape, **kwargs)


class _ActivationMixin:
    """For layers ending in an activation: the model can ask for logits instead (forward with
    logits=True) to fuse softmax/sigmoid with the cross-entropy, as Keras does."""

    def _set_activation(self, activation):
        self.activation_name = activations.name_of(activation)
        self.activation_alpha = activations.alpha(self.activation_name)

    @property
    def activation(self):
        """The activation function, as Keras' `layer.activation` (e.g. activations.relu)."""
        return getattr(activations, self.activation_name)

    @activation.setter
    def activation(self, value):
        # Keras lets a built layer's activation be replaced (model.layers[-1].activation = None
        # to predict logits). Models see it at their next step through the count of
        # `trainable` changes (which output fuses with the loss, what a prepared step applies).
        self._set_activation(value)
        backend.trainable_changed()

    def _activation_backward(self, dy):
        if self._emitted_logits or self.activation_name == "linear":
            return dy
        # gelu's and silu's derivative is computed from their input, the others' from the output
        source = self._z if self.activation_name in activations.INPUT_DERIVATIVE else self._y
        dz = np.empty_like(dy)
        _core.activation_backward(dy, source, dz, self.activation_name, self.activation_alpha)
        return dz

    # A layer kernel applies its activation itself (and its derivative from y, fused in the
    # backward kernel), except for gelu and silu: their derivative needs the pre-activation,
    # so the layer keeps it (_z) and applies them in a separate call.
    def _kernel_activation(self, logits):
        self._emitted_logits = logits
        separate = not logits and self.activation_name in activations.INPUT_DERIVATIVE
        self._z = None
        return "linear" if logits or separate else self.activation_name

    def _activate_separately(self, z):
        if self._emitted_logits or self.activation_name not in activations.INPUT_DERIVATIVE:
            return z
        self._z = z
        y = np.empty_like(z)
        _core.activation_forward(z, y, self.activation_name, self.activation_alpha)
        return y

    def _kernel_backward_activation(self, dy):
        """(dy for the kernel, the activation its backward applies)."""
        if self._z is not None:
            return self._activation_backward(dy), "linear"
        return dy, "linear" if self._emitted_logits else self.activation_name


class Dense(_ActivationMixin, Layer):
    """y = activation(x @ kernel + bias), over the last axis of x."""

    supports_masking = True  # on (batch, steps, features) input the steps' mask passes through
    input_spec_last_axis_only, input_min_rank = True, 2  # Keras: min_ndim 2, axes {-1: in}

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, lora_alpha=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        _refuse("Dense", lora_rank=lora_rank)
        self.units = int(units)
        self._set_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        where = f"Dense {self.name!r}"
        self.kernel_constraint = constraints.get(kernel_constraint, f"{where}: kernel_constraint")
        self.bias_constraint = constraints.get(bias_constraint, f"{where}: bias_constraint")
        self.kernel = self.bias = None

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Layer {self.name!r} (Dense) needs a known last input dimension, "
                             f"got input shape {_shape_str(input_shape)}")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training=False, logits=False):
        act = self._kernel_activation(logits)
        self._in_shape = x.shape
        flat = x.ndim != 2  # (batch, steps, features) runs as (batch * steps, features)
        x2 = x.reshape(-1, x.shape[-1]) if flat else x
        y = np.empty((x2.shape[0], self.units), dtype=x.dtype)
        # Whether x @ kernel + bias was finite: false whenever x held NaN or inf, so a model
        # whose first layer this is can skip its own scan of x (Sequential.forward's check_x).
        self.input_finite = _core.dense_forward(x2, self.kernel.value,
                                                self.bias.value if self.use_bias else None, y,
                                                act, self.activation_alpha)
        y = self._activate_separately(y)
        self._x, self._y = x2, y
        return y.reshape(x.shape[:-1] + (self.units,)) if flat else y

    def backward(self, dy, need_dx=True):
        train = self.trainable
        dx = np.empty_like(self._x) if need_dx else None
        flat = len(self._in_shape) != 2
        dy, act = self._kernel_backward_activation(dy.reshape(self._y.shape) if flat else dy)
        # The activation's derivative is applied inside the kernel, on the way to the GEMMs.
        _core.dense_backward(dy, self._x, self.kernel.value, dx,
                             self.kernel.grad if train else None,
                             self.bias.grad if train and self.use_bias else None,
                             self._y, act, self.activation_alpha)
        return dx.reshape(self._in_shape) if need_dx and flat else dx

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=self.activation_name, use_bias=self.use_bias,
                      **weight_args_config(self))
        return config


def _refuse(where, **options):
    """Keras arguments brisknn takes at None only: anything else is said, not ignored. (Keras'
    get_config writes activity_regularizer only when set, so None leaves no key.)"""
    for name, value in options.items():
        if value is not None:
            raise NotImplementedError(f"{where}: {name} is not supported yet (only None)")


class Activation(_ActivationMixin, Layer):
    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self._set_activation(activation)

    def forward(self, x, training=False, logits=False):
        self._emitted_logits = logits
        if logits or self.activation_name == "linear":
            self._y = x
            return x
        y = np.empty_like(x)
        _core.activation_forward(x, y, self.activation_name, self.activation_alpha)
        self._z, self._y = x, y
        return y

    def backward(self, dy, need_dx=True):
        return self._activation_backward(dy) if need_dx else None

    def get_config(self):
        config = super().get_config()
        config["activation"] = self.activation_name
        return config


class Dropout(Layer):
    """Inverted dropout: in training, zeroes a `rate` fraction of units and scales the rest by
    1 / (1 - rate); at inference it passes x through."""

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate!r}")
        _refuse("Dropout", noise_shape=noise_shape)
        self.rate = float(rate)
        self.noise_shape = None
        self.seed = seed
        self._seeds = np.random.default_rng(seed) if seed is not None else None
        self._mask = None

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        seed = int((self._seeds or utils.rng()).integers(0, 2**63))
        y = np.empty_like(x)
        self._mask = np.empty(x.shape, dtype=np.uint8)
        _core.dropout_forward(x, y, self._mask, self.rate, seed)
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        if self._mask is None:
            return dy
        dx = np.empty_like(dy)
        _core.dropout_backward(np.ascontiguousarray(dy), self._mask, dx, self.rate)
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed, noise_shape=self.noise_shape)
        return config


class Masking(Layer):
    """Keras' Masking: a time step whose features all equal `mask_value` is masked for the layers
    after it (compute_mask gives (batch, steps) bools, True where any feature differs), and its
    output is zeroed."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)
        self._keep = self._x = None

    def compute_mask(self, inputs, mask=None):
        if inputs is self._x and self._keep is not None:
            return self._keep  # what forward just computed from the same array
        return np.any(np.not_equal(inputs, self.mask_value), axis=-1)

    def forward(self, x, training=False):
        if x.ndim < 2:
            raise ValueError(f"Layer {self.name!r} (Masking) expects input with a steps axis "
                             f"(batch, steps, features), got an array of shape {x.shape}")
        self._x = x
        self._keep = np.any(x != x.dtype.type(self.mask_value), axis=-1)
        return x * self._keep[..., None]

    def backward(self, dy, need_dx=True):
        return dy * self._keep[..., None] if need_dx else None

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config


class Flatten(Layer):
    """(batch, ...) -> (batch, features). With data_format='channels_first' the input is
    (batch, channels, ...) and, as in Keras, is put channels-last before flattening, so the
    features come in the same order either way."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = backend.standardize_data_format(data_format,
                                                           f"Flatten {self.name!r}")

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)

    def _channels_first(self, x):
        return self.data_format == "channels_first" and x.ndim > 2

    def forward(self, x, training=False):
        if self._channels_first(x):
            x = np.moveaxis(x, 1, -1)
        self._in_shape = x.shape
        return np.ascontiguousarray(x).reshape(x.shape[0], -1)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = dy.reshape(self._in_shape)
        if len(self._in_shape) > 2 and self.data_format == "channels_first":
            dx = np.ascontiguousarray(np.moveaxis(dx, -1, 1))
        return dx

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Reshape(Layer):
    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = _as_shape(target_shape)

    def compute_output_shape(self, input_shape):
        # Keras 3's compute_reshape_output_shape: at most one -1, inferred when the input's
        # size is known, else left None (then the size is checked when data arrives).
        target = list(self.target_shape)
        cannot = (f"Layer {self.name!r} (Reshape): cannot reshape {_shape_str(input_shape)} "
                  f"to {self.target_shape}")
        if target.count(-1) > 1 or any(d is None or (d < 0 and d != -1) for d in target):
            raise ValueError(f"{cannot}: target_shape takes sizes >= 0 and at most one -1")
        if None in input_shape[1:]:
            return (input_shape[0],) + tuple(None if d == -1 else d for d in target)
        known = math.prod(input_shape[1:])
        if -1 in target:
            rest = math.prod(d for d in target if d != -1)
            if rest == 0 or known % rest:
                raise ValueError(cannot)
            target[target.index(-1)] = known // rest
        if math.prod(target) != known:
            raise ValueError(cannot)
        return (input_shape[0],) + tuple(target)

    def forward(self, x, training=False):
        self._in_shape = x.shape
        try:
            return x.reshape((x.shape[0],) + self.target_shape)  # NumPy resolves a -1
        except ValueError:
            raise ValueError(f"Layer {self.name!r} (Reshape): cannot reshape input of shape "
                             f"{x.shape} to {self.target_shape}") from None

    def backward(self, dy, need_dx=True):
        return dy.reshape(self._in_shape) if need_dx else None

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config
