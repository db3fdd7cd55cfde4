#include "brisknn/optim.h"

#include <algorithm>
#include <cmath>
#include <utility>
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

bool regularized(const GradientOptions& o) { return o.l1 != 0.0 || o.l2 != 0.0; }

// Elements per thread of a multi-weight step: below two of these, one thread updates everything
// (Adam costs ~0.5 ns an element, divider bound, so a grain is ~8 us of work: more than a wake-up).
constexpr Index kGrain = 1 << 14;

// A kBlock-long run of one weight; `start` is its offset in the concatenation of all weights.
struct Block {
  Index tensor, begin, len, start;
};

// Applies rule to every element of every tensor, Slots slot pointers per tensor. Work is cut into
// the blocks a single weight has always been cut into (offsets kBlock apart from its start), and
// threads take contiguous runs of blocks of about equal element counts; the update being
// elementwise, who runs a block changes nothing. The penalty of each block is kept and summed
// afterwards in the single-weight order: blocks into kChunk chunks, chunks into the weight's
// total, weights in order, each sum starting from 0.0.
template <class T, class Rule, size_t... I>
double run_update_many(const UpdateTensor<T>* ts, Index count, double* weight_penalties,
                       const Rule& rule, std::index_sequence<I...>) {
  // Reused across calls. Named through references: a lambda run by another thread would see
  // that thread's own thread_local objects.
  thread_local std::vector<Block> block_buffer;
  thread_local std::vector<double> penalty_buffer;
  std::vector<Block>& blocks = block_buffer;
  std::vector<double>& penalties = penalty_buffer;
  blocks.clear();
  Index total = 0;
  bool any_regularized = false;
  for (Index k = 0; k < count; ++k) {
    for (Index b = 0; b < ts[k].n; b += kBlock) {
      blocks.push_back({k, b, std::min(kBlock, ts[k].n - b), total + b});
    }
    total += ts[k].n;
    any_regularized = any_regularized || regularized(ts[k].opt);
  }
  penalties.assign(any_regularized ? blocks.size() : 0, 0.0);
  parallel_for(total, kGrain, [&](Index begin, Index end) {
    const auto starts_before = [](const Block& b, Index at) { return b.start < at; };
    const auto first = std::lower_bound(blocks.begin(), blocks.end(), begin, starts_before);
    const auto last = std::lower_bound(first, blocks.end(), end, starts_before);
    for (auto it = first; it != last; ++it) {
      const UpdateTensor<T>& t = ts[it->tensor];
      const Index b = it->begin;
      if (regularized(t.opt)) {
        const T* wb = t.w + b;
        const GradientOptions& o = t.opt;
        penalties[it - blocks.begin()] = lane_sum(it->len, [&](Index i) {
          const double x = wb[i];
          return o.l1 * std::abs(x) + o.l2 * (x * x);
        });
        update_block(it->len, t.w + b, t.grad + b, EffectiveGradient<T, true>(o), rule,
                     (t.slot[I] + b)...);
      } else {
        update_block(it->len, t.w + b, t.grad + b, EffectiveGradient<T, false>(t.opt), rule,
                     (t.slot[I] + b)...);
      }
    }
  });
  double penalty = 0.0;
  const double* block_penalty = penalties.data();
  for (Index k = 0; k < count; ++k) {
    const Index n_blocks = (ts[k].n + kBlock - 1) / kBlock;
    double weight_sum = 0.0;
    if (regularized(ts[k].opt)) {
      double chunk_sum = 0.0;
      for (Index j = 0; j < n_blocks; ++j) {
        if (j > 0 && (j * kBlock) % kChunk == 0) {
          weight_sum += chunk_sum;
          chunk_sum = 0.0;
        }
        chunk_sum += block_penalty[j];
      }
      weight_sum += chunk_sum;
    }
    if (any_regularized) block_penalty += n_blocks;
    if (weight_penalties) weight_penalties[k] = weight_sum;
    penalty += weight_sum;
  }
  return penalty;
}

template <size_t Slots, class T, class Rule>
double run_update(const UpdateTensor<T>* ts, Index count, double* penalties, const Rule& rule) {
  return run_update_many(ts, count, penalties, rule, std::make_index_sequence<Slots>{});
}

template <class T>
UpdateTensor<T> one_tensor(T* w, T* grad, Index n, const GradientOptions& o, T* s0 = nullptr,
                           T* s1 = nullptr, T* s2 = nullptr) {
  UpdateTensor<T> t;
  t.w = w;
  t.grad = grad;
  t.slot[0] = s0;
  t.slot[1] = s1;
  t.slot[2] = s2;
  t.n = n;
  t.opt = o;
  return t;
}

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
  const T lr_t = T(lr), one_minus_b1 = T(1.0 - beta_1), one_minus_b2 = T(1.0 - beta_2),
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
  const T lr_t = T(lr), b1 = T(beta_1), one_minus_b1 = T(1.0 - beta_1), b2 = T(beta_2),
          one_minus_b2 = T(1.0 - beta_2);
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

BRISKNN_INSTANTIATE_OPTIM(float)
BRISKNN_INSTANTIATE_OPTIM(double)
#undef BRISKNN_INSTANTIATE_OPTIM

}  // namespace brisknn
