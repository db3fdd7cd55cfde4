"""MaxPooling2D and AveragePooling2D: Keras' 2-D pooling layers on NHWC images; the global
poolings (GlobalAveragePooling2D, GlobalMaxPooling2D, GlobalMaxPooling1D), the head of a
transfer-learning model."""
import numpy as np

from brisknn import _core
from brisknn.layers.base import Layer, _shape_str
from brisknn.layers.conv import check_data_format
from brisknn.ops.conv import normalize_padding, normalize_pair, window_output_shape


class _Pooling2D(Layer):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        where = f"{type(self).__name__} {self.name!r}"
        self.pool_size = normalize_pair(pool_size, "pool_size", where)
        # Keras: strides default to the pool size (non-overlapping windows).
        self.strides = self.pool_size if strides is None else normalize_pair(strides, "strides",
                                                                             where)
        self.padding = normalize_padding(padding, where)
        check_data_format(data_format, where)

    def compute_output_shape(self, input_shape):
        where = f"Layer {self.name!r} ({type(self).__name__})"
        if len(input_shape) == 4 and input_shape[3] is None:
            raise ValueError(f"{where}: the channel dimension must be known, got "
                             f"{tuple(input_shape)}")
        out = window_output_shape(tuple(input_shape), self.pool_size, self.strides,
                                  self.padding, where, f"pool_size {self.pool_size}")
        return (input_shape[0],) + out + (input_shape[3],)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding,
                      data_format="channels_last")
        return config


class MaxPooling2D(_Pooling2D):
    """The maximum of each pool_size window; padding positions never win."""

    _argmax = None  # int32 positions of the maxima, reused across calls of the same shape

    def forward(self, x, training=False):
        shape = self.compute_output_shape(x.shape)
        y = np.empty(shape, dtype=x.dtype)
        if self._argmax is None or self._argmax.shape != shape:
            self._argmax = np.empty(shape, dtype=np.int32)
        _core.max_pool2d_forward(x, y, self._argmax, self.pool_size, self.strides, self.padding)
        self._in_shape = x.shape
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dy = np.ascontiguousarray(dy)
        dx = np.empty(self._in_shape, dtype=dy.dtype)
        _core.max_pool2d_backward(dy, self._argmax, dx)
        return dx


class AveragePooling2D(_Pooling2D):
    """The mean of each pool_size window over its non-padding positions (as Keras)."""

    def forward(self, x, training=False):
        y = np.empty(self.compute_output_shape(x.shape), dtype=x.dtype)
        _core.avg_pool2d_forward(x, y, self.pool_size, self.strides, self.padding)
        self._in_shape = x.shape
        return y

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        dx = np.empty(self._in_shape, dtype=dy.dtype)
        _core.avg_pool2d_backward(np.ascontiguousarray(dy), dx, self.pool_size, self.strides,
                                  self.padding)
        return dx


class _GlobalPooling(Layer):
    """A reduction over every spatial axis (Keras' BaseGlobalPooling): (batch, *spatial,
    channels) -> (batch, channels), or (batch, 1, ..., channels) with keepdims;
    channels_first reads (batch, channels, *spatial). A plain NumPy reduction: it is a small
    part of any model that has one."""

    _spatial = None  # how many spatial axes

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        data_format = data_format or "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{type(self).__name__}: data_format must be 'channels_last' or "
                             f"'channels_first', got {data_format!r}")
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
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
