#include "brisknn/optim.h"

#include <algorithm>
#include <cmath>

#include "optim_update.h"

namespace brisknn {

namespace {

using namespace optim_detail;

// The rules. Each picks its variant from flags once, outside the loops; slots in the order of
// the single-weight function's arguments.
template <class T>
double sgd_rule(const UpdateTensor<T>* ts, Index count, double* penalties, double lr,
                double momentum, bool use_momentum, bool nesterov) {
  const T lr_t = T(lr), mu = T(momentum);
  if (!use_momentum) {
    return run_update<0>(ts, count, penalties, [=](T& wi, T g) { wi -= g * lr_t; });
  }
  if (nesterov) {
    return run_update<1>(ts, count, penalties, [=](T& wi, T g, T& m) {
      m = m * mu - g * lr_t;
      wi += m * mu - g * lr_t;
    });
  }
  return run_update<1>(ts, count, penalties, [=](T& wi, T g, T& m) {
    m = m * mu - g * lr_t;
    wi += m;
  });
}

// Slots: velocity, momentum, average gradient.
template <class T>
double rmsprop_rule(const UpdateTensor<T>* ts, Index count, double* penalties, double lr,
                    double rho, double momentum, double epsilon, bool use_momentum,
                    bool centered) {
  const T lr_t = T(lr), rho_t = T(rho), one_minus_rho = T(1.0 - rho), mu = T(momentum),
          eps = T(epsilon);
  // Keras 3 adds epsilon inside the square root.
  const auto increment = [=](T g, T& v) {
    v = rho_t * v + one_minus_rho * (g * g);
    return lr_t * g / std::sqrt(v + eps);
  };
  const auto centered_increment = [=](T g, T& v, T& avg) {
    v = rho_t * v + one_minus_rho * (g * g);
    avg = rho_t * avg + one_minus_rho * g;
    return lr_t * g / std::sqrt(v - avg * avg + eps);
  };
  if (centered && use_momentum) {
    return run_update<3>(ts, count, penalties, [=](T& wi, T g, T& v, T& m, T& avg) {
      m = mu * m + centered_increment(g, v, avg);
      wi -= m;
    });
  }
  if (centered) {
    // The average gradient is the third slot; the unused momentum slot is skipped by moving the
    // pointer (see rmsprop_update_many).
    return run_update<2>(ts, count, penalties, [=](T& wi, T g, T& v, T& avg) {
      wi -= centered_increment(g, v, avg);
    });
  }
  if (use_momentum) {
    return run_update<2>(ts, count, penalties, [=](T& wi, T g, T& v, T& m) {
      m = mu * m + increment(g, v);
      wi -= m;
    });
  }
  return run_update<1>(ts, count, penalties, [=](T& wi, T g, T& v) { wi -= increment(g, v); });
}

// Slots: m, v, v_hat.
template <class T>
double adam_rule(const UpdateTensor<T>* ts, Index count, double* penalties, double alpha,
                 double beta_1, double beta_2, double epsilon, bool amsgrad) {
  const T alpha_t = T(alpha), one_minus_b1 = T(1.0 - beta_1), one_minus_b2 = T(1.0 - beta_2),
          eps = T(epsilon);
  const auto moments = [=](T g, T& mi, T& vi) {
    mi += (g - mi) * one_minus_b1;
    vi += (g * g - vi) * one_minus_b2;
  };
  if (amsgrad) {
    return run_update<3>(ts, count, penalties, [=](T& wi, T g, T& mi, T& vi, T& vh) {
      moments(g, mi, vi);
      vh = std::max(vh, vi);
      wi -= (mi * alpha_t) / (std::sqrt(vh) + eps);
    });
  }
  return run_update<2>(ts, count, penalties, [=](T& wi, T g, T& mi, T& vi) {
    moments(g, mi, vi);
    wi -= (mi * alpha_t) / (std::sqrt(vi) + eps);
  });
}

template <class T, bool Regularized>
double effective_square_sum(const T* w, const T* grad, Index n, const GradientOptions& o) {
  const EffectiveGradient<T, Regularized> effective(o);
  return sum_over_chunks(n, [&](Index begin, Index end) {
    return lane_sum(end - begin, [&](Index i) {
      const double g = effective(grad[begin + i], w[begin + i]);
      return g * g;
    });
  });
}

}  // namespace

template <class T>
double sgd_update(T* w, T* grad, T* momentum_buf, Index n, const GradientOptions& o, double lr,
                  double momentum, bool nesterov) {
  const UpdateTensor<T> t = one_tensor(w, grad, n, o, momentum_buf);
  return sgd_rule(&t, 1, nullptr, lr, momentum, momentum_buf != nullptr, nesterov);
}

template <class T>
double sgd_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties, double lr,
                       double momentum, bool nesterov) {
  return sgd_rule(tensors, count, penalties, lr, momentum, momentum != 0.0, nesterov);
}

// The rules take the slots they use in order, so an unused momentum slot is squeezed out.
template <class T>
UpdateTensor<T> rmsprop_slots(UpdateTensor<T> t) {
  if (!t.slot[1]) {
    t.slot[1] = t.slot[2];
    t.slot[2] = nullptr;
  }
  return t;
}

template <class T>
double rmsprop_update(T* w, T* grad, T* velocity, T* momentum_buf, T* average_grad, Index n,
                      const GradientOptions& o, double lr, double rho, double momentum,
                      double epsilon) {
  const UpdateTensor<T> t =
      rmsprop_slots(one_tensor(w, grad, n, o, velocity, momentum_buf, average_grad));
  return rmsprop_rule(&t, 1, nullptr, lr, rho, momentum, epsilon, momentum_buf != nullptr,
                      average_grad != nullptr);
}

template <class T>
double rmsprop_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                           double lr, double rho, double momentum, double epsilon, bool centered) {
  std::vector<UpdateTensor<T>> ts(tensors, tensors + count);
  for (auto& t : ts) t = rmsprop_slots(t);
  return rmsprop_rule(ts.data(), count, penalties, lr, rho, momentum, epsilon, momentum > 0.0,
                      centered);
}

template <class T>
double adam_update(T* w, T* grad, T* m, T* v, T* v_hat, Index n, const GradientOptions& o,
                   double alpha, double beta_1, double beta_2, double epsilon) {
  const UpdateTensor<T> t = one_tensor(w, grad, n, o, m, v, v_hat);
  return adam_rule(&t, 1, nullptr, alpha, beta_1, beta_2, epsilon, v_hat != nullptr);
}

template <class T>
double adam_update_many(const UpdateTensor<T>* tensors, Index count, double* penalties,
                        double alpha, double beta_1, double beta_2, double epsilon, bool amsgrad) {
  return adam_rule(tensors, count, penalties, alpha, beta_1, beta_2, epsilon, amsgrad);
}

template <class T>
double effective_gradient_square_sum(const T* w, const T* grad, Index n, double l1, double l2) {
  GradientOptions o;
  o.l1 = l1;
  o.l2 = l2;
  if (l1 != 0.0 || l2 != 0.0) return effective_square_sum<T, true>(w, grad, n, o);
  return effective_square_sum<T, false>(w, grad, n, o);
}

#define BRISKNN_INSTANTIATE_OPTIM(T)                                                            \
  template double sgd_update<T>(T*, T*, T*, Index, const GradientOptions&, double, double, bool); \
  template double rmsprop_update<T>(T*, T*, T*, T*, T*, Index, const GradientOptions&, double,  \
                                    double, double, double);                                    \
  template double adam_update<T>(T*, T*, T*, T*, T*, Index, const GradientOptions&, double,     \
                                 double, double, double);                                       \
  template double effective_gradient_square_sum<T>(const T*, const T*, Index, double, double); \
  template double sgd_update_many<T>(const UpdateTensor<T>*, Index, double*, double, double,    \
                                     bool);                                                     \
  template double rmsprop_update_many<T>(const UpdateTensor<T>*, Index, double*, double, double, \
                                         double, double, bool);                                 \
  template double adam_update_many<T>(const UpdateTensor<T>*, Index, double*, double, double,   \
                                      double, double, bool);

BRISKNN_INSTANTIATE_OPTIM(float)
BRISKNN_INSTANTIATE_OPTIM(double)
#undef BRISKNN_INSTANTIATE_OPTIM

}  // namespace brisknn
