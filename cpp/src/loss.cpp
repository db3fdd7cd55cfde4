#include "brisknn/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "brisknn/views.h"

namespace brisknn {

namespace {

constexpr Index kRowGrain = 1 << 15;  // elements per thread: less and waking a thread costs more
// The cross-entropies take one or two exp and a log per element (~5 ns), forty times the work of
// an elementwise loss: a thread pays from a few hundred elements (64 rows of 10 classes).
constexpr Index kExpRowGrain = 1 << 9;

template <class T>
constexpr T kEps = T(1e-7);

// Finds the first label out of range; checked before any row is touched so no read goes astray.
Index first_bad_label(const int64_t* labels, Index batch, Index dim) {
  for (Index r = 0; r < batch; ++r) {
    if (labels[r] < 0 || labels[r] >= dim) return r;
  }
  return -1;
}

template <class T>
T clip_prob(T p) {
  return std::min(std::max(p, kEps<T>), T(1) - kEps<T>);
}

// log(sum(exp(z))) of one row, stable for any z.
// Here and below: exp/log through map_blocks and sums in order (views.h), so that a loss's bits
// never depend on a buffer's alignment or on which thread took a row.
template <class T>
T log_sum_exp(const T* z, Index dim) {
  const T m = *std::max_element(z, z + dim);
  T sum = T(0);
  map_blocks(z, dim, [m](const auto& v) { return (v - m).exp(); },
             [&sum](Index, const T* e, Index n) { sum += ordered_sum(e, n); });
  return m + std::log(sum);
}

// sum_j a_j b_j, left to right.
template <class T>
T ordered_dot(const T* a, const T* b, Index n) {
  T s = T(0);
  for (Index j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}

bool is_elementwise(Loss loss) {
  return loss == Loss::MeanSquaredError || loss == Loss::MeanAbsoluteError ||
         loss == Loss::BinaryCrossentropy;
}

// The per-element terms of MSE, MAE and BCE (their per-sample loss is the row mean), over a flat
// run of elements: long runs vectorise, where rows of a few classes would run scalar.
template <class T>
void elementwise_terms(T* out, const T* t, const T* p, Index n, Loss loss, bool from_logits) {
  ConstArrayMap<T> tr(t, n), pr(p, n);
  ArrayMap<T> o(out, n);
  switch (loss) {
    case Loss::MeanSquaredError: o = (tr - pr).square(); break;
    case Loss::MeanAbsoluteError: o = (tr - pr).abs(); break;
    case Loss::BinaryCrossentropy:
      if (from_logits) {  // max(z, 0) - z t + log1p(exp(-|z|)): no overflow either way
        map_blocks(p, n, [](const auto& v) { return (-v.abs()).exp().log1p(); },
                   [&](Index i, const T* v, Index m) {
                     for (Index k = i; k < i + m; ++k) {
                       out[k] = std::max(p[k], T(0)) - p[k] * t[k] + v[k - i];
                     }
                   });
      } else {  // -(t log q + (1 - t) log(1 - q)), q = clip(p): log q first, then the rest
        const T lo = kEps<T>, hi = T(1) - kEps<T>;
        map_blocks(p, n, [lo, hi](const auto& v) { return v.max(lo).min(hi).log(); },
                   [&](Index i, const T* v, Index m) { std::copy(v, v + m, out + i); });
        map_blocks(p, n, [lo, hi](const auto& v) { return (T(1) - v.max(lo).min(hi)).log(); },
                   [&](Index i, const T* v, Index m) {
                     for (Index k = i; k < i + m; ++k) {
                       out[k] = -(t[k] * out[k] + (T(1) - t[k]) * v[k - i]);
                     }
                   });
      }
      break;
    default: break;
  }
}

// Their gradients, times s (the batch-mean scale over the row length).
template <class T>
void elementwise_grad(T* g, const T* t, const T* p, Index n, Loss loss, bool from_logits, T s) {
  ConstArrayMap<T> tr(t, n), pr(p, n);
  ArrayMap<T> gr(g, n);
  switch (loss) {
    case Loss::MeanSquaredError: gr = (pr - tr) * (T(2) * s); break;
    case Loss::MeanAbsoluteError: gr = (pr - tr).sign() * s; break;
    case Loss::BinaryCrossentropy:
      if (from_logits) {
        map_blocks(p, n, [](const auto& v) { return v.logistic(); },
                   [&](Index i, const T* v, Index m) {
                     for (Index k = i; k < i + m; ++k) g[k] = (v[k - i] - t[k]) * s;
                   });
      } else {  // zero where the clip is active, as the clipped loss is flat there
        const auto inside = (pr > kEps<T>) && (pr < T(1) - kEps<T>);
        gr = inside.select((pr - tr) / (pr * (T(1) - pr)) * s, T(0));
      }
      break;
    default: break;
  }
}

template <class T>
T row_loss(const T* t, int64_t label, const T* p, Index dim, Loss loss, bool from_logits) {
  switch (loss) {
    case Loss::CategoricalCrossentropy: {
      if (from_logits) return log_sum_exp(p, dim) * ordered_sum(t, dim) - ordered_dot(t, p, dim);
      // Keras renormalises the probabilities to sum to one before clipping.
      const T s = ordered_sum(p, dim);
      T sum = T(0);
      map_blocks(p, dim,
                 [s](const auto& v) { return (v / s).max(kEps<T>).min(T(1) - kEps<T>).log(); },
                 [&](Index i, const T* v, Index m) { sum += ordered_dot(t + i, v, m); });
      return -sum;
    }
    case Loss::SparseCategoricalCrossentropy:
      if (from_logits) return log_sum_exp(p, dim) - p[label];
      return -std::log(clip_prob(p[label] / ordered_sum(p, dim)));
  }
  return T(0);
}

// Gradient of -sum_j t_j log(clip(p_j / s)), s = sum p: with g_j = -t_j / q_j where q_j is inside
// the clip range (0 outside it), d/dp_i = (g_i - sum_j g_j q_j) / s.
template <class T>
void normalized_ce_grad(T* g, const T* t, int64_t label, const T* p, Index dim, T scale) {
  ArrayMap<T> gr(g, dim);
  const T s = ordered_sum(p, dim);
  T dot = 0;
  for (Index j = 0; j < dim; ++j) {
    const T q = p[j] / s;
    const T tj = t ? t[j] : T(j == label);
    const T gj = (q > kEps<T> && q < T(1) - kEps<T>) ? -tj / q : T(0);
    g[j] = gj;
    dot += gj * q;
  }
  gr = (gr - dot) * (scale / s);
}

// g = softmax(z) in, the cross-entropy's gradient wrt z out: scale * (softmax(z) sum(t) - t).
template <class T>
void softmax_to_logit_grad(T* g, const T* t, int64_t label, Index dim, T scale) {
  ArrayMap<T> gr(g, dim);
  if (t) {
    ConstArrayMap<T> tr(t, dim);
    gr = (gr * ordered_sum(t, dim) - tr) * scale;
  } else {
    gr *= scale;
    g[label] -= scale;
  }
}

template <class T>
void row_grad(T* g, const T* t, int64_t label, const T* p, Index dim, Loss loss, bool from_logits,
              T scale) {
  ArrayMap<T> gr(g, dim);
  switch (loss) {
    case Loss::CategoricalCrossentropy:
    case Loss::SparseCategoricalCrossentropy:
      if (from_logits) {
        const T m = *std::max_element(p, p + dim);
        T sum = T(0);
        map_blocks(p, dim, [m](const auto& v) { return (v - m).exp(); },
                   [&](Index i, const T* e, Index n) {
                     std::copy(e, e + n, g + i);
                     sum += ordered_sum(e, n);
                   });
        gr /= sum;
        softmax_to_logit_grad(g, t, label, dim, scale);
        return;
      }
      normalized_ce_grad(g, t, label, p, dim, scale);
      return;
  }
}

}  // namespace

bool parse_loss(const std::string& name, Loss* out) {
  static const struct { const char* name; Loss loss; } table[] = {
      {"mean_squared_error", Loss::MeanSquaredError},
      {"mean_absolute_error", Loss::MeanAbsoluteError},
      {"binary_crossentropy", Loss::BinaryCrossentropy},
      {"categorical_crossentropy", Loss::CategoricalCrossentropy},
      {"sparse_categorical_crossentropy", Loss::SparseCategoricalCrossentropy}};
  for (const auto& e : table) {
    if (name == e.name) {
      *out = e.loss;
      return true;
    }
  }
  return false;
}

namespace {

// Checks the labels, then calls fn(r, y_true row or null, label) for every row, in parallel.
template <class T, class F>
Index for_each_row(const T* y_true, const int64_t* labels, Index batch, Index dim, Loss loss,
                   const F& fn) {
  const bool sparse = loss == Loss::SparseCategoricalCrossentropy;
  if (sparse) {
    const Index bad = first_bad_label(labels, batch, dim);
    if (bad >= 0) return bad;
  }
  parallel_for(batch, std::max<Index>(1, kExpRowGrain / std::max<Index>(dim, 1)),
               [&](Index begin, Index end) {
                 for (Index r = begin; r < end; ++r) {
                   fn(r, sparse ? nullptr : y_true + r * dim, sparse ? labels[r] : 0);
                 }
               });
  return -1;
}

// Rows of a few classes (an MNIST softmax has 10) are the common case, and one at a time they
// cost ~100 ns each in per-row overhead around a short exp. So for dim <= kMaxLaneDim the
// cross-entropies from logits run kLanes rows at once, one row per SIMD lane: the operations of
// row_loss/row_grad in the same order (max, the same packet exp, left-to-right sums, std::log),
// hence the same bits, 5x faster.
template <class T>
constexpr Index kLanes = 64 / sizeof(T);
constexpr Index kMaxLaneDim = 32;

// Rows [r0, r0 + rows) of z (rows <= kLanes): per_sample and/or grad (either may be null).
template <class T>
void logit_ce_lanes(T* per_sample, T* grad, const T* y_true, const int64_t* labels, const T* z,
                    Index r0, Index rows, Index dim, T scale) {
  using Lanes = Eigen::Array<T, kLanes<T>, 1>;
  Lanes e[kMaxLaneDim];
  for (Index j = 0; j < dim; ++j) {  // transposed: lane i holds row r0 + i (padding rows: 0)
    for (Index i = 0; i < kLanes<T>; ++i) e[j][i] = i < rows ? z[(r0 + i) * dim + j] : T(0);
  }
  Lanes max = e[0];
  for (Index j = 1; j < dim; ++j) max = max.max(e[j]);
  Lanes sum = Lanes::Zero();
  for (Index j = 0; j < dim; ++j) {
    e[j] = (e[j] - max).exp();
    sum += e[j];
  }
  for (Index i = 0; i < rows; ++i) {
    const Index r = r0 + i;
    const T* t = y_true ? y_true + r * dim : nullptr;
    const int64_t label = labels ? labels[r] : 0;
    if (per_sample) {
      const T lse = max[i] + std::log(sum[i]);
      per_sample[r] = t ? lse * ordered_sum(t, dim) - ordered_dot(t, z + r * dim, dim)
                        : lse - z[r * dim + label];
    }
    if (grad) {
      T* g = grad + r * dim;
      for (Index j = 0; j < dim; ++j) g[j] = e[j][i] / sum[i];
      softmax_to_logit_grad(g, t, label, dim, scale);
    }
  }
}

// Checks the labels, then runs logit_ce_lanes over blocks of kLanes rows, in parallel.
template <class T>
Index logit_ce(T* per_sample, T* grad, const T* y_true, const int64_t* labels, const T* z,
               Index batch, Index dim, T scale) {
  if (labels) {
    const Index bad = first_bad_label(labels, batch, dim);
    if (bad >= 0) return bad;
  }
  const Index blocks = (batch + kLanes<T> - 1) / kLanes<T>;
  // ~1 ns an element in lanes: a thread pays from a few thousand (an MNIST batch is 1,280).
  const Index grain = std::max<Index>(1, (kRowGrain / 8) / (dim * kLanes<T>));
  parallel_for(blocks, grain, [&](Index begin, Index end) {
    for (Index b = begin; b < end; ++b) {
      const Index r0 = b * kLanes<T>;
      logit_ce_lanes(per_sample, grad, y_true, labels, z, r0,
                     std::min(kLanes<T>, batch - r0), dim, scale);
    }
  });
  return -1;
}

// The cross-entropies (a loss per row, not per element): per_sample and/or grad, either may be
// null. Same label check and return value as loss_forward.
template <class T>
Index rowwise(T* per_sample, T* grad, const T* y_true, const int64_t* labels, const T* y_pred,
              Index batch, Index dim, Loss loss, bool from_logits, T scale) {
  if (from_logits && dim <= kMaxLaneDim) {
    const bool sparse = loss == Loss::SparseCategoricalCrossentropy;
    return logit_ce<T>(per_sample, grad, sparse ? nullptr : y_true, sparse ? labels : nullptr,
                       y_pred, batch, dim, scale);
  }
  return for_each_row(y_true, labels, batch, dim, loss, [&](Index r, const T* t, int64_t label) {
    const T* p = y_pred + r * dim;
    if (per_sample) per_sample[r] = row_loss(t, label, p, dim, loss, from_logits);
    if (grad) row_grad(grad + r * dim, t, label, p, dim, loss, from_logits, scale);
  });
}

}  // namespace

template <class T>
Index loss_forward(T* per_sample, const T* y_true, const int64_t* labels, const T* y_pred,
                   Index batch, Index dim, Loss loss, bool from_logits) {
  if (is_elementwise(loss)) {
    // Terms of a block of rows, flat, into a per-thread buffer reused across calls; then each
    // row's mean, in order.
    const Index block_rows = std::max<Index>(1, 4096 / std::max<Index>(dim, 1));
    parallel_for(batch, std::max<Index>(1, kRowGrain / std::max<Index>(dim, 1)),
                 [&](Index begin, Index end) {
                   thread_local std::vector<T> terms;
                   for (Index r0 = begin; r0 < end; r0 += block_rows) {
                     const Index rows = std::min(block_rows, end - r0);
                     terms.resize(static_cast<size_t>(rows * dim));
                     elementwise_terms(terms.data(), y_true + r0 * dim, y_pred + r0 * dim,
                                       rows * dim, loss, from_logits);
                     for (Index r = 0; r < rows; ++r) {
                       per_sample[r0 + r] = ordered_sum(terms.data() + r * dim, dim) / T(dim);
                     }
                   }
                 });
    return -1;
  }
  return rowwise<T>(per_sample, nullptr, y_true, labels, y_pred, batch, dim, loss, from_logits,
                    T(1));
}

template <class T>
Index loss_backward(T* grad, const T* y_true, const int64_t* labels, const T* y_pred, Index batch,
                    Index dim, Loss loss, bool from_logits, T scale) {
  if (is_elementwise(loss)) {
    const T s = scale / T(std::max<Index>(dim, 1));
    parallel_for(batch * dim, kRowGrain, [&](Index begin, Index end) {
      elementwise_grad(grad + begin, y_true + begin, y_pred + begin, end - begin, loss,
                       from_logits, s);
    });
    return -1;
  }
  return rowwise(static_cast<T*>(nullptr), grad, y_true, labels, y_pred, batch, dim, loss,
                 from_logits, scale);
}

template <class T>
Index loss_forward_backward(T* per_sample, T* grad, const T* y_true, const int64_t* labels,
                            const T* y_pred, Index batch, Index dim, Loss loss, bool from_logits,
                            T scale) {
  if (is_elementwise(loss)) {  // no labels to check; each half is one flat vectorised pass
    loss_forward(per_sample, y_true, labels, y_pred, batch, dim, loss, from_logits);
    return loss_backward(grad, y_true, labels, y_pred, batch, dim, loss, from_logits, scale);
  }
  return rowwise(per_sample, grad, y_true, labels, y_pred, batch, dim, loss, from_logits, scale);
}

#define BRISKNN_INSTANTIATE(T)                                                                 \
  template Index loss_forward_backward<T>(T*, T*, const T*, const int64_t*, const T*, Index,   \
                                          Index, Loss, bool, T);                               \
  template Index loss_forward<T>(T*, const T*, const int64_t*, const T*, Index, Index, Loss,   \
                                 bool);                                                        \
  template Index loss_backward<T>(T*, const T*, const int64_t*, const T*, Index, Index, Loss,  \
                                  bool, T);
BRISKNN_INSTANTIATE(float)
BRISKNN_INSTANTIATE(double)
#undef BRISKNN_INSTANTIATE

}  // namespace brisknn
