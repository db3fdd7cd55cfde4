// Activations y = f(x) and their backward passes. Every derivative is written in terms of the
// output y, so layers keep only y for backward (no pre-activation buffer).
#pragma once
#include <string>

#include "brisknn/parallel.h"

namespace brisknn {

enum class Activation { Linear, Relu, LeakyRelu, Elu, Sigmoid, Tanh, Softplus, Softmax, Relu6,
                        Softsign, HardSigmoid, Exponential, Selu, Gelu, Silu };

// gelu and silu are not monotonic, so their output does not tell their input: their derivative
// is computed from the input x, and a fused layer kernel (which keeps only y) cannot take them.
inline bool derivative_needs_input(Activation act) {
  return act == Activation::Gelu || act == Activation::Silu;
}

// Parses a Keras activation name; returns false for an unknown one.
bool parse_activation(const std::string& name, Activation* out);

// y (rows, cols) = f(x); softmax is row-wise; y may alias x. alpha: leaky_relu slope, elu scale.
template <class T>
void activation_forward(T* y, const T* x, Index rows, Index cols, Activation act, T alpha);

// dx (rows, cols) = dy * f'(x), computed from y = f(x), or for gelu and silu from x itself
// (passed as y); dx may alias dy.
template <class T>
void activation_backward(T* dx, const T* dy, const T* y, Index rows, Index cols, Activation act,
                         T alpha);

}  // namespace brisknn
