"""Convolution and pooling as NumPy-in / NumPy-out functions, on NHWC images (batch, height,
width, channels) and Keras kernels (k_h, k_w, in_channels, out_channels); plus 2-D `convolve2d` /
`correlate2d` matching scipy.signal, computed with the same kernel.
"""
import numpy as np

from brisknn import _core
from brisknn.ops.core import as_float

__all__ = [
    "conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
    "avg_pool2d_backward", "convolve2d", "correlate2d",
]


# -- argument normalisation shared with brisknn.layers.conv / pooling ----------------------------
def normalize_pair(value, name, where):
    """An int or a pair of ints, as Keras accepts for kernel_size, strides, pool_size."""
    return normalize_tuple(value, 2, name, where)


def normalize_tuple(value, rank, name, where):
    """An int or `rank` ints (a pair for 2-D layers, one int for 1-D ones), all positive."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * rank
    else:
        try:
            values = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            values = ()
        if len(values) != rank or any(isinstance(v, bool) for v in value):
            what = "a pair of ints" if rank == 2 else f"a tuple of {rank} int(s)"
            raise ValueError(f"{where}: {name} must be an int or {what}, got {value!r}")
    if min(values) < 1:
        raise ValueError(f"{where}: {name} must be positive, got {value!r}")
    return values


def normalize_padding(padding, where, allowed=("valid", "same")):
    p = str(padding).lower()
    if p not in allowed:
        choices = ", ".join(repr(a) for a in allowed[:-1]) + f" or {allowed[-1]!r}"
        raise ValueError(f"{where}: padding must be {choices}, got {padding!r}")
    return p


def window_output_shape(input_shape, window, strides, padding, where, what, dilation=(1, 1)):
    """(out_h, out_w) of a window sliding over input_shape (batch, h, w, c); None stays None.
    Raises ValueError naming `where` when a 'valid' window (described by `what`) does not fit.
    A dilated window spans (k - 1) * d + 1 positions (Keras' output size)."""
    if len(input_shape) != 4:
        raise ValueError(f"{where}: expected a 4-D input (batch, height, width, channels), got "
                         f"shape {tuple(input_shape)}")
    out = []
    for size, k, s, d in zip(input_shape[1:3], window, strides, dilation):
        n = None if size is None else _core.window_output_length(size, k, s, padding, d)
        if n == 0:
            if tuple(dilation) != (1, 1):
                what = (f"{what} with dilation_rate {tuple(dilation)} (spanning "
                        f"{tuple((kk - 1) * dd + 1 for kk, dd in zip(window, dilation))})")
            raise ValueError(f"{where}: {what} is larger than the input of shape "
                             f"{tuple(input_shape)} with padding='valid'")
        out.append(n)
    return tuple(out)


def conv2d_output_shape(input_shape, kernel_shape, strides, padding, where="conv2d",
                        dilation_rate=(1, 1), groups=1):
    """(batch, out_h, out_w, filters) for x of input_shape and a kernel of kernel_shape
    (k_h, k_w, in_channels / groups, filters)."""
    kernel_shape = tuple(kernel_shape)
    if len(kernel_shape) != 4:
        raise ValueError(f"{where}: kernel must be 4-D (k_h, k_w, in_channels, filters), got "
                         f"shape {kernel_shape}")
    spatial = window_output_shape(input_shape, kernel_shape[:2], strides, padding, where,
                                  f"kernel of shape {kernel_shape}", dilation_rate)
    if input_shape[3] is not None and input_shape[3] != kernel_shape[2] * groups:
        grouped = f" with groups={groups}" if groups != 1 else ""
        raise ValueError(f"{where}: input of shape {tuple(input_shape)} has {input_shape[3]} "
                         f"channels, the kernel of shape {kernel_shape}{grouped} expects "
                         f"{kernel_shape[2] * groups}")
    if kernel_shape[3] % groups:
        raise ValueError(f"{where}: the kernel of shape {kernel_shape} has {kernel_shape[3]} "
                         f"filters, not divisible by groups={groups}")
    return (input_shape[0],) + spatial + (kernel_shape[3],)


def workspace(buffer, x_shape, kernel_shape, strides, padding, backward, dtype,
              dilation_rate=(1, 1), groups=1):
    """A workspace for conv2d on these shapes: `buffer` when it is large enough, else a new one.
    Keeping the returned array and passing it back makes repeated calls allocation-free."""
    size = _core.conv2d_workspace_size(x_shape, kernel_shape, strides, padding, backward,
                                       dilation_rate, groups)
    if buffer is None or buffer.dtype != dtype or buffer.size < size:
        buffer = np.empty(max(size, 1), dtype=dtype)
    return buffer


def _activation(activation, alpha):
    from brisknn import activations  # activations imports ops: resolve at call time
    name = activations.name_of(activation)
    return name, activations.alpha(name) if alpha is None else float(alpha)


# -- convolution -----------------------------------------------------------------------------
def conv2d(x, kernel, bias=None, strides=1, padding="valid", activation=None, alpha=None,
           dilation_rate=1, groups=1):
    """activation(conv(x, kernel) + bias): x (batch, height, width, in_channels), kernel
    (k_h, k_w, in_channels, filters), bias (filters,) or None; Keras 'valid'/'same' padding;
    `dilation_rate` spaces the kernel taps (an atrous convolution, spanning (k - 1) * d + 1).
    Returns (batch, out_h, out_w, filters). Like Keras (and every DL library) this is a
    cross-correlation: the kernel is not flipped. With groups > 1 the kernel is
    (k_h, k_w, in_channels / groups, filters) and each group of input channels feeds its
    filters / groups outputs only (Keras' grouped convolution)."""
    x = as_float(x)
    kernel = as_float(kernel, "kernel", x.dtype)
    bias = None if bias is None else as_float(bias, "bias", x.dtype)
    strides = normalize_pair(strides, "strides", "conv2d")
    padding = normalize_padding(padding, "conv2d")
    dilation = normalize_pair(dilation_rate, "dilation_rate", "conv2d")
    name, alpha = _activation(activation, alpha)
    y = np.empty(conv2d_output_shape(x.shape, kernel.shape, strides, padding, "conv2d",
                                     dilation, groups), dtype=x.dtype)
    ws = workspace(None, x.shape, kernel.shape, strides, padding, False, x.dtype, dilation,
                   groups)
    _core.conv2d_forward(x, kernel, bias, y, ws, strides, padding, name, alpha, dilation, groups)
    return y


def conv2d_backward(dy, x, kernel, strides=1, padding="valid", y=None, activation=None,
                    alpha=None, dilation_rate=1, groups=1):
    """(dx, dkernel, dbias) from dy (batch, out_h, out_w, filters). Without an activation dy
    is the gradient with respect to conv(x, kernel) + bias; with one, dy is the gradient with
    respect to y = conv2d(x, kernel, bias, ..., activation), and y must be given."""
    x = as_float(x)
    kernel = as_float(kernel, "kernel", x.dtype)
    dy = as_float(dy, "dy", x.dtype)
    y = None if y is None else as_float(y, "y", x.dtype)
    strides = normalize_pair(strides, "strides", "conv2d_backward")
    padding = normalize_padding(padding, "conv2d_backward")
    dilation = normalize_pair(dilation_rate, "dilation_rate", "conv2d_backward")
    name, alpha = _activation(activation, alpha)
    conv2d_output_shape(x.shape, kernel.shape, strides, padding, "conv2d_backward", dilation,
                        groups)
    dx = np.empty_like(x)
    dkernel = np.zeros_like(kernel)
    dbias = np.zeros(kernel.shape[3:], dtype=x.dtype)
    ws = workspace(None, x.shape, kernel.shape, strides, padding, True, x.dtype, dilation, groups)
    _core.conv2d_backward(dy, x, kernel, dx, dkernel, dbias, ws, strides, padding, y, name, alpha,
                          dilation, groups)
    return dx, dkernel, dbias


# -- pooling ---------------------------------------------------------------------------------
def _pool_args(x, pool_size, strides, padding, where):
    pool_size = normalize_pair(pool_size, "pool_size", where)
    strides = pool_size if strides is None else normalize_pair(strides, "strides", where)
    padding = normalize_padding(padding, where)
    out = window_output_shape(x.shape, pool_size, strides, padding, where,
                              f"pool_size {pool_size}")
    return pool_size, strides, padding, (x.shape[0],) + out + (x.shape[3],)


def max_pool2d(x, pool_size=2, strides=None, padding="valid", return_argmax=False):
    """Window maxima of x (batch, height, width, channels); strides default to pool_size.
    With return_argmax, also the int32 positions (h * width + w) max_pool2d_backward needs."""
    x = as_float(x)
    pool_size, strides, padding, shape = _pool_args(x, pool_size, strides, padding, "max_pool2d")
    y = np.empty(shape, dtype=x.dtype)
    argmax = np.empty(shape, dtype=np.int32) if return_argmax else None
    _core.max_pool2d_forward(x, y, argmax, pool_size, strides, padding)
    return (y, argmax) if return_argmax else y


def max_pool2d_backward(dy, argmax, input_shape):
    """dx of input_shape: dy routed to the maxima max_pool2d(..., return_argmax=True) found."""
    dy = as_float(dy, "dy")
    dx = np.empty(tuple(input_shape), dtype=dy.dtype)
    _core.max_pool2d_backward(dy, np.ascontiguousarray(argmax), dx)
    return dx


def avg_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Window means of x (batch, height, width, channels); 'same' padding is not counted."""
    x = as_float(x)
    pool_size, strides, padding, shape = _pool_args(x, pool_size, strides, padding, "avg_pool2d")
    y = np.empty(shape, dtype=x.dtype)
    _core.avg_pool2d_forward(x, y, pool_size, strides, padding)
    return y


def avg_pool2d_backward(dy, input_shape, pool_size=2, strides=None, padding="valid"):
    """dx of input_shape: each dy shared evenly over its window's non-padding positions."""
    dy = as_float(dy, "dy")
    dx = np.empty(tuple(input_shape), dtype=dy.dtype)
    pool_size, strides, padding, shape = _pool_args(dx, pool_size, strides, padding,
                                                    "avg_pool2d_backward")
    _core.avg_pool2d_backward(dy, dx, pool_size, strides, padding)
    return dx


# -- scipy.signal-compatible 2-D convolution -------------------------------------------------
_BOUNDARY = {"fill": "constant", "pad": "constant", "wrap": "wrap", "circular": "wrap",
             "symm": "symmetric", "symmetric": "symmetric"}


def _filter2d(fn, in1, in2, mode, boundary, fillvalue, flip):
    in1, in2 = np.asarray(in1), np.asarray(in2)
    if in1.ndim != 2 or in2.ndim != 2:
        raise ValueError(f"{fn}: inputs must both be 2-D arrays, got shapes {in1.shape} and "
                         f"{in2.shape}")
    if in1.size == 0 or in2.size == 0:
        raise ValueError(f"{fn}: inputs must not be empty, got shapes {in1.shape} and {in2.shape}")
    if mode not in ("full", "valid", "same"):
        raise ValueError(f"{fn}: mode must be 'full', 'valid' or 'same', got {mode!r}")
    if boundary not in _BOUNDARY:
        raise ValueError(f"{fn}: boundary must be one of {sorted(_BOUNDARY)}, got {boundary!r}")
    out_dtype = np.result_type(in1, in2)
    if out_dtype.kind not in "biuf":
        raise TypeError(f"{fn}: expected real numeric inputs, got {in1.dtype} and {in2.dtype}")
    work = np.float32 if out_dtype in (np.float16, np.float32) else np.float64
    swapped = mode == "valid" and _valid_swap(fn, in1.shape, in2.shape)
    if swapped:  # as scipy: 'valid' with the kernel larger in every dimension swaps the inputs
        in1, in2 = in2, in1
    image = np.asarray(in1, dtype=work)
    kernel = np.asarray(in2, dtype=work)
    if flip:
        kernel = kernel[::-1, ::-1]
    if mode != "valid":
        image = _pad_for(image, kernel.shape, mode, flip, _BOUNDARY[boundary], fillvalue)
    out = conv2d(image[None, :, :, None], kernel[:, :, None, None])[0, :, :, 0]
    if swapped and not flip:  # scipy's correlate2d returns the swapped correlation reversed
        out = out[::-1, ::-1]
    if out_dtype.kind == "f":
        return out.astype(out_dtype, copy=False)
    return np.rint(out).astype(out_dtype)


def _valid_swap(fn, shape1, shape2):
    if all(a >= b for a, b in zip(shape1, shape2)):
        return False
    if all(b >= a for a, b in zip(shape1, shape2)):
        return True
    raise ValueError(f"{fn}: for 'valid' mode, one input must be at least as large as the other "
                     f"in every dimension, got shapes {shape1} and {shape2}")


def _pad_for(image, kernel_shape, mode, flip, np_mode, fillvalue):
    # 'full' pads k - 1 on both sides. 'same' keeps the input size, centred as scipy does: the
    # 'full' output from offset (k - 1) // 2 for convolve2d and k // 2 for correlate2d.
    pads = []
    for k in kernel_shape:
        if mode == "full":
            pads.append((k - 1, k - 1))
        else:
            before = k // 2 if flip else (k - 1) // 2
            pads.append((before, k - 1 - before))
    if np_mode == "constant":
        return np.pad(image, pads, mode="constant", constant_values=fillvalue)
    return np.pad(image, pads, mode=np_mode)


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """2-D convolution of in1 with in2, as scipy.signal.convolve2d (same arguments, results,
    shapes and dtype for real inputs)."""
    return _filter2d("convolve2d", in1, in2, mode, boundary, fillvalue, flip=True)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """2-D cross-correlation of in1 with in2, as scipy.signal.correlate2d."""
    return _filter2d("correlate2d", in1, in2, mode, boundary, fillvalue, flip=False)
