"""BatchNormalization: Keras 3's layer (keras/src/layers/normalization/batch_normalization.py),
with its transfer-learning rule: a frozen layer (trainable=False) runs in inference mode."""
import math

import numpy as np

from brisknn import _core, constraints, initializers, regularizers
from brisknn.layers.base import Layer, _shape_str


class BatchNormalization(Layer):
    """y = gamma (x - mean) / sqrt(variance + epsilon) + beta, per feature along `axis`.

    In training (fit, train_on_batch, training=True) of a trainable layer the mean and the
    (biased) variance are the batch's, and the moving statistics move towards them:
    moving = momentum * moving + (1 - momentum) * batch. Otherwise, and always once the layer
    is frozen, the moving statistics normalize. Weights in Keras' order: gamma, beta
    (trainable), moving_mean, moving_variance (non-trainable, never stepped by an optimizer).
    The statistics are summed in double (cpp/src/normalization.cpp).
    """

    supports_masking = True
    forward_takes_mask = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        where = f"BatchNormalization {self.name!r}"
        if synchronized:
            raise ValueError("Argument synchronized=True is only supported with the "
                             "TensorFlow backend.")
        if isinstance(axis, (list, tuple)):
            raise NotImplementedError(f"{where}: one axis only (an int), got {axis!r}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.synchronized = False
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint, f"{where}: beta_constraint")
        self.gamma_constraint = constraints.get(gamma_constraint, f"{where}: gamma_constraint")
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def _accepts(self, input_shape):
        # Keras' InputSpec: the rank it was built for and the size of `axis`, nothing else.
        expected = self.input_shape
        return expected is None or len(input_shape) == len(expected) and \
            input_shape[self.axis] in (None, expected[self.axis])

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank or input_shape[self.axis] is None:
            raise ValueError(f"Layer {self.name!r} (BatchNormalization): axis {self.axis} of "
                             f"input shape {_shape_str(input_shape)} must exist and be known")
        shape = (input_shape[self.axis],)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                         self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                        self.beta_regularizer, constraint=self.beta_constraint)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               self.moving_variance_initializer,
                                               trainable=False)

    def _as_3d(self, a):
        """a viewed as (outer, channels, inner) around `axis`: the kernels' layout."""
        axis = self.axis % a.ndim  # sizes, not -1: an empty batch has no size to infer
        return a.reshape(math.prod(a.shape[:axis]), a.shape[axis], math.prod(a.shape[axis + 1:]))

    def forward(self, x, training=False, mask=None):
        x = np.ascontiguousarray(x)
        x3 = self._as_3d(x)
        self._batch_mode = bool(training and self.trainable)
        if self._batch_mode:
            if mask is not None:
                raise NotImplementedError(f"Layer {self.name!r} (BatchNormalization): batch "
                                          "statistics over masked steps are not supported")
            mean, variance = np.empty(x3.shape[1], x.dtype), np.empty(x3.shape[1], x.dtype)
            _core.batch_norm_moments(x3, mean, variance)  # variance biased, as ops.moments
            m = x.dtype.type(self.momentum)
            self.moving_mean.assign(self.moving_mean.value * m + mean * (1 - m))
            self.moving_variance.assign(self.moving_variance.value * m + variance * (1 - m))
        else:
            mean = self.moving_mean.value.astype(x.dtype)
            variance = self.moving_variance.value.astype(x.dtype)
        inv = 1 / np.sqrt(variance + x.dtype.type(self.epsilon))
        y = np.empty_like(x)
        _core.batch_norm_forward(x3, mean, inv, self.gamma.value if self.scale else None,
                                 self.beta.value if self.center else None, self._as_3d(y))
        self._x, self._mean, self._inv = x3, mean, inv
        return y

    def backward(self, dy, need_dx=True):
        x3 = self._x
        dy = np.ascontiguousarray(dy, dtype=x3.dtype)
        dx = np.empty_like(dy) if need_dx else None
        train = self.trainable
        _core.batch_norm_backward(
            dy.reshape(x3.shape), x3, self._mean, self._inv,
            self.gamma.value if self.scale else None,
            None if dx is None else dx.reshape(x3.shape),
            self.gamma.grad if train and self.scale else None,
            self.beta.grad if train and self.center else None, self._batch_mode)
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(
            axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center,
            scale=self.scale, beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            moving_mean_initializer=initializers.serialize(self.moving_mean_initializer),
            moving_variance_initializer=initializers.serialize(
                self.moving_variance_initializer),
            beta_regularizer=regularizers.serialize(self.beta_regularizer),
            gamma_regularizer=regularizers.serialize(self.gamma_regularizer),
            beta_constraint=constraints.serialize(self.beta_constraint),
            gamma_constraint=constraints.serialize(self.gamma_constraint), synchronized=False)
        return config


class LayerNormalization(Layer):
    """Keras 3's LayerNormalization: each sample normalized over `axis` (the last by default,
    or a list of axes), y = gamma (x - mean) / sqrt(variance + epsilon) + beta, gamma and beta
    (in that order) of the normalized axes' shape. Statistics are per sample, so training and
    inference agree."""

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        where = f"LayerNormalization {self.name!r}"
        for name, value in (("beta_constraint", beta_constraint),
                            ("gamma_constraint", gamma_constraint)):
            if value is not None:
                raise NotImplementedError(f"{where}: {name} is not supported")
        if rms_scaling:
            raise NotImplementedError(f"{where}: rms_scaling=True is not supported")
        if isinstance(axis, (list, tuple)):
            self.axis = [int(a) for a in axis]
        elif isinstance(axis, int):
            self.axis = int(axis)
        else:
            raise TypeError("Expected an int or a list/tuple of ints for the argument 'axis', "
                            f"but received: {axis}")
        self.epsilon = float(epsilon)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), False
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.gamma = self.beta = None

    def build(self, input_shape):
        rank = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if any(not -rank <= a < rank for a in axes):
            raise ValueError(f"Layer {self.name!r} (LayerNormalization): axis {self.axis} is "
                             f"out of range for input shape {_shape_str(input_shape)}")
        self._axes = tuple(sorted(a % rank for a in axes))
        if 0 in self._axes or any(input_shape[a] is None for a in self._axes):
            raise ValueError(f"Layer {self.name!r} (LayerNormalization): the normalized axes "
                             f"{self.axis} of {_shape_str(input_shape)} must be known feature "
                             "axes")
        shape = tuple(input_shape[a] for a in self._axes)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                         self.gamma_regularizer)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                        self.beta_regularizer)

    def _broadcast(self, values, ndim):
        shape = [1] * ndim
        for a, size in zip(self._axes, values.shape):
            shape[a] = size
        return values.reshape(shape)

    def forward(self, x, training=False):
        mean = x.mean(axis=self._axes, keepdims=True, dtype=x.dtype)
        variance = x.var(axis=self._axes, keepdims=True, dtype=x.dtype)
        self._inv = 1 / np.sqrt(variance + x.dtype.type(self.epsilon))
        self._x_hat = (x - mean) * self._inv
        y = self._x_hat * self._broadcast(self.gamma.value, x.ndim) if self.scale \
            else self._x_hat.copy()
        if self.center:
            y += self._broadcast(self.beta.value, x.ndim)
        return y

    def backward(self, dy, need_dx=True):
        x_hat = self._x_hat
        dy = np.asarray(dy, dtype=x_hat.dtype)
        others = tuple(a for a in range(dy.ndim) if a not in self._axes)
        if self.trainable:
            if self.center:
                self.beta.grad += dy.sum(axis=others)
            if self.scale:
                self.gamma.grad += (dy * x_hat).sum(axis=others)
        if not need_dx:
            return None
        dx_hat = dy * self._broadcast(self.gamma.value, dy.ndim) if self.scale else dy
        mean_dx_hat = dx_hat.mean(axis=self._axes, keepdims=True)
        mean_dx_hat_x_hat = (dx_hat * x_hat).mean(axis=self._axes, keepdims=True)
        return (dx_hat - mean_dx_hat - x_hat * mean_dx_hat_x_hat) * self._inv

    def get_config(self):
        config = super().get_config()
        config.update(
            axis=self.axis, epsilon=self.epsilon, center=self.center, scale=self.scale,
            rms_scaling=False, beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            beta_regularizer=regularizers.serialize(self.beta_regularizer),
            gamma_regularizer=regularizers.serialize(self.gamma_regularizer),
            beta_constraint=None, gamma_constraint=None)
        return config
