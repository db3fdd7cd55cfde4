"""Conv2D and Conv2DTranspose: Keras' 2-D convolution layers on NHWC (channels_last) images;
Conv1D on (batch, steps, channels) sequences, run by the same 2-D kernels on images of height 1.
With data_format='channels_first' the input is (batch, channels, *spatial): it is transposed to
channels_last around the same kernels (a copy each way), and the weights keep Keras' shapes."""
import numpy as np

from brisknn import _core, activations, backend, constraints, initializers, regularizers
from brisknn.layers.base import Layer, _shape_str, weight_args_config
from brisknn.layers.core import _ActivationMixin
from brisknn.ops.conv import (conv2d_output_shape, normalize_padding,
                              normalize_tuple, workspace)


standardize_data_format = backend.standardize_data_format


class DataFormat:
    """For a layer whose kernels run channels_last: moves a channels_first input's channel axis
    last on the way in and back on the way out (shapes and arrays, any rank)."""

    data_format = "channels_last"

    @property
    def _first(self):
        return self.data_format == "channels_first"

    def _last_shape(self, shape):
        shape = tuple(shape)
        return shape[:1] + shape[2:] + shape[1:2] if self._first and len(shape) > 2 else shape

    def _first_shape(self, shape):
        shape = tuple(shape)
        return shape[:1] + shape[-1:] + shape[1:-1] if self._first and len(shape) > 2 else shape

    def _to_last(self, x):
        return np.ascontiguousarray(np.moveaxis(x, 1, -1)) if self._first else x

    def _to_first(self, y):
        if y is None or not self._first:
            return y
        return np.ascontiguousarray(np.moveaxis(y, -1, 1))

    def _layout(self, spatial):
        """'(batch, height, width, channels)' or the channels_first order, for messages."""
        return "(batch, channels, " + spatial + ")" if self._first \
            else "(batch, " + spatial + ", channels)"


class _ConvOptions(DataFormat, _ActivationMixin):
    """The arguments Conv1D, Conv2D and Conv2DTranspose share, checked and kept in one place.
    `rank` is the number of spatial axes (2 for images, 1 for sequences)."""

    rank = 2
    _paddings = ("valid", "same")
    _spatial_names = "height, width"

    def _set_conv_options(self, where, filters, kernel_size, strides, padding, data_format,
                          dilation_rate, activation, use_bias, kernel_initializer,
                          bias_initializer, kernel_regularizer, bias_regularizer,
                          kernel_constraint=None, bias_constraint=None,
                          activity_regularizer=None):
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"{where}: filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = normalize_tuple(kernel_size, self.rank, "kernel_size", where)
        self.strides = normalize_tuple(strides, self.rank, "strides", where)
        self.padding = normalize_padding(padding, where, self._paddings)
        self.data_format = standardize_data_format(data_format, where)
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, "dilation_rate", where)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            # Keras' BaseConv rule, for any mix of axes
            raise ValueError(f"{where}: `strides > 1` not supported in conjunction with "
                             f"`dilation_rate > 1`. Received: strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._set_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint, f"{where}: kernel_constraint")
        self.bias_constraint = constraints.get(bias_constraint, f"{where}: bias_constraint")
        self.kernel = self.bias = None
        self._workspace = None  # reused across calls: sized for the largest batch seen

    def _accepts(self, input_shape):
        # Keras' InputSpec axes={channel_axis: channels}: the channels axis is 1 when first.
        expected = self.input_shape
        if not self._first or expected is None:
            return super()._accepts(input_shape)
        return len(input_shape) == len(expected) and (
            expected[1] is None or input_shape[1] in (None, expected[1]))

    # -- channels_first around the channels_last computation ------------------------------
    def _row_wise_after(self):
        """Softmax and log_softmax run over Keras' last axis, which is not the channels when
        they come first: then the kernels run linear and the activation follows the transpose
        back (the other activations are element-wise, so the layout does not matter)."""
        return self._first and self.activation_name in activations.ROW_WISE

    def _outer_forward(self, x, logits, run):
        """run(x channels_last, logits) -> y channels_last, for x in this layer's layout."""
        if not self._row_wise_after():
            return self._to_first(run(self._to_last(x), logits))
        z = self._to_first(run(self._to_last(x), True))
        self._outer_logits = logits
        if logits:
            return z
        self._outer_y = np.empty_like(z)
        _core.activation_forward(z, self._outer_y, self.activation_name, self.activation_alpha)
        return self._outer_y

    def _outer_backward(self, dy, run):
        """run(dy channels_last) -> dx channels_last (or None), for dy in this layer's layout."""
        if self._row_wise_after() and not self._outer_logits:
            dy = np.ascontiguousarray(dy, dtype=self._outer_y.dtype)
            dz = np.empty_like(dy)
            _core.activation_backward(dy, self._outer_y, dz, self.activation_name,
                                      self.activation_alpha)
            dy = dz
        return self._to_first(run(self._to_last(dy)))

    def _where(self, shape_in_last=False):
        name = f"Layer {self.name!r} ({type(self).__name__}"
        return name + (", channels_first input seen as channels_last)" if shape_in_last and
                       self._first else ")")

    def _check_input_rank(self, input_shape, known_channels=False):
        rank = self.rank + 2
        channels = self._last_shape(input_shape)[-1] if len(input_shape) == rank else None
        if len(input_shape) != rank or (known_channels and channels is None):
            raise ValueError(f"{self._where()} expects {rank}-D input "
                             f"{self._layout(self._spatial_names)}"
                             f"{' with known channels' if known_channels else ''}, got "
                             f"shape {_shape_str(input_shape)}")
        return channels

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      padding=self.padding, data_format=self.data_format,
                      dilation_rate=self.dilation_rate,
                      activation=self.activation_name, use_bias=self.use_bias,
                      **weight_args_config(self))
        return config


class _Convolution(_ConvOptions, Layer):
    """What Conv1D and Conv2D share: the calls into the 2-D kernels on NHWC arrays. A kernel is
    handed to them as (k_h, k_w, in_channels, filters); Conv1D's (k, in, filters) weight is
    viewed as (1, k, in, filters), its gradient the same way, so both accumulate in place."""

    input_spec_last_axis_only = True  # Keras: the rank and the channels; any spatial size
    groups = 1

    def _set_groups(self, groups, filters, where):
        """Keras' BaseConv checks of `groups` (its messages), naming the layer."""
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups <= 0:
            raise ValueError(f"{where}: The number of groups must be a positive integer. "
                             f"Received: groups={groups}.")
        if isinstance(filters, (int, np.integer)) and not isinstance(filters, bool) and \
                filters > 0 and filters % groups != 0:
            raise ValueError(f"{where}: The number of filters must be evenly divisible by the "
                             f"number of groups. Received: groups={groups}, filters={filters}.")
        self.groups = int(groups)

    def _group_channels(self, input_shape):
        """in_channels // groups, after Keras' build check that groups divide them."""
        channels = self._last_shape(input_shape)[-1]
        if channels is not None and channels % self.groups != 0:
            raise ValueError(f"{self._where()}: The number of input channels must be evenly "
                             f"divisible by the number of groups. Received groups="
                             f"{self.groups}, but the input has {channels} channels (full input "
                             f"shape is {_shape_str(input_shape)}).")
        return None if channels is None else channels // self.groups

    def _kernel_4d(self, array):
        return array

    @property
    def _dilation_2d(self):
        return self.dilation_rate

    def _workspace_for(self, x4, strides, padding, backward):
        self._workspace = workspace(self._workspace, x4.shape,
                                    self._kernel_4d(self.kernel.value).shape, strides, padding,
                                    backward, x4.dtype, self._dilation_2d, self.groups)
        return self._workspace

    def _convolve(self, x4, strides, padding, training, logits):
        """y (batch, out_h, out_w, filters) from x4 (batch, h, w, in_channels)."""
        act = self._kernel_activation(logits)
        kernel = self._kernel_4d(self.kernel.value)
        y = np.empty(conv2d_output_shape(x4.shape, kernel.shape, strides, padding, "conv2d",
                                         self._dilation_2d, self.groups), dtype=x4.dtype)
        # Training sizes the workspace for backward too, so backward finds it ready.
        ws = self._workspace_for(x4, strides, padding, backward=training)
        _core.conv2d_forward(x4, kernel, self.bias.value if self.use_bias else None, y, ws,
                             strides, padding, act, self.activation_alpha, self._dilation_2d,
                             self.groups)
        y = self._activate_separately(y)
        self._x, self._y = x4, y
        return y

    def _convolve_backward(self, dy4, strides, padding, need_dx):
        """dx4 like the last x4 (or None); adds the kernel and bias gradients when trainable."""
        train = self.trainable
        dx = np.empty_like(self._x) if need_dx else None
        # The kernel applies the activation's derivative block by block (from y), fused.
        dy4, act = self._kernel_backward_activation(
            np.ascontiguousarray(dy4, dtype=self._y.dtype))
        _core.conv2d_backward(dy4, self._x, self._kernel_4d(self.kernel.value), dx,
                              self._kernel_4d(self.kernel.grad) if train else None,
                              self.bias.grad if train and self.use_bias else None,
                              self._workspace_for(self._x, strides, padding, backward=True),
                              strides, padding, self._y, act, self.activation_alpha,
                              self._dilation_2d, self.groups)
        return dx

    def _add_weights(self, kernel_shape):
        self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer,
                                      self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        self.bias_regularizer, constraint=self.bias_constraint)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


class Conv2D(_Convolution):
    """y = activation(conv(x, kernel) + bias) over x (batch, height, width, channels), with a
    kernel of shape (k_h, k_w, in_channels, filters) as in Keras."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        where = f"Conv2D {self.name!r}"
        self._set_groups(groups, filters, where)
        self._set_conv_options(where, filters, kernel_size, strides, padding, data_format,
                               dilation_rate, activation, use_bias, kernel_initializer,
                               bias_initializer, kernel_regularizer, bias_regularizer,
                               activity_regularizer=activity_regularizer,
                               kernel_constraint=kernel_constraint,
                               bias_constraint=bias_constraint)

    def _kernel_shape(self, input_shape):
        channels = input_shape[-1]
        return self.kernel_size + (None if channels is None else channels // self.groups,
                                   self.filters)

    def build(self, input_shape):
        self._check_input_rank(input_shape, known_channels=True)
        self._group_channels(input_shape)
        self.compute_output_shape(input_shape)  # raises if the kernel does not fit
        self._add_weights(self._kernel_shape(self._last_shape(input_shape)))

    def compute_output_shape(self, input_shape):
        self._check_input_rank(input_shape)
        self._group_channels(input_shape)
        shape = self._last_shape(input_shape)
        return self._first_shape(conv2d_output_shape(
            shape, self._kernel_shape(shape), self.strides, self.padding, self._where(True),
            self.dilation_rate, self.groups))

    def forward(self, x, training=False, logits=False):
        return self._outer_forward(x, logits, lambda x, logits: self._convolve(
            x, self.strides, self.padding, training, logits))

    def backward(self, dy, need_dx=True):
        return self._outer_backward(dy, lambda dy: self._convolve_backward(
            dy, self.strides, self.padding, need_dx))


Convolution2D = Conv2D


class Conv1D(_Convolution):
    """y = activation(conv(x, kernel) + bias) over x (batch, steps, channels), with a kernel of
    Keras' shape (kernel_size, in_channels, filters). Padding 'valid', 'same' (TF's: the extra
    step of an odd total goes at the end) or 'causal' (kernel_size - 1 zero steps before the
    sequence, then 'valid', so output step t sees input steps up to t only).

    It runs on the 2-D kernels, the sequence viewed as an image of height 1:
    (batch, steps, channels) -> (batch, 1, steps, channels), kernel (1, k, in, filters).
    """

    rank = 1
    _paddings = ("valid", "same", "causal")
    _spatial_names = "steps"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        where = f"Conv1D {self.name!r}"
        self._set_groups(groups, filters, where)
        self._set_conv_options(where, filters, kernel_size, strides, padding, data_format,
                               dilation_rate, activation, use_bias, kernel_initializer,
                               bias_initializer, kernel_regularizer, bias_regularizer,
                               activity_regularizer=activity_regularizer,
                               kernel_constraint=kernel_constraint,
                               bias_constraint=bias_constraint)

    def _kernel_4d(self, array):
        return array.reshape((1,) + array.shape)

    @property
    def _dilation_2d(self):
        return (1, self.dilation_rate[0])

    @property
    def _left_pad(self):
        # Keras' _compute_causal_padding: dilation_rate * (kernel_size - 1)
        return self.dilation_rate[0] * (self.kernel_size[0] - 1) if self.padding == "causal" \
            else 0

    @property
    def _window(self):
        """(strides, padding) of the 2-D convolution on the (left-padded) height-1 image."""
        return (1, self.strides[0]), "valid" if self.padding == "causal" else self.padding

    def build(self, input_shape):
        self._check_input_rank(input_shape)
        channels = self._last_shape(input_shape)[-1]
        if channels is None:
            raise ValueError(f"Layer {self.name!r} (Conv1D) needs a known channel dimension, "
                             f"got input shape {_shape_str(input_shape)}")
        self.compute_output_shape(input_shape)  # raises if the kernel does not fit
        self._add_weights(self.kernel_size + (self._group_channels(input_shape), self.filters))

    def compute_output_shape(self, input_shape):
        self._check_input_rank(input_shape)
        self._group_channels(input_shape)
        return self._first_shape(self._output_shape_last(self._last_shape(input_shape)))

    def _output_shape_last(self, input_shape):
        """The output shape (batch, steps, filters) for a channels_last input shape."""
        where = self._where(True)
        expected = None if self.kernel is None else self.kernel.shape[1] * self.groups
        if expected is not None and input_shape[-1] not in (None, expected):
            raise ValueError(f"{where}: input of shape {_shape_str(input_shape)} has "
                             f"{input_shape[-1]} channels, the kernel of shape "
                             f"{self.kernel.shape} expects {expected}")
        steps = input_shape[1]
        if steps is not None:
            (_, stride), padding = self._window
            steps = _core.window_output_length(steps + self._left_pad, self.kernel_size[0],
                                               stride, padding, self.dilation_rate[0])
            if steps == 0:
                d = self.dilation_rate[0]
                dilated = f" with dilation_rate {d} (spanning " \
                    f"{(self.kernel_size[0] - 1) * d + 1})" if d > 1 else ""
                raise ValueError(f"{where}: kernel_size {self.kernel_size[0]}{dilated} is "
                                 f"larger than the input of shape {_shape_str(input_shape)} "
                                 "with padding='valid'")
        return (input_shape[0], steps, self.filters)

    def forward(self, x, training=False, logits=False):
        self.compute_output_shape(x.shape)
        return self._outer_forward(x, logits, lambda x, logits: self._forward_last(
            x, training, logits))

    def _forward_last(self, x, training, logits):
        x = np.ascontiguousarray(x)  # a strided view would not reshape to the image in place
        if self._left_pad:
            x = np.pad(x, ((0, 0), (self._left_pad, 0), (0, 0)))
        batch, steps, channels = x.shape
        strides, padding = self._window
        y = self._convolve(x.reshape(batch, 1, steps, channels), strides, padding, training,
                           logits)
        return y.reshape(batch, y.shape[2], self.filters)

    def backward(self, dy, need_dx=True):
        return self._outer_backward(dy, lambda dy: self._backward_last(dy, need_dx))

    def _backward_last(self, dy, need_dx):
        batch, steps, filters = dy.shape
        strides, padding = self._window
        dx = self._convolve_backward(np.ascontiguousarray(dy).reshape(batch, 1, steps, filters),
                                     strides, padding, need_dx)
        if dx is None:
            return None
        dx = dx.reshape(batch, dx.shape[2], dx.shape[3])
        return np.ascontiguousarray(dx[:, self._left_pad:]) if self._left_pad else dx


Convolution1D = Conv1D


def _non_negative_pair(value, name, where):
    """Keras' standardize_tuple(..., allow_zero=True) for a 2-D layer: an int or two ints >= 0."""
    values = (value, value) if isinstance(value, (int, np.integer)) else value
    try:
        ok = len(values) == 2 and all(isinstance(v, (int, np.integer)) and
                                      not isinstance(v, bool) and v >= 0 for v in values)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{where}: {name} must be an int or a pair of ints >= 0, got {value!r}")
    return tuple(int(v) for v in values)


def _window_of(z, window):
    """z[:, top:top + rows, left:left + cols] (zeros where the window passes z's end), a copy."""
    (top, rows), (left, cols) = window
    out = np.zeros((z.shape[0], rows, cols) + z.shape[3:], dtype=z.dtype)
    part = z[:, top:top + rows, left:left + cols]
    out[:, :part.shape[1], :part.shape[2]] = part
    return out


def _window_into(dz, canvas_shape, window):
    """The transpose of _window_of: dz placed at the window of a zero canvas."""
    (top, rows), (left, cols) = window
    out = np.zeros(canvas_shape, dtype=dz.dtype)
    part = out[:, top:top + rows, left:left + cols]
    part[...] = dz[:, :part.shape[1], :part.shape[2]]
    return out


class Conv2DTranspose(_ConvOptions, Layer):
    """The transpose (gradient) of a strided convolution, Keras' upsampling convolution:
    (batch, h, w, in_channels) -> (batch, h_out, w_out, filters) with h_out = h * stride for
    'same' and h * stride + max(k - stride, 0) for 'valid' (Keras' deconv_output_length, k the
    dilated span (k - 1) * dilation + 1), and a kernel of Keras' shape (k_h, k_w, filters,
    in_channels).

    It runs on the Conv2D kernels: the output is conv2d_backward's input gradient of the
    convolution that maps the output back to the input with this kernel, the input gradient is
    that convolution's forward pass, the kernel gradient its kernel gradient. The activation
    is applied separately (the fused one belongs to the other direction).
    """

    input_spec_last_axis_only = True

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        where = f"Conv2DTranspose {self.name!r}"
        self._set_conv_options(where, filters, kernel_size, strides,
                               padding, data_format, dilation_rate, activation, use_bias,
                               kernel_initializer, bias_initializer, kernel_regularizer,
                               bias_regularizer, activity_regularizer=activity_regularizer,
                               kernel_constraint=kernel_constraint,
                               bias_constraint=bias_constraint)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = _non_negative_pair(output_padding, "output_padding", where)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise ValueError(f"{where}: `output_padding` must be < `strides`. "
                                 f"output_padding={self.output_padding}, "
                                 f"strides={self.strides}")

    def build(self, input_shape):
        channels = self._check_input_rank(input_shape, known_channels=True)
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, channels),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        self._check_input_rank(input_shape)
        return self._first_shape(self._output_shape_last(self._last_shape(input_shape)))

    def _output_shape_last(self, input_shape):
        # Keras' _get_output_shape_given_tf_padding, axis by axis
        out = []
        paddings = self.output_padding or (None, None)
        for size, k, s, d, p in zip(input_shape[1:3], self.kernel_size, self.strides,
                                    self.dilation_rate, paddings):
            k = (k - 1) * d + 1  # Keras: kernel_size + (kernel_size - 1) * (dilation - 1)
            if size is None:
                out.append(None)
            elif self.padding == "valid":
                out.append((size - 1) * s + k + (max(k, s) - k if p is None else p))
            elif p is None:
                out.append(size * s)
            else:
                out.append((size - 1) * s + k % 2 + p)
        return (input_shape[0],) + tuple(out) + (self.filters,)

    def _canvas(self, input_shape):
        """None when the output is the big side of a convolution of this layer's padding (every
        case but one); else ((canvas h, canvas w), ((top, rows), (left, cols))): the output is
        a window of the big side of a 'valid' convolution. That case is 'same' with an
        output_padding of 0 along an axis whose (dilated) kernel is even: the output,
        (size - 1) * stride long, is one step short of what a 'same' convolution maps back to
        `size`; Keras' JAX and torch backends pad it by k // 2 before (the TF one refuses)."""
        if self.padding != "same" or self.output_padding is None:
            return None
        spans = [(k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate)]
        if all(k % 2 + p > 0 for k, p in zip(spans, self.output_padding)):
            return None
        canvas, window = [], []
        out = self._output_shape_last(input_shape)
        for size, k, s, p, n in zip(input_shape[1:3], spans, self.strides,
                                    self.output_padding, out[1:3]):
            canvas.append((size - 1) * s + k)
            window.append((max(k - k % 2 - p, 0) // 2, n))  # TF's (= JAX's) top padding
        return tuple(canvas), tuple(window)

    def _workspace_for(self, big_shape, backward, dtype, padding):
        # The convolution runs from the (big) output side to the input side.
        self._workspace = workspace(self._workspace, big_shape, self.kernel.shape, self.strides,
                                    padding, backward, dtype, self.dilation_rate)
        return self._workspace

    def forward(self, x, training=False, logits=False):
        return self._outer_forward(x, logits, self._forward_last)

    def _forward_last(self, x, logits):
        out_shape = self._output_shape_last(x.shape)
        canvas = self._canvas(x.shape)
        self._canvas_plan = canvas
        big_shape = out_shape if canvas is None else (x.shape[0],) + canvas[0] + out_shape[3:]
        padding = self.padding if canvas is None else "valid"
        z = np.empty(big_shape, dtype=x.dtype)
        ws = self._workspace_for(big_shape, True, x.dtype, padding)
        # conv2d_backward reads its `x` argument only for the kernel gradient (None here): z
        # stands in for it, giving the shape the convolution runs from.
        _core.conv2d_backward(np.ascontiguousarray(x), z, self.kernel.value, z, None, None, ws,
                              self.strides, padding, dilation_rate=self.dilation_rate)
        if canvas is not None:
            z = _window_of(z, canvas[1])
        if self.use_bias:
            z += self.bias.value
        self._x, self._emitted_logits = x, logits
        if logits or self.activation_name == "linear":
            self._z, self._y = None, z
            return z
        y = np.empty_like(z)
        _core.activation_forward(z, y, self.activation_name, self.activation_alpha)
        self._z, self._y = z, y
        return y

    def backward(self, dy, need_dx=True):
        return self._outer_backward(dy, lambda dy: self._backward_last(dy, need_dx))

    def _backward_last(self, dy, need_dx):
        dz = np.ascontiguousarray(self._activation_backward(
            np.ascontiguousarray(dy, dtype=self._y.dtype)))
        if self.use_bias and self.trainable:
            self.bias.grad += dz.sum(axis=(0, 1, 2))
        padding, canvas = self.padding, self._canvas_plan
        if canvas is not None:
            padding = "valid"
            dz = _window_into(dz, (dz.shape[0],) + canvas[0] + dz.shape[3:], canvas[1])
        if self.trainable:
            ws = self._workspace_for(dz.shape, True, dz.dtype, padding)
            _core.conv2d_backward(self._x, dz, self.kernel.value, None, self.kernel.grad, None,
                                  ws, self.strides, padding,
                                  dilation_rate=self.dilation_rate)
        if not need_dx:
            return None
        dx = np.empty_like(self._x)
        _core.conv2d_forward(dz, self.kernel.value, None, dx,
                             self._workspace_for(dz.shape, False, dz.dtype, padding),
                             self.strides, padding, dilation_rate=self.dilation_rate)
        return dx

    def get_config(self):
        return {**super().get_config(), "output_padding": self.output_padding}


Convolution2DTranspose = Conv2DTranspose
