// Activations y = f(x) and their backward passes. Most derivatives are written in terms of the
// output y, so layers keep only y for backward (no pre-activation buffer); the few that cannot
// be (derivative_needs_input) take the input x instead.
#pragma once
#include <string>

#include "brisknn/parallel.h"

namespace brisknn {

enum class Activation { Linear, Relu, LeakyRelu, Elu, Sigmoid, Tanh, Softplus, Softmax, Relu6,
                        Softsign, HardSigmoid, Exponential, Selu, Gelu, Silu, GeluTanh, Mish,
                        HardSilu, LogSoftmax, Celu, HardTanh, LogSigmoid, TanhShrink, Squareplus,
                        SparsePlus };

// softmax and log_softmax work on each row (the last axis), the others element by element.
inline bool is_row_wise(Activation act) {
  return act == Activation::Softmax || act == Activation::LogSoftmax;
}

// These are not monotonic (gelu, silu, mish, hard_silu) or not cheaply invertible (tanh_shrink),
// so their output does not tell their derivative: it is computed from the input x, and a fused
// layer kernel (which keeps only y) cannot take them.
inline bool derivative_needs_input(Activation act) {
  switch (act) {
    case Activation::Gelu: case Activation::GeluTanh: case Activation::Silu:
    case Activation::Mish: case Activation::HardSilu: case Activation::TanhShrink: return true;
    default: return false;
  }
}

// What a kernel can apply inside its own loops, keeping only outputs (the recurrent cells).
inline bool is_elementwise_from_output(Activation act) {
  return !is_row_wise(act) && !derivative_needs_input(act);
}

// Keras' parameter of an activation named by a string: leaky_relu's negative_slope 0.2, elu's
// and celu's alpha 1, squareplus' b 4; 0 (unused) for the others.
double keras_default_alpha(Activation act);

// Parses a Keras activation name; returns false for an unknown one. "gelu_approximate" is
// Keras' gelu(x, approximate=True), which has no name of its own there.
bool parse_activation(const std::string& name, Activation* out);

// y (rows, cols) = f(x); softmax and log_softmax are row-wise; y may alias x. alpha: the
// activation's parameter (leaky_relu slope, elu and celu alpha, squareplus b).
template <class T>
void activation_forward(T* y, const T* x, Index rows, Index cols, Activation act, T alpha);

// dx (rows, cols) = dy * f'(x), computed from y = f(x), or, where derivative_needs_input, from x
// itself (passed as y); dx may alias dy.
template <class T>
void activation_backward(T* dx, const T* dy, const T* y, Index rows, Index cols, Activation act,
                         T alpha);

// The same for n elements on the calling thread, element-wise activations only (not
// softmax/log_softmax): for kernels that apply an activation inside their own parallel loops.
template <class T>
void elementwise_activation_forward(T* y, const T* x, Index n, Activation act, T alpha);
template <class T>
void elementwise_activation_backward(T* dx, const T* dy, const T* y, Index n, Activation act,
                                     T alpha);

}  // namespace brisknn
