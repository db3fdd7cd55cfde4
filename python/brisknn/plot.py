"""Figures with matplotlib (the optional `plot` extra: pip install "brisknn[plot]").

One function per figure of the seed slideshow. Each returns the matplotlib Figure and, given
`path`, also saves it (a PNG unless the name ends in another format matplotlib writes), atomically:
the file appears complete or not at all. matplotlib is imported on first use and its backend is
left as the user configured it; without a display matplotlib picks Agg by itself.
"""
import math
import os
import secrets

import numpy as np

__all__ = ["history", "model", "activations", "losses", "regularized_loss", "optimizer_paths",
           "conv_kernels", "feature_maps", "hidden_states", "save"]

_PRETTY = {"relu": "ReLU", "leaky_relu": "Leaky ReLU", "elu": "ELU", "tanh": "Tanh",
           "sigmoid": "Sigmoid", "softplus": "Softplus", "linear": "Linear",
           "mse": "MSE", "mean_squared_error": "MSE", "mae": "MAE",
           "mean_absolute_error": "MAE", "binary_crossentropy": "Cross-Entropy",
           "bce": "Cross-Entropy"}


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("brisknn.plot needs matplotlib: pip install 'brisknn[plot]'") from None
    return plt


def save(fig, path, dpi=100):
    """Writes `fig` to `path` through a temporary file in the same folder and os.replace, so a
    reader never sees a half-written image. The format follows the extension (PNG if none)."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    fmt = os.path.splitext(name)[1][1:].lower() or "png"
    tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as f:  # a plain open: the file gets the umask's permissions
            fig.savefig(f, format=fmt, dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


# -- slides 14 and 15 ------------------------------------------------------------------------
def history(history, path=None, metric="accuracy"):
    """The seed's training-history figure (slides 14 and 15): the metric and the loss per epoch,
    training and validation. `history` is a History or its `.history` dict."""
    plt = _pyplot()
    logs = getattr(history, "history", history)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    for axis, key, title in ((left, metric, "Model Accuracy"), (right, "loss", "Model Loss")):
        label = "Accuracy" if key == metric else "Loss"
        if key in logs:
            axis.plot(logs[key], label=f"Training {label}")
        if "val_" + key in logs:
            axis.plot(logs["val_" + key], label=f"Validation {label}")
        axis.set_title(title)
        axis.set_xlabel("Epoch")
        axis.set_ylabel(label)
        if axis.get_lines():
            axis.legend()
    return _finish(fig, path)


# -- slide 1: the network diagram ------------------------------------------------------------
def _columns(model):
    """(nodes, label) per column: the input, then each layer that has weights or changes the
    shape; a weightless layer that keeps the shape (Dropout, Activation) joins the previous
    column's label. Nested Sequentials are drawn layer by layer."""
    if getattr(model, "_input_shape", None) is None:
        raise ValueError(f"plot.model: model {model.name!r} is not built; give its first layer "
                         "an input_shape (or start it with Input(shape)) or call build()")
    shape = tuple(model.input_shape)
    columns = [[shape[-1], [f"input\n{_shape(shape)}"]]]
    for layer in _flat_layers(model):
        out = tuple(layer.output_shape)
        if not layer.weights and out == shape:
            columns[-1][1].append(f"+ {layer.name}")
            continue
        units = getattr(layer, "units", None) or getattr(layer, "filters", None)
        size = f"{units} units" if units and len(out) == 2 else _shape(out)
        columns.append([out[-1], [f"{layer.name}\n{type(layer).__name__}\n{size}"]])
        shape = out
    return [(n, "\n".join(label)) for n, label in columns]


def _flat_layers(model):
    for layer in model.layers:
        if getattr(layer, "is_input_marker", False):  # a functional model's: no layer to draw
            continue
        if hasattr(layer, "layers"):
            yield from _flat_layers(layer)
        else:
            yield layer


def _shape(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _node_positions(count, max_nodes):
    """y of each drawn node, centred on 0, and the y of the ellipsis (None if all are drawn).
    A wide layer shows its first max_nodes - 2 nodes, a gap with an ellipsis, and its last."""
    slots = min(count, max_nodes)
    ys = [(slots - 1) / 2 - i for i in range(slots)]
    if count <= max_nodes:
        return ys, None
    return ys[:-2] + ys[-1:], ys[-2]


def model(model, path=None, max_nodes=10, title=None):
    """The network diagram of slide 1 from a built model's real sizes: one column of nodes per
    layer (the last dimension of its output: units, filters or features), edges between
    consecutive columns, and each column labelled with the layer's name, type and size."""
    if max_nodes < 3:
        raise ValueError(f"plot.model: max_nodes must be at least 3, got {max_nodes}")
    plt = _pyplot()
    from matplotlib.collections import LineCollection
    columns = _columns(model)
    fig, ax = plt.subplots(figsize=(max(6, 2.5 * len(columns)), 6))
    previous = None
    top = max(min(n, max_nodes) for n, _ in columns) / 2
    for x, (count, label) in enumerate(columns):
        ys, gap = _node_positions(count, max_nodes)
        if previous is not None:
            segments = [[(x - 1, y0), (x, y1)] for y0 in previous for y1 in ys]
            ax.add_collection(LineCollection(segments, colors="tab:blue", linewidths=0.6,
                                             alpha=0.5, zorder=1))
        ax.scatter([x] * len(ys), ys, s=400, c="white", edgecolors="black", zorder=2)
        if gap is not None:
            ax.text(x, gap, "\u22ee", ha="center", va="center", fontsize=18)
        ax.text(x, top + 0.3, label, ha="center", va="bottom", fontsize=9)
        previous = ys
    sizes = "-".join(str(n) for n, _ in columns)
    ax.set_title(title or f"{model.name}: {sizes}")
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.set_ylim(-top - 0.5, top + 1.8)
    ax.axis("off")
    return _finish(fig, path)


# -- slide 2: activations --------------------------------------------------------------------
def activations(names=("sigmoid", "tanh", "relu"), x=None, path=None):
    """Slide 2: the named activations over x (default 200 points in [-5, 5]), each computed by
    brisknn's own kernels."""
    from brisknn import activations as acts, ops
    plt = _pyplot()
    x = np.linspace(-5, 5, 200) if x is None else np.asarray(x, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(12, 4))
    for name in names:
        key = acts.name_of(name)
        if key == "softmax":
            raise ValueError("plot.activations: softmax is not elementwise; plot it per row")
        ax.plot(x, ops.activation(x, key, acts.alpha(key)), label=_PRETTY.get(key, key))
    ax.legend()
    ax.set_title("Common Activation Functions")
    ax.set_xlabel("Input")
    ax.set_ylabel("Output")
    ax.grid(True)
    return _finish(fig, path)


# -- slide 7: losses -------------------------------------------------------------------------
def losses(y_true=(0, 1, 1, 0), y_pred=None, names=("mse", "binary_crossentropy"), path=None):
    """Slide 7: each loss of the targets `y_true` against a constant prediction p, for each p in
    `y_pred` (default 100 points in [0, 1]), computed by brisknn's losses (cross-entropy clips
    probabilities at 1e-7 as Keras does, so it stays finite at 0 and 1)."""
    import copy

    from brisknn import losses as losses_module
    plt = _pyplot()
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.linspace(0, 1, 100) if y_pred is None else np.asarray(y_pred, dtype=np.float64)
    targets = np.broadcast_to(y_true, (p.size, y_true.size))
    predictions = np.repeat(p.reshape(-1, 1), y_true.size, axis=1)
    fig, ax = plt.subplots(figsize=(10, 6))
    for name in names:
        loss = copy.copy(losses_module.loss_object(name))
        loss.reduction = "none"  # one loss per row, from any loss (kernel or NumPy)
        per_p = loss(targets, predictions)
        ax.plot(p, per_p, label=_PRETTY.get(name, name))
    ax.set_xlabel("Predicted Value")
    ax.set_ylabel("Loss")
    ax.set_title("Comparison of Loss Functions")
    ax.legend()
    ax.grid(True)
    return _finish(fig, path)


# -- slide 8: regularization -----------------------------------------------------------------
def regularized_loss(x, y, weights=None, l1=0.1, l2=0.1, path=None):
    """Slide 8: the loss of the one-weight model y = w * x against w (default 100 values in
    [-10, 10]): the mean squared error alone, plus regularizers.L1(l1), plus regularizers.L2(l2).
    """
    from brisknn import losses as losses_module, regularizers
    plt = _pyplot()
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"plot.regularized_loss: x has {x.size} values, y has {y.size}")
    w = np.linspace(-10, 10, 100) if weights is None else np.asarray(weights, dtype=np.float64)
    # One row per candidate weight: the model's predictions for every sample.
    mse = losses_module.mean_squared_error(np.broadcast_to(y, (w.size, y.size)), np.outer(w, x))
    fig, ax = plt.subplots(figsize=(10, 6))
    ax.plot(w, mse, label="No Regularization")
    for name, reg in (("L1", regularizers.L1(l1)), ("L2", regularizers.L2(l2))):
        ax.plot(w, mse + np.array([reg(v) for v in w]), label=f"{name} Regularization")
    ax.set_xlabel("Weight")
    ax.set_ylabel("Loss")
    ax.set_title("Effect of Regularization on Loss")
    ax.legend()
    ax.grid(True)
    return _finish(fig, path)


# -- slide 9: optimizer paths ----------------------------------------------------------------
def optimizer_paths(paths, f=None, xlim=(-5, 5), ylim=(-5, 5), levels=30, path=None):
    """Slide 9: the contours of f(x, y) (default x^2 + y^2; it must accept NumPy arrays) and each
    optimizer's path, `paths` mapping a name to a (steps, 2) array of points."""
    plt = _pyplot()
    f = f or (lambda a, b: a ** 2 + b ** 2)
    grid_x, grid_y = np.meshgrid(np.linspace(*xlim, 100), np.linspace(*ylim, 100))
    fig, ax = plt.subplots(figsize=(10, 8))
    ax.contour(grid_x, grid_y, f(grid_x, grid_y), levels=levels, cmap="viridis", alpha=0.6)
    markers = "osD^v<>"
    for i, (name, points) in enumerate(paths.items()):
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"plot.optimizer_paths: the path of {name!r} must have shape "
                             f"(steps, 2), got {points.shape}")
        # Paths often overlap (from (3, 3) on x^2 + y^2 all run down the diagonal): distinct,
        # shrinking, hollow markers keep each one visible.
        ax.plot(points[:, 0], points[:, 1], "-", marker=markers[i % len(markers)],
                markersize=max(3, 9 - 2 * i), fillstyle="none", label=name)
    ax.set_aspect("equal")
    ax.legend()
    ax.set_title("Optimizer Comparison")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return _finish(fig, path)


# -- slide 10: kernels and feature maps ------------------------------------------------------
def _image_grid(images, titles, suptitle, cmap, path):
    plt = _pyplot()
    cols = min(len(images), max(3, math.ceil(math.sqrt(len(images)))))
    rows = math.ceil(len(images) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap=cmap)
            if titles is not None:
                ax.set_title(titles[i])
    if suptitle:
        fig.suptitle(suptitle)
    return _finish(fig, path)


def _as_images(maps, where):
    """A list of 2-D arrays from a list of them, or one array: (h, w) is one image, (h, w, n)
    n images, (batch, h, w, n) the n images of the first sample."""
    if isinstance(maps, (list, tuple)):
        images = [np.asarray(m) for m in maps]
    else:
        maps = np.asarray(maps)
        if maps.ndim == 4:
            maps = maps[0]
        if maps.ndim == 2:
            images = [maps]
        elif maps.ndim == 3:
            images = [maps[:, :, i] for i in range(maps.shape[2])]
        else:
            raise ValueError(f"{where}: expected (h, w), (h, w, n) or (batch, h, w, n), got "
                             f"shape {maps.shape}")
    for image in images:
        if image.ndim != 2:
            raise ValueError(f"{where}: every image must be 2-D, got shape {image.shape}")
    return images


def conv_kernels(kernel, path=None, max_kernels=64, cmap="gray"):
    """Slide 10: convolution kernels as images. `kernel` is one (k_h, k_w) kernel or a Keras
    Conv2D kernel (k_h, k_w, in_channels, filters), drawn one image per (channel, filter) pair,
    the first `max_kernels` of them."""
    kernel = np.asarray(kernel)
    if kernel.ndim == 2:
        images, titles = [kernel], None
    elif kernel.ndim == 4:
        k_h, k_w, channels, filters = kernel.shape
        pairs = [(c, f) for f in range(filters) for c in range(channels)][:max_kernels]
        images = [kernel[:, :, c, f] for c, f in pairs]
        titles = [f"filter {f}" + (f", channel {c}" if channels > 1 else "") for c, f in pairs]
    else:
        raise ValueError(f"plot.conv_kernels: expected (k_h, k_w) or (k_h, k_w, in_channels, "
                         f"filters), got shape {kernel.shape}")
    return _image_grid(images, titles, "Convolution Kernels", cmap, path)


def feature_maps(maps, titles=None, path=None, max_maps=64, cmap="gray"):
    """Slide 10: images side by side: a list of 2-D arrays (e.g. image, kernel, result), or a
    layer's output (h, w, channels) / (batch, h, w, channels), one image per channel (the first
    sample's, the first `max_maps` channels)."""
    images = _as_images(maps, "plot.feature_maps")[:max_maps]
    if titles is None and not isinstance(maps, (list, tuple)) and len(images) > 1:
        titles = [f"map {i}" for i in range(len(images))]
    if titles is not None and len(titles) < len(images):
        raise ValueError(f"plot.feature_maps: {len(images)} images but {len(titles)} titles")
    return _image_grid(images, titles, None, cmap, path)


# -- slide 11: RNN hidden states -------------------------------------------------------------
def hidden_states(states, path=None):
    """Slide 11: one line per time step, the activation of each hidden unit. `states` is
    (steps, units), a list of per-step state vectors, or (batch, steps, units) (first sample),
    e.g. the output of SimpleRNN(units, return_sequences=True)."""
    plt = _pyplot()
    if isinstance(states, (list, tuple)):
        states = np.stack([np.asarray(s).reshape(-1) for s in states])
    states = np.asarray(states)
    if states.ndim == 3:
        states = states[0]
    if states.ndim != 2:
        raise ValueError(f"plot.hidden_states: expected (steps, units) or (batch, steps, units), "
                         f"got shape {states.shape}")
    fig, ax = plt.subplots(figsize=(10, 6))
    for step, h in enumerate(states):
        ax.plot(h, marker="o", label=f"Time step {step + 1}")
    ax.set_title("RNN Hidden States Over Time")
    ax.set_xlabel("Hidden Unit")
    ax.set_ylabel("Activation")
    ax.set_xticks(range(states.shape[1]))
    ax.legend()
    ax.grid(True)
    return _finish(fig, path)
