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
