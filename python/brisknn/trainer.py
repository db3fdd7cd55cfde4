"""Keras' training API over a model's forward and backward passes (as Keras' Trainer): compile,
fit, evaluate, predict and the single-batch steps."""
import functools
import math
import warnings

import numpy as np

from brisknn import _core, backend, callbacks as callbacks_module, losses, metrics as metrics_module
from brisknn import data_adapters, optimizers, utils
from brisknn._dense_step import DenseStep
from brisknn.data_checks import DataChecks, _check_finite

# Loss kernels whose gradient fuses with the output activation: the model asks the last layer
# for logits and uses the stable from-logits formulas (what Keras' TF backend does as well).
_FUSABLE = {("sparse_categorical_crossentropy", "softmax"), ("categorical_crossentropy", "softmax"),
            ("binary_crossentropy", "sigmoid")}


class Trainer(DataChecks):
    """Mixed into Sequential: compile and the training loop; the layers' structure, forward and
    backward passes are the model's own (models.Sequential)."""

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=None, steps_per_execution=None,
                jit_compile=None, auto_scale_loss=None):
        self._loss_weight = _loss_weight(loss_weights)
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
            # A metric class of the user's own may keep y_pred: it gets a copy (_probabilities).
            self._metrics_keep_y_pred = any(not type(m).__module__.startswith("brisknn.")
                                            for m in self._metrics)
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
        """The output activation fused with the loss (computed from logits), or None (also when
        the output layer regularizes its activity, which needs the activation's output)."""
        act = self.output_activation()
        if self._layers and getattr(self._layers[-1], "activity_regularizer", None) is not None:
            return None
        return act if not self.loss.from_logits and (self.loss.kernel, act) in _FUSABLE \
            else None

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

    def _loss_and_grad(self, y, out, with_grad, sample_weight=None):
        """(batch mean loss, gradient wrt out or None), both times compile's loss weight."""
        loss, grad = self._unweighted_loss_and_grad(y, out, with_grad, sample_weight)
        weight = self._loss_weight
        if weight != 1.0:
            loss *= weight
            if grad is not None:
                grad *= grad.dtype.type(weight)
        return loss, grad

    def _unweighted_loss_and_grad(self, y, out, with_grad, sample_weight=None):
        """(batch mean loss, gradient wrt out or None). sample_weight: None, or one weight per
        loss value (shape out.shape[:-1], out's dtype, from _prepare_sample_weight).

        Keras 3's "sum_over_batch_size" (losses/loss.py reduce_weighted_values, reduce_values):
        sum(loss * sample_weight) / (number of loss values), not / sum(sample_weight); an
        output mask (apply_mask) folds in as sample_weight * mask * total / unmasked, so the
        sum is then divided by the unmasked count instead."""
        if self.loss.kernel is None:  # a loss computed in NumPy (losses.py: Huber, Hinge, ...)
            weights = self._loss_mask_weights(out, y)
            if sample_weight is not None:
                w = sample_weight.reshape(-1).astype(np.float64)
                weights = w / w.size if weights is None else weights * w
            return self.loss.batch_loss_and_grad(y, out, with_grad, weights)
        if y.dtype.kind == "f" and y.dtype != out.dtype:
            y = y.astype(out.dtype)  # the output of a layer of another dtype (Keras casts too)
        rows = out.size // out.shape[-1]
        per_sample = np.empty(rows, dtype=out.dtype)
        name, from_logits = self.loss.kernel, self.loss.from_logits or self._fused is not None
        y = self.loss.smooth(y)
        weights = self._loss_mask_weights(out, y)
        ignored = getattr(self.loss, "ignore_class", None)
        if ignored is not None:
            y = np.where(y != ignored, y, 0)  # any class will do: its loss weighs 0
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

    def _loss_mask_weights(self, out, y):
        """Keras weights the loss of an output that carries a mask (a sequence after a masking
        layer), and of labels a loss ignores (its ignore_class), by the two masks' AND: masked
        values count 0, the others 1 / (unmasked + 1e-7). None without a mask."""
        mask = self._output_mask
        if mask is not None and mask.shape != out.shape[:-1]:
            mask = None
        valid = self.loss.valid(y) if hasattr(self.loss, "valid") else None
        if valid is not None:
            mask = valid if mask is None else np.logical_and(mask, valid)
        if mask is None:
            return None
        weights = np.asarray(mask, dtype=np.float64).reshape(-1)
        return weights / (weights.sum() + 1e-7)

    def _probabilities(self, out):
        """What the metrics see as y_pred: the output, or its probabilities when the output
        activation is fused with the loss. A metric class of the user's own gets its own
        copy: it may keep y_pred (Keras hands out fresh tensors), and the steps reuse their
        output buffers."""
        if not self._metrics:
            return out
        if self._fused is None:
            return out.copy() if self._metrics_keep_y_pred else out
        probs = np.empty_like(out)
        _core.activation_forward(out, probs, self._fused)
        return probs

    def _train_step(self, x, y, check_x=None, sample_weight=None, step=None):
        """One step on a batch. sample_weight is None (every sample counts the same) or one
        weight per loss value (from _prepare_sample_weight), which only the general path
        takes. step: the prepared step (_dense_step) when the caller has looked it up."""
        try:
            return self._train_step_unguarded(x, y, check_x, sample_weight, step)
        except BaseException:
            # A step that fails after its backward pass (an optimizer whose momentum or
            # amsgrad was switched on after its slots were made, say) leaves no gradient
            # behind for the next step to apply a second time; Keras keeps none either.
            for w in self.weights:
                w.grad.fill(0)
            raise

    def _train_step_unguarded(self, x, y, check_x, sample_weight, step):
        if self._trainable_seen != backend.trainable_changes():
            self._find_unstepped()
        if step is None and sample_weight is None:
            step = self._dense_step(x)
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
        return loss + penalty + self._activity_penalty

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

    def _ready_step(self, x, y):
        """train_on_batch's prepared step when its checks would pass x and y on unchanged
        (DenseStep.ready) and nothing the step depends on changed; else None, and the checks
        run (and convert, or raise). Each line of Python counts here: run between products
        that empty the caches, a training step's checks cost ~25 us of an MLP's ~350."""
        cache = self._dense_step_cache
        if cache is None or cache[1] is None or self._train_vars is None or \
                self._trainable_seen != backend.trainable_changes() or \
                type(x) is not np.ndarray or type(y) is not np.ndarray:
            return None
        step = cache[1]
        if not step.ready(x, y, self.dtype) or DenseStep.key(self) != cache[0]:
            return None
        return step

    def _test_step(self, x, y, penalty, sample_weight=None):
        out = self.forward(x, training=False, logits=self._fused is not None)
        loss, _ = self._loss_and_grad(y, out, with_grad=False, sample_weight=sample_weight)
        self._update_metrics(y, out, sample_weight)
        return loss + penalty + self._activity_penalty

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
        """Trains for `epochs` epochs and returns a History (as Keras' Model.fit). x: arrays
        (with y), or a generator/iterator or PyDataset of (x, y[, sample_weight]) batches
        (brisknn.data_adapters)."""
        self._assert_compiled("fit")
        steps_per_epoch = data_adapters.check_steps(steps_per_epoch, "steps_per_epoch", "fit")
        validation_steps = data_adapters.check_steps(validation_steps, "validation_steps", "fit")
        val_batch_size = validation_batch_size or batch_size
        if data_adapters.is_batch_source(x):
            data_adapters.refuse_arguments("fit", x, y, batch_size, sample_weight, class_weight,
                                           validation_split)
            train = data_adapters.EpochIterator(data_adapters.adapter(x, shuffle),
                                                steps_per_epoch)
            self._build_from(train, "fit")
            run_epoch = functools.partial(self._train_epoch, train, class_weight=class_weight)
            steps = train.epoch_steps
            validation_data = self._prepare_validation(validation_data)
        else:
            if batch_size is not None or steps_per_epoch is None:
                batch_size = _batch_size(batch_size, "fit")
            x, y, sw, validation_data = self._fit_arrays(x, y, sample_weight, class_weight,
                                                         validation_split, validation_data)
            if batch_size is None:  # Keras' array adapter: steps_per_epoch batches a pass
                batch_size = -(-x.shape[0] // steps_per_epoch)
            if steps_per_epoch is None:
                run_epoch, steps = self._array_epochs(x, y, sw, batch_size, shuffle)
            else:  # Keras' EpochIterator over its array adapter
                train = data_adapters.EpochIterator(
                    data_adapters.array_adapter(x, y, sw, batch_size, shuffle), steps_per_epoch)
                run_epoch, steps = functools.partial(self._train_epoch, train), steps_per_epoch
            self._setup_training(y.shape)
        validation = self._validation_plan(validation_data, val_batch_size, validation_steps)
        return self._fit_loop(run_epoch, steps, epochs, initial_epoch, verbose, callbacks,
                              validation, validation_freq)

    def _fit_arrays(self, x, y, sample_weight, class_weight, validation_split, validation_data):
        """fit's arrays checked: (x, y, training weights, validation data), the validation data
        being validation_split's last fraction of the arrays (Keras takes it before any
        shuffling) or validation_data (_prepare_validation)."""
        x = self._prepare_x(x, "fit")
        y_raw, y = y, self._prepare_y(y, x.shape[0], "fit")
        # class_weight weighs the training samples only, validation_split's too (Keras turns
        # it into sample weights after the split, for the training data alone).
        sw = self._training_weights(sample_weight, class_weight, y_raw, y, "fit")
        if validation_data is not None or not validation_split:
            return x, y, sw, self._prepare_validation(validation_data)
        if not 0.0 < validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
        split = int(math.floor(x.shape[0] * (1.0 - validation_split)))
        if split == 0 or split == x.shape[0]:
            raise ValueError(f"fit: validation_split={validation_split} leaves an empty "
                             f"training or validation set of {x.shape[0]} samples")
        validation = (x[split:], y[split:], None if sample_weight is None else sw[split:])
        return x[:split], y[:split], None if sw is None else sw[:split], validation

    def _array_epochs(self, x, y, sw, batch_size, shuffle):
        """fit's array path: (run_epoch for _fit_loop, batches an epoch). Each epoch is one
        pass in batch_size slices, or gathered rows of a permutation if shuffle."""
        n = x.shape[0]
        steps = -(-n // batch_size)
        x_buf = np.empty((min(batch_size, n),) + x.shape[1:], dtype=x.dtype)
        y_buf = np.empty((min(batch_size, n),) + y.shape[1:], dtype=y.dtype)
        sw_buf = None if sw is None else np.empty((min(batch_size, n),) + sw.shape[1:],
                                                  dtype=sw.dtype)

        def run_epoch(epoch_rng, cb):
            order = epoch_rng.permutation(n) if shuffle else None
            loss_sum = 0.0
            swb = None
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
                    return loss_sum, hi, False
            return loss_sum, n, False
        return run_epoch, steps

    def _fit_loop(self, run_epoch, steps, epochs, initial_epoch, verbose, callbacks,
                  validation, validation_freq):
        """Keras' epoch loop around run_epoch(epoch_rng, callbacks), which trains one epoch and
        returns (loss sum weighted by batch size, samples, whether the data ran out), or None
        if no batch came (the data ran out before it: training ends)."""
        # Keras 3's CallbackList(verbose=verbose, epochs=epochs, steps=num_batches): exactly
        # these keys, verbose as passed ('auto' by default); steps None when unknown.
        params = {"verbose": verbose, "epochs": epochs, "steps": steps}
        cb = _callback_list(callbacks, self, params, _verbosity(verbose), add_history=True)
        history = cb.history
        self.stop_training = False
        self.history = history
        if self._train_seed is None:
            self._train_seed = int(utils.rng().integers(0, 2**63))
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
                done = run_epoch(epoch_rng, cb)
                if done is None:
                    break
                loss_sum, n_seen, ran_out = done
                logs = self._logs(loss_sum / n_seen)
                if validation is not None and _should_eval(epoch, validation_freq):
                    val = self._validate(validation, cb)
                    logs.update({"val_" + k: v for k, v in (val or {}).items()})
                cb.on_epoch_end(epoch, logs)
                if self.stop_training or ran_out:
                    break
        finally:
            if utils._rng is epoch_rng:  # unless a callback re-seeded meanwhile
                utils._rng = global_rng
        cb.on_train_end(logs)
        return history

    def _train_epoch(self, train, epoch_rng, cb, class_weight=None):
        """One epoch of an EpochIterator's batches, each checked as arrays are (unless the
        iterator cuts prepared arrays) and trained by the same _train_step."""
        loss_sum, seen = 0.0, 0
        for step, batch in train.epoch(epoch_rng):
            x, y, sw = batch if train.prepared else \
                self._prepare_batch(batch, "fit", class_weight)
            cb.on_train_batch_begin(step, {})
            loss_sum += self._train_step(x, y, sample_weight=sw) * x.shape[0]
            seen += x.shape[0]
            cb.on_train_batch_end(step, self._logs(loss_sum / seen))
            if self.stop_training:
                break
        return (loss_sum, seen, train.ran_out) if seen else None

    def _build_from(self, source, method):
        """Builds the model and its metrics from a first batch before training starts, as
        Keras' symbolic build peeks at one (a PyDataset's first batch is read twice then)."""
        if self.built and self._metrics is not None and self._train_vars is not None:
            return
        batch = source.peek()
        if batch is None:
            raise ValueError(f"{method}: the input gave no batch (an exhausted generator, or a "
                             "PyDataset of length 0)")
        _, y, _ = self._prepare_batch(batch, method)
        self._setup_training(y.shape)

    def _prepare_validation(self, validation_data):
        """validation_data as given: None, a generator or PyDataset (kept), or Keras'
        (x_val, y_val) or (x_val, y_val, val_sample_weight), checked."""
        if validation_data is None or data_adapters.is_batch_source(validation_data):
            return validation_data
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("fit: validation_data must be (x_val, y_val) or "
                             "(x_val, y_val, val_sample_weight), or a generator or PyDataset")
        where = "fit (validation_data)"
        vx = self._prepare_x(validation_data[0], where)
        vy = self._prepare_y(validation_data[1], vx.shape[0], where)
        vw = validation_data[2] if len(validation_data) == 3 else None
        return vx, vy, self._prepare_sample_weight(vw, vy, where, "val_sample_weight")

    def _validation_plan(self, validation_data, batch_size, steps):
        """What each validation runs over: None, the prepared arrays (x, y, weights) as
        (x, y, weights, batch size) cut to validation_steps batches, or an EpochIterator over
        a generator or PyDataset."""
        if validation_data is None:
            return None
        if data_adapters.is_batch_source(validation_data):
            return data_adapters.EpochIterator(data_adapters.adapter(validation_data), steps)
        vx, vy, vw = validation_data
        batch_size, used, _ = _steps_window(vx.shape[0], batch_size, steps, "fit")
        return vx[:used], vy[:used], None if vw is None else vw[:used], batch_size

    def _validate(self, validation, cb):
        if isinstance(validation, tuple):
            return self._evaluate_arrays(*validation, cb)
        validation.reset()
        return self._evaluate_batches(validation, "fit (validation_data)", cb)

    def _evaluate_arrays(self, x, y, sample_weight, batch_size, cb=None):
        self.reset_metrics()
        penalty = sum(self._weight_losses())
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

    def _evaluate_batches(self, it, method, cb=None):
        """_evaluate_arrays over an EpochIterator's batches (each checked as arrays are); None
        if it gave no batch."""
        self.reset_metrics()
        total, seen, penalty = 0.0, 0, None
        if cb is not None:
            cb.on_test_begin({})
        for step, batch in it.epoch():
            if cb is not None:
                cb.on_test_batch_begin(step, {})
            x, y, weight = self._prepare_batch(batch, method, training=False)
            if penalty is None:  # the model is built now
                self._setup_training(y.shape)
                self.reset_metrics()
                penalty = sum(self._weight_losses())
            total += self._test_step(x, y, penalty, weight) * x.shape[0]
            seen += x.shape[0]
            if cb is not None:
                cb.on_test_batch_end(step, self._logs(total / seen))
        if not seen:
            return None
        logs = self._logs(total / seen)
        if cb is not None:
            cb.on_test_end(dict(logs))
        return logs

    def _flatten_logs(self, logs, return_dict):
        if return_dict:
            return dict(sorted(logs.items()))
        if not self._metrics:
            return logs["loss"]
        return [logs["loss"]] + [logs[key] for key in self._metric_keys]

    def _inference_callbacks(self, callbacks, verbose, steps):
        if not (callbacks or verbose):  # Keras' progress bar is a callback (on_test_* hooks)
            return None
        return _callback_list(callbacks, self, {"verbose": verbose, "epochs": 1,
                                                "steps": steps},
                              _verbosity(verbose), add_history=False)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """The loss (and metrics) on x, y (or on a generator's or PyDataset's batches): a
        float, or [loss, *metrics] when compiled with metrics, or a dict with
        return_dict=True (as Keras)."""
        self._assert_compiled("evaluate")
        if data_adapters.is_batch_source(x):
            data_adapters.refuse_arguments("evaluate", x, y, batch_size, sample_weight)
            it = data_adapters.EpochIterator(data_adapters.adapter(x),
                                             data_adapters.check_steps(steps, "steps",
                                                                       "evaluate"))
            cb = self._inference_callbacks(callbacks, verbose, it.epoch_steps)
            logs = self._evaluate_batches(it, "evaluate", cb)
            if logs is None:
                raise ValueError("evaluate: the input gave no batch (an exhausted generator, "
                                 "or a PyDataset of length 0)")
            return self._flatten_logs(logs, return_dict)
        _batch_size(batch_size, "evaluate")
        x = self._prepare_x(x, "evaluate")
        y = self._prepare_y(y, x.shape[0], "evaluate")
        sample_weight = self._prepare_sample_weight(sample_weight, y, "evaluate")
        batch_size, used, target = _steps_window(x.shape[0], batch_size, steps, "evaluate")
        x, y = x[:used], y[:used]
        if sample_weight is not None:
            sample_weight = sample_weight[:used]
        self._setup_training(y.shape)
        cb = self._inference_callbacks(callbacks, verbose, target)
        logs = self._evaluate_arrays(x, y, sample_weight, batch_size, cb)
        return self._flatten_logs(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for x (or for the inputs of a generator's or PyDataset's
        batches: x, (x,) or (x, y, ...)), computed batch by batch (inference mode)."""
        if data_adapters.is_batch_source(x):
            data_adapters.refuse_arguments("predict", x, batch_size=batch_size)
            it = data_adapters.EpochIterator(data_adapters.adapter(x),
                                             data_adapters.check_steps(steps, "steps",
                                                                       "predict"))
            return self._predict_batches(it, self._inference_callbacks(callbacks, verbose,
                                                                       it.epoch_steps))
        _batch_size(batch_size, "predict")
        x = self._prepare_x(x, "predict")
        batch_size, used, target = _steps_window(x.shape[0], batch_size, steps, "predict")
        x = x[:used]
        out = None  # allocated at the first batch: a None dimension (steps) is known then
        cb = self._inference_callbacks(callbacks, verbose, target)
        if cb is not None:
            cb.on_predict_begin({})
        for step, lo in enumerate(range(0, x.shape[0], batch_size)):
            hi = min(x.shape[0], lo + batch_size)
            if cb is not None:
                cb.on_predict_batch_begin(step, {})
            y = self.forward(x[lo:hi], training=False)
            if out is None:
                out = np.empty((x.shape[0],) + y.shape[1:], dtype=y.dtype)
            out[lo:hi] = y
            if cb is not None:
                cb.on_predict_batch_end(step, {"outputs": out[lo:hi]})
        if cb is not None:
            cb.on_predict_end({})
        return out

    def _predict_batches(self, it, cb):
        """predict over an EpochIterator: the outputs of each batch's x, concatenated."""
        outputs = []
        if cb is not None:
            cb.on_predict_begin({})
        for step, batch in it.epoch():
            if cb is not None:
                cb.on_predict_batch_begin(step, {})
            x, _, _ = data_adapters.unpack_batch(batch, "predict", x_alone=True)
            # A copy: the layers may reuse their output buffers at the next batch.
            outputs.append(np.array(self.forward(self._prepare_x(x, "predict"),
                                                 training=False)))
            if cb is not None:
                cb.on_predict_batch_end(step, {"outputs": outputs[-1]})
        if cb is not None:
            cb.on_predict_end({})
        if not outputs:
            raise ValueError("predict: the input gave no batch (an exhausted generator, or a "
                             "PyDataset of length 0)")
        return np.concatenate(outputs)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One gradient step on one batch; returns that batch's loss (and metrics)."""
        step = None
        if sample_weight is None and class_weight is None:
            step = self._ready_step(x, y)
        if step is not None:  # x and y are what the checks below would pass on unchanged
            self.reset_metrics()
            loss = self._train_step(x, y, check_x="train_on_batch", step=step)
        else:
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
        if not self._metrics and not return_dict:
            return loss  # what _flatten_logs would give, without building the logs
        logs = {"loss": loss, **self._metric_logs()}
        return self._flatten_logs(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._assert_compiled("test_on_batch")
        x = self._prepare_x(x, "test_on_batch")
        y = self._prepare_y(y, x.shape[0], "test_on_batch")
        sample_weight = self._prepare_sample_weight(sample_weight, y, "test_on_batch")
        self._setup_training(y.shape)
        self.reset_metrics()
        logs = {"loss": self._test_step(x, y, sum(self._weight_losses()), sample_weight),
                **self._metric_logs()}
        return self._flatten_logs(logs, return_dict)

    def predict_on_batch(self, x):
        return self.forward(self._prepare_x(x, "predict_on_batch"), training=False)


def _loss_weight(loss_weights):
    """compile's loss_weights for the one output: Keras 3 takes a number, a list of one or a
    dict of one (keyed by the output's name), and multiplies the loss by it (not the
    regularization penalties)."""
    if loss_weights is None:
        return 1.0
    weights = list(loss_weights.values()) if isinstance(loss_weights, dict) else \
        list(loss_weights) if isinstance(loss_weights, (list, tuple)) else [loss_weights]
    if len(weights) != 1:
        raise ValueError(f"`loss_weights` must match the number of losses, got 1 losses and "
                         f"{len(weights)} weights.")
    try:
        return float(weights[0])
    except (TypeError, ValueError):
        raise TypeError(f"compile: loss_weights must be numbers, got {weights[0]!r}") from None


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


def _log_value(value):
    """A float, as Keras' pythonify_logs makes a scalar; an array result (Precision with
    several thresholds) stays an array."""
    value = np.asarray(value)
    return float(value) if value.size == 1 else value


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
