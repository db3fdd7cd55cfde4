"""Conv2D: Keras' 2-D convolution layer on NHWC (channels_last) images."""
import numpy as np

from brisknn import _core, initializers, regularizers
from brisknn.layers.base import Layer
from brisknn.layers.core import _ActivationMixin
from brisknn.ops.conv import conv2d_output_shape, normalize_padding, normalize_pair, workspace


def check_data_format(data_format, where):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{where}: brisknn supports data_format='channels_last' only (images "
                         f"as (batch, height, width, channels)), got {data_format!r}")


class Conv2D(_ActivationMixin, Layer):
    """y = activation(conv(x, kernel) + bias) over x (batch, height, width, channels), with a
    kernel of shape (k_h, k_w, in_channels, filters) as in Keras."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        where = f"Conv2D {self.name!r}"
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"{where}: filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = normalize_pair(kernel_size, "kernel_size", where)
        self.strides = normalize_pair(strides, "strides", where)
        self.padding = normalize_padding(padding, where)
        check_data_format(data_format, where)
        if normalize_pair(dilation_rate, "dilation_rate", where) != (1, 1) or groups != 1:
            raise NotImplementedError(f"{where}: dilation_rate and groups other than 1 are not "
                                      "supported")
        for name, value in (("activity_regularizer", activity_regularizer),
                            ("kernel_constraint", kernel_constraint),
                            ("bias_constraint", bias_constraint)):
            if value is not None:
                raise NotImplementedError(f"{where}: {name} is not supported")
        self._set_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel = self.bias = None
        self._workspace = None  # reused across calls: sized for the largest batch seen

    def _kernel_shape(self, input_shape):
        return self.kernel_size + (input_shape[-1], self.filters)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"Layer {self.name!r} (Conv2D) expects 4-D input (batch, height, "
                             f"width, channels) with known channels, got {tuple(input_shape)}")
        self.compute_output_shape(input_shape)  # raises if the kernel does not fit
        self.kernel = self.add_weight("kernel", self._kernel_shape(input_shape),
                                      self.kernel_initializer, self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        self.bias_regularizer)

    def compute_output_shape(self, input_shape):
        return conv2d_output_shape(tuple(input_shape), self._kernel_shape(input_shape),
                                   self.strides, self.padding,
                                   f"Layer {self.name!r} (Conv2D)")

    def _workspace_for(self, x, backward):
        self._workspace = workspace(self._workspace, x.shape, self.kernel.shape, self.strides,
                                    self.padding, backward, x.dtype)
        return self._workspace

    def forward(self, x, training=False, logits=False):
        act = self._kernel_activation(logits)
        y = np.empty(self.compute_output_shape(x.shape), dtype=x.dtype)
        # Training sizes the workspace for backward too, so backward finds it ready.
        ws = self._workspace_for(x, backward=training)
        _core.conv2d_forward(x, self.kernel.value, self.bias.value if self.use_bias else None, y,
                             ws, self.strides, self.padding, act, self.activation_alpha)
        y = self._activate_separately(y)
        self._x, self._y = x, y
        return y

    def backward(self, dy, need_dx=True):
        train = self.trainable
        dx = np.empty_like(self._x) if need_dx else None
        # The kernel applies the activation's derivative block by block (from y), fused.
        dy, act = self._kernel_backward_activation(
            np.ascontiguousarray(dy, dtype=self._y.dtype))
        _core.conv2d_backward(dy, self._x,
                              self.kernel.value, dx, self.kernel.grad if train else None,
                              self.bias.grad if train and self.use_bias else None,
                              self._workspace_for(self._x, backward=True), self.strides,
                              self.padding, self._y, act, self.activation_alpha)
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      padding=self.padding, data_format="channels_last", dilation_rate=(1, 1),
                      groups=1, activation=self.activation_name, use_bias=self.use_bias,
                      kernel_initializer=initializers.serialize(self.kernel_initializer),
                      bias_initializer=initializers.serialize(self.bias_initializer),
                      kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
                      bias_regularizer=regularizers.serialize(self.bias_regularizer),
                      kernel_constraint=None, bias_constraint=None)
        return config


Convolution2D = Conv2D
