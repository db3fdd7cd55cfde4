// The machinery of the fused optimizer updates (optim.cpp, optim_more.cpp): fixed-order
// partial sums, the effective gradient, and run_update, which applies a rule to every element
// of every weight in one parallel pass. Private to cpp/src.
#pragma once
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "brisknn/optim.h"

namespace brisknn {
namespace optim_detail {

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

inline bool regularized(const GradientOptions& o) { return o.l1 != 0.0 || o.l2 != 0.0; }

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

}  // namespace optim_detail
}  // namespace brisknn
