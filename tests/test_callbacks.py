import csv
import math

import numpy as np
import pytest

from brisknn import layers, models, optimizers
from brisknn.callbacks import (Callback, CSVLogger, EarlyStopping, History, LambdaCallback,
                               LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau,
                               TerminateOnNaN)

X = np.random.default_rng(0).normal(size=(24, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)


def _model(optimizer=None, metrics=None):
    model = models.Sequential([layers.Input((3,)), layers.Dense(4, activation="tanh"),
                               layers.Dense(1)])
    model.compile(optimizer=optimizer or optimizers.SGD(0.05), loss="mse", metrics=metrics)
    return model


def _scripted(values, key="val_loss"):
    """Overwrites the monitored value in each epoch's logs (put it before the callback under
    test: callbacks share the logs dict, as in Keras)."""
    return LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update({key: values[epoch]}))


def _fit(values, *cbs, key="val_loss", epochs=None, model=None, **kwargs):
    model = model or _model()
    history = model.fit(X, Y, epochs=epochs or len(values), batch_size=8, verbose=0,
                        callbacks=[_scripted(values, key), *cbs], **kwargs)
    return model, history


class Recorder(Callback):
    """Records every hook call as (hook name, batch or epoch index if any)."""

    def __init__(self):
        super().__init__()
        self.calls = []


def _recording(hook):
    def record(self, *args, logs=None):
        self.calls.append((hook,) + tuple(a for a in args if isinstance(a, int)))
    return record


for _hook in [h for h in vars(Callback)
              if h.startswith("on_") and h not in ("on_batch_begin", "on_batch_end")]:
    setattr(Recorder, _hook, _recording(_hook))


# -- fit and the hooks -------------------------------------------------------------------------
def test_fit_calls_the_hooks_in_keras_order():
    rec = Recorder()
    model = _model()
    model.fit(X[:16], Y[:16], epochs=2, batch_size=8, verbose=0, callbacks=[rec],
              validation_data=(X[16:], Y[16:]))
    epoch = lambda e: ([("on_epoch_begin", e)] +
                       [c for b in (0, 1) for c in (("on_train_batch_begin", b),
                                                    ("on_train_batch_end", b))] +
                       [("on_test_begin",), ("on_test_batch_begin", 0), ("on_test_batch_end", 0),
                        ("on_test_end",), ("on_epoch_end", e)])
    assert rec.calls == [("on_train_begin",)] + epoch(0) + epoch(1) + [("on_train_end",)]


def test_evaluate_and_predict_call_their_hooks():
    model = _model()
    rec = Recorder()
    model.evaluate(X, Y, batch_size=16, verbose=0, callbacks=[rec])
    assert rec.calls == [("on_test_begin",), ("on_test_batch_begin", 0),
                         ("on_test_batch_end", 0), ("on_test_batch_begin", 1),
                         ("on_test_batch_end", 1), ("on_test_end",)]
    seen = []
    cb = LambdaCallback(on_predict_batch_end=lambda batch, logs: seen.append(
        logs["outputs"].shape), on_predict_end=lambda logs: seen.append("end"))
    model.predict(X, batch_size=16, verbose=0, callbacks=[cb])
    assert seen == [(16, 1), (8, 1), "end"]


def test_history_is_returned_and_a_passed_history_is_used():
    mine = History()
    model = _model()
    returned = model.fit(X, Y, epochs=2, verbose=0, callbacks=[mine])
    assert returned is mine is model.history
    assert mine.epoch == [0, 1] and len(mine.history["loss"]) == 2


def test_stop_training_from_a_batch_hook_stops_after_that_batch_and_ends_the_epoch():
    batches = []

    def on_batch(batch, logs):
        batches.append(batch)
        if batch == 1:
            model.stop_training = True

    model = _model()
    history = model.fit(X, Y, epochs=5, batch_size=8, verbose=0,
                        callbacks=[LambdaCallback(on_train_batch_end=on_batch)])
    assert batches == [0, 1] and history.epoch == [0]
    # The epoch's loss averages the 16 samples it trained on.
    assert len(history.history["loss"]) == 1


def test_keras_on_batch_end_alias_is_called():
    class Old(Callback):
        seen = 0

        def on_batch_end(self, batch, logs=None):
            Old.seen += 1

    _model().fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[Old()])
    assert Old.seen == 3


# -- EarlyStopping ---------------------------------------------------------------------------
@pytest.mark.parametrize("values, kwargs, epochs_run", [
    ([1.0, 0.9, 0.95, 0.97, 0.5, 0.4], dict(patience=2), 4),
    ([1.0, 1.1, 0.5], dict(patience=0), 2),
    ([1.0, 0.95, 0.9, 0.85], dict(patience=1, min_delta=0.1), 2),
    ([1.0, 0.95, 0.9, 0.85], dict(patience=1, min_delta=0.01), 4),
    ([0.8, 0.7, 0.6, 0.65, 0.5], dict(patience=2, baseline=0.5), 4),
    ([1.0, 2.0, 3.0, 4.0, 5.0], dict(patience=0, start_from_epoch=2), 4),
    ([5.0, 4.0, 3.0, 2.0], dict(patience=0, mode="max"), 2),
])
def test_early_stopping_stops_at_keras_epoch(values, kwargs, epochs_run):
    stopper = EarlyStopping(**kwargs)
    _, history = _fit(values, stopper)
    assert len(history.epoch) == epochs_run
    assert stopper.stopped_epoch == (epochs_run - 1 if epochs_run < len(values) else 0)


def test_early_stopping_keras_docstring_example():
    model = models.Sequential([layers.Dense(10)])
    model.compile(optimizers.SGD(), loss="mse")
    history = model.fit(np.arange(100).reshape(5, 20), np.zeros((5, 10)), epochs=10, batch_size=1,
                        verbose=0, callbacks=[EarlyStopping(monitor="loss", patience=3)])
    assert len(history.history["loss"]) == 4


def test_early_stopping_auto_mode_follows_the_metric_direction():
    stopper = EarlyStopping(monitor="val_accuracy", patience=0)
    model = _model(metrics=["accuracy"])
    _, history = _fit([0.5, 0.6, 0.55, 0.7], stopper, key="val_accuracy", model=model)
    assert len(history.epoch) == 3 and stopper.best == 0.6
    with pytest.raises(ValueError, match="mode='max'"):
        _fit([1.0, 2.0], EarlyStopping(monitor="val_something"), key="val_something")


@pytest.mark.parametrize("values, patience, best_epoch, epochs_run", [
    ([1.0, 0.5, 0.7, 0.8, 0.9], 2, 1, 4),   # stopped early
    ([1.0, 0.5, 0.7], 5, 1, 3),             # ran to the end: Keras 3 restores anyway
])
def test_restore_best_weights_restores_the_best_epoch(values, patience, best_epoch, epochs_run):
    snapshots = []
    snap = LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(
        model.get_weights()))
    model = _model()
    _, history = _fit(values, snap, EarlyStopping(patience=patience, restore_best_weights=True),
                      model=model)
    assert len(history.epoch) == epochs_run
    for a, b in zip(model.get_weights(), snapshots[best_epoch]):
        assert a.tobytes() == b.tobytes()


def test_without_restore_best_weights_the_last_weights_stay():
    snapshots = []
    model = _model()
    _fit([1.0, 0.5, 0.7, 0.8], LambdaCallback(
        on_epoch_end=lambda e, logs: snapshots.append(model.get_weights())),
        EarlyStopping(patience=1), model=model)
    for a, b in zip(model.get_weights(), snapshots[-1]):
        assert a.tobytes() == b.tobytes()


# -- ModelCheckpoint -------------------------------------------------------------------------
def test_checkpoint_best_only_writes_formatted_names_on_improvement(tmp_path):
    ckpt = ModelCheckpoint(str(tmp_path / "{epoch:02d}-{val_loss:.2f}.keras"),
                           save_best_only=True)
    _fit([1.0, 0.8, 0.9, 0.7, 0.75], ckpt)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "01-1.00.keras", "02-0.80.keras", "04-0.70.keras"]


def test_checkpoint_fixed_name_holds_the_best_model(tmp_path):
    snapshots = []
    model = _model()
    snap = LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(model.get_weights()))
    path = tmp_path / "best.keras"
    _fit([1.0, 0.8, 0.9, 0.85], snap, ModelCheckpoint(str(path), save_best_only=True),
         model=model)
    best = models.load_model(path)
    for a, b in zip(best.get_weights(), snapshots[1]):
        assert a.tobytes() == b.tobytes()


def test_checkpoint_threshold_weights_only_and_every_epoch(tmp_path):
    _fit([1.0, 0.8, 0.9, 0.7], ModelCheckpoint(
        str(tmp_path / "t{epoch}.weights.npz"), save_best_only=True, save_weights_only=True,
        initial_value_threshold=0.75))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t4.weights.npz"]
    model = _model()
    _fit([3.0, 2.0], ModelCheckpoint(str(tmp_path / "all-{epoch}.keras")), model=model)
    assert (tmp_path / "all-1.keras").exists() and (tmp_path / "all-2.keras").exists()


def test_checkpoint_mode_auto_maximizes_accuracy(tmp_path):
    ckpt = ModelCheckpoint(str(tmp_path / "{epoch}.keras"), monitor="val_accuracy",
                           save_best_only=True)
    _fit([0.5, 0.7, 0.6, 0.8], ckpt, key="val_accuracy", model=_model(metrics=["accuracy"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.keras", "2.keras", "4.keras"]


def test_checkpoint_every_n_batches_names_epoch_and_batch(tmp_path):
    ckpt = ModelCheckpoint(str(tmp_path / "ck-{epoch}-{batch}.keras"), save_freq=2)
    _model().fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[ckpt])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ck-1-2.keras", "ck-2-1.keras", "ck-2-3.keras"]


def test_checkpoint_refuses_names_it_cannot_write(tmp_path):
    with pytest.raises(ValueError, match=r"\.weights\.npz"):
        ModelCheckpoint(str(tmp_path / "w.keras"), save_weights_only=True)
    with pytest.raises(ValueError, match=r"must end in `\.keras`"):
        ModelCheckpoint(str(tmp_path / "m.pkl"))
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint(str(tmp_path / "m.keras"), save_freq="batch")
    with pytest.raises(KeyError, match="Failed to format"):
        _fit([1.0], ModelCheckpoint(str(tmp_path / "{nothing}.keras")))


# -- learning rate ---------------------------------------------------------------------------
def test_learning_rate_scheduler_sets_and_logs_the_rate():
    seen = []
    model = _model(optimizer=optimizers.SGD(0.1))
    history = model.fit(X, Y, epochs=3, verbose=0, callbacks=[
        LearningRateScheduler(lambda epoch, lr: lr * 0.5),
        LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(model.optimizer.learning_rate))])
    assert seen == [0.05, 0.025, 0.0125]
    assert history.history["learning_rate"] == [0.05, 0.025, 0.0125]
    model.fit(X, Y, epochs=2, verbose=0,
              callbacks=[LearningRateScheduler(lambda epoch: 0.001 * (epoch + 1))])
    assert model.optimizer.learning_rate == 0.002


def test_a_zero_learning_rate_from_the_schedule_freezes_the_weights():
    model = _model(optimizer=optimizers.SGD(0.1))
    before = model.get_weights()
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[LearningRateScheduler(lambda e, lr: 0.0)])
    for a, b in zip(before, model.get_weights()):
        assert a.tobytes() == b.tobytes()
    with pytest.raises(ValueError, match="should be a float"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda e, lr: 1)])


def test_reduce_lr_on_plateau_follows_keras():
    model = _model(optimizer=optimizers.SGD(0.1))
    _, history = _fit([1.0, 1.0, 1.0, 1.0], ReduceLROnPlateau(factor=0.5, patience=1),
                      model=model)
    assert history.history["learning_rate"] == [0.1, 0.1, 0.05, 0.025]
    assert model.optimizer.learning_rate == 0.0125
    model = _model(optimizer=optimizers.SGD(0.1))
    _fit([1.0, 1.0, 1.0, 1.0], ReduceLROnPlateau(factor=0.5, patience=1, cooldown=1,
                                                 min_lr=0.04), model=model)
    # Epoch 1 halves to 0.05; epoch 2 leaves its cooldown and the plateau continues, so 0.04
    # (min_lr clamps 0.025); epoch 3 stays at min_lr.
    assert model.optimizer.learning_rate == 0.04
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.0)


# -- CSV, NaN, Lambda ------------------------------------------------------------------------
def test_csv_logger_writes_keras_rows_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    model = _model()
    history = model.fit(X[:16], Y[:16], epochs=2, verbose=0, validation_data=(X[16:], Y[16:]),
                        callbacks=[CSVLogger(str(path))])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert rows[1:] == [[str(e), str(history.history["loss"][e]),
                         str(history.history["val_loss"][e])] for e in (0, 1)]
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[CSVLogger(str(path), separator=";",
                                                              append=True)])
    with open(path, newline="") as f:
        lines = f.read().splitlines()
    assert len(lines) == 4 and lines[3].startswith("0;")


def test_terminate_on_nan_stops_after_the_bad_batch(capsys):
    batches = []

    def poison(batch, logs):
        batches.append(batch)
        if batch == 1:
            logs["loss"] = math.nan

    history = _model().fit(X, Y, epochs=3, batch_size=8, verbose=0, callbacks=[
        LambdaCallback(on_train_batch_end=poison), TerminateOnNaN()])
    assert batches == [0, 1] and history.epoch == [0]
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="NaN or Inf loss"):
        _model().fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[
            LambdaCallback(on_train_batch_end=poison), TerminateOnNaN(raise_error=True)])


def test_terminate_on_nan_catches_a_real_divergence():
    model = _model(optimizer=optimizers.SGD(1e18))
    history = model.fit(X * 1e3, Y * 1e3, epochs=5, batch_size=4, verbose=0,
                        callbacks=[TerminateOnNaN()])
    assert history.epoch == [0]
    assert not math.isfinite(history.history["loss"][0])


def test_lambda_callback_passes_keras_arguments():
    events = []
    cb = LambdaCallback(on_train_begin=lambda logs: events.append("begin"),
                        on_epoch_begin=lambda epoch, logs: events.append(("epoch", epoch)),
                        on_train_batch_begin=lambda batch, logs: events.append(("batch", batch)),
                        on_train_end=lambda logs: events.append("end"),
                        on_test_begin=lambda logs: events.append("test"))
    _model().fit(X[:16], Y[:16], epochs=1, batch_size=8, verbose=0, callbacks=[cb],
                 validation_data=(X[16:], Y[16:]))
    assert events == ["begin", ("epoch", 0), ("batch", 0), ("batch", 1), "test", "end"]


def test_history_params_are_exactly_keras_3_keys_with_verbose_as_passed(capsys):
    # Keras 3 fit: CallbackList(..., verbose=verbose, epochs=epochs, steps=num_batches).
    model = _model()
    assert model.fit(X, Y, epochs=2, batch_size=8, verbose=0).params == \
        {"verbose": 0, "epochs": 2, "steps": 3}
    assert model.fit(X, Y, epochs=1, batch_size=5).params == \
        {"verbose": "auto", "epochs": 1, "steps": 5}
    assert model.fit(X, Y, epochs=1, batch_size=24, verbose=2).params["verbose"] == 2
    capsys.readouterr()


def test_early_stopping_keeps_best_across_fits_as_keras_3():
    # Keras 3 sets `best` to +/-inf once (_set_monitor_op) and on_train_begin does not reset
    # it: a reused callback stops a later fit that never beats the earlier best.
    stop = EarlyStopping(patience=1)
    model, history = _fit([1.0, 0.5, 0.6], stop)
    assert stop.best == 0.5 and len(history.epoch) == 3
    _, history = _fit([0.9, 0.8, 0.7, 0.6], stop, model=model)
    assert stop.best == 0.5 and history.epoch == [0, 1]  # stops at the 2nd epoch (epoch > 0)
    fresh = EarlyStopping(patience=1)
    _, history = _fit([0.9, 0.8, 0.7, 0.6], fresh)
    assert fresh.best == 0.6 and len(history.epoch) == 4


def test_early_stopping_auto_mode_knows_the_new_metrics_directions():
    for name, values, best in [("binary_crossentropy", [0.5, 0.4, 0.45], 0.4),
                               ("precision", [0.5, 0.7, 0.6], 0.7),
                               ("root_mean_squared_error", [0.5, 0.4, 0.45], 0.4)]:
        model = _model(metrics=[name])
        stop = EarlyStopping(monitor=name, patience=5)
        _fit(values, stop, key=name, model=model)
        assert stop.best == best, name


def test_keras_early_stopping_docstring_example_runs_four_epochs():
    # keras/src/callbacks/early_stopping.py: Dense(10) fitted to one target per sample, which
    # Keras' loss broadcasts; the loss stops improving and training stops after 4 epochs.
    callback = EarlyStopping(monitor="loss", patience=3)
    model = models.Sequential([layers.Dense(10)])
    model.compile(optimizers.SGD(), "mse")
    history = model.fit(np.arange(100).reshape(5, 20), np.zeros(5), epochs=10, batch_size=1,
                        callbacks=[callback], verbose=0)
    assert len(history.history["loss"]) == 4


def test_a_progbar_logger_passed_in_follows_the_call_verbosity_as_keras_3(capsys):
    # Keras 3's ProgbarLogger takes its verbosity from fit/evaluate's params.
    from brisknn.callbacks import ProgbarLogger
    model = _model()
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[ProgbarLogger()])
    assert capsys.readouterr().out == ""
    model.fit(X, Y, epochs=2, batch_size=8, verbose=2, callbacks=[ProgbarLogger()])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[1].startswith("3/3 - ") and len(lines) == 4
    model.evaluate(X, Y, batch_size=8, verbose=0, callbacks=[ProgbarLogger(verbose=2)])
    assert capsys.readouterr().out.startswith("3/3 - ")  # an explicit verbosity stays
