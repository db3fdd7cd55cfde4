#include "brisknn/dense.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "brisknn/views.h"

namespace brisknn {

namespace {

// Column sums of z (rows, cols) added into out, row after row: a fixed order whatever the
// thread count, and each row is a contiguous vectorised add.
template <class T>
void add_column_sums(T* out, const T* z, Index rows, Index cols) {
  RowVectorMap<T> acc(out, cols);
  for (Index r = 0; r < rows; ++r) acc += ConstRowVectorMap<T>(z + r * cols, cols);
}

// Row blocks handed to threads start at multiples of this, a multiple of the column-panel width
// of Eigen's packed kernels (it computes the row-major product as its transpose), so each output
// element goes through the same micro-kernel and k-order on any thread count.
constexpr Index kRowAlign = 8;
// Below this one thread is faster than waking others. (Splitting the 3.3e5-flop products of an
// MLP's 10-unit output layer saves ~5 us alone but nothing in a training step: the rows it
// leaves in the other core's cache cost as much later.)
constexpr double kFlopsPerThread = 2e6;

// Eigen's GEMM with packing buffers that persist per thread. Through operator* Eigen mallocs and
// frees them on every product; above glibc's mmap threshold that is an mmap/munmap pair and fresh
// page faults per call, which cost 40% of a 128x784x128 product. The blocking sizes are Eigen's
// own (the base class computes them), so results are those of Eigen's single-threaded product.
template <class T>
class PersistentBlocking
    : public Eigen::internal::gemm_blocking_space<Eigen::RowMajor, T, T, Eigen::Dynamic,
                                                  Eigen::Dynamic, Eigen::Dynamic, 1, false> {
  using Base = Eigen::internal::gemm_blocking_space<Eigen::RowMajor, T, T, Eigen::Dynamic,
                                                    Eigen::Dynamic, Eigen::Dynamic, 1, false>;

 public:
  PersistentBlocking(Index rows, Index cols, Index depth) : Base(rows, cols, depth, 1, true) {
    thread_local Buffer a, b;
    this->m_blockA = a.get(this->m_mc * this->m_kc);
    this->m_blockB = b.get(this->m_kc * this->m_nc);
  }
  ~PersistentBlocking() { this->m_blockA = this->m_blockB = nullptr; }  // not the base's to free

 private:
  struct Buffer {
    T* data = nullptr;
    Index size = 0;
    T* get(Index n) {
      if (n > size) {
        Eigen::internal::aligned_free(data);
        data = static_cast<T*>(Eigen::internal::aligned_malloc(sizeof(T) * n));
        size = n;
      }
      return data;
    }
    ~Buffer() { Eigen::internal::aligned_free(data); }
  };
};

// Where a product's operands lie: row-major with row strides (a column block of a wider matrix
// has the wider row length as its stride); a transposed operand is its transpose stored that way.
template <class T>
struct Operands {
  T* c;
  Index ldc;
  const T* a;
  Index lda;
  bool trans_a;
  const T* b;
  Index ldb;
  bool trans_b;
};

// One thread's share of a product: rows [r0, r1) and columns [c0, c1) of c over the depth
// slice [k0, k1).
struct Block {
  Index r0, r1, c0, c1, k0, k1;
};

// One 64-byte SIMD register of T (GCC's vector extension: zmm under AVX-512, two ymm or four
// xmm registers elsewhere).
template <class T>
struct LanesOf {
  typedef T type __attribute__((vector_size(64)));  // an alias template cannot carry it
};
template <class T>
using Lanes = typename LanesOf<T>::type;
template <class T>
constexpr Index kLanes = 64 / sizeof(T);

// A product whose c is at most one register wide (an output layer of 10 classes: x (128, 128) @
// kernel (128, 10), and its dkernel): Eigen pads it into panels of 4 columns and packs both
// operands; here b's rows are padded into one register each (k registers, in L1) and 8 rows of
// c accumulate in 8 registers, a broadcast of a times b's row per step of k. About twice as
// fast as Eigen at 128x128x10; each element is one k-ordered chain of fused multiply-adds,
// whatever the thread split.
template <class T, bool TransA>
[[gnu::noinline]] void narrow_product(T* __restrict__ c, Index ldc, const T* __restrict__ a,
                                      Index lda, const T* __restrict__ packed_b, Index m,
                                      Index k, Index n) {
  constexpr Index kRows = 8;
  const auto row_of_a = [&](Index i, Index p) { return TransA ? a[p * lda + i] : a[i * lda + p]; };
  const auto add_row = [&](Index i, const Lanes<T>& acc) {
    for (Index j = 0; j < n; ++j) c[i * ldc + j] += acc[j];
  };
  Index i = 0;
  for (; i + kRows <= m; i += kRows) {
    Lanes<T> acc[kRows] = {};
    for (Index p = 0; p < k; ++p) {
      Lanes<T> b;
      std::memcpy(&b, packed_b + p * kLanes<T>, sizeof b);
      for (Index r = 0; r < kRows; ++r) acc[r] += row_of_a(i + r, p) * b;
    }
    for (Index r = 0; r < kRows; ++r) add_row(i + r, acc[r]);
  }
  for (; i < m; ++i) {
    Lanes<T> acc = {};
    for (Index p = 0; p < k; ++p) {
      Lanes<T> b;
      std::memcpy(&b, packed_b + p * kLanes<T>, sizeof b);
      acc += row_of_a(i, p) * b;
    }
    add_row(i, acc);
  }
}

// out[r0:r1, c0:c1] (+)= op(a)[r0:r1, k0:k1] op(b)[k0:k1, c0:c1] on the calling thread; out is c
// itself or a partial (row stride ldo). `narrow` (c's full width fits a register, a function of
// the shape) picks narrow_product for every block of the product.
template <class T, int AOrder, int BOrder>
void gemm_block(T* out, Index ldo, const Operands<T>& o, bool accumulate, bool narrow,
                const Block& blk) {
  const Index rows = blk.r1 - blk.r0, cols = blk.c1 - blk.c0, depth = blk.k1 - blk.k0;
  T* c0 = out + blk.r0 * ldo + blk.c0;
  if (!accumulate) {  // both kernels add
    for (Index r = 0; r < rows; ++r) std::fill(c0 + r * ldo, c0 + r * ldo + cols, T(0));
  }
  if (rows == 0 || cols == 0 || depth == 0) return;
  const T* a0 = AOrder == Eigen::RowMajor ? o.a + blk.r0 * o.lda + blk.k0
                                          : o.a + blk.k0 * o.lda + blk.r0;
  const T* b0 = BOrder == Eigen::RowMajor ? o.b + blk.k0 * o.ldb + blk.c0
                                          : o.b + blk.c0 * o.ldb + blk.k0;
  if (narrow) {
    thread_local std::vector<T> packed;  // reused: grows once
    packed.resize(static_cast<size_t>(depth * kLanes<T>));
    std::fill(packed.begin(), packed.end(), T(0));
    for (Index p = 0; BOrder == Eigen::RowMajor && p < depth; ++p) {
      std::memcpy(&packed[p * kLanes<T>], b0 + p * o.ldb, sizeof(T) * cols);
    }
    for (Index j = 0; BOrder == Eigen::ColMajor && j < cols; ++j) {  // b's rows are c's columns
      for (Index p = 0; p < depth; ++p) packed[p * kLanes<T> + j] = b0[j * o.ldb + p];
    }
    narrow_product<T, AOrder == Eigen::ColMajor>(c0, ldo, a0, o.lda, packed.data(), rows, depth,
                                                 cols);
    return;
  }
  PersistentBlocking<T> blocking(rows, cols, depth);
  Eigen::internal::general_matrix_matrix_product<Index, T, AOrder, false, T, BOrder, false,
                                                 Eigen::RowMajor, 1>::run(
      rows, cols, depth, a0, o.lda, b0, o.ldb, c0, 1, ldo, T(1), blocking, nullptr);
}

// The storage orders as template arguments: Eigen's kernels are specialised on them.
template <class T>
void gemm_block(T* out, Index ldo, const Operands<T>& o, bool accumulate, bool narrow,
                const Block& blk) {
  constexpr int R = Eigen::RowMajor, C = Eigen::ColMajor;
  if (o.trans_a) {
    if (o.trans_b) gemm_block<T, C, C>(out, ldo, o, accumulate, narrow, blk);
    else gemm_block<T, C, R>(out, ldo, o, accumulate, narrow, blk);
  } else {
    if (o.trans_b) gemm_block<T, R, C>(out, ldo, o, accumulate, narrow, blk);
    else gemm_block<T, R, R>(out, ldo, o, accumulate, narrow, blk);
  }
}

constexpr Index kMaxDepthGroups = 8;

// Into how many slices of its depth k a product is cut, each multiplied into its own partial
// and the partials then added in order: a function of the shape alone, so the bits do not
// depend on the thread count. It pays when k is large next to m (an MLP's first layer, x (128,
// 784) @ kernel (784, 128)). Split by rows, every thread would pack all of b, and all of a
// layer's kernel would sit in every core's cache; split by depth, a thread reads only its slice
// of the kernel's rows, the rows its share of the kernel's gradient (a split of dW's rows with
// the same boundaries) and of the optimizer step touch too, so a weight's cache lines stay in
// one core. (Without it the optimizer step after an MLP's pass took 3x as long, its writes
// waiting for the other core to drop its copies.)
Index depth_groups(Index m, Index k, Index n) {
  if (2.0 * m * n * k < 2 * kFlopsPerThread) return 1;
  Index groups = 1;
  while (groups < kMaxDepthGroups && k >= 4 * m * groups) groups *= 2;
  return groups;
}

// Boundary t of `parts` near-equal runs of [0, size) in units of `align`.
Index aligned_cut(Index size, Index parts, Index t, Index align) {
  const Index units = (size + align - 1) / align;
  return std::min(units * t / parts * align, size);
}

// Column blocks start at multiples of Eigen's lhs panel height (it computes the row-major
// product as its transpose, whose rows are c's columns), so each element goes through the same
// micro-kernel as in the whole product.
template <class T>
constexpr Index kColAlign = Eigen::internal::gebp_traits<T, T>::mr;

// c = op(a) op(b), then epilogue(r0, r1) on finished blocks of rows, each by one thread while
// the rows are in its cache.
//
// The work is cut three ways, each a function of the shape (and the thread count only where
// the cut does not change any element's arithmetic): into depth slices (depth_groups), then
// each slice into blocks of rows or, when c is wider than tall, of columns. A thread then packs
// only its share of the larger operand; only the smaller one is packed by every thread. With
// columns, a thread's columns of dx = dz kernel^T are its rows of the kernel, as above.
template <class T, class Epilogue>
void gemm_then(const Operands<T>& o, Index m, Index k, Index n, bool accumulate,
               const Epilogue& epilogue) {
  // We thread the GEMM ourselves (Eigen single-threaded inside each block) rather than let
  // Eigen do it: Eigen's k-blocking changes with its thread count, and with it the rounding.
  const Index groups = depth_groups(m, k, n);
  const bool narrow = n <= kLanes<T>;
  const bool by_columns = groups == 1 && n > m;
  const Index extent = by_columns ? n : m, align = by_columns ? kColAlign<T> : kRowAlign;
  const Index by_work = static_cast<Index>(2.0 * m * n * k / kFlopsPerThread) / groups;
  const Index threads = get_num_threads();
  const Index parts = std::max<Index>(1, std::min<Index>({(threads + groups - 1) / groups,
                                                          (extent + align - 1) / align, by_work}));
  // Slice 0 goes straight into c; the others into partials, reused across calls.
  thread_local std::vector<T> partial_buffer;
  std::vector<T>& partials = partial_buffer;  // the workers see the caller's buffer
  partials.resize(static_cast<size_t>((groups - 1) * m * n));
  const bool whole_rows = groups == 1 && !by_columns;  // a part ends with finished rows
  parallel_blocks(groups * parts, [&](Index item) {
    const Index g = item / parts, p = item % parts;
    const Index lo = aligned_cut(extent, parts, p, align);
    const Index hi = aligned_cut(extent, parts, p + 1, align);
    if (lo >= hi) return;
    Block blk{0, m, 0, n, aligned_cut(k, groups, g, kRowAlign),
              aligned_cut(k, groups, g + 1, kRowAlign)};
    if (by_columns) {
      blk.c0 = lo, blk.c1 = hi;
    } else {
      blk.r0 = lo, blk.r1 = hi;
    }
    if (g == 0) {
      gemm_block(o.c, o.ldc, o, accumulate, narrow, blk);
    } else {
      gemm_block(partials.data() + (g - 1) * m * n, n, o, false, narrow, blk);
    }
    if (whole_rows) epilogue(lo, hi);
  });
  if (whole_rows) return;
  parallel_for(m, std::max<Index>(1, (1 << 12) / std::max<Index>(n, 1)), [&](Index lo, Index hi) {
    for (Index r = lo; r < hi; ++r) {
      RowVectorMap<T> row(o.c + r * o.ldc, n);
      for (Index g = 1; g < groups; ++g) {
        row += ConstRowVectorMap<T>(partials.data() + ((g - 1) * m + r) * n, n);
      }
    }
    epilogue(lo, hi);
  });
}

template <class T, class Epilogue>
void matmul_then(T* c, const T* a, const T* b, Index m, Index k, Index n, bool trans_a,
                 bool trans_b, bool accumulate, const Epilogue& epilogue) {
  const Operands<T> o{c, n, a, trans_a ? m : k, trans_a, b, trans_b ? k : n, trans_b};
  gemm_then(o, m, k, n, accumulate, epilogue);
}

}  // namespace

template <class T>
void gemm(T* c, Index ldc, const T* a, Index lda, bool trans_a, const T* b, Index ldb,
          bool trans_b, Index m, Index k, Index n, bool accumulate) {
  gemm_then(Operands<T>{c, ldc, a, lda, trans_a, b, ldb, trans_b}, m, k, n, accumulate,
            [](Index, Index) {});
}

template <class T>
void matmul(T* c, const T* a, const T* b, Index m, Index k, Index n, bool trans_a, bool trans_b,
            bool accumulate) {
  matmul_then(c, a, b, m, k, n, trans_a, trans_b, accumulate, [](Index, Index) {});
}

template <class T>
bool dense_forward(T* y, const T* x, const T* w, const T* bias, Index batch, Index in, Index out,
                   Activation act, T alpha) {
  // Bias and activation on each thread's rows right after its product; both are per element
  // (softmax per row), so where the rows are split changes nothing. The finiteness test of
  // x W + b runs there too, on rows still in L1: NaN and inf in a row of x reach every element
  // of that row of the product (NaN * w and inf * 0 are NaN), so it also tells whether x was
  // finite, at a sixth of the reads of scanning a 784-wide x.
  std::atomic<bool> finite{true};
  matmul_then(y, x, w, batch, in, out, false, false, false, [&](Index begin, Index end) {
    T* rows = y + begin * out;
    if (bias) {
      ConstRowVectorMap<T> b(bias, out);
      for (Index r = begin; r < end; ++r) RowVectorMap<T>(y + r * out, out) += b;
    }
    if (!ConstRowVectorMap<T>(rows, (end - begin) * out).allFinite()) {
      finite.store(false, std::memory_order_relaxed);
    }
    if (act == Activation::Linear) return;
    // Nested in the product's parallel region (or the caller's), this runs on the calling
    // thread: it is that thread's share.
    if (is_row_wise(act)) {  // softmax, log_softmax
      activation_forward(rows, rows, end - begin, out, act, alpha);
    } else {
      activation_forward(rows, rows, Index{1}, (end - begin) * out, act, alpha);
    }
  });
  return finite.load();
}

template <class T>
void dense_backward(T* dx, T* dw, T* dbias, const T* dz, const T* x, const T* w, Index batch,
                    Index in, Index out) {
  if (dw) matmul(dw, x, dz, in, batch, out, true, false, true);
  if (dbias) add_column_sums(dbias, dz, batch, out);
  if (dx) matmul(dx, dz, w, batch, out, in, false, true, false);
}

template <class T>
void dense_backward(T* dx, T* dw, T* dbias, const T* dy, const T* y, Activation act, T alpha,
                    const T* x, const T* w, Index batch, Index in, Index out) {
  if (act == Activation::Linear) return dense_backward(dx, dw, dbias, dy, x, w, batch, in, out);
  thread_local std::vector<T> dz;  // reused: no allocation per step
  dz.resize(static_cast<size_t>(batch * out));
  activation_backward(dz.data(), dy, y, batch, out, act, alpha);
  dense_backward(dx, dw, dbias, dz.data(), x, w, batch, in, out);
}

#define BRISKNN_INSTANTIATE(T)                                                                \
  template void matmul<T>(T*, const T*, const T*, Index, Index, Index, bool, bool, bool);     \
  template void gemm<T>(T*, Index, const T*, Index, bool, const T*, Index, bool, Index, Index,  \
                        Index, bool);                                                          \
  template bool dense_forward<T>(T*, const T*, const T*, const T*, Index, Index, Index,       \
                                 Activation, T);                                              \
  template void dense_backward<T>(T*, T*, T*, const T*, const T*, const T*, Index, Index, Index); \
  template void dense_backward<T>(T*, T*, T*, const T*, const T*, Activation, T, const T*,      \
                                  const T*, Index, Index, Index);
BRISKNN_INSTANTIATE(float)
BRISKNN_INSTANTIATE(double)
#undef BRISKNN_INSTANTIATE

}  // namespace brisknn
