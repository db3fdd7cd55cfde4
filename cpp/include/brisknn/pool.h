// 2-D max and average pooling over NHWC images (batch, height, width, channels), Keras semantics:
// 'same' padding never contributes (max ignores it, average divides by the valid count).
#pragma once
#include <cstdint>

#include "brisknn/conv.h"

namespace brisknn {

struct Pool2DShape {
  Index batch, channels;
  WindowAxis h, w;  // kernel = pool size
};

// y (batch, out_h, out_w, channels) = the window maxima; argmax (same shape as y, may be null)
// receives each maximum's input position h * in_w + w (the first one on ties).
template <class T>
void max_pool2d_forward(T* y, std::int32_t* argmax, const T* x, const Pool2DShape& s);

// dx (batch, in_h, in_w, channels) = dy scattered to the argmax positions (overwritten).
// argmax values must lie in [0, in_h * in_w).
template <class T>
void max_pool2d_backward(T* dx, const T* dy, const std::int32_t* argmax, const Pool2DShape& s);

// y = the mean over each window's non-padding positions.
template <class T>
void avg_pool2d_forward(T* y, const T* x, const Pool2DShape& s);

// dx = dy shared evenly over each window's non-padding positions (overwritten).
template <class T>
void avg_pool2d_backward(T* dx, const T* dy, const Pool2DShape& s);

}  // namespace brisknn
