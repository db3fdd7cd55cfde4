"""Keras-named layers."""
from brisknn.layers.base import Layer
from brisknn.layers.core import (Activation, Dense, Dropout, Flatten, Input, InputLayer,
                                 Reshape)

try:  # convolution and pooling
    from brisknn.layers.conv import Conv2D  # noqa: F401
    from brisknn.layers.pooling import (AveragePooling2D, AvgPool2D,  # noqa: F401
                                        MaxPool2D, MaxPooling2D)
except ImportError:  # pragma: no cover - until the conv family lands
    pass
