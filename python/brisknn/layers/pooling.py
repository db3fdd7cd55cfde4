"""MaxPooling2D and AveragePooling2D: Keras' 2-D pooling layers on NHWC images."""
import numpy as np

from brisknn import _core
from brisknn.layers.base import Layer
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


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
