// A training step's forward and backward pass through a chain of Dense layers and its loss in
// one call: the kernels of dense.h and loss.h, in the order the Python layers would call them
// (so the same bits), without Python between them.
#pragma once
#include <cstdint>

#include "brisknn/activation.h"
#include "brisknn/loss.h"
#include "brisknn/parallel.h"

namespace brisknn {

template <class T>
struct DenseChainLayer {
  const T* kernel;  // (in, out)
  const T* bias;    // (out,) or null
  T* dkernel;       // added into
  T* dbias;         // added into; null without a bias
  T* y;             // (batch, out): the layer's output
  T* dx;            // (batch, in): the gradient of its input; null for the first layer
  Index in, out;
  Activation act;
  T alpha;
};

// Forward from x (batch, layers[0].in) through the layers; then, unless the first layer's
// product was not finite and stop_if_not_finite, the loss of the last output (per_sample, and
// grad = scale * its gradient) and the backward pass. Returns whether the first product was
// finite; *bad_label is the loss kernel's first label outside the classes, or -1.
template <class T>
bool dense_chain_step(const T* x, Index batch, const DenseChainLayer<T>* layers, Index count,
                      const T* y_true, const int64_t* labels, T* per_sample, T* grad, Loss loss,
                      bool from_logits, T scale, bool stop_if_not_finite, Index* bad_label);

}  // namespace brisknn
