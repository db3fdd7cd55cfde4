"""Keras 3's regularization layers that add noise in training only (keras/src/layers/
regularization/): SpatialDropout1D/2D drop whole channels, GaussianNoise adds N(0, stddev),
GaussianDropout multiplies by N(1, rate / (1 - rate)). At inference they pass x through."""
import numpy as np

from brisknn import utils
from brisknn.layers.base import Layer, _shape_str


class _Noise(Layer):
    supports_masking = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._seeds = np.random.default_rng(seed) if seed is not None else None
        self._factor = None

    def _generator(self):
        # The model's seeded generator (or the layer's own seed): repeatable under
        # utils.set_random_seed, as Dropout.
        return np.random.default_rng(int((self._seeds or utils.rng()).integers(0, 2**63)))

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        return dy if self._factor is None else dy * self._factor

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config


def _rate(rate, where):
    if not 0.0 <= float(rate) <= 1.0:
        raise ValueError(f"Invalid value received for argument `rate`. Expected a float value "
                         f"between 0 and 1. Received: rate={rate}")
    return float(rate)


class SpatialDropout1D(_Noise):
    """Dropout of whole channels of (batch, steps, channels): each sample keeps or drops a
    channel at every step, the kept ones scaled by 1 / (1 - rate)."""

    _rank, _channels_first_shape = 3, None

    def __init__(self, rate, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(seed=seed, name=name, dtype=dtype, **kwargs)
        self.rate = _rate(rate, type(self).__name__)
        self.data_format = "channels_last"

    def compute_output_shape(self, input_shape):
        if len(input_shape) != self._rank:
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) expects input of "
                             f"rank {self._rank}, got {_shape_str(input_shape)}")
        return tuple(input_shape)

    def _noise_shape(self, shape):
        if self.data_format == "channels_first":
            return shape[:2] + (1,) * (len(shape) - 2)
        return (shape[0],) + (1,) * (len(shape) - 2) + (shape[-1],)

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            self._factor = None
            return x
        keep = self._generator().random(self._noise_shape(x.shape)) >= self.rate
        self._factor = (keep / (1.0 - self.rate)).astype(x.dtype) if self.rate < 1.0 else \
            np.zeros(keep.shape, x.dtype)
        return x * self._factor

    def get_config(self):
        config = super().get_config()
        config["rate"] = self.rate
        return config


class SpatialDropout2D(SpatialDropout1D):
    """Dropout of whole feature maps of (batch, h, w, channels) (or channels_first)."""

    _rank = 4

    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None, **kwargs):
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        data_format = data_format or "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"Invalid `data_format` argument: {data_format!r}")
        self.data_format = data_format

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class GaussianNoise(_Noise):
    """Adds zero-mean Gaussian noise of `stddev` in training (a regularizer); identity at
    inference, and for the gradient."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not 0 <= stddev <= 1:
            raise ValueError("Invalid value received for argument `stddev`. Expected a float "
                             f"value between 0 and 1. Received: stddev={stddev}")
        self.stddev = float(stddev)

    def forward(self, x, training=False):
        self._factor = None
        if not training or self.stddev == 0:
            return x
        return (x + self._generator().normal(0.0, self.stddev, x.shape)).astype(x.dtype)

    def get_config(self):
        config = super().get_config()
        config["stddev"] = self.stddev
        return config


class GaussianDropout(_Noise):
    """Multiplies by Gaussian noise of mean 1 and stddev sqrt(rate / (1 - rate)) in training;
    identity at inference."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not 0 <= rate <= 1:
            raise ValueError("Invalid value received for argument `rate`. Expected a float "
                             f"value between 0 and 1. Received: rate={rate}")
        self.rate = float(rate)

    def forward(self, x, training=False):
        if not training or not 0 < self.rate < 1:
            self._factor = None
            return x
        stddev = np.sqrt(self.rate / (1.0 - self.rate))
        self._factor = self._generator().normal(1.0, stddev, x.shape).astype(x.dtype)
        return x * self._factor

    def get_config(self):
        config = super().get_config()
        config["rate"] = self.rate
        return config
