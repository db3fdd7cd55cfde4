"""Callbacks with Keras 3's hooks, arguments, defaults and behaviour: History, the progress bar
fit prints, EarlyStopping, ModelCheckpoint, LearningRateScheduler, ReduceLROnPlateau, CSVLogger,
TerminateOnNaN and LambdaCallback."""
import collections
import csv
import math
import os
import sys
import time
import warnings

import numpy as np


class Callback:
    """Base class: override the hooks you need. `self.model` and `self.params` are set by fit."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass

    # As Keras: the train-batch hooks call the older on_batch_* names.
    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


class CallbackList:
    """Calls each hook on every callback in order; skips per-batch hooks nobody overrides, so an
    empty list costs nothing per batch."""

    _BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
                    "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self._overriding = {hook: [cb for cb in self.callbacks if _overrides(cb, hook)]
                            for hook in self._BATCH_HOOKS}

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        targets = self._overriding.get(hook, self.callbacks)

        batch_hook = hook in self._BATCH_HOOKS

        def call(*args, **kwargs):
            if batch_hook and len(args) == 2:
                # Keras passes a batch hook's logs by keyword: hook(batch, logs=logs).
                args, kwargs = args[:1], {"logs": args[1]}
            for cb in targets:
                getattr(cb, hook)(*args, **kwargs)
        return call


def _overrides(cb, hook):
    aliases = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}
    names = (hook, aliases[hook]) if hook in aliases else (hook,)
    # Instance attributes count too (LambdaCallback sets its hooks on the instance).
    return any(name in vars(cb) or getattr(type(cb), name, None) is not getattr(Callback, name)
               for name in names)


class History(Callback):
    """Records each epoch's logs: `history.history['loss']` etc., and `history.epoch`."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class ProgbarLogger(Callback):
    """Keras-style output: verbose=1 a progress bar per batch, verbose=2 one line per epoch; the
    same for evaluate and predict called on their own (validation inside fit stays silent, as in
    Keras 3's ProgbarLogger)."""

    def __init__(self, verbose=None, stream=None):
        super().__init__()
        self._verbose = verbose  # None: the verbosity fit/evaluate/predict were called with
        self.verbose = 1 if verbose is None else verbose
        self.stream = stream
        self._last_draw = 0.0
        self._in_fit = False
        self._target = None  # the steps of an epoch (params["steps"]), None until known

    def set_params(self, params):
        super().set_params(params)
        # None for data of unknown length (a generator): learned at the end of the first
        # epoch, as Keras' ProgbarLogger sets its target to the steps seen.
        self._target = params.get("steps")
        if self._verbose is None:  # Keras 3's ProgbarLogger reads params["verbose"]
            verbose = params.get("verbose", 1)
            self.verbose = 1 if verbose == "auto" else int(verbose)

    def _out(self):
        return self.stream or sys.stdout

    def _reset(self):
        self._start = time.perf_counter()
        self._seen = 0
        self._width = 0

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()
        epochs = self.params.get("epochs", 1)
        if self.verbose and epochs > 1:  # Keras 3 prints no "Epoch 1/1" header
            self._out().write(f"Epoch {epoch + 1}/{epochs}\n")
            self._out().flush()

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1  # verbose=2's epoch line counts the steps of an unknown length
        if self.verbose != 1:
            return
        now = time.perf_counter()
        # Redraw at most ~20 times a second: printing every batch would cost more than training.
        if now - self._last_draw >= 0.05 or self._seen == self._target:
            self._last_draw = now
            self._draw(logs, final=False)

    def on_epoch_end(self, epoch, logs=None):
        if self._target is None:
            self._target = self._seen
        self._seen = self._target or self._seen
        self._draw(logs, final=True)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._reset()

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self.on_train_batch_end(batch, logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self.on_epoch_end(0, logs)

    def on_predict_begin(self, logs=None):
        self._reset()

    def on_predict_batch_end(self, batch, logs=None):
        self.on_train_batch_end(batch, None)  # the outputs are not shown

    def on_predict_end(self, logs=None):
        self.on_epoch_end(0, None)

    def _draw(self, logs, final):
        if not self.verbose:
            return
        steps = self._target or 0
        elapsed = time.perf_counter() - self._start
        per_step = elapsed / max(self._seen, 1)
        metrics = "".join(f" - {k}: {_fmt(v)}" for k, v in sorted((logs or {}).items()))
        if self.verbose == 2:
            if final:
                self._out().write(f"{steps}/{steps} - {elapsed:.0f}s - {_fmt_time(per_step)}/step"
                                  f"{metrics}\n")
            return
        if self._target is None:  # Keras' Progbar without a target: "n/Unknown"
            line = f"{self._seen:7d}/Unknown {elapsed:.0f}s {_fmt_time(per_step)}/step{metrics}"
        else:
            line = self._bar_line(steps, elapsed, per_step, metrics, final)
        # Pad over the previous, possibly longer, line before returning the carriage.
        pad = " " * max(self._width - len(line), 0)
        self._width = len(line)
        self._out().write("\r" + line + pad + ("\n" if final else ""))
        self._out().flush()

    def _bar_line(self, steps, elapsed, per_step, metrics, final):
        width = 20
        done = int(width * self._seen / steps) if steps else width
        bar = "\u2501" * done + (" " if done < width else "") + "\u2500" * max(width - done - 1, 0)
        counter = f"{self._seen:{len(str(steps))}d}/{steps}"
        if final:
            timing = f"{elapsed:.0f}s {_fmt_time(per_step)}/step"
        else:
            timing = f"{max(steps - self._seen, 0) * per_step:.0f}s ETA"
        return f"{counter} {bar} {timing}{metrics}"


def _fmt(value):
    # An array result (F1Score per class, Precision at several thresholds) shows its mean, as
    # Keras' Progbar does.
    value = float(np.mean(value))
    return f"{value:.4f}" if 1e-3 <= abs(value) < 1e5 or value == 0 else f"{value:.4e}"


def _fmt_time(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms"
    return f"{seconds * 1e6:.0f}us"



# -- callbacks that watch a monitored quantity -----------------------------------------------
# Metric classes whose larger values are better (Keras' metric `_direction == "up"`).
_UP_METRICS = {"Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
               "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "AUC", "Precision",
               "Recall"}
_DOWN_METRICS = {"MeanSquaredError", "MeanAbsoluteError", "RootMeanSquaredError",
                 "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError"}
_DOWN_NAMES = {"mse", "mae", "mean_squared_error", "mean_absolute_error", "rmse",
               "root_mean_squared_error", "mape", "mean_absolute_percentage_error"}


def _monitor_direction(model, monitor):
    """'min', 'max' or None for mode='auto', as Keras 3 infers it: 'loss' is minimized, a
    compiled metric goes its own direction (accuracies up, errors down). Metric names brisknn
    knows are recognised even before the model's metrics are built."""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss":
        return "min"
    for metric in getattr(model, "_metrics", None) or []:
        if getattr(metric, "name", None) == name:
            direction = getattr(metric, "_direction", None)
            if direction in ("up", "down"):
                return "max" if direction == "up" else "min"
            cls = type(metric).__name__
            if cls in _UP_METRICS or cls in _DOWN_METRICS:
                return "max" if cls in _UP_METRICS else "min"
    key = name.lower()
    if key in ("acc", "accuracy") or key.endswith("_accuracy") or key.endswith("_acc"):
        return "max"
    if key in _DOWN_NAMES:
        return "min"
    return None


class _MonitorCallback(Callback):
    """Shared by EarlyStopping, ModelCheckpoint and ReduceLROnPlateau: which way is better."""

    def __init__(self, monitor, mode, min_delta=0, best=None):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode {mode} is unknown, fallback to auto "
                          "mode.", stacklevel=3)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.best = best
        self.monitor_op = None

    def _set_monitor_op(self):
        mode = self.mode if self.mode != "auto" else _monitor_direction(self.model, self.monitor)
        if mode is None:
            raise ValueError(
                f"{type(self).__name__} callback received monitor={self.monitor}, but brisknn "
                "isn't able to automatically determine whether that metric should be maximized "
                "or minimized. Pass `mode='max'` in order to monitor based on the highest metric "
                "value, or pass `mode='min'` in order to use the lowest value.")
        self.monitor_op = _less if mode == "min" else _greater
        if self.monitor_op is _less:
            self.min_delta *= -1

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        return bool(self.monitor_op(value - self.min_delta, reference))


def _less(a, b):
    return a < b


def _greater(a, b):
    return a > b


class EarlyStopping(_MonitorCallback):
    """Stops training when `monitor` has not improved by more than `min_delta` for `patience`
    epochs (Keras 3's rules: the wait counter counts every monitored epoch and is reset by an
    improvement that also beats `baseline`; training never stops at the first epoch; with
    `restore_best_weights` the best epoch's weights are restored at the end of training, whether
    it stopped early or ran all its epochs)."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.best_epoch = 0
        self.start_from_epoch = start_from_epoch

    def _set_monitor_op(self):
        super()._set_monitor_op()
        # As Keras 3, `best` starts at -/+inf once, when the direction is first known, and is
        # not reset by on_train_begin: a reused callback compares later fits with the best
        # value of the earlier ones.
        self.best = math.inf if self.monitor_op is _less else -math.inf

    def on_train_begin(self, logs=None):
        # Allows an instance to be reused across fits (Keras resets these four, not `best`).
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Until something improves, the first monitored weights are the best.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print("Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}", stacklevel=2)
        return value


class ModelCheckpoint(_MonitorCallback):
    """Saves the model (`model.save`, a `.keras` file) or its weights (`save_weights_only`, a
    `.weights.npz` file) every epoch or every `save_freq` batches; `filepath` may hold
    `{epoch:02d}` (1-based, as Keras), `{batch}` and any log key such as `{val_loss:.2f}`.
    With `save_best_only` it saves only when `monitor` improves on the best so far (starting
    from `initial_value_threshold` if given)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__(monitor, mode, 0, initial_value_threshold)
        from brisknn import saving
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0
        if save_freq != "epoch" and (isinstance(save_freq, bool) or
                                     not isinstance(save_freq, int)):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. Expected save_freq are "
                             "'epoch' or integer values")
        if save_weights_only and not self.filepath.endswith(saving.WEIGHTS_SUFFIXES):
            raise ValueError("When using `save_weights_only=True` in `ModelCheckpoint`, the "
                             "filepath provided must end in `.weights.npz` (brisknn's weights "
                             f"format; `.weights.h5` is accepted too). Received: "
                             f"filepath={self.filepath}")
        if not save_weights_only and not self.filepath.endswith(saving.MODEL_SUFFIXES):
            raise ValueError("The filepath provided must end in `.keras` (the model format; "
                             f"`.h5` is accepted too). Received: filepath={self.filepath}")

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _set_monitor_op(self):
        super()._set_monitor_op()
        if self.best is None:
            self.best = math.inf if self.monitor_op is _less else -math.inf

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        if batch <= self._last_batch_seen:  # a new epoch
            self._batches_seen_since_last_saving += batch + 1
        else:
            self._batches_seen_since_last_saving += batch - self._last_batch_seen
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _should_save_model(self, epoch, logs, filepath):
        logs = logs or {}
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.",
                          stacklevel=2)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                      f"{current:.5f}, saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch, batch, logs):
        filepath = self._get_file_path(epoch, batch, logs or {})
        if not self._should_save_model(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise OSError("Please specify a non-directory filepath for ModelCheckpoint. "
                          f"Filepath used is an existing directory: {filepath}")
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)

    def _get_file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". '
                           f"Reason: {e}") from e


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` (down to `min_lr`) when `monitor` has not
    improved by `min_delta` for `patience` epochs, then waits `cooldown` epochs (Keras 3; in
    'auto' mode a monitor name containing 'acc' is maximized, anything else minimized)."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if factor >= 1.0:
            raise ValueError("ReduceLROnPlateau does not support a factor >= 1.0. "
                             f"Received factor={factor}")
        self.monitor = monitor
        self.factor = factor
        self.min_lr = min_lr
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0
        self.best = 0
        self.mode = mode
        self.monitor_op = None
        self._reset()

    def _reset(self):
        if self.mode not in ("auto", "min", "max"):
            warnings.warn(f"Learning rate reduction mode {self.mode} is unknown, fallback to "
                          "auto mode.", stacklevel=2)
            self.mode = "auto"
        if self.mode == "min" or (self.mode == "auto" and "acc" not in self.monitor):
            self.monitor_op = lambda a, b: a < b - self.min_delta
            self.best = math.inf
        else:
            self.monitor_op = lambda a, b: a > b + self.min_delta
            self.best = -math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` "
                          f"which is not available. Available metrics are: {','.join(logs)}.",
                          stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(self.model.optimizer.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


# -- other callbacks ---------------------------------------------------------------------------
class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate to `schedule(epoch, lr)` (or the older
    `schedule(epoch)`) at the start of each epoch; logs it as 'learning_rate'."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # the older schedule(epoch)
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError("The output of the `schedule` function should be a float. "
                             f"Got: {learning_rate}")
        optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Writes one CSV row per epoch: 'epoch' (0-based, as Keras) then the log keys sorted."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(value):
            if isinstance(value, str):
                return value
            if isinstance(value, collections.abc.Iterable) and not (
                    isinstance(value, np.ndarray) and value.ndim == 0):
                return f'"[{", ".join(map(str, value))}]"'
            return value

        if self.keys is None:
            self.keys = sorted(logs)
            for name in getattr(self.model, "metrics_names", []):
                if name.startswith("val_") and name not in self.keys:
                    self.keys.append(name)
        if not self.writer:
            class Dialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         dialect=Dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class TerminateOnNaN(Callback):
    """Stops training (after the current batch) when the loss becomes NaN or inf; with
    `raise_error=True` raises RuntimeError instead."""

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and (np.isnan(loss) or np.isinf(loss)):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: "
                                   f"{loss}. Terminating training immediately.")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from functions: on_epoch_begin/on_epoch_end(epoch, logs),
    on_train_begin/on_train_end(logs), on_train_batch_begin/on_train_batch_end(batch, logs), and
    any other hook by keyword."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                 "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end}
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)
