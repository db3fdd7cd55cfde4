"""BatchNormalization: Keras 3's layer (keras/src/layers/normalization/batch_normalization.py),
with its transfer-learning rule: a frozen layer (trainable=False) runs in inference mode."""
import numpy as np

from brisknn import constraints, initializers, regularizers
from brisknn.layers.base import Layer, _shape_str


class BatchNormalization(Layer):
    """y = gamma (x - mean) / sqrt(variance + epsilon) + beta, per feature along `axis`.

    In training (fit, train_on_batch, training=True) of a trainable layer the mean and the
    (biased) variance are the batch's, and the moving statistics move towards them:
    moving = momentum * moving + (1 - momentum) * batch. Otherwise, and always once the layer
    is frozen, the moving statistics normalize. Weights in Keras' order: gamma, beta
    (trainable), moving_mean, moving_variance (non-trainable, never stepped by an optimizer).
    The batch statistics are NumPy reductions.
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

    def _broadcast(self, values, ndim):
        shape = [1] * ndim
        shape[self.axis] = -1
        return values.reshape(shape)

    def forward(self, x, training=False, mask=None):
        axis = self.axis % x.ndim
        axes = tuple(a for a in range(x.ndim) if a != axis)
        self._batch_mode = bool(training and self.trainable)
        if self._batch_mode:
            if mask is not None:
                raise NotImplementedError(f"Layer {self.name!r} (BatchNormalization): batch "
                                          "statistics over masked steps are not supported")
            mean = x.mean(axis=axes, dtype=x.dtype)
            variance = x.var(axis=axes, dtype=x.dtype)  # biased, as Keras 3's ops.moments
            m = x.dtype.type(self.momentum)
            self.moving_mean.assign(self.moving_mean.value * m + mean * (1 - m))
            self.moving_variance.assign(self.moving_variance.value * m + variance * (1 - m))
        else:
            mean, variance = self.moving_mean.value, self.moving_variance.value
        inv = 1 / np.sqrt(variance.astype(x.dtype) + x.dtype.type(self.epsilon))
        x_hat = (x - self._broadcast(mean.astype(x.dtype), x.ndim)) * \
            self._broadcast(inv, x.ndim)
        self._x_hat, self._inv, self._axes = x_hat, inv, axes
        y = x_hat * self._broadcast(self.gamma.value, x.ndim) if self.scale else x_hat.copy()
        if self.center:
            y += self._broadcast(self.beta.value, x.ndim)
        return y

    def backward(self, dy, need_dx=True):
        x_hat, inv, axes = self._x_hat, self._inv, self._axes
        dy = np.asarray(dy, dtype=x_hat.dtype)
        if self.trainable:
            if self.center:
                self.beta.grad += dy.sum(axis=axes)
            if self.scale:
                self.gamma.grad += (dy * x_hat).sum(axis=axes)
        if not need_dx:
            return None
        gamma = self.gamma.value if self.scale else np.ones_like(inv)
        dx_hat = dy * self._broadcast(gamma, dy.ndim)
        if not self._batch_mode:  # the statistics are constants
            return dx_hat * self._broadcast(inv, dy.ndim)
        # The batch mean and variance depend on x too.
        count = dy.size // dy.shape[self.axis % dy.ndim]
        mean_dx_hat = self._broadcast(dx_hat.mean(axis=axes), dy.ndim)
        mean_dx_hat_x_hat = self._broadcast((dx_hat * x_hat).sum(axis=axes) / count, dy.ndim)
        return (dx_hat - mean_dx_hat - x_hat * mean_dx_hat_x_hat) * \
            self._broadcast(inv, dy.ndim)

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
