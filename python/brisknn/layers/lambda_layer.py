"""Lambda (a Python function on NumPy arrays, forward only) and Identity.

brisknn has no automatic differentiation, so a Lambda cannot give the gradient Keras' backend
derives from its function: it runs in predict and evaluate (and in fit where nothing before it
learns, so no gradient has to pass through it), and refuses at the first backward that needs
one, naming the layer. Its config never holds code: a saved Lambda is refused on load."""
import inspect

import numpy as np

from brisknn.layers.base import Layer, _shape_str

# Keras 3's message (Lambda._raise_for_lambda_deserialization); brisknn adds that safe_mode=False
# cannot lift it, since the file holds no code to run.
_UNSAFE = ("Requested the deserialization of a `Lambda` layer whose `function` is a Python "
           "lambda. This carries a potential risk of arbitrary code execution and thus it is "
           "disallowed by default. If you trust the source of the artifact, you can override "
           "this error by passing `safe_mode=False` to the loading function, or calling "
           "`keras.config.enable_unsafe_deserialization().")


def _function_config(fn):
    """What a config says of a function: its kind and name, never its code."""
    name = getattr(fn, "__name__", type(fn).__name__)
    kind = "__lambda__" if name == "<lambda>" else "function"
    return {"class_name": kind, "config": {"name": name,
                                           "module": getattr(fn, "__module__", None)}}


class Lambda(Layer):
    """y = function(x, **arguments) on the NumPy batch (with `mask=` / `training=` when the
    function takes them, as Keras). output_shape: None (found by calling the function once on
    zeros), a shape without the batch axis, or a function of the input shape."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(function, dict):  # a config's function entry: code was never saved
            raise ValueError(f"Lambda {self.name!r}: {_UNSAFE} brisknn never stores or runs "
                             "code from a file, so this holds whatever safe_mode says: build "
                             "the Lambda again in your code, then load the weights with "
                             "model.load_weights.")
        if not callable(function):
            raise ValueError(f"Lambda {self.name!r}: function must be callable, got "
                             f"{function!r}")
        if output_shape is not None and not callable(output_shape):
            try:
                output_shape = tuple(None if d is None else int(d) for d in output_shape)
            except (TypeError, ValueError):
                raise ValueError(f"Lambda {self.name!r}: output_shape must be a shape tuple "
                                 f"(without the batch axis) or a function, got "
                                 f"{output_shape!r}") from None
        if arguments is not None and not isinstance(arguments, dict):
            raise ValueError(f"Lambda {self.name!r}: arguments must be a dict, got "
                             f"{arguments!r}")
        self.function = function
        self.arguments = dict(arguments or {})
        self.mask = mask
        self.supports_masking = mask is not None
        self._output_shape = output_shape
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):
            params = {}
        self._takes_training = "training" in params
        self._takes_mask = "mask" in params

    def _call(self, x, training=False, mask=None):
        kwargs = dict(self.arguments)
        if self._takes_mask:
            kwargs["mask"] = mask
        if self._takes_training:
            kwargs["training"] = training
        y = np.asarray(self.function(x, **kwargs))
        if y.dtype.kind == "f" and x.dtype.kind == "f" and y.dtype != x.dtype:
            y = y.astype(x.dtype)  # Keras computes in the layer's dtype
        return np.ascontiguousarray(y)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        if self._output_shape is not None:
            return (input_shape[0],) + self._output_shape
        probe = tuple(1 if d is None else d for d in input_shape)
        try:
            y = self._call(np.zeros(probe, dtype=self.dtype))
        except Exception as e:
            raise NotImplementedError(
                f"Lambda {self.name!r}: We could not automatically infer the shape of the "
                "Lambda's output. Please specify the `output_shape` argument for this Lambda "
                f"layer. (Calling it on zeros of shape {_shape_str(input_shape)} raised "
                f"{e!r})") from e
        return (input_shape[0],) + y.shape[1:] if y.ndim else ()

    def forward(self, x, training=False, mask=None):
        return self._call(x, training, mask)

    def compute_mask(self, inputs, mask=None):
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        raise NotImplementedError(
            f"Layer {self.name!r} (Lambda) cannot pass a gradient back: brisknn has no automatic "
            "differentiation to derive it from the Python function. A Lambda works in predict "
            "and evaluate, and in fit only where no layer before it learns; to train through "
            "it, write a Layer subclass with forward(x, training) and backward(dy, need_dx).")

    def get_config(self):
        config = super().get_config()
        config["function"] = _function_config(self.function)
        if self._output_shape is not None:
            config["output_shape"] = _function_config(self._output_shape) \
                if callable(self._output_shape) else self._output_shape
        config["arguments"] = self.arguments
        return config


class Identity(Layer):
    """Keras' placeholder layer: y = x, gradients pass unchanged."""

    supports_masking = True

    def forward(self, x, training=False):
        return x

    def backward(self, dy, need_dx=True):
        return dy if need_dx else None
