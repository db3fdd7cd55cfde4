"""UpSampling2D: Keras 3's nearest-neighbour upsampling of images (the upsampling step of a GAN
generator built from Dense, Reshape, UpSampling2D and Conv2D)."""
import numpy as np

from brisknn.layers.base import Layer, _shape_str
from brisknn.ops.conv import normalize_pair


class UpSampling2D(Layer):
    """Repeats every row `size[0]` times and every column `size[1]` times: (batch, h, w, c) ->
    (batch, size[0] h, size[1] w, c), or the same on (batch, c, h, w) with channels_first.
    Only Keras' default interpolation='nearest' is implemented; the gradient of a pixel is the
    sum over the block it was copied to."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        where = f"UpSampling2D {self.name!r}"
        self.size = normalize_pair(size, "size", where)
        data_format = data_format or "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{where}: invalid `data_format` argument: {data_format!r}")
        self.data_format = data_format
        self.interpolation = str(interpolation).lower()
        if self.interpolation != "nearest":
            raise NotImplementedError(f"{where}: interpolation={interpolation!r} is not "
                                      "supported (only 'nearest', Keras' default)")
        self._axes = (1, 2) if data_format == "channels_last" else (2, 3)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"Layer {self.name!r} (UpSampling2D) expects input of rank 4, got "
                             f"{_shape_str(input_shape)}")
        shape = list(input_shape)
        for axis, factor in zip(self._axes, self.size):
            shape[axis] = None if shape[axis] is None else shape[axis] * factor
        return tuple(shape)

    def forward(self, x, training=False):
        (a, b), (sh, sw) = self._axes, self.size
        return np.repeat(np.repeat(x, sh, axis=a), sw, axis=b)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        (a, _), (sh, sw) = self._axes, self.size
        n, h, w = dy.shape[0], dy.shape[a] // sh, dy.shape[a + 1] // sw
        if a == 1:  # (n, h, sh, w, sw, c), summed over each block
            return dy.reshape(n, h, sh, w, sw, dy.shape[3]).sum(axis=(2, 4))
        return dy.reshape(n, dy.shape[1], h, sh, w, sw).sum(axis=(3, 5))

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, data_format=self.data_format,
                      interpolation=self.interpolation)
        return config
