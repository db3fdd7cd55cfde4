"""Sequential models: build, compile, fit, evaluate, predict, with Keras' semantics."""
import math
import warnings

import numpy as np

from brisknn import _core, backend, callbacks as callbacks_module, losses, metrics as metrics_module
from brisknn import optimizers, summary_utils, utils
from brisknn._dense_step import DenseStep
from brisknn.layers.base import (KerasTensor, Layer, LayerContainer, _auto_name,
                                 _shape_str, assign_weights, is_symbolic, symbolic_call)
from brisknn.layers.core import Dense, InputLayer, _ActivationMixin

# Loss kernels whose gradient fuses with the output activation: the model asks the last layer
# for logits and uses the stable from-logits formulas (what Keras' TF backend does as well).
_FUSABLE = {("sparse_categorical_crossentropy", "softmax"), ("categorical_crossentropy", "softmax"),
            ("binary_crossentropy", "sigmoid")}


class Sequential(LayerContainer, Layer):
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
        if self.dtype is None:
            self.dtype = np.dtype(backend.floatx())
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
        for i, layer in enumerate(self._layers):
            kwargs = {"logits": True} if logits and i == last else {}
            if mask is not None and layer.forward_takes_mask:
                kwargs["mask"] = mask
            y = layer.forward(x, self._call_training.get(layer, training) if
                              self._call_training else training, **kwargs)
            if check_x and i == 0 and not layer.input_finite:
                _check_finite(x, "x", check_x)
            mask = _output_mask(layer, x, mask)
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
            dy = layer.backward(dy, need_dx=need)
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

    # -- training --------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=None, steps_per_execution=None,
                jit_compile=None, auto_scale_loss=None):
        if loss_weights is not None:
            raise NotImplementedError("compile: loss_weights is not supported")
        self.optimizer = optimizers.get(optimizer)
        # None is allowed, as in Keras: predict works, fit and evaluate refuse.
        self.loss = None if loss is None else losses.loss_object(loss)
        if self.loss is not None and self.loss.reduction not in losses._MEANS:
            raise NotImplementedError(f"compile: a loss with reduction={self.loss.reduction!r} "
                                      "can be called, but fit averages over the batch only")
        self._metric_specs = _metric_list(metrics)
        # Keras 3 (compile_utils.CompileMetrics): `metrics` never see the sample weights,
        # `weighted_metrics` get them (both see an output mask).
        self._weighted_metric_specs = _metric_list(weighted_metrics)
        self._metrics = None
        self._train_vars = None
        self.compiled = True

    def _assert_compiled(self, method):
        if not self.compiled:
            raise ValueError(f"You must call `compile()` before using the model ({method}).")
        if self.loss is None:  # Keras' message, raised where Keras raises it: on the first step
            raise ValueError(f"{method}: No loss to compute. Provide a `loss` argument in "
                             "`compile()`.")

    def _setup_training(self, y_shape=None):
        """What compile could not know before the model was built and saw its targets."""
        if self._metrics is None:
            specs = self._metric_specs + self._weighted_metric_specs
            self._metrics = [metrics_module.get(m, self.loss.kernel, self.output_shape, y_shape)
                             for m in specs]
            # The first len(plain) metrics are the unweighted ones.
            self._n_plain_metrics = len(self._metric_specs)
            self._metric_keys = _metric_keys(self._metrics, self._n_plain_metrics)
            self._fused = self._fusion()
        if self._train_vars is None:
            # The weights fit steps, fixed until the next compile (Keras' traced train step
            # too ignores a `trainable` change made after compile). A frozen weight's
            # regularizer counts nowhere, as in Keras 3. No gradient survives from before:
            # one accumulated while a weight was outside the stepped set must not be applied
            # at its first step.
            self._train_vars = self.trainable_weights
            for w in self.weights:
                w.grad.fill(0)
            self._find_unstepped()
            self._dense_step_cache = None
        elif self._trainable_seen != backend.trainable_changes():
            self._find_unstepped()  # evaluate after a change: the output it fuses, say

    def _fusion(self):
        """The output activation fused with the loss (computed from logits), or None."""
        act = self.output_activation()
        return act if not self.loss.from_logits and (self.loss.kernel, act) in _FUSABLE \
            else None

    def _leaf_layers(self):
        for layer in self._layers:
            if isinstance(layer, Sequential):
                yield from layer._leaf_layers()
            else:
                yield layer

    def _find_unstepped(self):
        """After a `trainable` change since compile: the cached set's weights that are still
        trainable are stepped (one frozen since stays put, as on Keras' torch and JAX
        backends, rather than drift with momentum and its regularizer), and the weights a
        backward pass writes gradients into that the set leaves out (a layer unfrozen since)
        have them dropped after each step, so none leaks into a later one."""
        live = {id(w) for w in self.trainable_weights}
        self._stepped = [v for v in self._train_vars if id(v) in live]
        stepped = {id(v) for v in self._stepped}
        self._unstepped = [w for layer in self._leaf_layers() if layer.trainable
                           for w in layer.weights if id(w) not in stepped]
        self._trainable_seen = backend.trainable_changes()
        # The same count follows `layer.activation = ...`: the output layer's may no longer
        # fuse with the loss (Keras computes the loss from what the layer now outputs).
        self._fused = self._fusion()

    @property
    def metrics_names(self):
        return ["loss"] + (self._metric_keys if self._metrics else [])

    def reset_metrics(self):
        for m in self._metrics or []:
            m.reset_state()

    def _prepare_x(self, x, method, scan=True):
        if x is None:
            raise ValueError(f"{method}: x is required")
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{method}: x must be numeric, got dtype {x.dtype}")
        if x.ndim == 0 or x.size == 0:  # no samples, or samples of zero steps or features
            raise ValueError(f"{method}: x is empty (shape {x.shape})")
        x = self._adjust_input_rank(x)
        # Building with the shape the model accepted last time changes nothing: skip the walk
        # through the layers (a training step's Python time counts at small batches).
        if not (self.built and self._accepted_x_shape == x.shape[1:]):
            self._ensure_built((None,) + x.shape[1:])
            self._accepted_x_shape = x.shape[1:]
        first = self._first_layer()
        if getattr(first, "input_dtype_kind", "float") == "int":
            return first.as_ids(x, method)  # token ids stay integers, checked by their layer
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if scan:
            _check_finite(x, "x", method)
        return x

    def _first_layer_tests_finite(self):
        # A Dense (exactly: a subclass may override forward) tells from its product whether x
        # was finite, sparing a single batch a pass over x: 5% of an MLP's training step.
        return bool(self._layers) and type(self._layers[0]) is Dense

    def _adjust_input_rank(self, x):
        """Keras 3's rule (Functional._adjust_input_rank): data one axis short of an input shape
        ending in 1 gets that axis, data with one extra trailing axis of 1 loses it; so
        Dense(1, input_shape=[1]) fits x of shape (n,) and Input((28, 28, 1)) takes (n, 28, 28)."""
        ref = self._input_shape if self.built and self._input_shape is not None else \
            self._declared_input_shape
        if ref is None or x.ndim == len(ref):
            return x
        if x.ndim == len(ref) + 1 and x.shape[-1] == 1:
            return x[..., 0]
        if x.ndim == len(ref) - 1 and ref[-1] == 1:
            return x[..., None]
        return x

    def _first_layer(self):
        first = self._layers[0] if self._layers else None
        return first._first_layer() if isinstance(first, Sequential) else first

    def _prepare_y(self, y, n, method):
        if y is None:
            raise ValueError(f"{method}: y is required to compute the loss")
        y = np.asarray(y)
        if y.shape[:1] != (n,):
            raise ValueError(f"{method}: x has {n} samples but y has shape {y.shape}")
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{method}: y must be numeric, got dtype {y.dtype}")
        out_shape = self.output_shape
        if self.loss.kernel == "sparse_categorical_crossentropy":
            if y.ndim == len(out_shape) and y.shape[-1] == 1:
                y = y[..., 0]
            if not _shape_fits(y.shape[1:], out_shape[1:-1]):
                raise ValueError(f"{method}: sparse labels of shape {y.shape} do not match the "
                                 f"model's output shape {_shape_str(out_shape)}")
            if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.floor(y)).all()):
                raise ValueError(f"{method}: sparse labels must be whole numbers")
            classes = out_shape[-1]
            labels = np.ascontiguousarray(y, dtype=np.int64)
            # One pass in C (a label that int64 wraps lands outside too); y for the message.
            if _core.first_label_outside(labels, classes) >= 0:
                raise ValueError(f"{method}: labels must be in [0, {classes}) for the model's "
                                 f"{classes} outputs, got values in [{y.min()}, {y.max()}]")
            return labels
        if y.ndim == len(out_shape) - 1 and out_shape[-1] == 1:
            y = y[..., None]  # (batch,) targets for a (batch, 1) output, as Keras accepts
        elif self.loss.kernel in _ELEMENTWISE and out_shape[-1] is not None and (
                y.ndim == len(out_shape) - 1 or (y.ndim == len(out_shape) and y.shape[-1] == 1)):
            # One target per sample against several outputs: Keras' losses give y_true the
            # trailing axis of 1 and broadcast it (EarlyStopping's docstring fits Dense(10) to
            # np.zeros(5)).
            y = np.broadcast_to(y.reshape(y.shape[:len(out_shape) - 1] + (1,)),
                                y.shape[:len(out_shape) - 1] + (out_shape[-1],))
        if not _shape_fits(y.shape[1:], out_shape[1:]):
            raise ValueError(f"{method}: y has shape {y.shape}, the model's output has shape "
                             f"{_shape_str(out_shape)}")
        y = np.ascontiguousarray(y, dtype=self.dtype)
        _check_finite(y, "y", method)
        return y

    def _loss_and_grad(self, y, out, with_grad, sample_weight=None):
        """(batch mean loss, gradient wrt out or None). sample_weight: None, or one weight per
        loss value (shape out.shape[:-1], out's dtype, from _prepare_sample_weight).

        Keras 3's "sum_over_batch_size" (losses/loss.py reduce_weighted_values, reduce_values):
        sum(loss * sample_weight) / (number of loss values), not / sum(sample_weight); an
        output mask (apply_mask) folds in as sample_weight * mask * total / unmasked, so the
        sum is then divided by the unmasked count instead."""
        if self.loss.kernel is None:  # a loss computed in NumPy (losses.py: Huber, Hinge, ...)
            weights = self._loss_mask_weights(out)
            if sample_weight is not None:
                w = sample_weight.reshape(-1).astype(np.float64)
                weights = w / w.size if weights is None else weights * w
            return self.loss.batch_loss_and_grad(y, out, with_grad, weights)
        rows = out.size // out.shape[-1]
        per_sample = np.empty(rows, dtype=out.dtype)
        name, from_logits = self.loss.kernel, self.loss.from_logits or self._fused is not None
        y = self.loss.smooth(y)
        weights = self._loss_mask_weights(out)
        if weights is not None and sample_weight is not None:
            weights = weights * sample_weight.reshape(-1)
        row_weight = None if weights is not None or sample_weight is None else \
            sample_weight.reshape(rows)
        grad = None
        if with_grad:
            grad = np.empty_like(out)
            # Keras averages over samples; extra axes (time steps) are averaged too.
            _core.loss_forward_backward(y, out, per_sample, grad, name, from_logits,
                                        1.0 if weights is not None else 1.0 / rows)
            if weights is not None:
                grad.reshape(rows, -1)[...] *= weights[:, None]
            elif row_weight is not None:  # d(sum(w * loss) / rows) = w * d(loss) / rows
                grad.reshape(rows, -1)[...] *= row_weight[:, None]
        else:
            _core.loss_forward(y, out, per_sample, name, from_logits)
        if weights is not None:
            return float(per_sample.astype(np.float64) @ weights), grad
        if row_weight is not None:
            # The products in out's dtype as Keras' values * sample_weight: weights of 1 give
            # the unweighted loss bit for bit.
            per_sample *= row_weight
        # per_sample.mean(dtype=np.float64) bit for bit: NumPy's sum (computed in C: NumPy's
        # reduction machinery costs ~10 us here, its code being out of cache), then divided.
        return _core.numpy_sum(per_sample) / rows, grad

    def _loss_mask_weights(self, out):
        """Keras weights the loss of an output that carries a mask (a sequence after a masking
        layer): masked steps count 0, the others 1 / (unmasked + 1e-7). None without a mask."""
        mask = self._output_mask
        if mask is None or mask.shape != out.shape[:-1]:
            return None
        weights = np.asarray(mask, dtype=np.float64).reshape(-1)
        return weights / (weights.sum() + 1e-7)

    def _loss_shape(self, y):
        """The shape of the per-sample loss values for targets y (as _prepare_y returns
        them): one per sample, or per sample and step for a sequence output."""
        if self.loss.kernel == "sparse_categorical_crossentropy":
            return y.shape
        return y.shape[:-1]

    def _prepare_sample_weight(self, sample_weight, y, method, what="sample_weight"):
        """sample_weight checked against the targets y and broadcast to one weight per loss
        value (the model's dtype). Keras 3 takes (samples,) or, for a sequence output,
        (samples, steps) (a trailing axis of 1 is squeezed, as its
        squeeze_or_expand_to_same_rank does); a (samples,) weight of a sequence output
        weights each of the sample's steps (Keras' metrics do so; its loss would raise)."""
        if sample_weight is None:
            return None
        weight = np.asarray(sample_weight)
        if weight.dtype.kind not in "biuf":
            raise TypeError(f"{method}: {what} must be numeric, got dtype {weight.dtype}")
        shape = self._loss_shape(y)
        if weight.ndim == len(shape) + 1 and weight.shape[-1] == 1:
            weight = weight[..., 0]
        fits = 1 <= weight.ndim <= len(shape) and weight.shape[0] == shape[0] and all(
            d in (1, e) for d, e in zip(weight.shape[1:], shape[1:]))
        if not fits:
            expected = f"({shape[0]},)" if len(shape) == 1 else \
                f"({shape[0]},) or {_shape_str(shape)}"
            raise ValueError(f"{method}: {what} has shape {weight.shape}, expected {expected} "
                             f"for {shape[0]} samples of targets of shape {y.shape}")
        weight = np.ascontiguousarray(weight, dtype=self.dtype)
        _check_finite(weight, what, method)
        weight = weight.reshape(weight.shape + (1,) * (len(shape) - weight.ndim))
        return np.ascontiguousarray(np.broadcast_to(weight, shape))

    def _training_weights(self, sample_weight, class_weight, y_raw, y, method):
        """The per-loss-value weights fit and train_on_batch train with: sample_weight, or
        class_weight turned into one weight per sample (Keras refuses both at once)."""
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError(f"{method}: `sample_weight` and `class_weight` cannot be "
                                 "specified at the same time.")
            weight = self._class_weight_to_sample_weight(class_weight, y_raw, method)
            return self._prepare_sample_weight(weight, y, method, "class_weight")
        return self._prepare_sample_weight(sample_weight, y, method)

    def _class_weight_to_sample_weight(self, class_weight, y_raw, method):
        """Keras 3's class_weight_to_sample_weights: each sample's class is its label (rounded),
        the argmax of a one-hot/probability row, or the rounded label of a single output; a
        class the dict does not name weighs 1."""
        if not hasattr(class_weight, "items") or not hasattr(class_weight, "get"):
            raise TypeError(f"{method}: class_weight must be a dict mapping class indices to "
                            f"weights, got {type(class_weight).__name__}")
        if len(self.output_shape) > 2:  # tf.keras refused these too; Keras 3 would take the
            # argmax over the steps of sparse sequence labels as the class.
            raise ValueError(f"{method}: class_weight needs one class per sample, i.e. an "
                             f"output of shape (batch, classes); the model's output has shape "
                             f"{_shape_str(self.output_shape)}. Pass a (samples, steps) "
                             "sample_weight instead.")
        table = {}
        for key, value in class_weight.items():
            index = _class_index(key)
            if index is None:
                raise ValueError(f"{method}: class_weight must have integer keys (class "
                                 f"indices), got the key {key!r} of type {type(key).__name__}")
            if isinstance(value, (str, bytes)) or not np.isscalar(value) and \
                    np.ndim(value) != 0:
                raise TypeError(f"{method}: class_weight[{key!r}] must be a number, got "
                                f"{value!r}")
            table[index] = value
        y = np.asarray(y_raw)
        if y.ndim > 1:
            y = y.argmax(axis=-1) if y.shape[-1] != 1 else y[..., 0]
        classes, which = np.unique(np.round(y.astype(np.float64)).astype(np.int64).ravel(),
                                   return_inverse=True)
        try:
            weights = np.array([table.get(int(c), 1.0) for c in classes], dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{method}: class_weight values must be numbers, got "
                            f"{list(table.values())!r}") from None
        return weights[which.reshape(-1)]

    def _probabilities(self, out):
        if self._fused is None or not self._metrics:
            return out
        probs = np.empty_like(out)
        _core.activation_forward(out, probs, self._fused)
        return probs

    def _train_step(self, x, y, check_x=None, sample_weight=None):
        """One step on a batch. sample_weight is None (every sample counts the same) or one
        weight per loss value (from _prepare_sample_weight), which only the general path
        takes."""
        try:
            return self._train_step_unguarded(x, y, check_x, sample_weight)
        except BaseException:
            # A step that fails after its backward pass (an optimizer whose momentum or
            # amsgrad was switched on after its slots were made, say) leaves no gradient
            # behind for the next step to apply a second time; Keras keeps none either.
            for w in self.weights:
                w.grad.fill(0)
            raise

    def _train_step_unguarded(self, x, y, check_x, sample_weight):
        if self._trainable_seen != backend.trainable_changes():
            self._find_unstepped()
        step = self._dense_step(x) if sample_weight is None else None
        if step is not None:
            loss, out = step.run(x, y, check_x and (lambda a: _check_finite(a, "x", check_x)))
            self._update_metrics(y, out)
            return loss
        logits = self._fused is not None
        out = self.forward(x, training=True, logits=logits, check_x=check_x)
        train_vars = self._stepped
        loss, grad = self._loss_and_grad(y, out, with_grad=bool(train_vars),
                                         sample_weight=sample_weight)
        if train_vars:
            self.backward(grad, need_dx=False)
            penalty = self.optimizer.apply(train_vars)
        else:  # Keras computes no gradient and takes no optimizer step (iterations unchanged)
            warnings.warn("The model does not have any trainable weights.", stacklevel=3)
            penalty = 0.0
        for w in self._unstepped:
            w.grad.fill(0)
        self._update_metrics(y, out, sample_weight)
        return loss + penalty

    def _dense_step(self, x):
        """The prepared step of a model made of Dense layers (brisknn._dense_step), or None."""
        if x.ndim != 2:
            return None
        key = DenseStep.key(self)
        if self._dense_step_cache is None or self._dense_step_cache[0] != key:
            # The optimizer and its slots' dict are kept with their ids: no new object can
            # take an id the key holds.
            self._dense_step_cache = (key, DenseStep.prepare(self), self.optimizer,
                                      self.optimizer._slots)
        return self._dense_step_cache[1]

    def _test_step(self, x, y, penalty, sample_weight=None):
        out = self.forward(x, training=False, logits=self._fused is not None)
        loss, _ = self._loss_and_grad(y, out, with_grad=False, sample_weight=sample_weight)
        self._update_metrics(y, out, sample_weight)
        return loss + penalty

    def _update_metrics(self, y, out, sample_weight=None):
        if not self._metrics:
            return
        probs = self._probabilities(out)
        mask = self._output_mask
        if mask is None or mask.shape != out.shape[:-1]:
            mask = None  # Keras weights the metrics by the output's mask too
        weighted = mask
        if sample_weight is not None:  # Keras' apply_mask(reduction="sum"): weight * mask
            weighted = sample_weight if mask is None else sample_weight * mask
        for i, m in enumerate(self._metrics):
            weight = mask if i < self._n_plain_metrics else weighted
            if weight is None:
                m.update_state(y, probs)
            else:
                m.update_state(y, probs, sample_weight=weight)

    def _metric_logs(self, prefix=""):
        return {prefix + key: _log_value(m.result())
                for key, m in zip(self._metric_keys, self._metrics)}

    def _logs(self, loss):
        # Keras 3 hands out logs through pythonify_logs, which sorts the keys: History, the
        # callbacks and evaluate(return_dict=True) see 'accuracy' before 'loss'.
        return dict(sorted({"loss": loss, **self._metric_logs()}.items()))

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Trains for `epochs` epochs and returns a History (as Keras' Model.fit)."""
        self._assert_compiled("fit")
        if steps_per_epoch is not None or validation_steps is not None:
            raise NotImplementedError("fit: steps_per_epoch and validation_steps are not "
                                      "supported (fit makes one pass over the arrays per epoch)")
        batch_size = _batch_size(batch_size, "fit")
        x = self._prepare_x(x, "fit")
        y_raw, y = y, self._prepare_y(y, x.shape[0], "fit")
        # class_weight weighs the training samples only, validation_split's too (Keras turns
        # it into sample weights after the split, for the training data alone).
        sw = self._training_weights(sample_weight, class_weight, y_raw, y, "fit")
        if validation_data is None and validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
            # Keras takes the *last* fraction, before any shuffling.
            split = int(math.floor(x.shape[0] * (1.0 - validation_split)))
            if split == 0 or split == x.shape[0]:
                raise ValueError(f"fit: validation_split={validation_split} leaves an empty "
                                 f"training or validation set of {x.shape[0]} samples")
            validation_data = (x[split:], y[split:],
                               None if sample_weight is None else sw[split:])
            x, y = x[:split], y[:split]
            sw = None if sw is None else sw[:split]
        elif validation_data is not None:
            # Keras' (x_val, y_val) or (x_val, y_val, val_sample_weight).
            if not isinstance(validation_data, (tuple, list)) or \
                    len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be (x_val, y_val) or "
                                 "(x_val, y_val, val_sample_weight)")
            where = "fit (validation_data)"
            vx = self._prepare_x(validation_data[0], where)
            vy = self._prepare_y(validation_data[1], vx.shape[0], where)
            vw = validation_data[2] if len(validation_data) == 3 else None
            validation_data = (vx, vy, self._prepare_sample_weight(vw, vy, where,
                                                                   "val_sample_weight"))
        self._setup_training(y.shape)
        n = x.shape[0]
        steps = -(-n // batch_size)
        # Keras 3's CallbackList(verbose=verbose, epochs=epochs, steps=num_batches): exactly
        # these keys, verbose as passed ('auto' by default).
        params = {"verbose": verbose, "epochs": epochs, "steps": steps}
        verbose = _verbosity(verbose)
        cb = _callback_list(callbacks, self, params, verbose, add_history=True)
        history = cb.history
        self.stop_training = False
        self.history = history
        if self._train_seed is None:
            self._train_seed = int(utils.rng().integers(0, 2**63))
        x_buf = np.empty((min(batch_size, n),) + x.shape[1:], dtype=x.dtype)
        y_buf = np.empty((min(batch_size, n),) + y.shape[1:], dtype=y.dtype)
        sw_buf = None if sw is None else np.empty((min(batch_size, n),) + sw.shape[1:],
                                                  dtype=sw.dtype)
        swb = None
        cb.on_train_begin({})
        logs = {}
        global_rng = epoch_rng = utils.rng()
        try:
            for epoch in range(initial_epoch, epochs):
                # Each epoch draws its shuffle and dropout masks from a generator keyed by the
                # model's training seed, the epoch and the optimizer's step count, all saved
                # with the model: a run resumed from a checkpoint is bitwise the same as an
                # uninterrupted one, and fit(epochs=2); fit(epochs=4, initial_epoch=2) equals
                # fit(epochs=4).
                epoch_rng = np.random.default_rng(
                    [self._train_seed, epoch, self.optimizer._iterations])
                utils._rng = epoch_rng
                self.reset_metrics()
                cb.on_epoch_begin(epoch, {})
                order = epoch_rng.permutation(n) if shuffle else None
                loss_sum = 0.0
                for step in range(steps):
                    lo, hi = step * batch_size, min(n, (step + 1) * batch_size)
                    if order is None:
                        xb, yb = x[lo:hi], y[lo:hi]
                        if sw is not None:
                            swb = sw[lo:hi]
                    else:  # gather into reused buffers: no allocation per batch
                        xb, yb = x_buf[:hi - lo], y_buf[:hi - lo]
                        # np.take on both threads (random rows come from memory: latency
                        # bound), each copying the rows it will multiply first.
                        _core.take_rows(x, order[lo:hi], xb)
                        _core.take_rows(y, order[lo:hi], yb)
                        if sw is not None:  # the same rows as x and y
                            swb = sw_buf[:hi - lo]
                            _core.take_rows(sw, order[lo:hi], swb)
                    cb.on_train_batch_begin(step, {})
                    # Keras' loss tracker averages the (weighted) batch losses by batch size.
                    loss_sum += self._train_step(xb, yb, sample_weight=swb) * (hi - lo)
                    batch_logs = self._logs(loss_sum / hi)
                    cb.on_train_batch_end(step, batch_logs)
                    if self.stop_training:
                        n_seen = hi
                        break
                else:
                    n_seen = n
                logs = self._logs(loss_sum / n_seen)
                if validation_data is not None and _should_eval(epoch, validation_freq):
                    val = self._evaluate_arrays(*validation_data,
                                                validation_batch_size or batch_size, cb)
                    logs.update({"val_" + k: v for k, v in val.items()})
                cb.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        finally:
            if utils._rng is epoch_rng:  # unless a callback re-seeded meanwhile
                utils._rng = global_rng
        cb.on_train_end(logs)
        return history

    def _evaluate_arrays(self, x, y, sample_weight, batch_size, cb=None):
        self.reset_metrics()
        penalty = sum(self.losses)
        total = 0.0
        if cb is not None:
            cb.on_test_begin({})
        for step, lo in enumerate(range(0, x.shape[0], batch_size)):
            hi = min(x.shape[0], lo + batch_size)
            if cb is not None:
                cb.on_test_batch_begin(step, {})
            weight = None if sample_weight is None else sample_weight[lo:hi]
            total += self._test_step(x[lo:hi], y[lo:hi], penalty, weight) * (hi - lo)
            if cb is not None:
                cb.on_test_batch_end(step, self._logs(total / hi))
        logs = self._logs(total / x.shape[0])
        if cb is not None:
            cb.on_test_end(dict(logs))
        return logs

    def _flatten_logs(self, logs, return_dict):
        if return_dict:
            return dict(sorted(logs.items()))
        if not self._metrics:
            return logs["loss"]
        return [logs["loss"]] + [logs[key] for key in self._metric_keys]

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """The loss (and metrics) on x, y: a float, or [loss, *metrics] when compiled with
        metrics, or a dict with return_dict=True (as Keras)."""
        self._assert_compiled("evaluate")
        _batch_size(batch_size, "evaluate")
        x = self._prepare_x(x, "evaluate")
        y = self._prepare_y(y, x.shape[0], "evaluate")
        sample_weight = self._prepare_sample_weight(sample_weight, y, "evaluate")
        batch_size, used, target = _steps_window(x.shape[0], batch_size, steps, "evaluate")
        x, y = x[:used], y[:used]
        if sample_weight is not None:
            sample_weight = sample_weight[:used]
        self._setup_training(y.shape)
        cb = None
        if callbacks or verbose:  # Keras' progress bar is a callback (on_test_* hooks)
            cb = _callback_list(callbacks, self, {"verbose": verbose, "epochs": 1,
                                                  "steps": target},
                                _verbosity(verbose), add_history=False)
        logs = self._evaluate_arrays(x, y, sample_weight, batch_size, cb)
        return self._flatten_logs(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for x, computed batch by batch (inference mode)."""
        _batch_size(batch_size, "predict")
        x = self._prepare_x(x, "predict")
        batch_size, used, target = _steps_window(x.shape[0], batch_size, steps, "predict")
        x = x[:used]
        out = None  # allocated at the first batch: a None dimension (steps) is known then
        cb = None
        if callbacks or verbose:
            cb = _callback_list(callbacks, self, {"verbose": verbose, "epochs": 1,
                                                  "steps": target},
                                _verbosity(verbose), add_history=False)
            cb.on_predict_begin({})
        for step, lo in enumerate(range(0, x.shape[0], batch_size)):
            hi = min(x.shape[0], lo + batch_size)
            if cb is not None:
                cb.on_predict_batch_begin(step, {})
            y = self.forward(x[lo:hi], training=False)
            if out is None:
                out = np.empty((x.shape[0],) + y.shape[1:], dtype=self.dtype)
            out[lo:hi] = y
            if cb is not None:
                cb.on_predict_batch_end(step, {"outputs": out[lo:hi]})
        if cb is not None:
            cb.on_predict_end({})
        return out

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One gradient step on one batch; returns that batch's loss (and metrics)."""
        self._assert_compiled("train_on_batch")
        defer = self._first_layer_tests_finite()
        x = self._prepare_x(x, "train_on_batch", scan=not defer)
        y_raw, y = y, self._prepare_y(y, x.shape[0], "train_on_batch")
        sample_weight = self._training_weights(sample_weight, class_weight, y_raw, y,
                                               "train_on_batch")
        self._setup_training(y.shape)
        self.reset_metrics()
        loss = self._train_step(x, y, check_x="train_on_batch" if defer else None,
                                sample_weight=sample_weight)
        logs = {"loss": loss, **self._metric_logs()}
        return self._flatten_logs(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._assert_compiled("test_on_batch")
        x = self._prepare_x(x, "test_on_batch")
        y = self._prepare_y(y, x.shape[0], "test_on_batch")
        sample_weight = self._prepare_sample_weight(sample_weight, y, "test_on_batch")
        self._setup_training(y.shape)
        self.reset_metrics()
        logs = {"loss": self._test_step(x, y, sum(self.losses), sample_weight),
                **self._metric_logs()}
        return self._flatten_logs(logs, return_dict)

    def predict_on_batch(self, x):
        return self.forward(self._prepare_x(x, "predict_on_batch"), training=False)

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


def _class_index(key):
    """A class_weight key as the int Keras' int(key) makes of it (True is 1, "2" is 2), or
    None if it names no class (a float with a fraction is refused rather than truncated)."""
    if isinstance(key, (float, np.floating)):
        return int(key) if float(key).is_integer() else None
    if isinstance(key, (int, np.integer, str, np.str_)):
        try:
            return int(key)
        except ValueError:
            return None
    return None


def _metric_list(metrics):
    if isinstance(metrics, (str, metrics_module.Metric)):
        metrics = [metrics]
    return list(metrics or [])


def _metric_keys(metrics, n_plain):
    """The log keys of compiled metrics, as Keras 3's CompileMetrics.result names them: a
    repeated plain name gets _1, _2...; a weighted metric whose name is taken becomes
    weighted_<name> (then weighted_<name>_1...)."""
    keys, counts = [], {}
    for i, m in enumerate(metrics):
        name = m.name
        if name in counts and i >= n_plain:
            name = f"weighted_{m.name}"
        if name in counts:
            counts[name] += 1
            name = f"{name}_{counts[name] - 1}"
        else:
            counts[name] = 1
        keys.append(name)
    return keys


def _callback_list(callbacks, model, params, verbose, add_history):
    """Keras' order: the user's callbacks, then History, then the progress bar (each added
    only if the user did not pass one)."""
    cbs = list(callbacks or [])
    history = next((c for c in cbs if isinstance(c, callbacks_module.History)), None)
    if add_history and history is None:
        history = callbacks_module.History()
        cbs.append(history)
    if verbose and not any(isinstance(c, callbacks_module.ProgbarLogger) for c in cbs):
        cbs.append(callbacks_module.ProgbarLogger(verbose))
    cb = callbacks_module.CallbackList(cbs, model, params)
    cb.history = history
    return cb


def _verbosity(verbose):
    # Keras: 'auto' is 1 (a progress bar), 0 silent, 2 one line per epoch.
    return 1 if verbose == "auto" else int(verbose)


def _should_eval(epoch, validation_freq):
    """Keras 3's Trainer._should_eval: an int validates every that many epochs, a list on the
    (1-based) epochs it holds."""
    epoch += 1
    if isinstance(validation_freq, (int, np.integer)) and not isinstance(validation_freq, bool):
        return epoch % validation_freq == 0
    if isinstance(validation_freq, list):
        return epoch in validation_freq
    raise ValueError("Expected `validation_freq` to be a list or int. Received: "
                     f"validation_freq={validation_freq} of the type {type(validation_freq)}.")


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


def _shape_fits(shape, expected):
    """shape matches expected, where expected may hold None (any size)."""
    return len(shape) == len(expected) and all(e is None or e == d
                                               for d, e in zip(shape, expected))


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


# Losses averaged element by element, whose targets broadcast against the output.
_ELEMENTWISE = ("mean_squared_error", "mean_absolute_error", "binary_crossentropy")


def _log_value(value):
    """A float, as Keras' pythonify_logs makes a scalar; an array result (Precision with
    several thresholds) stays an array."""
    value = np.asarray(value)
    return float(value) if value.size == 1 else value


def _check_finite(a, name, method):
    bad = _core.first_nonfinite(a)
    if bad >= 0:
        raise ValueError(f"{method}: {name} contains NaN or inf (first at index "
                         f"{tuple(int(i) for i in np.unravel_index(bad, a.shape))})")


def _batch_size(batch_size, method):
    if batch_size is None:
        return 32
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{method}: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _steps_window(n, batch_size, steps, method):
    """(batch size, samples used, progress target) for evaluate/predict on n samples, as Keras'
    array adapter and EpochIterator: `steps` without a batch size splits the data into that
    many batches (batch size ceil(n / steps)); with one, the first `steps` batches run, and
    asking for more batches than the data holds warns and stops at its end."""
    if steps is None:
        batch_size = _batch_size(batch_size, method)
        return batch_size, n, -(-n // batch_size)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{method}: steps must be a positive integer or None, got {steps!r}")
    steps = int(steps)
    batch_size = -(-n // steps) if batch_size is None else _batch_size(batch_size, method)
    available = -(-n // batch_size)
    if steps > available:
        warnings.warn("Your input ran out of data; interrupting training. Make sure that your "
                      "dataset or generator can generate at least `steps_per_epoch * epochs` "
                      "batches. You may need to use the `.repeat()` function when building "
                      "your dataset.", stacklevel=3)
    return batch_size, min(n, steps * batch_size), steps
