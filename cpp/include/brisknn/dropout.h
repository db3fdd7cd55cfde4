// Inverted dropout: kept units are scaled by 1/(1 - rate) in training so inference is a no-op.
#pragma once
#include <cstdint>

#include "brisknn/parallel.h"

namespace brisknn {

// y (n) = x * mask / (1 - rate); mask (n) records which units were kept (1) or dropped (0).
// The mask depends only on (seed, element index): the same seed gives the same mask on any
// number of threads.
template <class T>
void dropout_forward(T* y, uint8_t* mask, const T* x, Index n, double rate, uint64_t seed);

// dx (n) = dy * mask / (1 - rate); dx may be dy.
template <class T>
void dropout_backward(T* dx, const T* dy, const uint8_t* mask, Index n, double rate);

}  // namespace brisknn
