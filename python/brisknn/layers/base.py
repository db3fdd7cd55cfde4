"""The Layer base class: weights as Variables, lazy build, forward/backward on NumPy arrays."""
import contextlib
import functools
import math
import re

import numpy as np

from brisknn import backend, constraints, initializers, regularizers

_name_counts = {}

# While a model is rebuilt from a file: how many more weight values its layers may create (the
# file's weights bound it), so a crafted architecture fails before it allocates, not after.
_weight_budget = None


@contextlib.contextmanager
def weight_budget(values):
    global _weight_budget
    saved, _weight_budget = _weight_budget, [int(values)]
    try:
        yield
    finally:
        _weight_budget = saved


def _charge_weight_budget(layer, name, shape):
    if _weight_budget is None:
        return
    size = math.prod(int(d) for d in shape)
    _weight_budget[0] -= size
    if _weight_budget[0] < 0:
        raise ValueError(f"layer {layer!r} asks for weight {name!r} of shape {tuple(shape)}, "
                         "more values than the file's weights hold")


def _auto_name(cls_name):
    # Keras' to_snake_case: Conv2D -> conv2d, SimpleRNN -> simple_rnn, MaxPooling2D ->
    # max_pooling2d.
    base = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", cls_name)
    base = re.sub("([a-z])([A-Z])", r"\1_\2", base).lower()
    n = _name_counts.get(base, 0)
    _name_counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


class Layer:
    """Base class of every layer.

    A subclass creates its weights in `build(input_shape)` with `add_weight`, computes its output
    in `forward(x, training)` (keeping what backward needs), and in `backward(dy, need_dx)` adds
    its weight gradients into each Variable's `grad` and returns the gradient for its input.
    Shapes include the batch dimension as None, as in Keras.

    Masks (Keras' semantics): a mask is a (batch, steps) bool array saying which time steps are
    real. `compute_mask(inputs, mask)` gives the mask of the layer's output; a layer with
    `supports_masking` passes the incoming one on unchanged, any other drops it. A layer whose
    forward uses the mask (`forward_takes_mask`) gets it as `forward(x, training, mask=...)`
    and keeps it for its backward.
    """

    supports_masking = False
    forward_takes_mask = False
    activity_regularizer = None  # (a subclass that skips __init__ has none)
    _dtype = None  # the layer's own dtype, or None until it is built with floatx()

    @property
    def dtype(self):
        """The layer's dtype: its own, or floatx() (what it will be built with; Keras 3 reports
        its dtype policy's before the build too)."""
        return self._dtype if self._dtype is not None else np.dtype(backend.floatx())

    @dtype.setter
    def dtype(self, value):
        self._dtype = None if value is None else np.dtype(value)
    _call_losses = ()  # the activity regularizer's penalty of the last call, as Keras' losses

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None, input_dim=None,
                 batch_input_shape=None, activity_regularizer=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(kwargs)}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: argument `name` must be a string, got "
                            f"{name!r}")
        if not isinstance(trainable, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}: argument `trainable` must be a bool, got "
                            f"{trainable!r}")
        self.name = name or _auto_name(type(self).__name__)
        self._weights = []
        self._trainable_variables = []  # the weights created trainable (Keras' own list)
        self.trainable = trainable
        self.built = False
        self._dtype = np.dtype(dtype) if dtype is not None else None
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            self._declared_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            self._declared_input_shape = (None,) + tuple(_as_shape(input_shape))
        else:
            self._declared_input_shape = None
        self.input_shape = None
        self.output_shape = None
        # Keras 3: regularizer(output) joins the loss each call (not divided by the batch size).
        self.activity_regularizer = regularizers.get(activity_regularizer)

    # -- weights -----------------------------------------------------------------------------
    def add_weight(self, name=None, shape=None, initializer=None, regularizer=None,
                   trainable=True, dtype=None, constraint=None, autocast=True,
                   aggregation="none"):
        """A weight of `shape`. Takes brisknn's positional form add_weight(name, shape, ...)
        and Keras 3's keywords add_weight(shape=..., initializer=..., name=...); as Keras, the
        initializer defaults to glorot_uniform and the name to 'variable'."""
        if shape is None and name is not None and not isinstance(name, str):
            name, shape = None, name  # Keras' first positional argument is the shape
        if shape is None:
            raise ValueError(f"{self.name}.add_weight: a shape is required")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if name is None:
            taken = {w.name for w in self._weights}
            name = next(n for n in ("variable", *(f"variable_{i}" for i in range(1, 10**6)))
                        if n not in taken)
        initializer = "glorot_uniform" if initializer is None else initializer
        _charge_weight_budget(self.name, name, shape)
        init = initializers.get(initializer)
        # np.array, not ascontiguousarray: that would give a scalar weight shape (1,)
        value = np.array(init(tuple(shape), dtype=self.dtype), order="C")
        var = backend.Variable(value, name, path=f"{self.name}/{name}", trainable=trainable,
                               regularizer=regularizers.get(regularizer),
                               constraint=constraints.get(constraint))
        self._weights.append(var)
        if trainable:
            self._trainable_variables.append(var)
        return var

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        # As Keras 3's setter: the weights created trainable follow the layer's flag, so
        # `[w.trainable for w in layer.weights]` agrees with `layer.trainable_weights`.
        self._trainable = bool(value)
        for var in self._trainable_variables:
            var.trainable = self._trainable
        if self._weights:  # a layer without weights writes no gradient either way
            backend.trainable_changed()

    @property
    def weights(self):
        return list(self._weights)

    @property
    def trainable_weights(self):
        return [w for w in self._weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return list(self._weights)
        return [w for w in self._weights if not w.trainable]

    # Keras 3 names
    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        assign_weights(f"Layer {self.name!r}", self.weights, weights)

    def count_params(self):
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on layer '{self.name}', but the "
                             "layer isn't built. You can build it manually via: "
                             "`layer.build(input_shape)`.")
        return int(sum(w.value.size for w in self._weights))

    @property
    def compute_dtype(self):
        """Keras 3's name of the dtype the layer computes in (its own, else floatx)."""
        return self.dtype.name

    @property
    def variable_dtype(self):
        """Keras 3's name of its weights' dtype: the same as compute_dtype here."""
        return self.compute_dtype

    @property
    def losses(self):
        """As Keras 3: the activity regularizer's penalty of the last call (_activity_losses),
        then the regularization penalties of the trainable weights, as floats."""
        return self._activity_losses() + self._weight_losses()

    def _activity_losses(self):
        return list(self._call_losses)

    def _weight_losses(self):
        """Keras 3's `_get_regularization_losses` walks `trainable_weights` only, so a frozen
        weight's penalty is neither reported nor trained on."""
        return [float(w.regularizer(w.value)) for w in self.trainable_weights if w.regularizer]

    # -- shapes and building -----------------------------------------------------------------
    def build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "marks_built", False):
            cls.build = _marking_built(build)

    def _ensure_built(self, input_shape):
        input_shape = tuple(input_shape)
        if self.built and self.output_shape is not None:
            self._check_input_shape(input_shape)
            expected = self.input_shape
            if expected is not None and (len(input_shape) != len(expected) or any(
                    a is not None and e is not None and a != e
                    for a, e in zip(input_shape, expected))):
                # another size the layer's InputSpec lets through (input_spec_last_axis_only)
                return tuple(self.compute_output_shape(input_shape))
            return self.output_shape
        if self._dtype is None:
            self.dtype = backend.floatx()
        self.input_shape = input_shape
        if not self.built:  # (built with no shape: an Embedding's build() needs none)
            self._building = True
            try:
                self.build(input_shape)
            finally:
                self._building = False
            self.built = True
        self.output_shape = tuple(self.compute_output_shape(input_shape))
        return self.output_shape

    # Keras' InputSpec, as far as a direct call checks it: None keeps the whole shape the layer
    # was built for; a layer that sets it needs only its last axis (the one its weights fix) to
    # match, with any rank of at least input_min_rank (Dense's min_ndim 2), or the built rank.
    input_spec_last_axis_only = False
    input_min_rank = None

    def _accepts(self, input_shape):
        expected = self.input_shape
        if expected is None:
            return True
        if self.input_spec_last_axis_only:
            rank_ok = len(input_shape) >= self.input_min_rank if self.input_min_rank \
                else len(input_shape) == len(expected)
            return rank_ok and (expected[-1] is None or input_shape[-1] in (None, expected[-1]))
        return len(expected) == len(input_shape) and all(
            e is None or a is None or e == a for e, a in zip(expected[1:], input_shape[1:]))

    def _check_input_shape(self, input_shape):
        expected = self.input_shape
        if expected is None:
            return
        if not self._accepts(input_shape):
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) expects input of shape "
                             f"{_shape_str(expected)}, got {_shape_str(input_shape)}")

    # -- computation -------------------------------------------------------------------------
    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    def forward(self, x, training=False):
        # A Keras-style custom layer defines call(); brisknn has no autograd to derive backward.
        raise NotImplementedError(
            f"Layer {self.name!r} ({type(self).__name__}) does not implement forward(x, "
            "training): a brisknn layer computes its output in forward and its gradients in "
            "backward(dy, need_dx) (a Keras call() is not used: there is no automatic "
            "differentiation)")

    def backward(self, dy, need_dx=True):
        raise NotImplementedError(
            f"Layer {self.name!r} ({type(self).__name__}) does not implement backward(dy, "
            "need_dx), so it cannot be trained through")

    def __call__(self, x, training=None, mask=None):
        """Runs the layer eagerly on a NumPy array (building it from x's shape if needed), or
        records a functional-API call on an Input or KerasTensor."""
        if is_symbolic(x):
            return symbolic_call(self, x, training)
        training = bool(training)
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":  # complex would lose its imaginary part, strings parse
            raise TypeError(f"Layer {self.name!r} ({type(self).__name__}): expected real numeric "
                            f"input, got dtype {x.dtype}")
        shape = (None,) + x.shape[1:]
        if self.built and not self._weights and not self._accepts(shape):
            # A layer without weights has no input shape to keep (Keras gives Dropout or
            # Activation no input_spec): called alone on new data, it adapts.
            self.built = False
        self._ensure_built(shape)
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if mask is not None and self.forward_takes_mask:
            y = self.forward(x, training=training, mask=mask)
        else:
            y = self.forward(x, training=training)
        if self.activity_regularizer is not None and isinstance(y, np.ndarray):
            self._call_losses = [float(self.activity_regularizer(y))]
        elif self._call_losses:
            self._call_losses = ()
        return _tensor(y)

    @property
    def output(self):
        """Keras' `layer.output`: the KerasTensor of the layer's first functional call; for a
        layer of a Sequential with a known input shape, its place in the model's chain (so
        Model(model.inputs, model.get_layer(name).output) extracts features, as in Keras'
        guide)."""
        out = getattr(self, "_keras_output", None)
        model = getattr(self, "_parent_model", None)
        if out is None and model is not None and model._input_shape is not None:
            model.output  # records each of its layers' outputs
            out = getattr(self, "_keras_output", None)
        if out is None:
            raise ValueError(f"The layer {self.name} has never been called and thus has no "
                             "defined output.")
        return out

    # -- serialization -----------------------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": self.dtype.name}
        if self._declared_input_shape is not None:
            config["batch_input_shape"] = list(self._declared_input_shape)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        # Initializers travel as {'class_name', 'config'} dicts; regularizers.get reads theirs.
        config = {key: initializers.deserialize(value)
                  if key.endswith("_initializer") and isinstance(value, dict) else value
                  for key, value in config.items()}
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class KerasTensor:
    """What a layer returns when called on an Input or on another KerasTensor (Keras'
    functional API): the output's shape (batch axis first, None) and dtype, and the call that
    made it. `Model(inputs, outputs)` turns a chain of such calls into a Sequential."""

    def __init__(self, shape, dtype, layer, parent=None, training=None):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self._layer, self._parent, self._training = layer, parent, training

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return (f"<KerasTensor shape={self.shape}, dtype={self.dtype.name}, "
                f"name={self._layer.name}>")


def is_symbolic(x):
    """x is an Input (an InputLayer) or a KerasTensor: a functional-API call."""
    return isinstance(x, KerasTensor) or getattr(x, "is_input_marker", False)


def symbolic_call(layer, x, training):
    """Keras' functional call of layer on x: the layer is built for x's shape, and the result
    records the call (training=None: the model's mode; True/False: always that mode)."""
    shape = x.shape if isinstance(x, KerasTensor) else x._declared_input_shape
    layer._ensure_built((None,) + tuple(shape[1:]))
    out = layer.compute_output_shape((shape[0],) + tuple(shape[1:]))
    if isinstance(out, list):  # a layer with return_state gives several outputs
        raise NotImplementedError(
            f"Layer {layer.name!r} ({type(layer).__name__}) gives several outputs: brisknn's "
            "functional models are chains of single-output layers")
    out = KerasTensor(out, layer.dtype, layer, x, training)
    if getattr(layer, "_keras_output", None) is None:  # layer.output: the first call's
        layer._keras_output = out
    return out


class LayerContainer:
    """Mixed in before Layer by a layer made of inner layers (Sequential, Bidirectional): its
    weights are theirs, in order, and its own `trainable` flag gates them all."""

    @property
    def _inner_layers(self):
        raise NotImplementedError

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        # As Keras: freezing or unfreezing a container sets every layer inside it. (Layer's
        # __init__ sets the flag before a wrapper has its inner layers: getattr's default.)
        self._trainable = bool(value)
        for layer in getattr(self, "_inner_layers", ()):
            layer.trainable = self._trainable

    def count_params(self):
        if not self.built:
            return super().count_params()  # Keras' "isn't built" error
        return sum(layer.count_params() for layer in self._inner_layers)

    @property
    def weights(self):
        return [w for layer in self._inner_layers for w in layer.weights]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for layer in self._inner_layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights


def _marking_built(build):
    """Keras 3's build wrapper: `layer.build(shape)` called directly leaves the layer built, its
    shapes recorded, so a later call on data keeps the weights (set_weights after build, say)
    instead of building new ones. Calls from _ensure_built, and a subclass's super().build(),
    go straight through."""
    @functools.wraps(build)
    def wrapper(self, input_shape=None, *args, **kwargs):
        if getattr(self, "_building", False):
            return build(self, input_shape, *args, **kwargs)
        if self.built:
            return None
        if input_shape is None:  # shapes are recorded at the first call on data
            self._building = True
            try:
                build(self, None, *args, **kwargs)
            finally:
                self._building = False
            self.built = True
            return None
        self._ensure_built(_as_shape(input_shape))
        return None

    wrapper.marks_built = True
    return wrapper


def weight_args_config(layer, names=("kernel", "bias")):
    """The initializer, regularizer and constraint arguments of layer's weights `names`, as
    Keras' get_config writes them (initializers first, then regularizers, then constraints)."""
    config = {}
    for kind, serialize in (("initializer", initializers.serialize),
                            ("regularizer", regularizers.serialize),
                            ("constraint", constraints.serialize)):
        for name in names:
            config[f"{name}_{kind}"] = serialize(getattr(layer, f"{name}_{kind}"))
    return config


def _tensor(y):
    # The caller's view has `.numpy()` (backend.Tensor); the layer keeps its own arrays.
    return y.view(backend.Tensor) if isinstance(y, np.ndarray) else y


def assign_weights(owner, variables, values):
    """Assigns values to variables after checking every count and shape, so a mismatch leaves
    all the weights as they were."""
    values = [np.asarray(v) for v in values]
    if len(values) != len(variables):
        raise ValueError(f"{owner} has {len(variables)} weights, got {len(values)} "
                         f"(expected shapes {[v.shape for v in variables]})")
    for var, value in zip(variables, values):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{owner}: weight {var.path} needs real numbers, got a value of "
                            f"dtype {value.dtype}")
        if value.shape != var.shape:
            raise ValueError(f"{owner}: weight {var.path} has shape {var.shape}, "
                             f"got a value of shape {value.shape}")
    for var, value in zip(variables, values):
        var.assign(value)


def _as_shape(shape):
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(None if d is None else int(d) for d in shape)


def _shape_str(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"
