"""Activation layers with their own arguments (Keras 3's keras/src/layers/activations/):
LeakyReLU (the discriminator's activation in Keras' GAN recipes), ReLU, Softmax and ELU."""
import warnings

import numpy as np

from brisknn import activations
from brisknn.layers.base import Layer
from brisknn.layers.core import Activation


class LeakyReLU(Activation):
    """x for x >= 0, negative_slope * x below (Keras 3's default slope 0.3; the activation
    function 'leaky_relu' defaults to 0.2). The C++ activation kernels run it with this slope."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # Keras 2's name, still accepted by Keras 3
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.",
                          stacklevel=2)
        if negative_slope is None or isinstance(negative_slope, bool) or negative_slope < 0:
            raise ValueError("The negative_slope value of a Leaky ReLU layer cannot be None or "
                             "negative value. Expected a float. Received: "
                             f"negative_slope={negative_slope}")
        super().__init__("leaky_relu", **kwargs)
        self.negative_slope = float(negative_slope)
        self.activation_alpha = self.negative_slope

    def get_config(self):
        config = Layer.get_config(self)  # not Activation's: the activation is implied
        config["negative_slope"] = self.negative_slope
        return config


class ReLU(Activation):
    """Keras 3's ReLU layer: max(x, 0) by default; `negative_slope` below `threshold`, capped
    at `max_value` (activations.relu's rule). The plain, relu6 and leaky cases run on the C++
    kernels; the others in NumPy."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        if max_value is not None and max_value < 0.0:
            raise ValueError("max_value of a ReLU layer cannot be a negative value. "
                             f"Received: max_value={max_value}")
        if negative_slope is None or negative_slope < 0.0:
            raise ValueError("negative_slope of a ReLU layer cannot be a negative value. "
                             f"Received: negative_slope={negative_slope}")
        if threshold is None or threshold < 0.0:
            raise ValueError("threshold of a ReLU layer cannot be a negative value. "
                             f"Received: threshold={threshold}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)
        plain = self.threshold == 0 and self.negative_slope == 0
        if plain and self.max_value == 6.0:
            kernel = "relu6"
        elif self.threshold == 0 and self.max_value is None:
            kernel = "leaky_relu" if self.negative_slope else "relu"
        else:
            kernel = None
        super().__init__(kernel or "relu", **kwargs)
        self._numpy = kernel is None
        if kernel == "leaky_relu":
            self.activation_alpha = self.negative_slope

    def forward(self, x, training=False, logits=False):
        if not self._numpy:
            return super().forward(x, training, logits)
        self._emitted_logits = False
        self._x = x
        return np.asarray(activations.relu(x, self.negative_slope, self.max_value,
                                           self.threshold))

    def backward(self, dy, need_dx=True):
        if not self._numpy:
            return super().backward(dy, need_dx)
        if not need_dx:
            return None
        x = self._x
        above = x > self.threshold
        if self.max_value is not None:
            slope = above & (x < self.max_value)
        else:
            slope = above
        grad = slope.astype(x.dtype) + self.negative_slope * (x < self.threshold)
        return (dy * grad).astype(dy.dtype, copy=False)

    def get_config(self):
        config = Layer.get_config(self)
        config.update(max_value=self.max_value, negative_slope=self.negative_slope,
                      threshold=self.threshold)
        return config


class Softmax(Activation):
    """Keras 3's Softmax layer over `axis` (the last by default, which the model can fuse with
    a cross-entropy as it does the 'softmax' activation)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__("softmax", **kwargs)
        self.axis = int(axis)

    def forward(self, x, training=False, logits=False):
        if self.axis % max(x.ndim, 1) == x.ndim - 1:
            return super().forward(x, training, logits)
        self._emitted_logits = False
        self._y = np.asarray(activations.softmax(x, axis=self.axis)).astype(x.dtype, copy=False)
        return self._y

    def backward(self, dy, need_dx=True):
        if self.axis % max(dy.ndim, 1) == dy.ndim - 1:
            return super().backward(dy, need_dx)
        if not need_dx:
            return None
        y = self._y
        return y * (dy - (dy * y).sum(axis=self.axis, keepdims=True))

    def get_config(self):
        config = Layer.get_config(self)
        config["axis"] = self.axis
        return config


class ELU(Activation):
    """Keras 3's ELU layer: x for x > 0, alpha * (exp(x) - 1) below."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__("elu", **kwargs)
        self.alpha = float(alpha)
        self.activation_alpha = self.alpha

    def get_config(self):
        config = Layer.get_config(self)
        config["alpha"] = self.alpha
        return config


class PReLU(Layer):
    """Keras 3's PReLU: x for x > 0, alpha * x below, alpha a trainable weight of the input's
    shape (without the batch axis), shared (size 1) along `shared_axes` (numbered from 1)."""

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        from brisknn import initializers, regularizers
        if alpha_constraint is not None:
            raise NotImplementedError(f"PReLU {self.name!r}: alpha_constraint is not supported")
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, (list, tuple)):
            self.shared_axes = [int(a) for a in shared_axes]
        else:
            self.shared_axes = [int(shared_axes)]
        self.alpha = None

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"Layer {self.name!r} (PReLU): every non-shared axis of the input "
                             f"must be known, got {input_shape}")
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer,
                                     self.alpha_regularizer)

    def forward(self, x, training=False):
        self._x = x
        return np.where(x > 0, x, self.alpha.value * x).astype(x.dtype, copy=False)

    def backward(self, dy, need_dx=True):
        x = self._x
        if self.trainable:
            # d/dalpha = min(x, 0), summed over the batch and the shared axes
            grad = dy * np.minimum(x, 0)
            axes = (0,) + tuple(a for a in self.shared_axes or ())
            self.alpha.grad += grad.sum(axis=axes, keepdims=True)[0].reshape(
                self.alpha.shape)
        if not need_dx:
            return None
        return dy * np.where(x > 0, 1, self.alpha.value).astype(dy.dtype, copy=False)

    def get_config(self):
        from brisknn import initializers, regularizers
        config = Layer.get_config(self)
        config.update(alpha_initializer=initializers.serialize(self.alpha_initializer),
                      alpha_regularizer=regularizers.serialize(self.alpha_regularizer),
                      alpha_constraint=None, shared_axes=self.shared_axes)
        return config
