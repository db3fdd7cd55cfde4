#include "brisknn/normalization.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace brisknn {

namespace {

// A chunk is at least this many elements: the unit of threading and of partial sums.
constexpr Index kChunkElements = 1 << 14;

// Rows of the outer axis per chunk: a function of the shape only.
Index chunk_rows(Index channels, Index inner) {
  return std::max<Index>(1, kChunkElements / std::max<Index>(1, channels * inner));
}

// s0[c] and s1[c]: the sums over channel c of the two terms(a, b, c) of each of its elements
// (a and b the elements of a and b at the same place), in double. Each chunk of rows adds into
// its own partials, which are then added in chunk order.
template <class T, class Terms>
void channel_sums(double* s0, double* s1, const T* a, const T* b, Index outer, Index channels,
                  Index inner, const Terms& terms) {
  // The two sums over channel c's run of inner elements in the row at ao, bo.
  const auto run_sums = [&](const T* ao, const T* bo, Index c) {
    double q0 = 0.0, q1 = 0.0;
    for (Index i = c * inner; i < (c + 1) * inner; ++i) {
      const auto [t0, t1] = terms(ao[i], bo[i], c);
      q0 += t0;
      q1 += t1;
    }
    return std::pair<double, double>(q0, q1);
  };
  const Index rows = chunk_rows(channels, inner);
  if (rows == 1) {
    // A row alone fills a chunk: one partial per row would be outer x channels doubles (four
    // times a float32 x). Split the channels instead, each adding its rows' terms in row
    // order: the same additions in the same order as the partials, so the same bits.
    std::fill(s0, s0 + channels, 0.0);
    std::fill(s1, s1 + channels, 0.0);
    const Index grain = std::max<Index>(1, kChunkElements / std::max<Index>(1, outer * inner));
    parallel_for(channels, grain, [&](Index lo, Index hi) {
      for (Index o = 0; o < outer; ++o) {
        const T* ao = a + o * channels * inner;
        const T* bo = b + o * channels * inner;
        for (Index c = lo; c < hi; ++c) {
          const auto [q0, q1] = run_sums(ao, bo, c);
          s0[c] += q0;
          s1[c] += q1;
        }
      }
    });
    return;
  }
  const Index chunks = (outer + rows - 1) / rows;
  thread_local std::vector<double> buffer;
  std::vector<double>& partial = buffer;  // the workers see the caller's buffer
  partial.assign(static_cast<size_t>(2 * chunks * channels), 0.0);
  parallel_for(chunks, 1, [&](Index first, Index last) {
    for (Index k = first; k < last; ++k) {
      double* p0 = partial.data() + 2 * k * channels;
      double* p1 = p0 + channels;
      for (Index o = k * rows; o < std::min(outer, (k + 1) * rows); ++o) {
        const T* ao = a + o * channels * inner;
        const T* bo = b + o * channels * inner;
        if (inner == 1) {  // channels last: a row is one element of each channel (vectorized)
          for (Index c = 0; c < channels; ++c) {
            const auto [t0, t1] = terms(ao[c], bo[c], c);
            p0[c] += t0;
            p1[c] += t1;
          }
          continue;
        }
        for (Index c = 0; c < channels; ++c) {
          const auto [q0, q1] = run_sums(ao, bo, c);
          p0[c] += q0;
          p1[c] += q1;
        }
      }
    }
  });
  std::fill(s0, s0 + channels, 0.0);
  std::fill(s1, s1 + channels, 0.0);
  for (Index k = 0; k < chunks; ++k) {
    for (Index c = 0; c < channels; ++c) {
      s0[c] += partial[2 * k * channels + c];
      s1[c] += partial[(2 * k + 1) * channels + c];
    }
  }
}

// out = p[c] (u - m[c]) + r[c], or with Two, p[c] u + q[c] (v - m[c]) + r[c], for each element
// of channel c. The channel's mean m is subtracted before scaling: x * scale + shift would
// cancel two products of the size of the mean, losing the spread of data whose mean is large
// next to it (and giving a constant channel a rounding error instead of exactly beta).
// Element by element: where the rows are split changes nothing.
template <bool Two, class T>
void channel_affine(T* out, const T* u, const T* v, const T* p, const T* q, const T* r,
                    const T* m, Index outer, Index channels, Index inner) {
  parallel_for(outer, chunk_rows(channels, inner), [&](Index lo, Index hi) {
    for (Index o = lo; o < hi; ++o) {
      const Index base = o * channels * inner;
      if (inner == 1) {  // channels last (vectorized across channels)
        for (Index c = 0; c < channels; ++c) {
          if constexpr (Two) {
            out[base + c] = p[c] * u[base + c] + q[c] * (v[base + c] - m[c]) + r[c];
          } else {
            out[base + c] = p[c] * (u[base + c] - m[c]) + r[c];
          }
        }
        continue;
      }
      for (Index c = 0; c < channels; ++c) {
        for (Index i = base + c * inner; i < base + (c + 1) * inner; ++i) {
          if constexpr (Two) {
            out[i] = p[c] * u[i] + q[c] * (v[i] - m[c]) + r[c];
          } else {
            out[i] = p[c] * (u[i] - m[c]) + r[c];
          }
        }
      }
    }
  });
}

}  // namespace

template <class T>
void batch_norm_moments(T* mean, T* variance, const T* x, Index outer, Index channels,
                        Index inner) {
  // Sums of x - (the channel's first element): no cancellation when the mean is large next
  // to the spread.
  std::vector<double> shift(channels), s0(channels), s1(channels);
  for (Index c = 0; c < channels; ++c) shift[c] = outer > 0 && inner > 0 ? x[c * inner] : 0.0;
  channel_sums(s0.data(), s1.data(), x, x, outer, channels, inner, [&](T value, T, Index c) {
    const double d = double(value) - shift[c];
    return std::pair<double, double>(d, d * d);
  });
  const double n = double(outer) * double(inner);
  for (Index c = 0; c < channels; ++c) {
    const double m = s0[c] / n;
    mean[c] = T(shift[c] + m);
    variance[c] = T(std::max(0.0, s1[c] / n - m * m));
  }
}

template <class T>
void batch_norm_forward(T* y, const T* x, const T* mean, const T* inv, const T* gamma,
                        const T* beta, Index outer, Index channels, Index inner) {
  std::vector<T> scale(channels), shift(channels);
  for (Index c = 0; c < channels; ++c) {
    scale[c] = gamma ? inv[c] * gamma[c] : inv[c];
    shift[c] = beta ? beta[c] : T(0);
  }
  channel_affine<false>(y, x, x, scale.data(), scale.data(), shift.data(), mean, outer, channels,
                        inner);
}

template <class T>
void batch_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean,
                         const T* inv, const T* gamma, Index outer, Index channels, Index inner,
                         bool batch_statistics) {
  // sum_dy[c] and sum_dy_xhat[c] = inv * sum dy (x - mean).
  std::vector<double> sum_dy(channels), sum_dy_xc(channels);
  channel_sums(sum_dy.data(), sum_dy_xc.data(), dy, x, outer, channels, inner,
               [&](T g, T value, Index c) {
                 return std::pair<double, double>(g, double(g) * (double(value) - mean[c]));
               });
  for (Index c = 0; c < channels; ++c) {
    if (dgamma) dgamma[c] += T(sum_dy_xc[c] * inv[c]);
    if (dbeta) dbeta[c] += T(sum_dy[c]);
  }
  if (!dx) return;
  // dx = a dy + b (x - mean) + d per channel: a = gamma inv; with batch statistics, b and d
  // carry the x_hat mean(dy x_hat) and mean(dy) terms.
  const double n = double(outer) * double(inner);
  std::vector<T> a(channels), b(channels), d(channels);  // d (and b) stay 0 without them
  for (Index c = 0; c < channels; ++c) {
    const double scale = (gamma ? double(gamma[c]) : 1.0) * inv[c];
    a[c] = T(scale);
    if (batch_statistics) {
      b[c] = T(-scale * double(inv[c]) * double(inv[c]) * sum_dy_xc[c] / n);
      d[c] = T(-scale * sum_dy[c] / n);
    }
  }
  if (batch_statistics) {
    channel_affine<true>(dx, dy, x, a.data(), b.data(), d.data(), mean, outer, channels, inner);
  } else {  // a (dy - 0) + 0
    channel_affine<false>(dx, dy, dy, a.data(), a.data(), d.data(), d.data(), outer, channels,
                          inner);
  }
}

#define BRISKNN_INSTANTIATE(T)                                                                \
  template void batch_norm_moments<T>(T*, T*, const T*, Index, Index, Index);                 \
  template void batch_norm_forward<T>(T*, const T*, const T*, const T*, const T*, const T*,   \
                                      Index, Index, Index);                                   \
  template void batch_norm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,    \
                                       const T*, Index, Index, Index, bool);
BRISKNN_INSTANTIATE(float)
BRISKNN_INSTANTIATE(double)
#undef BRISKNN_INSTANTIATE

}  // namespace brisknn
