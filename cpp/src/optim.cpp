#include "brisknn/optim.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace brisknn {

namespace {

// The unit of both threading and partial sums. Fixed, so a sum's order does not depend on the
// thread count; large, so tensors below two chunks stay on the calling thread.
constexpr Index kChunk = 1 << 15;
// The penalty is summed over a block just before the block is updated, so the update reads the
// weights from L1 cache: still one pass over memory.
constexpr Index kBlock = 1 << 10;
constexpr int kLanes = 8;  // independent accumulators: a reduction the compiler may vectorize

// Calls chunk(begin, end) -> double on fixed chunks of [0, n), in parallel, and sums the results
// in chunk order.
template <class F>
double sum_over_chunks(Index n, const F& chunk) {
  const Index chunks = (n + kChunk - 1) / kChunk;
  if (chunks <= 1) return n > 0 ? chunk(Index{0}, n) : 0.0;
  std::vector<double> partial(chunks);
  parallel_for(chunks, 1, [&](Index first, Index last) {
    for (Index c = first; c < last; ++c) {
      partial[c] = chunk(c * kChunk, std::min(n, (c + 1) * kChunk));
    }
  });
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

// sum of term(i) over [0, n) in double. One accumulator would be a serial dependency chain the
// compiler may not reorder; kLanes of them in a fixed pattern vectorize and stay deterministic.
template <class F>
double lane_sum(Index n, const F& term) {
  double s[kLanes] = {};
  Index i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) s[j] += term(i + j);
  }
  for (; i < n; ++i) s[0] += term(i);
  double total = 0.0;
  for (int j = 0; j < kLanes; ++j) total += s[j];
  return total;
}

// The gradient every rule sees (see GradientOptions). Without a regularizer the raw gradient is
// used as is, so an unregularized weight's update does not depend on l1 * sign(w) being 0.
template <class T, bool Regularized>
struct EffectiveGradient {
  T l1, two_l2, scale, clipvalue;

  explicit EffectiveGradient(const GradientOptions& o)
      : l1(T(o.l1)), two_l2(T(2 * o.l2)), scale(T(o.scale)), clipvalue(T(o.clipvalue)) {}

  T operator()(T grad, T w) const {
    T g = grad;
    if constexpr (Regularized) g += l1 * T((w > T(0)) - (w < T(0))) + two_l2 * w;
    g *= scale;  // 1 unless clipping by norm: exact
    return std::min(std::max(g, -clipvalue), clipvalue);  // +-inf unless clipping by value: exact
  }
};

// The fused inner loop: rule(w[i], g[i], slot[i]...) for each element, then grad[i] = 0.
// Not inlined: GCC honours __restrict__ only on a real function's parameters, and without it
// versions every loop for aliasing (one call per kBlock elements costs nothing). The
// coefficients come by value, so no store through w can change them.
template <class T, class Grad, class Rule, class... Slot>
[[gnu::noinline]] void update_block(Index n, T* __restrict__ w, T* __restrict__ grad,
                                    Grad effective, Rule rule, Slot* __restrict__... slot) {
  for (Index i = 0; i < n; ++i) {
    rule(w[i], effective(grad[i], w[i]), slot[i]...);
    grad[i] = T(0);
  }
}

template <class T, bool Regularized, class Rule, class... Slot>
double fused_update(Index n, T* w, T* grad, const GradientOptions& o, const Rule& rule,
                    Slot*... slot) {
  const EffectiveGradient<T, Regularized> effective(o);
  return sum_over_chunks(n, [&](Index begin, Index end) {
    double penalty = 0.0;
    for (Index b = begin; b < end; b += kBlock) {
      const Index len = std::min(kBlock, end - b);
      if constexpr (Regularized) {
        const T* wb = w + b;
        penalty += lane_sum(len, [&](Index i) {
          const double x = wb[i];
          return o.l1 * std::abs(x) + o.l2 * (x * x);
        });
      }
      update_block(len, w + b, grad + b, effective, rule, (slot + b)...);
    }
    return penalty;
  });
}

// Picks the loop for regularized or plain weights once, outside the loop.
template <class T, class Rule, class... Slot>
double run_update(Index n, T* w, T* grad, const GradientOptions& o, const Rule& rule,
                  Slot*... slot) {
  if (o.l1 != 0.0 || o.l2 != 0.0) return fused_update<T, true>(n, w, grad, o, rule, slot...);
  return fused_update<T, false>(n, w, grad, o, rule, slot...);
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
  const T lr_t = T(lr), mu = T(momentum);
  if (!momentum_buf) return run_update(n, w, grad, o, [=](T& wi, T g) { wi -= g * lr_t; });
  if (nesterov) {
    return run_update(n, w, grad, o, [=](T& wi, T g, T& m) {
      m = m * mu - g * lr_t;
      wi += m * mu - g * lr_t;
    }, momentum_buf);
  }
  return run_update(n, w, grad, o, [=](T& wi, T g, T& m) {
    m = m * mu - g * lr_t;
    wi += m;
  }, momentum_buf);
}

template <class T>
double rmsprop_update(T* w, T* grad, T* velocity, T* momentum_buf, T* average_grad, Index n,
                      const GradientOptions& o, double lr, double rho, double momentum,
                      double epsilon) {
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
  if (average_grad && momentum_buf) {
    return run_update(n, w, grad, o, [=](T& wi, T g, T& v, T& m, T& avg) {
      m = mu * m + centered_increment(g, v, avg);
      wi -= m;
    }, velocity, momentum_buf, average_grad);
  }
  if (average_grad) {
    return run_update(n, w, grad, o, [=](T& wi, T g, T& v, T& avg) {
      wi -= centered_increment(g, v, avg);
    }, velocity, average_grad);
  }
  if (momentum_buf) {
    return run_update(n, w, grad, o, [=](T& wi, T g, T& v, T& m) {
      m = mu * m + increment(g, v);
      wi -= m;
    }, velocity, momentum_buf);
  }
  return run_update(n, w, grad, o, [=](T& wi, T g, T& v) { wi -= increment(g, v); }, velocity);
}

template <class T>
double adam_update(T* w, T* grad, T* m, T* v, T* v_hat, Index n, const GradientOptions& o,
                   double alpha, double beta_1, double beta_2, double epsilon) {
  const T alpha_t = T(alpha), one_minus_b1 = T(1.0 - beta_1), one_minus_b2 = T(1.0 - beta_2),
          eps = T(epsilon);
  const auto moments = [=](T g, T& mi, T& vi) {
    mi += (g - mi) * one_minus_b1;
    vi += (g * g - vi) * one_minus_b2;
  };
  if (v_hat) {
    return run_update(n, w, grad, o, [=](T& wi, T g, T& mi, T& vi, T& vh) {
      moments(g, mi, vi);
      vh = std::max(vh, vi);
      wi -= (mi * alpha_t) / (std::sqrt(vh) + eps);
    }, m, v, v_hat);
  }
  return run_update(n, w, grad, o, [=](T& wi, T g, T& mi, T& vi) {
    moments(g, mi, vi);
    wi -= (mi * alpha_t) / (std::sqrt(vi) + eps);
  }, m, v);
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
  template double effective_gradient_square_sum<T>(const T*, const T*, Index, double, double);

BRISKNN_INSTANTIATE_OPTIM(float)
BRISKNN_INSTANTIATE_OPTIM(double)
#undef BRISKNN_INSTANTIATE_OPTIM

}  // namespace brisknn
