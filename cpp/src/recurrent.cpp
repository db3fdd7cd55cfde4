#include "brisknn/recurrent.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "brisknn/dense.h"
#include "brisknn/views.h"

// How the work is laid out (all buffers batch-major, row (b, t) = b * steps + t):
// - the input projection of all steps is one GEMM, (batch*steps, in) @ (in, G*units) + bias,
//   written where the gates go, so each step only adds h_{t-1} U and applies the gate math in place;
// - sequences are independent, so threads split the BATCH and each runs every step for its rows:
//   no barrier per step. The per-step product (rows, units) @ (units, G*units) is too small for a
//   packed GEMM (packing U would cost as much as the product), so it is a register-tiled kernel
//   over U as it lies;
// - backward keeps dL/d(pre-activation gates) of every step in one (batch*steps, G*units) buffer,
//   and the weight gradients and dx come after the loop as big GEMMs.
// Every element is computed by the same operations in the same order on any thread count.

namespace brisknn {

namespace {

namespace ei = Eigen::internal;

// ---- the per-step product, on the calling thread ---------------------------------------------
template <class T>
using Packet = typename ei::packet_traits<T>::type;
template <class T>
constexpr int kWidth = ei::unpacket_traits<Packet<T>>::size;
// Accumulators of a tile: 4 rows x kPackets packets, plus the B packets and a broadcast, must fit
// in the registers (16 with AVX2, 32 with AVX-512).
constexpr int kPackets = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32 ? 4 : 3;

// c (R, NP packets) += a (R, k) b (k, NP packets), k in order for every element.
template <class T, int R, int NP>
EIGEN_ALWAYS_INLINE void tile(T* c, Index ldc, const T* a, Index lda, const T* b, Index ldb,
                              Index k) {
  using P = Packet<T>;
  constexpr int W = kWidth<T>;
  P acc[R][NP];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NP; ++j) acc[r][j] = ei::ploadu<P>(c + r * ldc + j * W);
  for (Index p = 0; p < k; ++p) {
    P bp[NP];
    for (int j = 0; j < NP; ++j) bp[j] = ei::ploadu<P>(b + p * ldb + j * W);
    for (int r = 0; r < R; ++r) {
      const P ap = ei::pset1<P>(a[r * lda + p]);
      for (int j = 0; j < NP; ++j) acc[r][j] = ei::pmadd(ap, bp[j], acc[r][j]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NP; ++j) ei::pstoreu(c + r * ldc + j * W, acc[r][j]);
}

// A column panel of NP packets over all m rows; the panel of b stays in L1 across the row tiles.
template <class T, int NP>
void panel(T* c, Index ldc, const T* a, Index lda, const T* b, Index ldb, Index m, Index k) {
  Index r = 0;
  for (; r + 4 <= m; r += 4) tile<T, 4, NP>(c + r * ldc, ldc, a + r * lda, lda, b, ldb, k);
  T* cr = c + r * ldc;
  const T* ar = a + r * lda;
  switch (m - r) {
    case 3: tile<T, 3, NP>(cr, ldc, ar, lda, b, ldb, k); break;
    case 2: tile<T, 2, NP>(cr, ldc, ar, lda, b, ldb, k); break;
    case 1: tile<T, 1, NP>(cr, ldc, ar, lda, b, ldb, k); break;
    default: break;
  }
}

// c (m, n) += a (m, k) b (k, n), all row-major with row strides ldc, lda, ldb.
template <class T>
void small_gemm(T* c, Index ldc, const T* a, Index lda, const T* b, Index ldb, Index m, Index k,
                Index n) {
  constexpr int W = kWidth<T>;
  Index col = 0;
  for (; col + kPackets * W <= n; col += kPackets * W)
    panel<T, kPackets>(c + col, ldc, a, lda, b + col, ldb, m, k);
  for (; col + W <= n; col += W) panel<T, 1>(c + col, ldc, a, lda, b + col, ldb, m, k);
  for (; col < n; ++col) {
    for (Index r = 0; r < m; ++r) {
      T s = c[r * ldc + col];
      for (Index p = 0; p < k; ++p) s += a[r * lda + p] * b[p * ldb + col];
      c[r * ldc + col] = s;
    }
  }
}

// out (n) += column sums of z (rows, n; row stride ldz), rows in order; columns split among threads.
template <class T>
void add_column_sums(T* out, const T* z, Index rows, Index n, Index ldz) {
  const Index grain = std::max<Index>(kWidth<T>, (1 << 15) / std::max<Index>(rows, 1));
  parallel_for(n, grain, [&](Index c0, Index c1) {
    RowVectorMap<T> acc(out + c0, c1 - c0);
    for (Index r = 0; r < rows; ++r) acc += ConstRowVectorMap<T>(z + r * ldz + c0, c1 - c0);
  });
}

// ---- element-wise helpers on one row's span --------------------------------------------------
// The activation family's own code (activation.cpp), with Keras' parameter for a named
// activation (leaky_relu's slope 0.2, ...): the bindings admit only element-wise activations
// whose derivative follows from the output. In place: y = f(y).
template <class T>
inline void activate(T* y, Index n, Activation act) {
  elementwise_activation_forward(y, y, n, act, static_cast<T>(keras_default_alpha(act)));
}

// d *= f'(x), written with y = f(x).
template <class T>
inline void times_derivative(T* d, const T* y, Index n, Activation act) {
  elementwise_activation_backward(d, d, y, n, act, static_cast<T>(keras_default_alpha(act)));
}

// Rows of `batch` samples, each `steps` rows of `width` (the batch-major layout), scaled by the
// sample's mask row: out[b, t] = in[b, t] * mask[b].
template <class T>
void mask_rows(T* out, const T* in, const T* mask, Index batch, Index steps, Index width) {
  parallel_for(batch, std::max<Index>(1, (1 << 15) / std::max<Index>(steps * width, 1)),
               [&](Index b0, Index b1) {
                 for (Index b = b0; b < b1; ++b) {
                   ConstArrayMap<T> m(mask + b * width, width);
                   for (Index t = 0; t < steps; ++t) {
                     const Index o = (b * steps + t) * width;
                     ArrayMap<T>(out + o, width) = ConstArrayMap<T>(in + o, width) * m;
                   }
                 }
               });
}

// ---- workspace -------------------------------------------------------------------------------
Index padded(Index n) { return (n + 15) / 16 * 16; }

struct ForwardParts {
  Index xm, hm, rec, zero, size;
};
ForwardParts forward_parts(const RecurrentShape& s) {
  const Index rows = s.batch * s.steps, gu = s.gates() * s.units;
  ForwardParts p{};
  Index at = 0;
  auto take = [&](Index n) { const Index o = at; at += padded(n); return o; };
  p.xm = take(s.input_masks ? rows * s.in : 0);          // masked inputs
  p.hm = take(s.recurrent_masks ? s.batch * s.units : 0);  // masked h_{t-1} of one step
  p.rec = take(s.cell == RecurrentCell::GRU ? s.batch * gu : 0);  // GRU: h_{t-1} U + b'
  p.zero = take(s.units);                                 // h_{-1} = c_{-1} = 0, read with stride 0
  p.size = at;
  return p;
}

struct BackwardParts {
  Index dgx, dgr, big, tmp, ut, dh, dc, row_tmp, zero, size;
};
BackwardParts backward_parts(const RecurrentShape& s) {
  const Index rows = s.batch * s.steps, gu = s.gates() * s.units;
  BackwardParts p{};
  Index at = 0;
  auto take = [&](Index n) { const Index o = at; at += padded(n); return o; };
  p.dgx = take(rows * gu);  // dL/d(pre-activation) on the input side, every step
  // GRU: on the recurrent side the h block differs (r * dhh); the others share dgx.
  p.dgr = take(s.cell == RecurrentCell::GRU ? rows * gu : 0);
  p.big = take(rows * std::max(s.in, s.units));  // masked inputs, then masked h_{t-1}
  p.tmp = take(s.input_masks > 1 ? rows * s.in : 0);  // one gate's share of dx
  p.ut = take(gu * s.units);                          // recurrent_kernel transposed
  p.dh = take(s.batch * s.units);
  p.dc = take(s.batch * s.units);
  p.row_tmp = take(s.batch * s.units);
  p.zero = take(s.units);
  p.size = at;
  return p;
}

// Mask groups: with one mask per gate, products are done gate by gate on `width` columns.
inline Index groups(Index masks, Index gates) { return masks > 1 ? gates : 1; }

// Rows per thread chunk of the recurrence: enough work to pay for waking a thread.
Index batch_grain(const RecurrentShape& s) {
  const double per_row = 2.0 * s.steps * s.gates() * s.units * (s.units + 4);
  return std::max<Index>(1, static_cast<Index>(2e5 / std::max(per_row, 1.0)));
}

// c[b] += (hprev[b] * mask_j[b]) U[:, cols_j] for rows b0..b1 of one step. c and hprev point at
// row b0 and step through rows with strides ldc and ldh (0 for the zero state).
template <class T>
void add_recurrent_product(T* c, Index ldc, const T* hprev, Index ldh, const T* rk,
                           const T* rec_mask, const RecurrentShape& s, Index b0, Index b1,
                           T* hm) {
  const Index u = s.units, gu = s.gates() * u, n = b1 - b0;
  const Index g = groups(s.recurrent_masks, s.gates()), width = gu / g;
  for (Index j = 0; j < g; ++j) {
    const T* a = hprev;
    Index lda = ldh;
    if (rec_mask) {
      const T* m = rec_mask + (j * s.batch + b0) * u;
      for (Index i = 0; i < n; ++i)
        ArrayMap<T>(hm + i * u, u) =
            ConstArrayMap<T>(hprev + i * ldh, u) * ConstArrayMap<T>(m + i * u, u);
      a = hm;
      lda = u;
    }
    small_gemm(c + j * width, ldc, a, lda, rk + j * width, gu, n, u, width);
  }
}

// z (batch*steps, G*u) = (x * mask_j) kernel[:, cols_j] + bias for each input mask group j.
template <class T>
void project_inputs(T* z, const T* x, const T* kernel, const T* bias, const T* input_mask,
                    const RecurrentShape& s, T* xm) {
  const Index rows = s.batch * s.steps, gu = s.gates() * s.units;
  if (bias) {
    const Index grain = std::max<Index>(1, (1 << 15) / std::max<Index>(gu, 1));
    parallel_for(rows, grain, [&](Index r0, Index r1) {
      for (Index r = r0; r < r1; ++r) std::memcpy(z + r * gu, bias, sizeof(T) * gu);
    });
  }
  const Index g = groups(s.input_masks, s.gates()), width = gu / g;
  for (Index j = 0; j < g; ++j) {
    const T* a = x;
    if (input_mask) {
      mask_rows(xm, x, input_mask + j * s.batch * s.in, s.batch, s.steps, s.in);
      a = xm;
    }
    gemm(z + j * width, gu, a, s.in, false, kernel + j * width, gu, false, rows, s.in, width,
         bias != nullptr);
  }
}

// ---- one step of each cell, forward ----------------------------------------------------------
// Row pointers: z/gates, h, carry of sample b at step t; hprev/cprev the previous step's or the
// zero row.
template <class T>
struct StepRows {
  T* z;            // (G*u) projection + recurrent product -> gates
  T* h;            // (u)
  T* carry;        // (u)
  const T* hprev;  // (u)
  const T* cprev;  // (u)
  const T* rec;    // GRU: (3u) h_{t-1} U + b'
};

template <class T>
void lstm_step(const StepRows<T>& p, Index u, Activation act, Activation rec_act) {
  activate(p.z, 2 * u, rec_act);  // i, f
  activate(p.z + 2 * u, u, act);  // c~
  activate(p.z + 3 * u, u, rec_act);
  ConstArrayMap<T> i(p.z, u), f(p.z + u, u), g(p.z + 2 * u, u), o(p.z + 3 * u, u);
  ArrayMap<T> c(p.carry, u), h(p.h, u);
  c = f * ConstArrayMap<T>(p.cprev, u) + i * g;
  h = c;
  activate(p.h, u, act);
  h *= o;
}

template <class T>
void gru_step(const StepRows<T>& p, Index u, Activation act, Activation rec_act) {
  ArrayMap<T> zr(p.z, 2 * u), hh(p.z + 2 * u, u), rh(p.carry, u);
  zr += ConstArrayMap<T>(p.rec, 2 * u);
  activate(p.z, 2 * u, rec_act);
  rh = ConstArrayMap<T>(p.rec + 2 * u, u);
  hh += ConstArrayMap<T>(p.z + u, u) * rh;
  activate(p.z + 2 * u, u, act);
  ConstArrayMap<T> z(p.z, u), hprev(p.hprev, u);
  ArrayMap<T>(p.h, u) = z * hprev + (T(1) - z) * hh;
}

}  // namespace

bool parse_recurrent_cell(const char* name, RecurrentCell* out) {
  const std::string n(name);
  if (n == "simple_rnn") *out = RecurrentCell::SimpleRNN;
  else if (n == "lstm") *out = RecurrentCell::LSTM;
  else if (n == "gru") *out = RecurrentCell::GRU;
  else return false;
  return true;
}

Index recurrent_workspace_size(const RecurrentShape& s, bool backward) {
  return backward ? backward_parts(s).size : forward_parts(s).size;
}

template <class T>
void recurrent_forward(const RecurrentShape& s, Activation act, Activation rec_act, T* h,
                       T* gates, T* carry, const T* x, const T* kernel, const T* rk,
                       const T* bias, const T* input_mask, const T* rec_mask,
                       const std::uint8_t* step_mask, T* ws, const T* h0, const T* c0) {
  const Index u = s.units, gu = s.gates() * u, steps = s.steps;
  const ForwardParts parts = forward_parts(s);
  const bool gru = s.cell == RecurrentCell::GRU, simple = s.cell == RecurrentCell::SimpleRNN;
  T* z = simple ? h : gates;  // SimpleRNN's one "gate" is h itself
  T* zero = ws + parts.zero;
  std::fill(zero, zero + u, T(0));
  project_inputs(z, x, kernel, bias, input_mask, s, ws + parts.xm);
  const T* rec_bias = gru && bias ? bias + gu : nullptr;

  parallel_for(s.batch, batch_grain(s), [&](Index b0, Index b1) {
    T* hm = ws + parts.hm + b0 * u;
    T* rec = ws + parts.rec + b0 * gu;
    for (Index t = 0; t < steps; ++t) {
      const Index row0 = b0 * steps + t;
      // h_{t-1} of rows b0.. (stride steps*u); at t = 0 the initial state's rows (stride u), or
      // the zero row (stride 0), whose product the first step skips.
      const T* hprev = t ? h + (row0 - 1) * u : h0 ? h0 + b0 * u : zero;
      const Index ldh = t ? steps * u : h0 ? u : 0;
      const bool product = t || h0;
      if (gru) {
        for (Index b = b0; b < b1; ++b) {
          T* r = rec + (b - b0) * gu;
          if (rec_bias) std::memcpy(r, rec_bias, sizeof(T) * gu);
          else std::fill(r, r + gu, T(0));
        }
        if (product) add_recurrent_product(rec, gu, hprev, ldh, rk, rec_mask, s, b0, b1, hm);
      } else if (product) {
        add_recurrent_product(z + row0 * gu, steps * gu, hprev, ldh, rk, rec_mask, s, b0, b1, hm);
      }
      for (Index b = b0; b < b1; ++b) {
        const Index row = b * steps + t;
        StepRows<T> p{z + row * gu, h + row * u, carry ? carry + row * u : nullptr,
                      t ? h + (row - 1) * u : h0 ? h0 + b * u : zero,
                      t && carry ? carry + (row - 1) * u : c0 ? c0 + b * u : zero,
                      rec + (b - b0) * gu};
        if (step_mask && !step_mask[row]) {
          // A masked step keeps the state: h_t = h_{t-1} (LSTM: c_t = c_{t-1}), copied, so
          // whatever the skipped gate math would give never reaches it. GRU's carry and the
          // gates of this row are left as they are: backward does not read them.
          std::memcpy(p.h, p.hprev, sizeof(T) * u);
          if (s.cell == RecurrentCell::LSTM) std::memcpy(p.carry, p.cprev, sizeof(T) * u);
          continue;
        }
        switch (s.cell) {
          case RecurrentCell::SimpleRNN: activate(p.h, u, act); break;
          case RecurrentCell::LSTM: lstm_step(p, u, act, rec_act); break;
          case RecurrentCell::GRU: gru_step(p, u, act, rec_act); break;
        }
      }
    }
  });
}

namespace {

// ---- one step of each cell, backward ---------------------------------------------------------
// dh holds dL/dh_t (all paths); on return it holds the part of dL/dh_{t-1} that does not go
// through U (GRU's z * dh; zero otherwise). dc (LSTM) goes from dL/dc_t to dL/dc_{t-1}.
template <class T>
struct BackRows {
  T* dh;
  T* dc;
  T* dgx;          // (G*u) into the input side
  T* dgr;          // (G*u) into the recurrent side (== dgx but for GRU)
  const T* gates;  // (G*u)
  const T* h;
  const T* carry;
  const T* hprev;
  const T* cprev;
  T* tmp;  // (u)
};

template <class T>
void simple_rnn_back_step(const BackRows<T>& p, Index u, Activation act) {
  std::memcpy(p.dgx, p.dh, sizeof(T) * u);
  times_derivative(p.dgx, p.h, u, act);
  std::fill(p.dh, p.dh + u, T(0));
}

template <class T>
void lstm_back_step(const BackRows<T>& p, Index u, Activation act, Activation rec_act) {
  ConstArrayMap<T> i(p.gates, u), f(p.gates + u, u), g(p.gates + 2 * u, u),
      o(p.gates + 3 * u, u), dh(p.dh, u);
  ArrayMap<T> tc(p.tmp, u), dc(p.dc, u);
  ArrayMap<T> di(p.dgx, u), df(p.dgx + u, u), dg(p.dgx + 2 * u, u), dout(p.dgx + 3 * u, u);
  tc = ConstArrayMap<T>(p.carry, u);
  activate(p.tmp, u, act);  // act(c_t)
  dout = dh * tc;
  times_derivative(p.dgx + 3 * u, p.gates + 3 * u, u, rec_act);
  di = dh * o;  // dL/d act(c_t), through act' into dc
  times_derivative(p.dgx, p.tmp, u, act);
  dc += di;
  di = dc * g;
  dg = dc * i;
  df = dc * ConstArrayMap<T>(p.cprev, u);
  dc *= f;
  times_derivative(p.dgx, p.gates, 2 * u, rec_act);
  times_derivative(p.dgx + 2 * u, p.gates + 2 * u, u, act);
  std::fill(p.dh, p.dh + u, T(0));
}

template <class T>
void gru_back_step(const BackRows<T>& p, Index u, Activation act, Activation rec_act) {
  ConstArrayMap<T> z(p.gates, u), r(p.gates + u, u), hh(p.gates + 2 * u, u), rh(p.carry, u),
      hprev(p.hprev, u);
  ArrayMap<T> dh(p.dh, u), dz(p.dgx, u), dr(p.dgx + u, u), dhh(p.dgx + 2 * u, u);
  dz = dh * (hprev - hh);
  times_derivative(p.dgx, p.gates, u, rec_act);
  dhh = dh * (T(1) - z);
  times_derivative(p.dgx + 2 * u, p.gates + 2 * u, u, act);
  dr = dhh * rh;
  times_derivative(p.dgx + u, p.gates + u, u, rec_act);
  std::memcpy(p.dgr, p.dgx, sizeof(T) * 2 * u);
  ArrayMap<T>(p.dgr + 2 * u, u) = dhh * r;
  dh *= z;
}

}  // namespace

template <class T>
void recurrent_backward(const RecurrentShape& s, Activation act, Activation rec_act, T* dx,
                        T* dkernel, T* drk, T* dbias, const T* dy, bool sequences, const T* x,
                        const T* kernel, const T* rk, const T* input_mask, const T* rec_mask,
                        const std::uint8_t* step_mask, const T* h, const T* gates,
                        const T* carry, T* ws, const T* h0, const T* c0, T* dh0, T* dc0) {
  const Index u = s.units, G = s.gates(), gu = G * u, steps = s.steps, in = s.in;
  const Index rows = s.batch * steps;
  const BackwardParts parts = backward_parts(s);
  const bool gru = s.cell == RecurrentCell::GRU;
  T* dgx = ws + parts.dgx;
  T* dgr = gru ? ws + parts.dgr : dgx;
  T* ut = ws + parts.ut;
  T* zero = ws + parts.zero;
  std::fill(zero, zero + u, T(0));
  for (Index k = 0; k < u; ++k)
    for (Index c = 0; c < gu; ++c) ut[c * u + k] = rk[k * gu + c];
  const T* sgates = s.cell == RecurrentCell::SimpleRNN ? h : gates;

  // Backpropagation through time, each thread over all steps of its rows.
  const Index rg = groups(s.recurrent_masks, G), rwidth = gu / rg;
  parallel_for(s.batch, batch_grain(s), [&](Index b0, Index b1) {
    T* dh = ws + parts.dh + b0 * u;
    T* dc = ws + parts.dc + b0 * u;
    T* tmp = ws + parts.row_tmp + b0 * u;
    const Index n = b1 - b0;
    std::fill(dh, dh + n * u, T(0));
    std::fill(dc, dc + n * u, T(0));
    for (Index t = steps - 1; t >= 0; --t) {
      for (Index b = b0; b < b1; ++b) {
        const Index row = b * steps + t, i = b - b0;
        T* dhb = dh + i * u;
        if (sequences) {
          ArrayMap<T>(dhb, u) += ConstArrayMap<T>(dy + row * u, u);
        } else if (t == steps - 1) {
          ArrayMap<T>(dhb, u) += ConstArrayMap<T>(dy + b * u, u);
        }
        if (step_mask && !step_mask[row]) {
          // h_t = h_{t-1} (and c_t = c_{t-1}): dh (dc) flows on unchanged, and the step adds
          // nothing to the weight gradients or dx (zero rows in the products after the loop).
          std::fill(dgx + row * gu, dgx + (row + 1) * gu, T(0));
          if (gru) std::fill(dgr + row * gu, dgr + (row + 1) * gu, T(0));
          continue;
        }
        BackRows<T> p{dhb, dc + i * u, dgx + row * gu, dgr + row * gu,
                      sgates + row * (s.cell == RecurrentCell::SimpleRNN ? u : gu),
                      h + row * u, carry ? carry + row * u : nullptr,
                      t ? h + (row - 1) * u : h0 ? h0 + b * u : zero,
                      t && carry ? carry + (row - 1) * u : c0 ? c0 + b * u : zero, tmp + i * u};
        switch (s.cell) {
          case RecurrentCell::SimpleRNN: simple_rnn_back_step(p, u, act); break;
          case RecurrentCell::LSTM: lstm_back_step(p, u, act, rec_act); break;
          case RecurrentCell::GRU: gru_back_step(p, u, act, rec_act); break;
        }
      }
      // At t = 0 the product gives dL/dh_{-1}, needed only for the initial state's gradient.
      if (t == 0 && !dh0) break;
      // dh_{t-1} += sum_j (dgr_t[:, cols_j] U[:, cols_j]^T) * mask_j
      const T* a = dgr + (b0 * steps + t) * gu;
      for (Index j = 0; j < rg; ++j) {
        if (!rec_mask) {
          small_gemm(dh, u, a + j * rwidth, steps * gu, ut + j * rwidth * u, u, n, rwidth, u);
          continue;
        }
        std::fill(tmp, tmp + n * u, T(0));
        small_gemm(tmp, u, a + j * rwidth, steps * gu, ut + j * rwidth * u, u, n, rwidth, u);
        ArrayMap<T>(dh, n * u) +=
            ConstArrayMap<T>(tmp, n * u) *
            ConstArrayMap<T>(rec_mask + (j * s.batch + b0) * u, n * u);
      }
    }
    if (dh0) std::memcpy(dh0 + b0 * u, dh, sizeof(T) * n * u);
    if (dc0) std::memcpy(dc0 + b0 * u, dc, sizeof(T) * n * u);
  });

  // Weight gradients and dx as big products over all steps.
  T* big = ws + parts.big;
  const Index ig = groups(s.input_masks, G), iwidth = gu / ig;
  if (dkernel) {
    for (Index j = 0; j < ig; ++j) {
      const T* a = x;
      if (input_mask) {
        mask_rows(big, x, input_mask + j * s.batch * in, s.batch, steps, in);
        a = big;
      }
      gemm(dkernel + j * iwidth, gu, a, in, true, dgx + j * iwidth, gu, false, in, rows, iwidth,
           true);
    }
  }
  if (drk) {
    for (Index j = 0; j < rg; ++j) {
      // big = h_{t-1} (times mask j): h shifted one step, h0 (or zero) at t = 0.
      const T* m = rec_mask ? rec_mask + j * s.batch * u : nullptr;
      parallel_for(s.batch, std::max<Index>(1, (1 << 15) / std::max<Index>(steps * u, 1)),
                   [&](Index b0, Index b1) {
                     for (Index b = b0; b < b1; ++b) {
                       T* o = big + b * steps * u;
                       if (!h0) std::fill(o, o + u, T(0));
                       else if (m) ArrayMap<T>(o, u) = ConstArrayMap<T>(h0 + b * u, u) *
                                                      ConstArrayMap<T>(m + b * u, u);
                       else std::memcpy(o, h0 + b * u, sizeof(T) * u);
                       if (m) {
                         ConstArrayMap<T> mb(m + b * u, u);
                         for (Index t = 1; t < steps; ++t)
                           ArrayMap<T>(o + t * u, u) =
                               ConstArrayMap<T>(h + (b * steps + t - 1) * u, u) * mb;
                       } else if (steps > 1) {
                         std::memcpy(o + u, h + b * steps * u, sizeof(T) * (steps - 1) * u);
                       }
                     }
                   });
      gemm(drk + j * rwidth, gu, big, u, true, dgr + j * rwidth, gu, false, u, rows, rwidth,
           true);
    }
  }
  if (dbias) {
    add_column_sums(dbias, dgx, rows, gu, gu);
    if (gru) add_column_sums(dbias + gu, dgr, rows, gu, gu);
  }
  if (dx) {
    if (ig == 1) {
      gemm(dx, in, dgx, gu, false, kernel, gu, true, rows, gu, in, false);
      if (input_mask) mask_rows(dx, dx, input_mask, s.batch, steps, in);
    } else {
      T* part = ws + parts.tmp;
      for (Index j = 0; j < ig; ++j) {
        gemm(j ? part : dx, in, dgx + j * iwidth, gu, false, kernel + j * iwidth, gu, true, rows,
             iwidth, in, false);
        const T* m = input_mask + j * s.batch * in;
        if (j == 0) {
          mask_rows(dx, dx, m, s.batch, steps, in);
          continue;
        }
        parallel_for(s.batch, std::max<Index>(1, (1 << 15) / std::max<Index>(steps * in, 1)),
                     [&](Index b0, Index b1) {
                       for (Index b = b0; b < b1; ++b) {
                         ConstArrayMap<T> mb(m + b * in, in);
                         for (Index t = 0; t < steps; ++t) {
                           const Index o = (b * steps + t) * in;
                           ArrayMap<T>(dx + o, in) += ConstArrayMap<T>(part + o, in) * mb;
                         }
                       }
                     });
      }
    }
  }
}

#define BRISKNN_INSTANTIATE(T)                                                               \
  template void recurrent_forward<T>(const RecurrentShape&, Activation, Activation, T*, T*, \
                                     T*, const T*, const T*, const T*, const T*, const T*,  \
                                     const T*, const std::uint8_t*, T*, const T*,            \
                                     const T*);                                              \
  template void recurrent_backward<T>(const RecurrentShape&, Activation, Activation, T*, T*, \
                                      T*, T*, const T*, bool, const T*, const T*, const T*,  \
                                      const T*, const T*, const std::uint8_t*, const T*,     \
                                      const T*, const T*, T*, const T*, const T*, T*, T*);
BRISKNN_INSTANTIATE(float)
BRISKNN_INSTANTIATE(double)
#undef BRISKNN_INSTANTIATE

}  // namespace brisknn
