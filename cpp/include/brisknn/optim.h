// Fused optimizer updates (Keras 3 rules): one pass over a weight forms the effective gradient,
// applies the rule to the weight and its slots in place, zeroes the gradient, and sums the
// weight's regularization penalty.
#pragma once
#include <limits>

#include "brisknn/parallel.h"

namespace brisknn {

// What every rule does to the raw gradient first, in Keras' order: the regularizer's gradient is
// part of the loss gradient, and clipping applies to that sum.
//   g = clip(scale * (grad + l1 * sign(w) + 2 * l2 * w), -clipvalue, clipvalue)
struct GradientOptions {
  double l1 = 0.0, l2 = 0.0;  // the weight's L1/L2 regularizer
  double scale = 1.0;         // clipnorm / global_clipnorm factor, computed by the caller
  double clipvalue = std::numeric_limits<double>::infinity();
};

// Each update reads w (n), grad (n) and the rule's slots (n each, same dtype), updates w and the
// slots in place, sets grad to zero, and returns l1 * sum|w| + l2 * sum w^2 of the weights before
// the update, summed in double in an order that does not depend on the thread count.
// Arrays must not overlap.

// momentum null: w -= lr g. Otherwise m = momentum m - lr g, then w += m, or with nesterov
// w += momentum m - lr g.
template <class T>
double sgd_update(T* w, T* grad, T* momentum_buf, Index n, const GradientOptions& opt, double lr,
                  double momentum, bool nesterov);

// velocity = rho velocity + (1 - rho) g^2; average_grad (centered only, else null) likewise with g;
// increment = lr g / sqrt(velocity [- average_grad^2] + epsilon); with momentum_buf (else null)
// momentum_buf = momentum momentum_buf + increment and w -= momentum_buf, else w -= increment.
template <class T>
double rmsprop_update(T* w, T* grad, T* velocity, T* momentum_buf, T* average_grad, Index n,
                      const GradientOptions& opt, double lr, double rho, double momentum,
                      double epsilon);

// m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2); with v_hat (amsgrad, else null)
// v_hat = max(v_hat, v) replaces v below; w -= alpha m / (sqrt(v) + epsilon), where the caller
// computes alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t) once per step.
template <class T>
double adam_update(T* w, T* grad, T* m, T* v, T* v_hat, Index n, const GradientOptions& opt,
                   double alpha, double beta_1, double beta_2, double epsilon);

// One weight of a multi-weight step: the weight, its gradient and the rule's slots (in the order
// of the single-weight function's slot arguments; null where the rule variant uses none), n
// elements each, with the weight's own regularizer and clipnorm scale.
template <class T>
struct UpdateTensor {
  T* w = nullptr;
  T* grad = nullptr;
  T* slot[3] = {nullptr, nullptr, nullptr};
  Index n = 0;
  GradientOptions opt;
};

// The same rules over `count` weights in one parallel pass (one wake-up of the thread pool for a
// whole model instead of one per weight; small weights ride along with large ones). Each weight
// is updated exactly as by the single-weight function, bit for bit. penalties (count doubles, may
// be null) receives what each single-weight call would return; the return value is their sum in
// weight order.
template <class T>
double sgd_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties, double lr,
                       double momentum, bool nesterov);
template <class T>
double rmsprop_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                           double lr, double rho, double momentum, double epsilon, bool centered);
template <class T>
double adam_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                        double alpha, double beta_1, double beta_2, double epsilon, bool amsgrad);

// sum of (grad + l1 sign(w) + 2 l2 w)^2 in double (thread-count independent): the norm that
// clipnorm and global_clipnorm clip. A read-only pass, needed only when clipping by norm.
template <class T>
double effective_gradient_square_sum(const T* w, const T* grad, Index n, double l1, double l2);

}  // namespace brisknn
