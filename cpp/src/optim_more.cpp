// Keras 3's Adagrad, Adadelta, Adamax, Nadam, Lion and Ftrl on the machinery of optim.cpp
// (optim_update.h); declared in brisknn/optim.h.
#include <algorithm>
#include <cmath>

#include "brisknn/optim.h"
#include "optim_update.h"

namespace brisknn {

namespace {

using namespace optim_detail;

// Slots: accumulator (starts at initial_accumulator_value, set by the caller).
template <class T>
double adagrad_rule(const UpdateTensor<T>* ts, Index count, double* penalties, double lr,
                    double epsilon) {
  const T lr_t = T(lr), eps = T(epsilon);
  return run_update<1>(ts, count, penalties, [=](T& wi, T g, T& acc) {
    acc += g * g;
    wi -= (lr_t * g) / std::sqrt(acc + eps);
  });
}

// Slots: accumulated_grad, accumulated_delta_var.
template <class T>
double adadelta_rule(const UpdateTensor<T>* ts, Index count, double* penalties, double lr,
                     double rho, double epsilon) {
  const T lr_t = T(lr), rho_t = T(rho), one_minus_rho = T(1.0 - rho), eps = T(epsilon);
  return run_update<2>(ts, count, penalties, [=](T& wi, T g, T& acc_g, T& acc_d) {
    acc_g = rho_t * acc_g + one_minus_rho * (g * g);
    const T delta = -((std::sqrt(acc_d + eps) * g) / std::sqrt(acc_g + eps));
    acc_d = rho_t * acc_d + one_minus_rho * (delta * delta);
    wi += lr_t * delta;
  });
}

// Slots: m (momentum), u (norm).
template <class T>
double adamax_rule(const UpdateTensor<T>* ts, Index count, double* penalties, double lr,
                   double beta_1, double beta_2, double epsilon, double bias_correction) {
  const T lr_t = T(lr), one_minus_b1 = T(1.0 - beta_1), b2 = T(beta_2), eps = T(epsilon),
          correction = T(bias_correction);
  return run_update<2>(ts, count, penalties, [=](T& wi, T g, T& mi, T& ui) {
    mi += (g - mi) * one_minus_b1;
    ui = std::max(b2 * ui, std::abs(g));
    wi -= (lr_t * mi) / (correction * (ui + eps));
  });
}

// Slots: m (momentum), v (velocity). The per-step coefficients come from Keras' u_product
// schedule, computed by the caller once per step.
template <class T>
double nadam_rule(const UpdateTensor<T>* ts, Index count, double* penalties, double lr,
                  double beta_1, double beta_2, double epsilon, double momentum_coef,
                  double gradient_coef, double velocity_correction) {
  // Keras casts beta_1 and beta_2 to the weight's dtype before taking 1 - beta (Adam and
  // Adamax subtract from the Python floats).
  const T lr_t = T(lr), one_minus_b1 = T(1) - T(beta_1), one_minus_b2 = T(1) - T(beta_2),
          eps = T(epsilon), cm = T(momentum_coef), cg = T(gradient_coef),
          cv = T(velocity_correction);
  return run_update<2>(ts, count, penalties, [=](T& wi, T g, T& mi, T& vi) {
    mi += (g - mi) * one_minus_b1;
    vi += (g * g - vi) * one_minus_b2;
    const T m_hat = cm * mi + cg * g;
    wi -= (m_hat * lr_t) / (std::sqrt(vi / cv) + eps);
  });
}

// sign as NumPy's: 0 at +-0 (the weight does not move), NaN stays NaN.
template <class T>
T sign_of(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);
}

// Slots: m (momentum).
template <class T>
double lion_rule(const UpdateTensor<T>* ts, Index count, double* penalties, double lr,
                 double beta_1, double beta_2) {
  // 1 - beta in the weight's dtype, as Keras computes it (see nadam_rule).
  const T lr_t = T(lr), b1 = T(beta_1), one_minus_b1 = T(1) - b1, b2 = T(beta_2),
          one_minus_b2 = T(1) - b2;
  return run_update<1>(ts, count, penalties, [=](T& wi, T g, T& mi) {
    wi -= lr_t * sign_of(mi * b1 + g * one_minus_b1);
    mi = mi * b2 + g * one_minus_b2;
  });
}

// Slots: accumulator (starts at initial_accumulator_value), linear. The default
// learning_rate_power -0.5 is a square root, taken as such.
template <class T>
double ftrl_rule(const UpdateTensor<T>* ts, Index count, double* penalties, double lr,
                 double lr_power, double l1, double l2, double l2_shrinkage) {
  const T lr_t = T(lr), l1_t = T(l1), two_l2 = T(2 * l2), two_shrinkage = T(2 * l2_shrinkage),
          p = T(-lr_power);
  const auto step = [=](T& wi, T g, T& acc, T& lin, auto power) {
    const T new_acc = acc + g * g;
    const T new_power = power(new_acc);
    lin += (g + two_shrinkage * wi) - ((new_power - power(acc)) / lr_t) * wi;
    const T quadratic = new_power / lr_t + two_l2;
    wi = (std::min(std::max(lin, -l1_t), l1_t) - lin) / quadratic;
    acc = new_acc;
  };
  if (lr_power == -0.5) {
    return run_update<2>(ts, count, penalties, [=](T& wi, T g, T& acc, T& lin) {
      step(wi, g, acc, lin, [](T x) { return std::sqrt(x); });
    });
  }
  return run_update<2>(ts, count, penalties, [=](T& wi, T g, T& acc, T& lin) {
    step(wi, g, acc, lin, [=](T x) { return std::pow(x, p); });
  });
}

}  // namespace

template <class T>
double adagrad_update(T* w, T* grad, T* accumulator, Index n, const GradientOptions& o,
                      double lr, double epsilon) {
  const UpdateTensor<T> t = one_tensor(w, grad, n, o, accumulator);
  return adagrad_rule(&t, 1, nullptr, lr, epsilon);
}

template <class T>
double adagrad_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                           double lr, double epsilon) {
  return adagrad_rule(tensors, count, penalties, lr, epsilon);
}

template <class T>
double adadelta_update(T* w, T* grad, T* accumulated_grad, T* accumulated_delta_var, Index n,
                       const GradientOptions& o, double lr, double rho, double epsilon) {
  const UpdateTensor<T> t = one_tensor(w, grad, n, o, accumulated_grad, accumulated_delta_var);
  return adadelta_rule(&t, 1, nullptr, lr, rho, epsilon);
}

template <class T>
double adadelta_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                            double lr, double rho, double epsilon) {
  return adadelta_rule(tensors, count, penalties, lr, rho, epsilon);
}

template <class T>
double adamax_update(T* w, T* grad, T* m, T* u, Index n, const GradientOptions& o, double lr,
                     double beta_1, double beta_2, double epsilon, double bias_correction) {
  const UpdateTensor<T> t = one_tensor(w, grad, n, o, m, u);
  return adamax_rule(&t, 1, nullptr, lr, beta_1, beta_2, epsilon, bias_correction);
}

template <class T>
double adamax_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                          double lr, double beta_1, double beta_2, double epsilon,
                          double bias_correction) {
  return adamax_rule(tensors, count, penalties, lr, beta_1, beta_2, epsilon, bias_correction);
}

template <class T>
double nadam_update(T* w, T* grad, T* m, T* v, Index n, const GradientOptions& o, double lr,
                    double beta_1, double beta_2, double epsilon, double momentum_coef,
                    double gradient_coef, double velocity_correction) {
  const UpdateTensor<T> t = one_tensor(w, grad, n, o, m, v);
  return nadam_rule(&t, 1, nullptr, lr, beta_1, beta_2, epsilon, momentum_coef, gradient_coef,
                    velocity_correction);
}

template <class T>
double nadam_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                         double lr, double beta_1, double beta_2, double epsilon,
                         double momentum_coef, double gradient_coef,
                         double velocity_correction) {
  return nadam_rule(tensors, count, penalties, lr, beta_1, beta_2, epsilon, momentum_coef,
                    gradient_coef, velocity_correction);
}

template <class T>
double lion_update(T* w, T* grad, T* m, Index n, const GradientOptions& o, double lr,
                   double beta_1, double beta_2) {
  const UpdateTensor<T> t = one_tensor(w, grad, n, o, m);
  return lion_rule(&t, 1, nullptr, lr, beta_1, beta_2);
}

template <class T>
double lion_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                        double lr, double beta_1, double beta_2) {
  return lion_rule(tensors, count, penalties, lr, beta_1, beta_2);
}

template <class T>
double ftrl_update(T* w, T* grad, T* accumulator, T* linear, Index n, const GradientOptions& o,
                   double lr, double lr_power, double l1, double l2, double l2_shrinkage) {
  const UpdateTensor<T> t = one_tensor(w, grad, n, o, accumulator, linear);
  return ftrl_rule(&t, 1, nullptr, lr, lr_power, l1, l2, l2_shrinkage);
}

template <class T>
double ftrl_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                        double lr, double lr_power, double l1, double l2, double l2_shrinkage) {
  return ftrl_rule(tensors, count, penalties, lr, lr_power, l1, l2, l2_shrinkage);
}

// The rules added after the first three, each a single- and a many-weight function.
#define BRISKNN_INSTANTIATE_MORE_OPTIM(T)                                                        \
  template double adagrad_update<T>(T*, T*, T*, Index, const GradientOptions&, double, double);  \
  template double adagrad_update_many<T>(const UpdateTensor<T>*, Index, double*, double, double); \
  template double adadelta_update<T>(T*, T*, T*, T*, Index, const GradientOptions&, double,       \
                                     double, double);                                             \
  template double adadelta_update_many<T>(const UpdateTensor<T>*, Index, double*, double, double, \
                                          double);                                                \
  template double adamax_update<T>(T*, T*, T*, T*, Index, const GradientOptions&, double, double, \
                                   double, double, double);                                       \
  template double adamax_update_many<T>(const UpdateTensor<T>*, Index, double*, double, double,   \
                                        double, double, double);                                  \
  template double nadam_update<T>(T*, T*, T*, T*, Index, const GradientOptions&, double, double,  \
                                  double, double, double, double, double);                        \
  template double nadam_update_many<T>(const UpdateTensor<T>*, Index, double*, double, double,    \
                                       double, double, double, double, double);                   \
  template double lion_update<T>(T*, T*, T*, Index, const GradientOptions&, double, double,       \
                                 double);                                                         \
  template double lion_update_many<T>(const UpdateTensor<T>*, Index, double*, double, double,     \
                                      double);                                                    \
  template double ftrl_update<T>(T*, T*, T*, T*, Index, const GradientOptions&, double, double,   \
                                 double, double, double);                                         \
  template double ftrl_update_many<T>(const UpdateTensor<T>*, Index, double*, double, double,     \
                                      double, double, double);

BRISKNN_INSTANTIATE_MORE_OPTIM(float)
BRISKNN_INSTANTIATE_MORE_OPTIM(double)
#undef BRISKNN_INSTANTIATE_MORE_OPTIM

}  // namespace brisknn
