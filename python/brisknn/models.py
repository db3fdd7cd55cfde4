"""Sequential models: the stack of layers, its forward and backward passes, Keras' functional
chains and saving; the training API is brisknn.trainer's."""
import warnings

import numpy as np

from brisknn import backend, regularizers, summary_utils
from brisknn.data_checks import _check_finite
from brisknn.layers.base import (KerasTensor, Layer, LayerContainer, _auto_name, assign_weights,
                                 is_symbolic, symbolic_call)
from brisknn.layers.core import InputLayer, _ActivationMixin
from brisknn.trainer import Trainer


class Sequential(Trainer, LayerContainer, Layer):
    """A linear stack of layers; itself a Layer, so it can be nested in another Sequential."""

    def __init__(self, layers=None, *args, **kwargs):
        call_training = {}
        functional = _is_functional(args, kwargs)
        if functional:
            # Model(inputs, outputs, name=None, trainable=True): the chain of calls becomes
            # the layer list.
            inputs, outputs, name, trainable = _arguments(
                "Model", ("inputs", "outputs", "name", "trainable"), (None, None, None, True),
                (layers, *args) if layers is not None or args else (), kwargs)
            layers, call_training = _functional_chain(inputs, outputs)
            name = _auto_name("Functional") if name is None else name  # Keras' default
        else:  # Keras 3's Sequential(layers=None, trainable=True, name=None)
            trainable, name = _arguments("Sequential", ("trainable", "name"), (True, None), args,
                                         kwargs)
        _refuse_subclassed(self)
        self._layers = []
        self._input_marker = None  # the Input this model starts from (model.input)
        self._call_training = call_training  # {layer: training} fixed by a functional call
        # Made by Model(inputs, outputs): as Keras' Functional, its `layers` start with the
        # InputLayer (a Sequential's leave it out).
        self._functional = functional
        super().__init__(name=name, trainable=trainable, **kwargs)
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self.history = None
        self._metric_specs = []
        self._weighted_metric_specs = []
        self._metrics = None
        self._train_vars = None
        self._dense_step_cache = None  # (key, DenseStep or None, what the key's ids name)
        self._activity_penalty, self._activity_outputs = 0.0, {}  # of the last forward pass
        self._train_seed = None  # fixed at the first fit; keys each epoch's generator (saved)
        self._accepted_x_shape = None  # per-sample input shape _prepare_x last built with
        for layer in layers or []:
            self.add(layer)

    # -- structure -------------------------------------------------------------------------
    @property
    def layers(self):
        return ([self._input_marker] if self._functional else []) + self._layers

    # Keras 3 raises rather than answer None for a model that has no input shape yet.
    @property
    def input_shape(self):
        if self._input_shape is None:
            raise ValueError(f"Sequential model '{self.name}' has no defined input shape yet.")
        return self._input_shape

    @input_shape.setter
    def input_shape(self, value):
        self._input_shape = value

    @property
    def output_shape(self):
        if self._output_shape is None:
            raise ValueError(f"Sequential model '{self.name}' has no defined output shape yet.")
        return self._output_shape

    @output_shape.setter
    def output_shape(self, value):
        self._output_shape = value

    def add(self, layer):
        self._accepted_x_shape = None
        self._forget_compiled_structure()
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError(f"Sequential {self.name!r}: an Input can only come first")
            self._declared_input_shape = layer.shape
            self._input_marker = layer
        elif not isinstance(layer, Layer):
            raise ValueError("Only instances of `keras.Layer` can be added to a Sequential "
                             f"model. Received: {layer!r} (of type {type(layer)})")
        else:
            if any(existing is layer for existing in self._layers):
                raise ValueError(f"Sequential {self.name!r}: layer {layer.name!r} added twice")
            if any(existing.name == layer.name for existing in self._layers):
                raise ValueError("All layers added to a Sequential model should have unique "
                                 f"names. Name '{layer.name}' is already the name of a layer in "
                                 "this model. Update the `name` argument to pass a unique name.")
            _refuse_several_outputs(self, layer)
            if not self._layers and self._declared_input_shape is None:
                self._declared_input_shape = layer._declared_input_shape
            self._layers.append(layer)
            # layer.output: its place in this chain (a plain reference: a deep copy of the
            # model then points its layers' copies at the copy)
            layer._parent_model = self
        if self._declared_input_shape is not None and self._layers:
            self._ensure_built(self._declared_input_shape)
            for inner in self._leaf_layers():  # Keras 3: a stateful RNN needs a static batch
                check = getattr(inner, "_require_static_batch", None)
                if check is not None:
                    check(self._declared_input_shape)

    def pop(self, rebuild=True):
        layer = self._layers.pop()  # IndexError on an empty model, as Keras 3
        self._call_training.pop(layer, None)
        self.built = False
        self._accepted_x_shape = None
        self._forget_compiled_structure()
        if rebuild and self._layers and self._input_shape is not None:
            self._ensure_built(self._input_shape)
        return layer

    def _forget_compiled_structure(self):
        # What the first step after compile derived from the layers (the weights it steps,
        # the metrics and loss fusion chosen for the output layer) is derived again after a
        # pop/add: a new head trains, and a softmax head replaced by a linear one no longer
        # has its loss computed from logits. Keras computes these per step.
        self._metrics = None
        self._train_vars = None

    def _ensure_built(self, input_shape):
        if not self._layers:  # Keras' message: an empty model is not the identity
            raise ValueError(f"Sequential model {self.name} cannot be built because it has no "
                             "layers. Call `model.add(layer)`.")
        input_shape = tuple(input_shape)
        if self.built and self._input_shape is not None:
            self._check_input_shape(input_shape)
        if self._dtype is None:
            self.dtype = backend.floatx()
        shape = input_shape
        for layer in self._layers:
            _refuse_several_outputs(self, layer)
            shape = layer._ensure_built(shape)
        if self.built and self._input_shape is not None and \
                len(self._input_shape) == len(input_shape):
            # A dimension declared None (Input((None,)) for sequences of any length) stays
            # None, as in the layers' own shapes; a declared batch size (a stateful model's)
            # stays too when data comes in with the batch left open.
            input_shape = tuple(None if e is None else e if a is None else a
                                for e, a in zip(self.input_shape, input_shape))
        self.input_shape, self.output_shape, self.built = input_shape, shape, True
        return shape

    def build(self, input_shape=None):  # already Keras' public build: it marks the model built
        if input_shape is None:
            input_shape = self._declared_input_shape
        if input_shape is None:
            raise ValueError(f"Sequential {self.name!r}: build needs an input shape")
        self._ensure_built(tuple(input_shape))

    build.marks_built = True

    def compute_output_shape(self, input_shape):
        return self._ensure_built(input_shape)

    @property
    def _inner_layers(self):
        return self._layers

    def set_weights(self, weights):
        assign_weights(f"Sequential {self.name!r}", self.weights, weights)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}")

    # -- computation -----------------------------------------------------------------------
    def output_activation(self):
        """The activation the last layer applies (None if it has none), looking into nesting."""
        last = self._layers[-1] if self._layers else None
        if isinstance(last, Sequential):
            return last.output_activation()
        return last.activation_name if isinstance(last, _ActivationMixin) else None

    # A model passes masks along as Keras does: each layer's compute_mask gives the mask of its
    # output, layers that use one get it in forward (and keep it for backward).
    supports_masking = True
    forward_takes_mask = True
    _output_mask = None

    def forward(self, x, training=False, logits=False, mask=None, check_x=None):
        """With check_x (the method's name), x comes unscanned from _prepare_x(scan=False) and
        is scanned only if the first layer (a Dense) found its product not finite."""
        last = len(self._layers) - 1
        self._activity_penalty, self._activity_outputs = 0.0, {}
        for i, layer in enumerate(self._layers):
            kwargs = {"logits": True} if logits and i == last else {}
            if mask is not None and layer.forward_takes_mask:
                kwargs["mask"] = mask
            x = _autocast(x, layer)
            y = layer.forward(x, self._call_training.get(layer, training) if
                              self._call_training else training, **kwargs)
            if check_x and i == 0 and not layer.input_finite:
                _check_finite(x, "x", check_x)
            mask = _output_mask(layer, x, mask)
            penalty = _activity_penalty(layer, y, logits and i == last)
            self._activity_penalty += penalty
            if layer.activity_regularizer is not None:
                self._activity_outputs[layer] = y
                layer._call_losses = [penalty]
            elif layer._call_losses:
                layer._call_losses = ()
            x = y
        self._output_mask = mask
        return x

    def compute_mask(self, inputs, mask=None):
        """The mask of the output of the last forward pass (None if it has none)."""
        return self._output_mask

    def backward(self, dy, need_dx=True):
        # A layer needs its input gradient only if something before it learns (or the caller
        # wants it): the first Dense of an MLP skips its largest GEMM.
        needs = []
        learns_before = need_dx
        for layer in self._layers:
            needs.append(learns_before)
            learns_before = learns_before or bool(layer.trainable_weights)
        for layer, need in zip(reversed(self._layers), reversed(needs)):
            if not need and not layer.trainable_weights:
                return None
            out = self._activity_outputs.get(layer)
            if out is not None:  # the penalty's share of the output's gradient
                dy = dy + regularizers.gradient(layer.activity_regularizer, out,
                                                f"Layer {layer.name!r}")
            dy = layer.backward(_autocast(dy, layer), need_dx=need)
            if dy is None:  # a layer whose input has no gradient (Embedding's ids)
                return None
        return dy

    def __call__(self, x, training=None):
        if is_symbolic(x):
            return symbolic_call(self, x, training)
        x = self._prepare_x(x, "call")
        return self.forward(x, training=bool(training)).view(backend.Tensor)

    @property
    def input(self):
        """Keras' `model.input`: the Input this model starts from. Layers called on it (or on
        `model.output`) build a functional chain for `Model(inputs, outputs)`."""
        if self._input_marker is None:
            if self._input_shape is None:
                raise ValueError(f"Sequential model '{self.name}' has no defined input yet.")
            self._input_marker = InputLayer(batch_shape=self._input_shape)
        return self._input_marker

    @property
    def output(self):
        """Keras' `model.output`: the KerasTensor of the model's output, computed from
        `model.input` through each of its layers."""
        x = self.input
        for layer in self._layers:
            x = symbolic_call(layer, x, self._call_training.get(layer))
        return x

    inputs = property(lambda self: [self.input], doc="Keras' model.inputs: [model.input].")
    outputs = property(lambda self: [self.output], doc="Keras' model.outputs: [model.output].")

    def _activity_losses(self):
        return [loss for layer in self._leaf_layers() for loss in layer._call_losses]

    def _leaf_layers(self):
        for layer in self._layers:
            if isinstance(layer, Sequential):
                yield from layer._leaf_layers()
            else:
                yield layer


    # -- description -----------------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Keras 3's summary: a row per layer (nested models' layers too with expand_nested,
        a Trainable column with show_trainable, the layers from the first name matching
        layer_range[0] to the last matching layer_range[1]), then the parameter counts; once
        the optimizer has state, 'Optimizer params' and a total that includes them."""
        print_fn = print_fn or print
        print_fn(summary_utils.summary_text(self, line_length, positions, expand_nested,
                                            show_trainable, layer_range))

    def get_config(self):
        # Keras 3's layout: an InputLayer entry first when the input shape is declared, and
        # the shape the model was built for.
        config = super().get_config()
        declared = config.pop("batch_input_shape", None)
        inputs = [] if declared is None else [{"class_name": "InputLayer", "config": {
            "batch_shape": declared, "dtype": config["dtype"], "sparse": False,
            "name": self._input_marker.name if self._functional else
            f"input_layer_{self.name}"}}]
        config["layers"] = inputs + [{"class_name": type(l).__name__, "config": l.get_config()}
                                     for l in self._layers]
        if self.built and self._input_shape is not None:
            config["build_input_shape"] = list(self._input_shape)
        if self._functional:
            config["functional"] = True
        if self._call_training:  # a functional model's base(inputs, training=False)
            config["call_training"] = {layer.name: flag
                                       for layer, flag in self._call_training.items()}
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The (unbuilt unless its input shape is declared) model get_config describes; layers
        are looked up by class name among brisknn's own (see brisknn.saving)."""
        from brisknn import saving
        config = dict(config)
        layer_entries = config.pop("layers", [])
        if not isinstance(layer_entries, list):
            raise ValueError(f"Sequential.from_config: 'layers' must be a list, got "
                             f"{type(layer_entries).__name__}")
        build_shape = config.pop("build_input_shape", None)
        call_training = config.pop("call_training", {})
        functional = config.pop("functional", False)
        if not isinstance(functional, bool):
            raise ValueError(f"Sequential.from_config: 'functional' must be a boolean, got "
                             f"{functional!r}")
        model = cls(**config)
        for entry in layer_entries:
            model.add(saving.deserialize_layer(entry, custom_objects))
        by_name = {layer.name: layer for layer in model._layers}
        if not isinstance(call_training, dict) or any(
                name not in by_name or not isinstance(flag, bool)
                for name, flag in call_training.items()):
            raise ValueError(f"Sequential.from_config: 'call_training' must map layer names "
                             f"to booleans, got {call_training!r}")
        model._call_training = {by_name[name]: flag for name, flag in call_training.items()}
        model._functional = functional and model._input_marker is not None
        if build_shape is not None and not model.built and model._layers:
            model.build(tuple(build_shape))
        return model

    # -- files -----------------------------------------------------------------------------
    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Saves architecture, weights, compile configuration and optimizer state to a `.keras`
        file (brisknn's zip format, see the README); reload with `load_model`."""
        from brisknn import saving
        if zipped is False or kwargs:
            raise ValueError(f"save: only zipped .keras files are supported (got "
                             f"zipped={zipped!r}, {sorted(kwargs)})")
        saving.save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Saves the weights only, to a `.weights.npz` file (Keras' `.weights.h5` name is
        accepted too; the content is brisknn's format, not HDF5)."""
        from brisknn import saving
        if max_shard_size is not None:
            raise NotImplementedError("save_weights: sharding is not supported")
        saving.save_weights(self, filepath, overwrite=overwrite)

    def to_json(self, **kwargs):
        """The architecture as JSON (no weights); `models.model_from_json` rebuilds it."""
        from brisknn import saving
        return saving.model_to_json(self, **kwargs)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Loads weights saved by save_weights (or from a .keras file) after checking every
        layer, weight name, shape and dtype; a mismatch changes nothing and names the weight."""
        from brisknn import saving
        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)


Model = Sequential


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """Keras' `models.save_model(model, path)`: the same as `model.save(path)`."""
    model.save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Loads a model written by `model.save` (see brisknn.saving.load_model)."""
    from brisknn import saving
    return saving.load_model(filepath, custom_objects=custom_objects, compile=compile,
                             safe_mode=safe_mode)


def model_from_json(json_string, custom_objects=None):
    """A new model from `model.to_json()` (architecture only, freshly initialized weights)."""
    from brisknn import saving
    return saving.model_from_json(json_string, custom_objects=custom_objects)


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive=False, **kwargs):
    """Keras' clone_model for a Sequential: the same architecture, layer names and trainable
    flags with fresh weights (set_weights copies them), not compiled. Each layer is cloned
    by `clone_function(layer)` (by default its class rebuilt from its config); a nested model
    is cloned the same way, or layer by layer with recursive=True."""
    if input_tensors is not None or call_function is not None or kwargs:
        raise NotImplementedError("clone_model: input_tensors, call_function and other "
                                  "functional-API arguments are not supported")
    if not isinstance(model, Sequential):
        raise ValueError("Expected `model` argument to be a `Model` instance. Received: "
                         f"model={model}")

    def clone(layer):
        if recursive and isinstance(layer, Sequential):
            return clone_model(layer, clone_function=clone_function, recursive=True)
        if clone_function is not None:
            return clone_function(layer)
        return type(layer).from_config(layer.get_config())

    copy = Sequential(name=model.name, trainable=model.trainable)
    if model._declared_input_shape is not None:
        copy.add(InputLayer(batch_shape=model._declared_input_shape,
                            name=model._input_marker.name if model._functional else None))
    copy._functional = model._functional and copy._input_marker is not None
    for layer in model._layers:
        copy.add(clone(layer))
        if layer in model._call_training:  # base(inputs, training=False) stays so
            copy._call_training[copy._layers[-1]] = model._call_training[layer]
    if not copy.built and model.built and model._input_shape is not None:
        copy.build(model._input_shape)
    return copy


def _is_functional(args, kwargs):
    """Model(inputs=..., outputs=...) or Model(inputs, outputs) by position."""
    return "inputs" in kwargs or "outputs" in kwargs or bool(args) and \
        isinstance(args[0], (KerasTensor, InputLayer, list, tuple, dict))


def _arguments(owner, names, defaults, args, kwargs):
    """The values of `names` given by position (args) or by keyword (taken out of kwargs), as
    Python binds a signature: Model(inputs, outputs, name="m") has its name by keyword."""
    if len(args) > len(names):
        raise TypeError(f"{owner}() takes at most {len(names)} positional arguments, got "
                        f"{len(args)}")
    values = dict(zip(names, args))
    for name, default in zip(names, defaults):
        if name in kwargs:
            if name in values:
                raise TypeError(f"{owner}() got multiple values for argument {name!r}")
            values[name] = kwargs.pop(name)
        values.setdefault(name, default)
    return [values[name] for name in names]


def _one(value, what):
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise NotImplementedError(f"Model: {len(value)} {what}: brisknn's functional models "
                                      f"are chains with one input and one output")
        value = value[0]
    return value


def _functional_chain(inputs, outputs):
    """The layer list [Input, *layers] of Keras' Model(inputs, outputs) when outputs come from
    inputs through a chain of single-input layer calls, and {layer: training} for the calls
    that fixed a mode (base(inputs, training=False))."""
    inputs, outputs = _one(inputs, "inputs"), _one(outputs, "outputs")
    if not isinstance(inputs, InputLayer):
        raise ValueError(f"Model: inputs must be the Input the layers were called on "
                         f"(brisknn.Input(shape)), got {inputs!r}")
    if not isinstance(outputs, KerasTensor):
        raise ValueError(f"Model: outputs must be the result of calling layers on the inputs, "
                         f"got {outputs!r}")
    calls, node = [], outputs
    while isinstance(node, KerasTensor):
        calls.append((node._layer, node._training))
        node = node._parent
    if node is not inputs:
        raise ValueError(f"Model: the outputs were computed from {node!r}, not from the given "
                         f"inputs {inputs!r}")
    calls.reverse()
    return [inputs] + [layer for layer, _ in calls], \
        {layer: bool(training) for layer, training in calls if training is not None}


def _refuse_subclassed(model):
    """brisknn's models are stacks run by their layers' forward/backward: say so rather than
    run a subclass's call() or train_step as if it were not there."""
    overridden = [name for name in ("call", "train_step", "test_step", "predict_step")
                  if callable(getattr(type(model), name, None))]
    if overridden:
        raise NotImplementedError(
            f"{type(model).__name__} defines {', '.join(overridden)}: brisknn has no automatic "
            "differentiation, so a Model subclass's call() or custom train_step would never run. "
            "Stack the layers in a Sequential (a custom layer implements forward and backward).")


def _refuse_several_outputs(model, layer):
    """Keras' Sequential is "a plain stack of layers where each layer has exactly one input
    tensor and one output tensor"; a recurrent layer with return_state gives a list, which the
    next layer cannot take (and brisknn's fit has one output to train)."""
    if getattr(layer, "return_state", False):
        raise ValueError(
            f"Sequential {model.name!r}: layer {layer.name!r} ({type(layer).__name__}) has "
            "return_state=True and so returns several outputs ([output, *states]), but each "
            "layer of a Sequential model must have exactly one output tensor. Call the layer "
            "directly to get its states, or set return_state=False.")


def _activity_penalty(layer, y, logits):
    """A layer's activity regularization of its output y this call (Keras 3: regularizer(y),
    not divided by the batch size), and a nested model's own."""
    if isinstance(layer, Sequential):
        return layer._activity_penalty
    if layer.activity_regularizer is None:
        return 0.0
    if logits:
        raise NotImplementedError(f"Layer {layer.name!r}: an activity regularizer on an output "
                                  "whose activation is fused with the loss is not supported")
    return float(layer.activity_regularizer(y))


def _autocast(x, layer):
    """Keras' autocast: floating data entering a layer takes the layer's dtype (a float64
    Dense in a float32 model computes in float64, the float32 layer after it gets float32);
    gradients flow back the same way. Integer ids stay as they are."""
    dtype = layer.dtype
    if dtype is None or x.dtype == dtype or x.dtype.kind != "f":
        return x
    return x.astype(dtype)


def _output_mask(layer, x, mask):
    """The mask after `layer`: its own compute_mask; a layer that cannot pass a mask on drops it
    with a warning (once per layer), as Keras does."""
    out = layer.compute_mask(x, mask)
    if out is None and mask is not None and not layer.supports_masking and \
            not getattr(layer, "_warned_mask_dropped", False):
        layer._warned_mask_dropped = True
        warnings.warn(f"Layer {layer.name!r} (of type {type(layer).__name__}) was passed an "
                      f"input with a mask attached to it. However, this layer does not support "
                      f"masking and will therefore destroy the mask information. Downstream "
                      f"layers will not see the mask.", stacklevel=3)
    return out


