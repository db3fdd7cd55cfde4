// 2-D convolution over NHWC images (batch, height, width, channels) with Keras kernels
// (k_h, k_w, in_c, out_c), as im2col + GEMM. Also the window geometry pooling shares.
#pragma once
#include "brisknn/activation.h"
#include "brisknn/parallel.h"

namespace brisknn {

// One spatial axis of a sliding window: Keras/TF 'valid' keeps full windows only; 'same' gives
// out = ceil(in / stride) with the odd padding row/column at the end (bottom/right). A dilated
// window takes every `dilation`-th position: kernel taps spanning (kernel - 1) * dilation + 1.
struct WindowAxis {
  Index in, kernel, stride, pad_before, out;
  Index dilation = 1;
  Index span() const { return (kernel - 1) * dilation + 1; }  // the effective kernel
};

// Returns false when a 'valid' window does not fit (span > in): no output at all. The caller
// checks that (kernel - 1) * dilation does not overflow (see window_span_fits).
bool window_axis(Index in, Index kernel, Index stride, bool same, WindowAxis* axis,
                 Index dilation = 1);

// Whether (kernel - 1) * dilation + 1 fits in an Index, for kernel, dilation >= 1.
bool window_span_fits(Index kernel, Index dilation);

// groups > 1 (Keras' Conv2D(groups=g)): input channels [g * in_c / groups, ...) meet output
// channels [g * out_c / groups, ...) only, through a kernel (k_h, k_w, in_c / groups, out_c).
struct Conv2DShape {
  Index batch, in_c, out_c;
  WindowAxis h, w;
  Index groups = 1;
  Index group_in() const { return in_c / groups; }
  Index group_out() const { return out_c / groups; }
  Index patch() const { return h.kernel * w.kernel * group_in(); }  // one group's kernel rows
  Index col_width() const { return patch() * groups; }  // im2col row: every group's patch
  Index pixels() const { return h.out * w.out; }              // output positions per image
  bool pointwise() const {  // 1x1, stride 1: x already is the im2col matrix
    return h.kernel == 1 && w.kernel == 1 && h.stride == 1 && w.stride == 1;
  }
};

// Images per GEMM block: a function of the shape only, so every thread count computes the same
// products in the same order (bitwise-equal results).
Index conv2d_block_images(const Conv2DShape& s);

// Elements of T the workspace needs to run on `threads` threads (forward or backward). A larger
// workspace is fine; a smaller one that still fits one thread runs on fewer threads.
Index conv2d_workspace_size(const Conv2DShape& s, bool backward, Index threads);

// y (batch, out_h, out_w, out_c) = act(conv(x (batch, in_h, in_w, in_c), kernel) + bias);
// bias (out_c) may be null. workspace: at least conv2d_workspace_size(s, false, 1) elements.
template <class T>
void conv2d_forward(T* y, const T* x, const T* kernel, const T* bias, const Conv2DShape& s,
                    Activation act, T alpha, T* workspace, Index workspace_size);

// From dy = dL/dy (batch, out_h, out_w, out_c) and the forward output y (unused for Linear),
// with dz = dy * act'(y): dx = conv^T(dz) (overwritten), dkernel += x (*) dz, dbias += sum dz.
// Any of dx, dkernel, dbias may be null to skip it. With act Linear, dy is dz.
// workspace: at least conv2d_workspace_size(s, true, 1) elements.
template <class T>
void conv2d_backward(T* dx, T* dkernel, T* dbias, const T* dy, const T* y, Activation act,
                     T alpha, const T* x, const T* kernel, const Conv2DShape& s, T* workspace,
                     Index workspace_size);

// Keras' DepthwiseConv2D on the same geometry (s.in_c = C, s.out_c = C * M, s.groups = C):
// y (batch, out_h, out_w, C * M) = act(bias + sum over taps of x[c] * kernel[i, j, c, m]) at
// output channel c * M + m, kernel (k_h, k_w, C, M). Direct: per output pixel, each tap is one
// multiply-add over the C * M channels, contiguous in both x and the kernel. OpenMP over images.
template <class T>
void depthwise_conv2d_forward(T* y, const T* x, const T* kernel, const T* bias,
                              const Conv2DShape& s, Activation act, T alpha);

// From dy and the forward output y (dz = dy * act'(y); y unused for Linear): dx overwritten,
// dkernel and dbias accumulated (+=); any may be null. Images in fixed blocks, each block's
// kernel and bias gradients summed in block order: the same bits on any thread count.
template <class T>
void depthwise_conv2d_backward(T* dx, T* dkernel, T* dbias, const T* dy, const T* y,
                               Activation act, T alpha, const T* x, const T* kernel,
                               const Conv2DShape& s);

}  // namespace brisknn
