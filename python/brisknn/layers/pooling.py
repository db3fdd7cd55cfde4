"""MaxPooling2D and AveragePooling2D: Keras' 2-D pooling layers on NHWC images, and
MaxPooling1D and AveragePooling1D on (batch, steps, channels) sequences (channels_first input
is transposed to channels_last around the kernels); the global
poolings (GlobalAveragePooling2D, GlobalMaxPooling2D, GlobalMaxPooling1D), the head of a
transfer-learning model."""
import numpy as np

from brisknn import _core
from brisknn.layers.base import Layer, _shape_str
from brisknn.layers.conv import DataFormat, standardize_data_format
from brisknn.ops.conv import normalize_padding, normalize_tuple, window_output_shape


class _Pooling(DataFormat, Layer):
    """A window sliding over the spatial axes: `rank` 2 for images (batch, height, width,
    channels), 1 for sequences (batch, steps, channels), or (batch, channels, ...) with
    channels_first. Both run on the 2-D kernels, channels_last, a sequence viewed as an image of
    height 1 with (1, pool) windows."""

    rank = 2

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        where = f"{type(self).__name__} {self.name!r}"
        self.pool_size = normalize_tuple(pool_size, self.rank, "pool_size", where)
        # Keras: strides default to the pool size (non-overlapping windows).
        self.strides = self.pool_size if strides is None else normalize_tuple(
            strides, self.rank, "strides", where)
        self.padding = normalize_padding(padding, where)
        self.data_format = standardize_data_format(data_format, where)
        lead = (1,) * (2 - self.rank)
        self._pool_2d, self._strides_2d = lead + self.pool_size, lead + self.strides

    def _check_rank(self, input_shape):
        if len(input_shape) != self.rank + 2:
            layout = self._layout("height, width" if self.rank == 2 else "steps")
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) expects "
                             f"{self.rank + 2}-D input {layout}, got shape "
                             f"{_shape_str(input_shape)}")

    def _as_image_shape(self, input_shape):
        """A channels_last input_shape as the 2-D kernels see it."""
        input_shape = tuple(input_shape)
        return input_shape[:1] + (1,) * (2 - self.rank) + input_shape[1:]

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        out = self._output_shape_last(self._last_shape(input_shape))
        return self._first_shape(out)

    def _output_shape_last(self, input_shape):
        where = f"Layer {self.name!r} ({type(self).__name__})"
        if self._first:
            where = where[:-1] + ", channels_first input seen as channels_last)"
        image_shape = self._as_image_shape(input_shape)
        if image_shape[3] is None:
            raise ValueError(f"{where}: the channel dimension must be known, got "
                             f"{_shape_str(input_shape)}")
        what = f"pool_size {self.pool_size[0] if self.rank == 1 else self.pool_size}"
        try:
            out = window_output_shape(image_shape, self._pool_2d, self._strides_2d,
                                      self.padding, where, what)
        except ValueError as e:
            if self.rank == 2 or "larger than" not in str(e):
                raise
            raise ValueError(f"{where}: {what} is larger than the input of shape "
                             f"{_shape_str(input_shape)} with padding='valid'") from None
        return (input_shape[0],) + out[2 - self.rank:] + (image_shape[3],)

    def _forward_shapes(self, x):
        """(x viewed as an image, the image-shaped output, the channels_last output shape) for
        a channels_last x."""
        out = self._output_shape_last(x.shape)
        self._in_shape = x.shape
        x4 = np.ascontiguousarray(x).reshape(self._as_image_shape(x.shape))
        return x4, self._as_image_shape(out), out

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding,
                      data_format=self.data_format)
        return config


class _MaxPooling(_Pooling):
    """The maximum of each pool_size window; padding positions never win."""

    _argmax = None  # int32 positions of the maxima, reused across calls of the same shape

    def forward(self, x, training=False):
        self._check_rank(x.shape)
        x4, shape, out = self._forward_shapes(self._to_last(x))
        y = np.empty(shape, dtype=x.dtype)
        if self._argmax is None or self._argmax.shape != shape:
            self._argmax = np.empty(shape, dtype=np.int32)
        _core.max_pool2d_forward(x4, y, self._argmax, self._pool_2d, self._strides_2d,
                                 self.padding)
        return self._to_first(y.reshape(out))

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dy = np.ascontiguousarray(self._to_last(dy)).reshape(self._argmax.shape)
        dx = np.empty(self._as_image_shape(self._in_shape), dtype=dy.dtype)
        _core.max_pool2d_backward(dy, self._argmax, dx)
        return self._to_first(dx.reshape(self._in_shape))


class _AveragePooling(_Pooling):
    """The mean of each pool_size window over its non-padding positions (as Keras)."""

    def forward(self, x, training=False):
        self._check_rank(x.shape)
        x4, shape, out = self._forward_shapes(self._to_last(x))
        y = np.empty(shape, dtype=x.dtype)
        _core.avg_pool2d_forward(x4, y, self._pool_2d, self._strides_2d, self.padding)
        self._out_shape = shape
        return self._to_first(y.reshape(out))

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dy = np.ascontiguousarray(self._to_last(dy)).reshape(self._out_shape)
        dx = np.empty(self._as_image_shape(self._in_shape), dtype=dy.dtype)
        _core.avg_pool2d_backward(dy, dx, self._pool_2d, self._strides_2d, self.padding)
        return self._to_first(dx.reshape(self._in_shape))


class MaxPooling2D(_MaxPooling):
    """The maximum of each pool_size window of (batch, height, width, channels) images."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_AveragePooling):
    """The mean of each pool_size window of (batch, height, width, channels) images."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling1D(_MaxPooling):
    """The maximum of each pool_size window of steps of (batch, steps, channels) input."""

    rank = 1


class AveragePooling1D(_AveragePooling):
    """The mean of each pool_size window of steps of (batch, steps, channels) input."""

    rank = 1


class _GlobalPooling(Layer):
    """A reduction over every spatial axis (Keras' BaseGlobalPooling): (batch, *spatial,
    channels) -> (batch, channels), or (batch, 1, ..., channels) with keepdims;
    channels_first reads (batch, channels, *spatial). A plain NumPy reduction: it is a small
    part of any model that has one."""

    _spatial = None  # how many spatial axes

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        data_format = standardize_data_format(data_format,
                                              f"{type(self).__name__} {self.name!r}")
        self.data_format = data_format
        self.keepdims = bool(keepdims)
        first = 1 if data_format == "channels_last" else 2
        self._axes = tuple(range(first, first + self._spatial))

    def compute_output_shape(self, input_shape):
        rank = self._spatial + 2
        if len(input_shape) != rank:
            layout = ("(batch, steps, features)" if self._spatial == 1 else
                      "(batch, height, width, channels)")
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) expects input of "
                             f"rank {rank} {layout}, got {_shape_str(input_shape)}")
        if self.keepdims:
            return tuple(1 if i in self._axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in self._axes)

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


class GlobalAveragePooling2D(_GlobalPooling):
    """The mean over height and width of each channel."""

    _spatial = 2

    def forward(self, x, training=False):
        self._in_shape = x.shape
        return x.mean(axis=self._axes, keepdims=self.keepdims, dtype=x.dtype)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        count = np.prod([self._in_shape[a] for a in self._axes])
        dy = dy if self.keepdims else np.expand_dims(dy, self._axes)
        return np.broadcast_to(dy / dy.dtype.type(count), self._in_shape).copy()


class _GlobalMax(_GlobalPooling):
    """The maximum over the spatial axes. Its gradient is shared equally by tied maxima, as
    TensorFlow's reduce_max gradient shares it."""

    def forward(self, x, training=False):
        y = x.max(axis=self._axes, keepdims=True)
        self._winners = x == y
        return y if self.keepdims else np.squeeze(y, axis=self._axes)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dy = dy if self.keepdims else np.expand_dims(dy, self._axes)
        ties = self._winners.sum(axis=self._axes, keepdims=True).astype(dy.dtype)
        return self._winners * (dy / ties)


class GlobalMaxPooling2D(_GlobalMax):
    """The maximum over height and width of each channel."""

    _spatial = 2


class GlobalMaxPooling1D(_GlobalMax):
    """The maximum over the steps of each feature (a mask is not used, as in Keras)."""

    _spatial = 1


MaxPool2D = MaxPooling2D
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
