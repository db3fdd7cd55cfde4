"""Activation layers with their own arguments (Keras 3's keras/src/layers/activations/):
LeakyReLU, the discriminator's activation in Keras' GAN recipes."""
import warnings

from brisknn.layers.base import Layer
from brisknn.layers.core import Activation


class LeakyReLU(Activation):
    """x for x >= 0, negative_slope * x below (Keras 3's default slope 0.3; the activation
    function 'leaky_relu' defaults to 0.2). The C++ activation kernels run it with this slope."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # Keras 2's name, still accepted by Keras 3
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.",
                          stacklevel=2)
        if negative_slope is None or isinstance(negative_slope, bool) or negative_slope < 0:
            raise ValueError("The negative_slope value of a Leaky ReLU layer cannot be None or "
                             "negative value. Expected a float. Received: "
                             f"negative_slope={negative_slope}")
        super().__init__("leaky_relu", **kwargs)
        self.negative_slope = float(negative_slope)
        self.activation_alpha = self.negative_slope

    def get_config(self):
        config = Layer.get_config(self)  # not Activation's: the activation is implied
        config["negative_slope"] = self.negative_slope
        return config
