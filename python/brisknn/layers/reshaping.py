"""Keras 3's reshaping layers: UpSampling1D/2D, ZeroPadding1D/2D, Cropping1D/2D, RepeatVector,
Permute. UpSampling2D and ZeroPadding2D are the image ones (the upsampling step of a
GAN generator built from Dense, Reshape, UpSampling2D and Conv2D; the padding in Keras' classic
DCGAN discriminator)."""
import numpy as np

from brisknn import backend
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
        data_format = backend.standardize_data_format(data_format, where)
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


class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros around images: `padding` is an int (all four sides), a
    pair (symmetric rows, symmetric columns) or ((top, bottom), (left, right)), as in Keras."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        where = f"ZeroPadding2D {self.name!r}"
        self.padding = _padding_pairs(padding, where)
        data_format = backend.standardize_data_format(data_format, where)
        self.data_format = data_format
        self._axes = (1, 2) if data_format == "channels_last" else (2, 3)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"Layer {self.name!r} (ZeroPadding2D) expects input of rank 4, "
                             f"got {_shape_str(input_shape)}")
        shape = list(input_shape)
        for axis, (before, after) in zip(self._axes, self.padding):
            shape[axis] = None if shape[axis] is None else shape[axis] + before + after
        return tuple(shape)

    def forward(self, x, training=False):
        widths = [(0, 0)] * 4
        for axis, pair in zip(self._axes, self.padding):
            widths[axis] = pair
        return np.pad(x, widths)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        index = [slice(None)] * 4
        for axis, (before, after) in zip(self._axes, self.padding):
            index[axis] = slice(before, dy.shape[axis] - after)
        return np.ascontiguousarray(dy[tuple(index)])

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding, data_format=self.data_format)
        return config


def _padding_pairs(padding, where):
    """Keras' ZeroPadding2D argument as ((top, bottom), (left, right)): an int, or two entries
    each an int (both sides) or a pair."""
    def pair(entry):
        if isinstance(entry, (int, np.integer)) and not isinstance(entry, bool):
            return (int(entry), int(entry))
        a, b = entry
        if isinstance(a, bool) or isinstance(b, bool):
            raise TypeError
        return (int(a), int(b))

    try:
        if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
            pairs = (pair(padding), pair(padding))
        elif isinstance(padding, (list, tuple)) and len(padding) == 2:
            pairs = (pair(padding[0]), pair(padding[1]))
        else:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{where}: `padding` should be an int, a tuple of 2 ints, or a tuple "
                         f"of 2 tuples of 2 ints, got {padding!r}") from None
    if min(min(p) for p in pairs) < 0:
        raise ValueError(f"{where}: `padding` cannot contain negative values, got {padding!r}")
    return pairs


class RepeatVector(Layer):
    """Keras' RepeatVector(n): (batch, features) -> (batch, n, features), e.g. between the
    encoder and decoder LSTMs of a sequence autoencoder. The gradient sums over the copies."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"Expected an integer value for `n`, got {type(n)}.")
        self.n = int(n)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"Layer {self.name!r} (RepeatVector) expects input of rank 2 "
                             f"(batch, features), got {_shape_str(input_shape)}")
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, x, training=False):
        return np.ascontiguousarray(np.broadcast_to(x[:, None, :], (x.shape[0], self.n,
                                                                    x.shape[1])))

    def backward(self, dy, need_dx=True):
        return dy.sum(axis=1) if need_dx else None

    def get_config(self):
        config = super().get_config()
        config["n"] = self.n
        return config


class Permute(Layer):
    """Keras' Permute(dims): reorders the non-batch axes, `dims` numbering them from 1 (the batch
    axis stays first); e.g. Permute((2, 1)) swaps steps and features."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError("Invalid permutation argument `dims` for Permute Layer. The set of "
                             "indices in `dims` must be consecutive and start from 1. "
                             f"Received dims={dims}")
        self._order = (0,) + self.dims
        self._inverse = tuple(int(i) for i in np.argsort(self._order))

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self._order):
            raise ValueError(f"Layer {self.name!r} (Permute) with dims={self.dims} expects input "
                             f"of rank {len(self._order)}, got {_shape_str(input_shape)}")
        return tuple(input_shape[i] for i in self._order)

    def forward(self, x, training=False):
        return np.ascontiguousarray(np.transpose(x, self._order))

    def backward(self, dy, need_dx=True):
        return np.ascontiguousarray(np.transpose(dy, self._inverse)) if need_dx else None

    def get_config(self):
        config = super().get_config()
        config["dims"] = self.dims
        return config


def _int_pair(value, arg, where):
    """Keras' 1-D padding/cropping argument: an int (both sides) or a (before, after) pair."""
    try:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            pair = (int(value), int(value))
        else:
            a, b = value
            if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in (a, b)):
                raise TypeError
            pair = (int(a), int(b))
    except (TypeError, ValueError):
        raise ValueError(f"{where}: `{arg}` should be an int or a tuple of 2 ints, got "
                         f"{value!r}") from None
    if min(pair) < 0:
        raise ValueError(f"{where}: `{arg}` cannot contain negative values, got {value!r}")
    return pair


class _Rank3(Layer):
    def _rank3(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) expects input of "
                             f"rank 3 (batch, steps, features), got {_shape_str(input_shape)}")


class UpSampling1D(_Rank3):
    """Repeats each step `size` times: (batch, steps, features) -> (batch, size*steps, ...)."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def compute_output_shape(self, input_shape):
        self._rank3(input_shape)
        steps = input_shape[1]
        return (input_shape[0], None if steps is None else steps * self.size, input_shape[2])

    def forward(self, x, training=False):
        return np.repeat(x, self.size, axis=1)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        return dy.reshape(dy.shape[0], -1, self.size, dy.shape[2]).sum(axis=2)

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config


class ZeroPadding1D(_Rank3):
    """Adds zero steps at the start and end of (batch, steps, features): `padding` an int
    (both ends) or (before, after)."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _int_pair(padding, "padding", f"ZeroPadding1D {self.name!r}")
        if (data_format or "channels_last") != "channels_last":
            raise NotImplementedError(f"ZeroPadding1D {self.name!r}: only channels_last")
        self.data_format = "channels_last"

    def compute_output_shape(self, input_shape):
        self._rank3(input_shape)
        steps = input_shape[1]
        return (input_shape[0], None if steps is None else steps + sum(self.padding),
                input_shape[2])

    def forward(self, x, training=False):
        return np.pad(x, ((0, 0), self.padding, (0, 0)))

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        before, after = self.padding
        return np.ascontiguousarray(dy[:, before:dy.shape[1] - after])

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding, data_format=self.data_format)
        return config


class Cropping1D(_Rank3):
    """Drops `cropping` = (start, end) steps (or an int for both) of (batch, steps, features)."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _int_pair(cropping, "cropping", f"Cropping1D {self.name!r}")

    def compute_output_shape(self, input_shape):
        self._rank3(input_shape)
        steps = input_shape[1]
        if steps is not None and steps - sum(self.cropping) <= 0:
            raise ValueError(f"Layer {self.name!r} (Cropping1D): cropping {self.cropping} is "
                             f"too high for input shape {_shape_str(input_shape)}")
        return (input_shape[0], None if steps is None else steps - sum(self.cropping),
                input_shape[2])

    def forward(self, x, training=False):
        start, end = self.cropping
        return np.ascontiguousarray(x[:, start:x.shape[1] - end])

    def backward(self, dy, need_dx=True):
        return np.pad(dy, ((0, 0), self.cropping, (0, 0))) if need_dx else None

    def get_config(self):
        config = super().get_config()
        config["cropping"] = self.cropping
        return config


class Cropping2D(Layer):
    """Drops rows and columns at the edges of images: `cropping` an int, (rows, columns) or
    ((top, bottom), (left, right)), as Keras' ZeroPadding2D reads its padding."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        where = f"Cropping2D {self.name!r}"
        self.cropping = _padding_pairs(cropping, where)
        data_format = data_format or "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{where}: invalid `data_format` argument: {data_format!r}")
        self.data_format = data_format
        self._axes = (1, 2) if data_format == "channels_last" else (2, 3)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"Layer {self.name!r} (Cropping2D) expects input of rank 4, got "
                             f"{_shape_str(input_shape)}")
        shape = list(input_shape)
        for axis, (before, after) in zip(self._axes, self.cropping):
            if shape[axis] is not None:
                shape[axis] -= before + after
                if shape[axis] <= 0:
                    raise ValueError(f"Layer {self.name!r} (Cropping2D): cropping "
                                     f"{self.cropping} is too high for input shape "
                                     f"{_shape_str(input_shape)}")
        return tuple(shape)

    def forward(self, x, training=False):
        index = [slice(None)] * 4
        for axis, (before, after) in zip(self._axes, self.cropping):
            index[axis] = slice(before, x.shape[axis] - after)
        return np.ascontiguousarray(x[tuple(index)])

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        widths = [(0, 0)] * 4
        for axis, pair in zip(self._axes, self.cropping):
            widths[axis] = pair
        return np.pad(dy, widths)

    def get_config(self):
        config = super().get_config()
        config.update(cropping=self.cropping, data_format=self.data_format)
        return config
