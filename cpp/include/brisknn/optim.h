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

// accumulator += g^2; w -= lr g / sqrt(accumulator + epsilon).
template <class T>
double adagrad_update(T* w, T* grad, T* accumulator, Index n, const GradientOptions& opt,
                      double lr, double epsilon);

// accumulated_grad = rho a_g + (1 - rho) g^2;
// delta = -sqrt(accumulated_delta_var + epsilon) g / sqrt(accumulated_grad + epsilon);
// accumulated_delta_var = rho a_d + (1 - rho) delta^2; w += lr delta.
template <class T>
double adadelta_update(T* w, T* grad, T* accumulated_grad, T* accumulated_delta_var, Index n,
                       const GradientOptions& opt, double lr, double rho, double epsilon);

// m += (g - m)(1 - beta_1); u = max(beta_2 u, |g|);
// w -= lr m / ((1 - beta_1^t)(u + epsilon)), the caller giving bias_correction = 1 - beta_1^t.
template <class T>
double adamax_update(T* w, T* grad, T* m, T* u, Index n, const GradientOptions& opt, double lr,
                     double beta_1, double beta_2, double epsilon, double bias_correction);

// m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2);
// w -= lr (momentum_coef m + gradient_coef g) / (sqrt(v / velocity_correction) + epsilon),
// the caller computing momentum_coef = u_{t+1} / (1 - u_prod_{t+1}),
// gradient_coef = (1 - u_t) / (1 - u_prod_t), velocity_correction = 1 - beta_2^t.
template <class T>
double nadam_update(T* w, T* grad, T* m, T* v, Index n, const GradientOptions& opt, double lr,
                    double beta_1, double beta_2, double epsilon, double momentum_coef,
                    double gradient_coef, double velocity_correction);

// w -= lr sign(beta_1 m + (1 - beta_1) g); then m = beta_2 m + (1 - beta_2) g.
template <class T>
double lion_update(T* w, T* grad, T* m, Index n, const GradientOptions& opt, double lr,
                   double beta_1, double beta_2);

// Keras' FTRL-proximal: with p = -lr_power, new_n = n + g^2,
// linear += g + 2 l2_shrinkage w - (new_n^p - n^p) / lr * w,
// w = (clip(linear, -l1, l1) - linear) / (new_n^p / lr + 2 l2), n = new_n.
// l2 is Keras' l2_regularization_strength + beta / (2 lr), computed by the caller.
template <class T>
double ftrl_update(T* w, T* grad, T* accumulator, T* linear, Index n, const GradientOptions& opt,
                   double lr, double lr_power, double l1, double l2, double l2_shrinkage);

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

template <class T>
double adagrad_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                           double lr, double epsilon);
template <class T>
double adadelta_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                            double lr, double rho, double epsilon);
template <class T>
double adamax_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                          double lr, double beta_1, double beta_2, double epsilon,
                          double bias_correction);
template <class T>
double nadam_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                         double lr, double beta_1, double beta_2, double epsilon,
                         double momentum_coef, double gradient_coef, double velocity_correction);
template <class T>
double lion_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                        double lr, double beta_1, double beta_2);
template <class T>
double ftrl_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                        double lr, double lr_power, double l1, double l2, double l2_shrinkage);

// sum of (grad + l1 sign(w) + 2 l2 w)^2 in double (thread-count independent): the norm that
// clipnorm and global_clipnorm clip. A read-only pass, needed only when clipping by norm.
template <class T>
double effective_gradient_square_sum(const T* w, const T* grad, Index n, double l1, double l2);

}  // namespace brisknn
