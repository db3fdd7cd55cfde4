"""Preprocessing layers that sit inside a model (keras/src/layers/preprocessing/)."""
import numbers

import numpy as np

from brisknn.layers.base import Layer, _shape_str


class Rescaling(Layer):
    """y = x * scale + offset in the layer's dtype (Keras 3), e.g. Rescaling(1./255) to bring
    uint8 pixels to [0, 1], or Rescaling(1./127.5, offset=-1) to [-1, 1]. No weights. scale and
    offset may also be arrays broadcasting against the input's trailing axes (one per channel,
    say), as NumPy broadcasts them. A mask passes through, as Keras' supports_masking."""

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _factor(scale, "scale")
        self.offset = _factor(offset, "offset")

    def build(self, input_shape):
        for arg in ("scale", "offset"):
            value = np.asarray(getattr(self, arg))
            known = tuple(1 if d is None else d for d in input_shape)
            try:
                out = np.broadcast_shapes(known, value.shape)
            except ValueError:
                out = None
            if out != known:
                raise ValueError(f"Layer {self.name!r} (Rescaling): {arg} of shape {value.shape} "
                                 f"does not broadcast against input shape "
                                 f"{_shape_str(input_shape)} without changing it")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _cast(self, value, dtype):
        return np.asarray(value, dtype=dtype) if isinstance(value, list) else dtype.type(value)

    def forward(self, x, training=False):
        dtype = self.dtype
        x = np.asarray(x, dtype=dtype)
        self._scale = self._cast(self.scale, dtype)
        return x * self._scale + self._cast(self.offset, dtype)

    def backward(self, dy, need_dx=True):
        # dy/dx = scale, element by element.
        return dy * self._scale if need_dx else None

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, offset=self.offset)
        return config


def _factor(value, arg):
    """A float, or a nested list of floats for an array (JSON-friendly, as get_config keeps).
    Keras 3 saves an array as {'class_name': '__numpy__', 'config': {'value': ...}}."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__" and \
            isinstance(value.get("config"), dict):
        value = value["config"].get("value")
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    array = np.asarray(value)
    if array.dtype.kind not in "biuf" or array.dtype.kind == "b":
        raise TypeError(f"Rescaling: {arg} must be a real number or an array of them, got "
                        f"{value!r}")
    if array.ndim == 0:
        return float(array)
    return array.astype(np.float64).tolist()


class Normalization(Layer):
    """Keras 3's Normalization: (x - mean) / max(sqrt(variance), 1e-7) per position of `axis`
    (the last by default; None for one mean over everything), or its inverse with `invert`.
    The mean and variance come from `mean=`/`variance=` or from `adapt(data)`; adapted ones
    are the layer's non-trainable weights [mean, variance, count], as in Keras."""

    supports_masking = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, int):
            axis = (axis,)
        self.axis = tuple(axis)
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        if (mean is None) != (variance is None):
            raise ValueError("When setting values directly, both `mean` and `variance` must be "
                             f"set. Received: mean={mean} and variance={variance}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError("When setting values directly, `mean` and `variance` must "
                                 f"have the same shape. Received: mean shape {np.shape(mean)} "
                                 f"and variance shape {np.shape(variance)}")
            if len(np.shape(mean)) > len(self.axis):
                raise ValueError("The rank of `mean` must be less than or equal to the number "
                                 f"of axes ({len(self.axis)}). Received: mean shape "
                                 f"{np.shape(mean)} for axis {self.axis}")

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError("All `axis` values must be in the range [-ndim, ndim). Received "
                             f"inputs with ndim={ndim}, while axis={self.axis}")
        self._keep_axis = tuple(sorted(d % ndim for d in self.axis))
        for d in self._keep_axis:
            if input_shape[d] is None:
                raise ValueError("All `axis` values to be kept must have a known shape. "
                                 f"Received axis={self.axis}, inputs.shape={input_shape}, "
                                 f"with unknown axis at index {d}")
        self._reduce_axis = tuple(d for d in range(ndim) if d not in self._keep_axis)
        self._broadcast_shape = tuple(input_shape[d] if d in self._keep_axis else 1
                                      for d in range(ndim))
        shape = tuple(input_shape[d] for d in self._keep_axis)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight("mean", shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", shape, "ones", trainable=False)
            # Keras 3 keeps an int64 'count' too (for older saved models): a third weight.
            self.count = self.add_weight("count", (), "zeros", trainable=False)
            self.count.value = np.zeros((), dtype=np.int64)
            self.count.grad = np.zeros((), dtype=np.int64)
        else:
            mean, variance = np.asarray(self.input_mean), np.asarray(self.input_variance)
            expanded = [1] * ndim  # the given axes line up with the kept ones, from the right
            for i in range(1, mean.ndim + 1):
                expanded[self._keep_axis[-i]] = mean.shape[-i]
            self._mean = np.broadcast_to(mean.reshape(expanded), self._broadcast_shape)
            self._variance = np.broadcast_to(variance.reshape(expanded), self._broadcast_shape)

    def adapt(self, data):
        """Sets the mean and variance (population variance, as np.var) of `data`, an array or
        an iterable of batches, over every axis but `axis`."""
        batches = [np.asarray(data)] if hasattr(data, "shape") else [np.asarray(b) for b in data]
        if not batches:
            raise ValueError("adapt() received an empty iterable (no batches).")
        if not self.built:
            self._ensure_built((None,) + batches[0].shape[1:])
        if self.input_mean is not None:
            raise ValueError("adapt() cannot change a mean and variance given to the layer")
        total = np.concatenate([b.astype(np.float64) for b in batches], axis=0)
        for d in self._keep_axis:
            if total.shape[d] != self.input_shape[d]:
                raise ValueError(f"The layer was built with input_shape={self.input_shape}, but "
                                 "adapt() is being called with data with an incompatible shape, "
                                 f"data.shape={total.shape}")
        self.adapt_mean.assign(total.mean(axis=self._reduce_axis))
        self.adapt_variance.assign(total.var(axis=self._reduce_axis))

    def _statistics(self):
        if self.input_mean is not None:
            mean, variance = self._mean, self._variance
        else:
            mean = self.adapt_mean.value.reshape(self._broadcast_shape)
            variance = self.adapt_variance.value.reshape(self._broadcast_shape)
        scale = np.maximum(np.sqrt(variance), 1e-7).astype(self.dtype)
        return mean.astype(self.dtype), scale

    def forward(self, x, training=False):
        mean, self._scale = self._statistics()
        if self.invert:
            return (mean + x * self._scale).astype(self.dtype, copy=False)
        return ((x - mean) / self._scale).astype(self.dtype, copy=False)

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        return dy * self._scale if self.invert else dy / self._scale

    def get_config(self):
        config = super().get_config()
        config.update(axis=list(self.axis), invert=self.invert,
                      mean=None if self.input_mean is None else np.asarray(
                          self.input_mean).tolist(),
                      variance=None if self.input_variance is None else np.asarray(
                          self.input_variance).tolist())
        return config
