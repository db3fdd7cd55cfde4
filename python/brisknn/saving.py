"""Models as files: `model.save` / `load_model` and `save_weights` / `load_weights`.

A file is a zip archive (the layout is in the README, "Saving and loading"):

    metadata.json     format name and version, kind ("model" or "weights"), brisknn version
    config.json       (model) architecture, build input shape and compile configuration
    weights.json      one entry per weight: layer path, layer class, weight name, shape, dtype
    weights/NNNNN.npy the weights, in `model.weights` order
    training.json     (model) optimizer class and state index, the training seed, layer RNGs
    optimizer/NNNNN.npy  the optimizer's iterations, learning rate and slots

Nothing in a file can run code: JSON is parsed as data, layers are looked up by class name in an
allow-list of brisknn's own layer classes (plus what the caller passes in `custom_objects`), and
every .npy is read by a strict header parser that refuses object and structured dtypes and
checks shape, dtype and size against the model *before* reading the data. Writes go to a temp
file in the target folder, are fsynced, then renamed over the target (os.replace), so a failed
save never leaves a broken file at the target name.
"""
import datetime
import json
import os
import re
import struct
import tempfile
import warnings
import zipfile
import zlib

import numpy as np

from brisknn.layers.base import weight_budget

FORMAT = "brisknn"
FORMAT_VERSION = 1
# Keras 3 names weights files `.weights.h5` and still takes legacy `.h5` model files; brisknn
# has no HDF5, so its own names are `.keras` and `.weights.npz` (a valid .npz). The `.h5` names
# are accepted so Keras code runs unchanged, but the content is the same brisknn zip, not HDF5.
MODEL_SUFFIXES = (".keras", ".h5")
WEIGHTS_SUFFIXES = (".weights.npz", ".weights.h5")
_MAX_JSON_BYTES = 64 << 20
_MAX_ZIP_RATIO = 1032  # deflate's largest expansion: no member decompresses to more
_MEMBER = re.compile(r"(weights|optimizer)/\d{5}\.npy")


# -- public entry points -------------------------------------------------------------------
def save_model(model, filepath, overwrite=True):
    """Writes the whole model (architecture, weights, compile config, optimizer and RNG state)."""
    path = _path(filepath, MODEL_SUFFIXES, "save", "a whole-model file name ending in .keras")
    if path.endswith(".h5"):
        warnings.warn(f"save: {path} gets brisknn's zip format, not HDF5 (the .h5 name is "
                      "accepted for Keras code; prefer .keras)", stacklevel=3)
    if not _may_write(path, overwrite):
        return
    members = [("metadata.json", _json_bytes(_metadata("model"))),
               ("config.json", _json_bytes(_model_config(model)))]
    members += _weight_members(model)
    members += _training_members(model)
    _write_zip_atomically(path, members)


def save_weights(model, filepath, overwrite=True):
    path = _path(filepath, WEIGHTS_SUFFIXES, "save_weights",
                 "a weights file name ending in .weights.npz (or Keras' .weights.h5)")
    if not _may_write(path, overwrite):
        return
    members = [("metadata.json", _json_bytes(_metadata("weights")))]
    members += _weight_members(model)
    _write_zip_atomically(path, members)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """The model saved at `filepath`, compiled (with its optimizer state) if it was compiled.

    `custom_objects` maps class names to your own Layer subclasses; `safe_mode` is accepted for
    Keras compatibility (brisknn never deserializes code, so loading is always safe).
    """
    path = _path(filepath, MODEL_SUFFIXES, "load_model", "a .keras file written by model.save")
    with _Archive(path) as archive:
        meta = archive.metadata()
        if meta["kind"] != "model":
            raise ValueError(f"load_model: {path} holds weights only (kind {meta['kind']!r}); "
                             "build the model and call model.load_weights on it")
        config = archive.json("config.json")
        with weight_budget(archive.weight_values_bound()):
            model = _build_model(config, custom_objects, f"load_model({path})")
            _read_weights_into(model, archive, path, "load_model")
        training = archive.json("training.json")
        _restore_training(model, training, config.get("compile_config") if compile else None,
                          archive, path, custom_objects)
    return model


def load_weights(model, filepath, skip_mismatch=False):
    path = _path(filepath, MODEL_SUFFIXES + WEIGHTS_SUFFIXES, "load_weights",
                 "a .weights.npz (or .weights.h5) file from save_weights, or a .keras or .h5 "
                 "file from save")
    with _Archive(path) as archive:
        archive.metadata()
        _read_weights_into(model, archive, path, "load_weights", skip_mismatch)


def model_to_json(model, **kwargs):
    """The architecture (with its build input shape) as a JSON string, as Keras' to_json."""
    config = _model_config(model)
    config.pop("compile_config")
    return json.dumps(config, default=_json_default, **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A new (built if it was) model from `model_to_json`'s string; weights are fresh."""
    try:
        config = json.loads(json_string)
    except (TypeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"model_from_json: not valid JSON: {e}") from e
    return _build_model(config, custom_objects, "model_from_json")


# -- layer registry ------------------------------------------------------------------------
def layer_classes():
    """The allow-list: brisknn's public layer classes by name (aliases included)."""
    from brisknn import layers, models
    from brisknn.layers.base import Layer
    classes = {}
    for name in dir(layers):
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer and \
                obj.__module__.startswith("brisknn."):
            classes[name] = obj
            classes.setdefault(obj.__name__, obj)
    classes["Sequential"] = models.Sequential
    return classes


def deserialize_layer(entry, custom_objects=None):
    """A layer from {'class_name', 'config'}; the class must be in the allow-list."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str) or \
            not isinstance(entry.get("config"), dict):
        raise ValueError(f"A layer entry must be {{'class_name': str, 'config': dict}}, got "
                         f"{_short(entry)}")
    name = entry["class_name"]
    known = layer_classes()
    from brisknn.layers.base import Layer
    cls = _custom(custom_objects, Layer).get(name) or known.get(name)
    if cls is None:
        raise ValueError(f"Unknown layer class {name!r}: brisknn only loads its own layers "
                         f"({', '.join(sorted(known))}); pass your own classes in "
                         "custom_objects={'Name': Class}")
    from brisknn import constraints
    from brisknn.models import Sequential
    try:
        # A layer's constraints are rebuilt by constraints.get from their dicts; your own
        # Constraint classes come from custom_objects.
        with constraints.custom_objects_scope(custom_objects):
            if issubclass(cls, Sequential):
                return cls.from_config(entry["config"], custom_objects=custom_objects)
            return cls.from_config(entry["config"])
    except ValueError:
        raise
    except (TypeError, KeyError, AttributeError, NotImplementedError) as e:
        raise ValueError(f"Invalid config for a {name} layer: {e!r}") from e


# -- what goes in a file -------------------------------------------------------------------
def _metadata(kind):
    import brisknn
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind,
            "brisknn_version": brisknn.__version__,
            "date_saved": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")}


def _model_config(model):
    from brisknn import losses, optimizers
    config = {"class_name": type(model).__name__, "config": model.get_config(),
              "build_config": ({"input_shape": list(model._input_shape)}
                               if model.built and model._input_shape is not None else None),
              "compile_config": None}
    if model.compiled:
        config["compile_config"] = {"optimizer": optimizers.serialize(model.optimizer),
                                    "loss": (None if model.loss is None
                                             else losses.serialize(model.loss)),
                                    "metrics": [_serialize_metric(m)
                                                for m in model._metric_specs],
                                    "weighted_metrics": [
                                        _serialize_metric(m)
                                        for m in model._weighted_metric_specs],
                                    "loss_weights": (None if model._loss_weight == 1.0
                                                     else model._loss_weight)}
    return config


def _weight_entries(model, prefix=""):
    """(layer path, layer, weight name, Variable) for every weight, in model.weights order."""
    from brisknn.models import Sequential
    for layer in model.layers:
        path = prefix + layer.name
        if isinstance(layer, Sequential):
            yield from _weight_entries(layer, path + "/")
            continue
        for var in layer.weights:
            short = var.name[len(layer.name) + 1:] if var.name.startswith(layer.name + "/") \
                else var.name
            yield path, layer, short, var


def _weight_members(model):
    entries, members = [], []
    for i, (path, layer, short, var) in enumerate(_weight_entries(model)):
        member = f"weights/{i:05d}.npy"
        entries.append({"layer": path, "class_name": type(layer).__name__, "name": short,
                        "shape": list(var.shape), "dtype": var.dtype.name, "file": member})
        members.append((member, var.value))
    shape = list(model._input_shape) if model.built and model._input_shape is not None else None
    return [("weights.json", _json_bytes({"input_shape": shape, "weights": entries}))] + members


def _training_members(model):
    weights = model.weights
    training = {"seed": getattr(model, "_train_seed", None), "optimizer": None,
                "generators": _generator_states(model)}
    members = []
    if model.compiled:
        state = model.optimizer.get_state(weights)
        arrays = []
        for i, (key, value) in enumerate(state.items()):
            member = f"optimizer/{i:05d}.npy"
            arrays.append({"key": key, "file": member})
            members.append((member, np.asarray(value)))
        training["optimizer"] = {"class_name": type(model.optimizer).__name__, "state": arrays}
    return [("training.json", _json_bytes(training))] + members


def _generator_states(model):
    """The state of every NumPy Generator a layer owns (e.g. a seeded Dropout's), so a resumed
    run draws the same masks as an uninterrupted one."""
    states = []
    for path, layer in _all_layers(model):
        for attr, value in sorted(vars(layer).items()):
            if isinstance(value, np.random.Generator):
                states.append({"layer": path, "attribute": attr,
                               "state": value.bit_generator.state})
    return states


def _all_layers(model, prefix=""):
    from brisknn.models import Sequential
    for layer in model.layers:
        yield prefix + layer.name, layer
        if isinstance(layer, Sequential):
            yield from _all_layers(layer, prefix + layer.name + "/")
        for inner in getattr(layer, "_wrapped_layers", ()):  # Bidirectional's two copies
            yield prefix + layer.name + "/" + inner.name, inner


def _serialize_metric(spec):
    from brisknn import losses, metrics
    if isinstance(spec, str):
        return spec
    if isinstance(spec, type) and issubclass(spec, metrics.Metric):
        return {"class_name": spec.__name__, "config": {}}
    if isinstance(spec, metrics.Metric):
        return {"class_name": type(spec).__name__, "config": spec.get_config()}
    # A function or loss object compiled as a metric (Keras wraps it in MeanMetricWrapper):
    # saved as what names it, for compile to wrap again.
    if metrics._FUNCTIONS.get(getattr(spec, "__name__", None)) is spec:
        return {"class_name": "MeanMetricWrapper", "config": {"name": spec.__name__,
                                                               "fn": spec.__name__}}
    if isinstance(spec, losses.Loss):
        return {"loss_metric": losses.serialize(spec)}
    if callable(spec) and getattr(losses, str(getattr(spec, "__name__", "")), None) is spec:
        return {"loss_metric": spec.__name__}
    raise ValueError(f"save: cannot serialize metric {spec!r}")


def _deserialize_loss(spec, where, custom_objects=None):
    from brisknn import losses
    if isinstance(spec, str):
        return losses.loss_object(spec)
    classes = {name: obj for name, obj in vars(losses).items()
               if isinstance(obj, type) and issubclass(obj, losses.Loss) and obj is not losses.Loss}
    classes.update(_custom(custom_objects, losses.Loss))
    if isinstance(spec, dict) and spec.get("class_name") in classes and \
            isinstance(spec.get("config", {}), dict):
        return classes[spec["class_name"]].from_config(spec.get("config", {}))
    raise ValueError(f"{where}: unknown loss {_short(spec)} (known: {sorted(classes)})")


def _deserialize_metric(spec, where, custom_objects=None):
    from brisknn import metrics
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and "loss_metric" in spec:
        return _deserialize_loss(spec["loss_metric"], where, custom_objects)
    classes = {name: obj for name, obj in vars(metrics).items()
               if isinstance(obj, type) and issubclass(obj, metrics.Metric)
               and obj is not metrics.Metric}
    classes.update(_custom(custom_objects, metrics.Metric))
    if isinstance(spec, dict) and spec.get("class_name") in classes and \
            isinstance(spec.get("config", {}), dict):
        return classes[spec["class_name"]].from_config(spec.get("config", {}))
    raise ValueError(f"{where}: unknown metric {_short(spec)} (known: {sorted(classes)})")


def _custom(custom_objects, base):
    """The caller's classes deriving from `base`, by name."""
    return {name: obj for name, obj in (custom_objects or {}).items()
            if isinstance(obj, type) and issubclass(obj, base)}


# -- rebuilding ----------------------------------------------------------------------------
def _build_model(config, custom_objects, where):
    if not isinstance(config, dict) or "config" not in config or "class_name" not in config:
        raise ValueError(f"{where}: config.json must hold 'class_name' and 'config'")
    from brisknn.models import Sequential
    try:
        model = deserialize_layer({"class_name": config["class_name"],
                                   "config": config["config"]}, custom_objects)
        if not isinstance(model, Sequential):
            raise ValueError(f"the file holds a {config['class_name']}, not a model")
        build = config.get("build_config")
        if build is not None:
            shape = build.get("input_shape") if isinstance(build, dict) else None
            model.build(_shape_from_json(shape, where))
    except (ValueError, TypeError, ArithmeticError) as e:
        raise ValueError(f"{where}: {e}") from e
    except (RecursionError, MemoryError) as e:
        # A crafted config can nest models deeply or ask for huge weights.
        raise ValueError(f"{where}: the architecture cannot be built: {e!r}") from e
    return model


def _shape_from_json(shape, where):
    if not isinstance(shape, list) or not all(d is None or (type(d) is int and d >= 0)
                                              for d in shape):
        raise ValueError(f"{where}: bad input shape {_short(shape)}")
    return tuple(shape)


def _read_weights_into(model, archive, path, method, skip_mismatch=False):
    where = f"{method}({path})"
    manifest = archive.json("weights.json")
    entries = manifest.get("weights") if isinstance(manifest, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{where}: weights.json has no 'weights' list")
    if not model.built and manifest.get("input_shape") is not None and entries:
        model.build(_shape_from_json(manifest["input_shape"], where))
    ours = list(_weight_entries(model))
    if len(entries) != len(ours):
        hint = "" if model.built else " (the model is not built: build it first)"
        raise ValueError(f"{where}: the file holds {len(entries)} weights, the model "
                         f"{model.name!r} has {len(ours)}{hint} (file: "
                         f"{_summary([e.get('layer') for e in entries if isinstance(e, dict)])}; "
                         f"model: {_summary([p for p, *_ in ours])})")
    values, skipped = [], set()
    for i, (entry, (layer_path, layer, short, var)) in enumerate(zip(entries, ours)):
        problem = _entry_mismatch(entry, layer, short, var)
        if problem is not None:
            if skip_mismatch:
                skipped.add(layer_path)
                values.append(None)
                continue
            raise ValueError(f"{where}: weight {i} does not match: layer {layer_path!r} "
                             f"({type(layer).__name__}) weight {short!r}: {problem}")
        values.append(archive.array(entry["file"], var.shape, var.dtype))
    if skipped:
        warnings.warn(f"{method}: skipped layers {sorted(skipped)} whose weights do not match "
                      "the file")
    for (layer_path, _, _, var), value in zip(ours, values):
        if layer_path not in skipped:
            var.assign(value)


def _entry_mismatch(entry, layer, short, var):
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or \
            not isinstance(entry.get("shape"), list):
        return f"bad weights.json entry {_short(entry)}"
    if entry.get("class_name") != type(layer).__name__ or entry.get("name") != short:
        return (f"the file has weight {entry.get('name')!r} of a {entry.get('class_name')} "
                f"layer ({entry.get('layer')!r})")
    shape, dtype = tuple(entry["shape"]), entry.get("dtype")
    if shape != var.shape or dtype != var.dtype.name:
        return (f"the file has shape {shape} {dtype}, the model expects {var.shape} "
                f"{var.dtype.name}")
    return None


def _restore_training(model, training, compile_config, archive, path, custom_objects=None):
    from brisknn import optimizers
    where = f"load_model({path})"
    if not isinstance(training, dict):
        raise ValueError(f"{where}: training.json must hold an object")
    seed = training.get("seed")
    if seed is not None and (type(seed) is not int or not 0 <= seed < 2**63):
        raise ValueError(f"{where}: bad training seed {_short(seed)}")
    model._train_seed = seed
    _restore_generators(model, training.get("generators") or [], where)
    if compile_config is None:
        return
    try:
        optimizer = optimizers.deserialize(compile_config["optimizer"])
        loss = compile_config["loss"]
        loss = None if loss is None else _deserialize_loss(loss, where, custom_objects)
        metrics = [_deserialize_metric(m, where, custom_objects)
                   for m in compile_config.get("metrics") or []]
        weighted = [_deserialize_metric(m, where, custom_objects)
                    for m in compile_config.get("weighted_metrics") or []]
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                      weighted_metrics=weighted or None,
                      loss_weights=compile_config.get("loss_weights"))
    except (KeyError, TypeError, ValueError, AttributeError, NotImplementedError) as e:
        raise ValueError(f"{where}: bad compile configuration: {e}") from e
    opt = training.get("optimizer")
    if opt is None:
        return
    if not isinstance(opt, dict) or opt.get("class_name") != type(optimizer).__name__ or \
            not isinstance(opt.get("state"), list):
        raise ValueError(f"{where}: the optimizer state in training.json does not match the "
                         f"compiled {type(optimizer).__name__}")
    weights = model.weights
    state = {}
    for item in opt["state"]:
        key = item.get("key") if isinstance(item, dict) else None
        shape, dtype = _state_spec(key, weights, where)
        state[key] = archive.array(item.get("file"), shape, dtype)
    try:
        optimizer.set_state(state, weights)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from e


def _state_spec(key, weights, where):
    if key == "iterations":
        return (), np.dtype(np.int64)
    if key in ("learning_rate", "u_product"):  # u_product: Nadam's schedule product
        return (), np.dtype(np.float64)
    match = re.fullmatch(r"(\d+)/\w+", key) if isinstance(key, str) else None
    if not match or int(match[1]) >= len(weights):
        raise ValueError(f"{where}: unexpected optimizer state key {_short(key)} for a model "
                         f"of {len(weights)} weights")
    var = weights[int(match[1])]
    return var.shape, var.dtype


def _restore_generators(model, states, where):
    layers = dict(_all_layers(model))
    for item in states:
        try:
            layer = layers[item["layer"]]
            generator = vars(layer)[item["attribute"]]
            if not isinstance(generator, np.random.Generator):
                raise KeyError(item["attribute"])
            generator.bit_generator.state = item["state"]
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise ValueError(f"{where}: cannot restore the random generator state "
                             f"{_short(item)}: {e!r}") from e


# -- the archive ---------------------------------------------------------------------------
class _Archive:
    """Reads one brisknn zip; every failure becomes a ValueError naming the file and member."""

    _ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError,
               NotImplementedError, RuntimeError, struct.error, OSError)

    def __init__(self, path):
        self.path = path
        if not os.path.exists(path):
            raise ValueError(f"File not found: filepath={path}")
        try:
            self.zip = zipfile.ZipFile(path)
        except self._ERRORS as e:
            raise ValueError(f"{path}: not a brisknn file (not a valid zip archive, perhaps "
                             f"truncated or corrupted): {e}") from e
        self.members = {info.filename: info for info in self.zip.infolist()}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zip.close()

    def _info(self, name):
        info = self.members.get(name)
        if info is None:
            raise ValueError(f"{self.path}: the member {name!r} is missing (found "
                             f"{_summary(sorted(self.members))})")
        return info

    def json(self, name):
        info = self._info(name)
        if info.file_size > _MAX_JSON_BYTES:
            raise ValueError(f"{self.path}: {name} is implausibly large ({info.file_size} bytes)")
        try:
            return json.loads(self.zip.read(info).decode("utf-8"))
        except self._ERRORS as e:
            raise ValueError(f"{self.path}: cannot read {name} (corrupted?): {e}") from e
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise ValueError(f"{self.path}: {name} is not valid JSON: {e}") from e

    def weight_values_bound(self):
        """At most how many float values the weights/ members can hold (4 bytes or more each):
        from their stored sizes, which a compressed member may exceed by zlib's ratio at most,
        and never more than that ratio times the file itself."""
        stored = sum(min(info.file_size, info.compress_size * _MAX_ZIP_RATIO)
                     for name, info in self.members.items() if name.startswith("weights/"))
        return min(stored, os.path.getsize(self.path) * _MAX_ZIP_RATIO) // 4

    def metadata(self):
        meta = self.json("metadata.json")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{self.path}: not a brisknn file (metadata.json format is "
                             f"{_short(meta.get('format') if isinstance(meta, dict) else meta)}"
                             f", expected {FORMAT!r})")
        version = meta.get("format_version")
        if type(version) is not int or version != FORMAT_VERSION:
            raise ValueError(f"{self.path}: format version {version!r} is not supported (this "
                             f"brisknn reads version {FORMAT_VERSION}; the file was written by "
                             f"brisknn {meta.get('brisknn_version')!r})")
        if meta.get("kind") not in ("model", "weights"):
            raise ValueError(f"{self.path}: unknown kind {meta.get('kind')!r} in metadata.json")
        return meta

    def array(self, name, shape, dtype):
        """The .npy member `name`, which must hold exactly `shape` and `dtype`; checked from the
        header before any data is read."""
        from brisknn.datasets import _npy
        if not isinstance(name, str) or not _MEMBER.fullmatch(name):
            raise ValueError(f"{self.path}: bad array member name {_short(name)}")
        info = self._info(name)
        label = f"{self.path}[{name}]"
        try:
            with self.zip.open(info) as stream:
                found, found_shape, fortran, offset = _npy._read_header(stream, label, False)
                if found_shape != tuple(shape) or found != dtype:
                    raise ValueError(f"{label}: holds shape {found_shape} {found}, expected "
                                     f"{tuple(shape)} {np.dtype(dtype).name}")
                if info.file_size != offset + found.itemsize * _npy._product(found_shape):
                    raise ValueError(f"{label}: the member has {info.file_size} bytes, shape "
                                     f"{found_shape} {found} needs "
                                     f"{offset + found.itemsize * _npy._product(found_shape)}")
                out = np.empty(_npy._product(found_shape), dtype=found)
                _npy._readinto_exact(stream, out.view(np.uint8), label)
                if stream.read(1):
                    raise ValueError(f"{label}: trailing bytes after the array data")
        except self._ERRORS as e:
            raise ValueError(f"{label}: cannot read (corrupted or truncated): {e}") from e
        return out.reshape(found_shape, order="F" if fortran else "C").copy(order="C")


# -- writing -------------------------------------------------------------------------------
def _write_zip_atomically(path, members):
    """Writes (name, bytes or array) members to a temp file beside `path`, fsyncs it and renames
    it over `path`; on any failure the temp file is removed and `path` is left as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
                for name, data in members:
                    if isinstance(data, bytes):
                        archive.writestr(name, data)
                    else:
                        _write_array(archive, name, data)
            f.flush()
            # mkstemp creates the file 0600; give it the mode a plain open() would have.
            os.chmod(tmp, 0o666 & ~_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def _write_array(archive, name, value):
    value = np.asarray(value)
    if not value.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
        value = value.copy(order="C")
    with archive.open(name, "w", force_zip64=value.nbytes > (1 << 30)) as stream:
        np.lib.format.write_array(stream, value, allow_pickle=False)


def _umask():
    # Linux reports it without changing it; elsewhere set-and-restore (briefly process-wide).
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder):
    # Makes the rename itself durable; not possible on every platform, hence best effort.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_bytes(obj):
    return json.dumps(obj, indent=1, default=_json_default).encode("utf-8")


def _json_default(obj):
    # NumPy scalars and arrays (e.g. in a generator's state or a config) as plain JSON.
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    if callable(obj):  # a function given as a constraint, say: JSON holds data, not code
        raise ValueError(f"save: cannot write the function {_short(obj)} as JSON; give a "
                         "layer's constraint as a brisknn.constraints.Constraint subclass with "
                         "get_config (loaded through custom_objects)")
    raise TypeError(f"save: cannot write {type(obj).__name__} {_short(obj)} as JSON")


# -- small helpers -------------------------------------------------------------------------
def _path(filepath, suffixes, method, what):
    try:
        path = os.fspath(filepath)
    except TypeError:
        raise TypeError(f"{method}: expected a file path, got {filepath!r}") from None
    if not isinstance(path, str):
        path = os.fsdecode(path)
    if not path.endswith(suffixes):
        raise ValueError(f"{method}: expected {what}; received filepath={path}")
    return path


def _may_write(path, overwrite):
    if overwrite or not os.path.exists(path):
        return True
    # Keras asks before overwriting when overwrite=False.
    answer = input(f"[WARNING] {path} already exists - overwrite? [y/n]").strip().lower()
    while answer not in ("y", "n"):
        answer = input('Enter "y" (overwrite) or "n" (cancel).').strip().lower()
    return answer == "y"


def _short(value, limit=120):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _summary(names, limit=8):
    names = list(names)
    shown = ", ".join(str(n) for n in names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}]"
