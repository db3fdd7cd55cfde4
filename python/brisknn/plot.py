"""Figures with matplotlib (the optional `plot` extra: pip install "brisknn[plot]").

Every function returns the matplotlib Figure and, given `path`, saves it as a PNG. They work
headless: the Agg backend is chosen when no display is available.
"""
import os


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("brisknn.plot needs matplotlib: pip install 'brisknn[plot]'") from None
    if not os.environ.get("DISPLAY") and matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


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
        axis.legend()
    return _finish(fig, path)
