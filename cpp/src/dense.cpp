#include "brisknn/dense.h"

#include "brisknn/views.h"

namespace brisknn {

namespace {

constexpr Index kRowGrain = 1 << 14;  // elements per thread for the bias + activation pass

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
constexpr double kFlopsPerThread = 2e6;  // below this one thread is faster than waking others

// One thread's share of c = op(a) op(b): rows [r0, r1) of c.
template <class T>
void matmul_rows(T* c, const T* a, const T* b, Index m, Index k, Index n, bool trans_a,
                 bool trans_b, bool accumulate, Index r0, Index r1) {
  auto C = MatrixMap<T>(c, m, n).middleRows(r0, r1 - r0);
  auto run = [&](const auto& A, const auto& B) {
    if (accumulate) C.noalias() += A.middleRows(r0, r1 - r0) * B;
    else C.noalias() = A.middleRows(r0, r1 - r0) * B;
  };
  // Transposes stay views: Eigen packs them straight from the strided source.
  if (trans_a) {
    ConstMatrixMap<T> A(a, k, m);
    if (trans_b) run(A.transpose(), ConstMatrixMap<T>(b, n, k).transpose());
    else run(A.transpose(), ConstMatrixMap<T>(b, k, n));
  } else {
    ConstMatrixMap<T> A(a, m, k);
    if (trans_b) run(A, ConstMatrixMap<T>(b, n, k).transpose());
    else run(A, ConstMatrixMap<T>(b, k, n));
  }
}

}  // namespace

template <class T>
void matmul(T* c, const T* a, const T* b, Index m, Index k, Index n, bool trans_a, bool trans_b,
            bool accumulate) {
  // We thread the GEMM ourselves (Eigen single-threaded inside each block) rather than let
  // Eigen do it: Eigen's k-blocking changes with its thread count, and with it the rounding.
  const Index by_work = static_cast<Index>(2.0 * m * n * k / kFlopsPerThread);
  const Index units = (m + kRowAlign - 1) / kRowAlign;
  const Index blocks = std::min<Index>({static_cast<Index>(get_num_threads()), units, by_work});
  if (blocks <= 1 || omp_in_parallel()) {
    matmul_rows(c, a, b, m, k, n, trans_a, trans_b, accumulate, 0, m);
    return;
  }
#pragma omp parallel for num_threads(static_cast<int>(blocks)) schedule(static, 1)
  for (Index t = 0; t < blocks; ++t) {
    const Index lo = std::min(units * t / blocks * kRowAlign, m);
    const Index hi = std::min(units * (t + 1) / blocks * kRowAlign, m);
    if (lo < hi) matmul_rows(c, a, b, m, k, n, trans_a, trans_b, accumulate, lo, hi);
  }
}

template <class T>
void dense_forward(T* y, const T* x, const T* w, const T* bias, Index batch, Index in, Index out,
                   Activation act, T alpha) {
  matmul(y, x, w, batch, in, out, false, false, false);
  if (!bias && act == Activation::Linear) return;
  // One pass over y for bias and activation, while the rows are still in cache.
  parallel_for(batch, std::max<Index>(1, kRowGrain / std::max<Index>(out, 1)),
               [&](Index begin, Index end) {
                 T* rows = y + begin * out;
                 if (bias) {
                   ConstRowVectorMap<T> b(bias, out);
                   for (Index r = begin; r < end; ++r) RowVectorMap<T>(y + r * out, out) += b;
                 }
                 if (act == Activation::Softmax) {
                   activation_forward(rows, rows, end - begin, out, act, alpha);
                 } else {
                   activation_forward(rows, rows, Index{1}, (end - begin) * out, act, alpha);
                 }
               });
}

template <class T>
void dense_backward(T* dx, T* dw, T* dbias, const T* dz, const T* x, const T* w, Index batch,
                    Index in, Index out) {
  if (dw) matmul(dw, x, dz, in, batch, out, true, false, true);
  if (dbias) add_column_sums(dbias, dz, batch, out);
  if (dx) matmul(dx, dz, w, batch, out, in, false, true, false);
}

#define BRISKNN_INSTANTIATE(T)                                                                \
  template void matmul<T>(T*, const T*, const T*, Index, Index, Index, bool, bool, bool);     \
  template void dense_forward<T>(T*, const T*, const T*, const T*, Index, Index, Index,       \
                                 Activation, T);                                              \
  template void dense_backward<T>(T*, T*, T*, const T*, const T*, const T*, Index, Index, Index);
BRISKNN_INSTANTIATE(float)
BRISKNN_INSTANTIATE(double)
#undef BRISKNN_INSTANTIATE

}  // namespace brisknn
