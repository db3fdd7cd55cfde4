"""Callbacks with Keras' hooks, History, and the progress bar fit prints."""
import sys
import time


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
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
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
        self._overriding = {
            hook: [cb for cb in self.callbacks
                   if getattr(type(cb), hook, None) is not getattr(Callback, hook)]
            for hook in self._BATCH_HOOKS}

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        targets = self._overriding.get(hook, self.callbacks)

        def call(*args, **kwargs):
            for cb in targets:
                getattr(cb, hook)(*args, **kwargs)
        return call


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
    """Keras-style output: verbose=1 a progress bar per batch, verbose=2 one line per epoch."""

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose = verbose
        self.stream = stream
        self._last_draw = 0.0

    def _out(self):
        return self.stream or sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._seen = 0
        self._width = 0
        epochs = self.params.get("epochs", 1)
        self._out().write(f"Epoch {epoch + 1}/{epochs}\n")
        self._out().flush()

    def on_train_batch_end(self, batch, logs=None):
        if self.verbose != 1:
            return
        self._seen = batch + 1
        now = time.perf_counter()
        # Redraw at most ~20 times a second: printing every batch would cost more than training.
        if now - self._last_draw >= 0.05 or self._seen == self.params.get("steps"):
            self._last_draw = now
            self._draw(logs, final=False)

    def on_epoch_end(self, epoch, logs=None):
        self._seen = self.params.get("steps") or self._seen
        self._draw(logs, final=True)

    def _draw(self, logs, final):
        steps = self.params.get("steps") or 0
        elapsed = time.perf_counter() - self._start
        per_step = elapsed / max(self._seen, 1)
        metrics = "".join(f" - {k}: {_fmt(v)}" for k, v in sorted((logs or {}).items()))
        if self.verbose == 2:
            if final:
                self._out().write(f"{steps}/{steps} - {elapsed:.0f}s - {_fmt_time(per_step)}/step"
                                  f"{metrics}\n")
            return
        width = 20
        done = int(width * self._seen / steps) if steps else width
        bar = "\u2501" * done + (" " if done < width else "") + "\u2500" * max(width - done - 1, 0)
        counter = f"{self._seen:{len(str(steps))}d}/{steps}"
        if final:
            timing = f"{elapsed:.0f}s {_fmt_time(per_step)}/step"
        else:
            timing = f"{max(steps - self._seen, 0) * per_step:.0f}s ETA"
        line = f"{counter} {bar} {timing}{metrics}"
        # Pad over the previous, possibly longer, line before returning the carriage.
        pad = " " * max(self._width - len(line), 0)
        self._width = len(line)
        self._out().write("\r" + line + pad + ("\n" if final else ""))
        self._out().flush()


def _fmt(value):
    value = float(value)
    return f"{value:.4f}" if 1e-3 <= abs(value) < 1e5 or value == 0 else f"{value:.4e}"


def _fmt_time(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms"
    return f"{seconds * 1e6:.0f}us"

