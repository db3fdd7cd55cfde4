"""DepthwiseConv2D and SeparableConv2D: Keras 3's depthwise (one kernel set per input channel)
and depthwise-separable convolutions on the depthwise_conv2d kernels and the Conv2D ones, with
Keras' weight names, shapes and order."""
import numpy as np

from brisknn import _core, constraints, initializers, regularizers
from brisknn.layers.base import Layer, _shape_str, weight_args_config
from brisknn.layers.conv import Conv2D, _ConvOptions
from brisknn.ops.conv import conv2d_output_shape, workspace


def _positive_int(value, name, where):
    """Keras' message for depth_multiplier (and the like), naming the layer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{where}: Invalid value for argument `{name}`. Expected a strictly "
                         f"positive value. Received {name}={value}.")
    return int(value)


class DepthwiseConv2D(Conv2D):
    """Each input channel c convolved with its own depth_multiplier kernels, output channel
    c * depth_multiplier + m (TF's order); Keras 3's weights: kernel (k_h, k_w, in_channels,
    depth_multiplier), then bias (in_channels * depth_multiplier,).

    It is the grouped Conv2D with one group per input channel (the kernel viewed as
    (k_h, k_w, 1, in_channels * depth_multiplier)), which gives its shapes and checks; it runs
    on its own kernels, depthwise_conv2d_forward/backward: per output pixel a tap is one
    multiply-add over all channels, where the grouped GEMMs would be one tiny product each."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        Layer.__init__(self, **kwargs)
        where = f"DepthwiseConv2D {self.name!r}"
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier", where)
        self._set_conv_options(where, 1, kernel_size, strides, padding, data_format,
                               dilation_rate, activation, use_bias, depthwise_initializer,
                               bias_initializer, depthwise_regularizer, bias_regularizer,
                               activity_regularizer=activity_regularizer,
                               kernel_constraint=depthwise_constraint,
                               bias_constraint=bias_constraint)
        self.filters = None  # in_channels * depth_multiplier, known at build

    # Keras' argument names for the kernel's initializer, regularizer and constraint
    depthwise_initializer = property(lambda self: self.kernel_initializer)
    depthwise_regularizer = property(lambda self: self.kernel_regularizer)
    depthwise_constraint = property(lambda self: self.kernel_constraint)
    depthwise_kernel = property(lambda self: self.kernel)  # Keras 2's attribute name

    def _kernel_4d(self, array):
        kh, kw, channels, multiplier = array.shape
        return array.reshape(kh, kw, 1, channels * multiplier)

    def _kernel_shape(self, input_shape):
        channels = input_shape[-1]
        return self.kernel_size + (1, None if channels is None else
                                   channels * self.depth_multiplier)

    def _convolve(self, x4, strides, padding, training, logits):
        act = self._kernel_activation(logits)
        y = np.empty(conv2d_output_shape(x4.shape, self._kernel_4d(self.kernel.value).shape,
                                         strides, padding, "depthwise_conv2d",
                                         self.dilation_rate, self.groups), dtype=x4.dtype)
        _core.depthwise_conv2d_forward(x4, self.kernel.value,
                                       self.bias.value if self.use_bias else None, y, strides,
                                       padding, act, self.activation_alpha, self.dilation_rate)
        y = self._activate_separately(y)
        self._x, self._y = x4, y
        return y

    def _convolve_backward(self, dy4, strides, padding, need_dx):
        train = self.trainable
        dx = np.empty_like(self._x) if need_dx else None
        dy4, act = self._kernel_backward_activation(
            np.ascontiguousarray(dy4, dtype=self._y.dtype))
        _core.depthwise_conv2d_backward(dy4, self._x, self.kernel.value, dx,
                                        self.kernel.grad if train else None,
                                        self.bias.grad if train and self.use_bias else None,
                                        strides, padding, self._y, act, self.activation_alpha,
                                        self.dilation_rate)
        return dx

    def _channels(self, input_shape):
        channels = self._last_shape(input_shape)[-1]
        if channels is not None:
            self.groups, self.filters = channels, channels * self.depth_multiplier
        return channels

    def build(self, input_shape):
        self._check_input_rank(input_shape, known_channels=True)
        channels = self._channels(input_shape)
        self.compute_output_shape(input_shape)  # raises if the kernel does not fit
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels,
                                                                    self.depth_multiplier),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        self._check_input_rank(input_shape)
        if self.kernel is None:
            self._channels(input_shape)
        shape = self._last_shape(input_shape)
        channels = shape[-1] if self.kernel is None else self.kernel.shape[2]
        kernel = self.kernel_size + (1, None if channels is None else
                                     channels * self.depth_multiplier)
        return self._first_shape(conv2d_output_shape(
            shape, kernel, self.strides, self.padding, self._where(True), self.dilation_rate,
            self.groups if channels is not None else 1))

    def get_config(self):
        config = Layer.get_config(self)
        config.update(depth_multiplier=self.depth_multiplier, kernel_size=self.kernel_size,
                      strides=self.strides, padding=self.padding, data_format=self.data_format,
                      dilation_rate=self.dilation_rate, activation=self.activation_name,
                      use_bias=self.use_bias,
                      **weight_args_config(self, ("depthwise", "bias")))
        return config


class SeparableConv2D(_ConvOptions, Layer):
    """A depthwise convolution (kernel (k_h, k_w, in_channels, depth_multiplier), strides,
    padding and dilation here) then a pointwise one (kernel (1, 1, in_channels *
    depth_multiplier, filters)), then bias and activation; Keras 3's weights in its order:
    depthwise_kernel, pointwise_kernel, bias. The two steps run on the Conv2D kernels (the
    first by DepthwiseConv2D's kernels), the bias and activation fused into the second."""

    input_spec_last_axis_only = True

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        where = f"SeparableConv2D {self.name!r}"
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier", where)
        self._set_conv_options(where, filters, kernel_size, strides, padding, data_format,
                               dilation_rate, activation, use_bias, depthwise_initializer,
                               bias_initializer, depthwise_regularizer, bias_regularizer,
                               activity_regularizer=activity_regularizer,
                               kernel_constraint=depthwise_constraint,
                               bias_constraint=bias_constraint)
        self.depthwise_initializer = self.kernel_initializer
        self.depthwise_regularizer = self.kernel_regularizer
        self.depthwise_constraint = self.kernel_constraint
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint,
                                                    f"{where}: pointwise_constraint")
        self.depthwise_kernel = self.pointwise_kernel = None
        self._pointwise_workspace = None

    def build(self, input_shape):
        channels = self._check_input_rank(input_shape, known_channels=True)
        self.compute_output_shape(input_shape)  # raises if the kernel does not fit
        middle = channels * self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (channels, self.depth_multiplier),
            self.depthwise_initializer, self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1, 1, middle, self.filters), self.pointwise_initializer,
            self.pointwise_regularizer, constraint=self.pointwise_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        self.bias_regularizer, constraint=self.bias_constraint)

    def _depthwise_4d(self, array):
        kh, kw, channels, multiplier = array.shape
        return array.reshape(kh, kw, 1, channels * multiplier)

    def compute_output_shape(self, input_shape):
        self._check_input_rank(input_shape)
        shape = self._last_shape(input_shape)
        channels = shape[-1]
        if self.depthwise_kernel is not None and channels not in (
                None, self.depthwise_kernel.shape[2]):
            raise ValueError(f"{self._where(True)}: input of shape {_shape_str(input_shape)} "
                             f"has {channels} channels, the depthwise_kernel of shape "
                             f"{self.depthwise_kernel.shape} expects "
                             f"{self.depthwise_kernel.shape[2]}")
        kernel = self.kernel_size + (1, None if channels is None else
                                     channels * self.depth_multiplier)
        out = conv2d_output_shape(shape, kernel, self.strides, self.padding, self._where(True),
                                  self.dilation_rate, 1 if channels is None else channels)
        return self._first_shape(out[:3] + (self.filters,))

    def forward(self, x, training=False, logits=False):
        return self._outer_forward(x, logits, lambda x, logits: self._forward_last(
            x, training, logits))

    def _forward_last(self, x, training, logits):
        channels = x.shape[-1]
        depthwise = self._depthwise_4d(self.depthwise_kernel.value)
        middle = np.empty(conv2d_output_shape(x.shape, depthwise.shape, self.strides,
                                              self.padding, self._where(True),
                                              self.dilation_rate, channels), dtype=x.dtype)
        _core.depthwise_conv2d_forward(x, self.depthwise_kernel.value, None, middle,
                                       self.strides, self.padding, "linear", 0.0,
                                       self.dilation_rate)
        act = self._kernel_activation(logits)
        pointwise = self.pointwise_kernel.value
        y = np.empty(middle.shape[:3] + (self.filters,), dtype=x.dtype)
        self._pointwise_workspace = workspace(self._pointwise_workspace, middle.shape,
                                              pointwise.shape, (1, 1), "valid", training,
                                              x.dtype)
        _core.conv2d_forward(middle, pointwise, self.bias.value if self.use_bias else None, y,
                             self._pointwise_workspace, (1, 1), "valid", act,
                             self.activation_alpha)
        y = self._activate_separately(y)
        self._x, self._middle, self._y = x, middle, y
        return y

    def backward(self, dy, need_dx=True):
        return self._outer_backward(dy, lambda dy: self._backward_last(dy, need_dx))

    def _backward_last(self, dy, need_dx):
        train = self.trainable
        dy, act = self._kernel_backward_activation(
            np.ascontiguousarray(dy, dtype=self._y.dtype))
        dmiddle = np.empty_like(self._middle)
        self._pointwise_workspace = workspace(self._pointwise_workspace, self._middle.shape,
                                              self.pointwise_kernel.shape, (1, 1), "valid",
                                              True, dy.dtype)
        _core.conv2d_backward(dy, self._middle, self.pointwise_kernel.value, dmiddle,
                              self.pointwise_kernel.grad if train else None,
                              self.bias.grad if train and self.use_bias else None,
                              self._pointwise_workspace, (1, 1), "valid", self._y, act,
                              self.activation_alpha)
        if not (need_dx or train):
            return None
        dx = np.empty_like(self._x) if need_dx else None
        _core.depthwise_conv2d_backward(dmiddle, self._x, self.depthwise_kernel.value, dx,
                                        self.depthwise_kernel.grad if train else None, None,
                                        self.strides, self.padding,
                                        dilation_rate=self.dilation_rate)
        return dx

    def get_config(self):
        config = Layer.get_config(self)
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      padding=self.padding, data_format=self.data_format,
                      dilation_rate=self.dilation_rate, depth_multiplier=self.depth_multiplier,
                      activation=self.activation_name, use_bias=self.use_bias,
                      **weight_args_config(self, ("depthwise", "pointwise", "bias")))
        return config


SeparableConvolution2D = SeparableConv2D
