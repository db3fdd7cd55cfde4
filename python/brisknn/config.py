"""keras.config's global settings: the float type, the fuzz factor and the image layout."""
from brisknn.backend import epsilon, floatx, set_floatx  # noqa: F401


def set_epsilon(value):
    """Keras lets the fuzz factor change; brisknn's kernels clip with 1e-7 compiled in, so
    only that value is accepted."""
    if float(value) != epsilon():
        raise NotImplementedError(f"set_epsilon: brisknn's kernels use epsilon {epsilon()}; "
                                  f"got {value}")


def image_data_format():
    """'channels_last', Keras' default and the layout brisknn's layers take by default."""
    return "channels_last"


def set_image_data_format(data_format):
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={data_format}")
    if data_format != "channels_last":
        raise NotImplementedError("set_image_data_format: brisknn's default layout is "
                                  "channels_last; pass data_format= to a layer instead")


def backend():
    """The name of the backend: brisknn's own C++ kernels."""
    return "brisknn"
