"""The text of model.summary(), laid out as Keras 3's summary_utils.print_summary lays out a
Sequential's (keras/src/utils/summary_utils.py), in plain ruled lines."""
import re

from brisknn.layers.base import _shape_str


def summary_text(model, line_length, positions, expand_nested, show_trainable, layer_range):
    # Keras 3's print_summary for a Sequential: columns at positions [0.45, 0.80, 1.0] of the
    # line, shrunk by 0.9 to make room for a centred Trainable column.
    width = line_length or (100 if show_trainable else 65)  # Keras: 88 + 12 with the column
    positions = list(positions or [0.45, 0.80, 1.0])
    header = ["Layer (type)", "Output Shape", "Param #"]
    if show_trainable:
        positions = [p * 0.90 for p in positions[:3]] + [1.0]
        header.append("Trainable")
    cols, current = [], 0
    for pos in positions:
        cols.append(int(pos * width) - current)
        current += cols[-1]
        if cols[-1] < 4:
            raise ValueError("Insufficient console width to print summary.")

    def row(fields):
        # A name or shape wider than its column keeps one space before the next (Keras' table
        # wraps it instead).
        aligned = [f"{fields[0]:<{max(cols[0], len(fields[0]) + 1)}}",
                   f"{fields[1]:<{max(cols[1], len(fields[1]) + 1)}}", f"{fields[2]:>{cols[2]}}"]
        if show_trainable:
            aligned.append(f" {fields[3]:^{cols[3] - 1}}")
        return "".join(aligned)

    def rows(layer, level):
        prefix = "   " * level + "\u2514 " if level else ""
        # An unbuilt layer shows Keras' "0 (unbuilt)" (count_params would raise).
        if getattr(layer, "is_input_marker", False):  # a functional model's InputLayer
            fields = [f"{prefix}{layer.name} (InputLayer)", _shape_str(layer.shape), "0"]
        else:
            fields = [f"{prefix}{layer.name} ({type(layer).__name__})",
                      _shape_str(layer.output_shape) if layer.built and layer.output_shape
                      else "?", f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"]
        if show_trainable:
            fields.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        out = [row(fields)]
        if expand_nested and getattr(layer, "layers", None):  # a nested model, as Keras
            for inner in layer.layers:
                out += rows(inner, level + 1)
        return out

    lines = [f'Model: "{model.name}"', "_" * width, row(header), "=" * width]
    layers = model.layers
    first, last = _layer_range(layers, layer_range)
    for i, layer in enumerate(layers[first:last]):
        lines += rows(layer, 0)
        lines.append(("=" if i == last - first - 1 else "_") * width)
    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    counts = [(sum(w.value.size for w in ws), sum(w.value.nbytes for w in ws))
              for ws in (trainable, non_trainable)]
    optimizer = model.optimizer if model.compiled else None
    extra = optimizer._summary_sizes() if optimizer is not None and optimizer.built else None
    total = [sum(c[i] for c in counts + ([extra] if extra else [])) for i in (0, 1)]
    lines += [f" Total params: {total[0]:,} ({_readable_size(total[1])})",
              f" Trainable params: {counts[0][0]:,} ({_readable_size(counts[0][1])})",
              f" Non-trainable params: {counts[1][0]:,} ({_readable_size(counts[1][1])})"]
    if extra:
        lines.append(f" Optimizer params: {extra[0]:,} ({_readable_size(extra[1])})")
    return "\n".join(lines)


def _readable_size(size):
    # Keras' readable_memory_size: powers of 1024, two decimals.
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _layer_range(layers, layer_range):
    """Keras' get_layer_index_bound_by_layer_name: [first, last + 1) of the layers whose names
    match the two regular expressions."""
    if layer_range is None:
        return 0, len(layers)
    if len(layer_range) != 2:
        raise ValueError("layer_range must be a list or tuple of length 2. Received: "
                         f"layer_range = {layer_range} of length {len(layer_range)}")
    if not all(isinstance(name, str) for name in layer_range):
        raise ValueError(f"layer_range should contain string type only. Received: {layer_range}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError("Passed layer_names do not match the layer names in the model. "
                         f"Received: {layer_range}")
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1
