"""What a model's training API is given, checked and converted with Keras' rules and messages:
x (its rank adjusted as Keras 3 does), the targets, and sample and class weights."""
import numpy as np

from brisknn import _core
from brisknn.data_adapters import unpack_batch
from brisknn.layers.base import _shape_str
from brisknn.layers.core import Dense

# Losses averaged element by element, whose targets broadcast against the output.
_ELEMENTWISE = ("mean_squared_error", "mean_absolute_error", "binary_crossentropy")


class DataChecks:
    """Mixed into Sequential (through Trainer): the checks of its inputs and targets."""

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

    def _prepare_batch(self, batch, method, class_weight=None, training=True):
        """One batch of a generator or PyDataset, (x, y) or (x, y, sample_weight), checked and
        converted as arrays are: (x, y, per-loss-value weights or None)."""
        x, y, sample_weight = unpack_batch(batch, method)
        x = self._prepare_x(x, method)
        if y is None:
            raise ValueError(f"{method}: a batch has no targets: the data must yield (x, y) or "
                             "(x, y, sample_weight) tuples to compute the loss")
        y_raw, y = y, self._prepare_y(y, x.shape[0], method)
        if training:
            return x, y, self._training_weights(sample_weight, class_weight, y_raw, y, method)
        return x, y, self._prepare_sample_weight(sample_weight, y, method)

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
        return first._first_layer() if isinstance(first, DataChecks) else first

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
            valid = self.loss.valid(labels)  # None unless the loss ignores a class
            # One pass in C (a label that int64 wraps lands outside too); y for the message.
            if _core.first_label_outside(labels if valid is None else
                                         np.ascontiguousarray(labels[valid]), classes) >= 0:
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


def _shape_fits(shape, expected):
    """shape matches expected, where expected may hold None (any size)."""
    return len(shape) == len(expected) and all(e is None or e == d
                                               for d, e in zip(shape, expected))


def _check_finite(a, name, method):
    bad = _core.first_nonfinite(a)
    if bad >= 0:
        raise ValueError(f"{method}: {name} contains NaN or inf (first at index "
                         f"{tuple(int(i) for i in np.unravel_index(bad, a.shape))})")
