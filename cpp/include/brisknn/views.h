// Eigen views over caller-owned row-major buffers: kernels never own memory.
#pragma once
#include <Eigen/Core>

#include <algorithm>

#include "brisknn/parallel.h"

namespace brisknn {

template <class T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MatrixMap = Eigen::Map<Matrix<T>>;
template <class T>
using ConstMatrixMap = Eigen::Map<const Matrix<T>>;
template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using RowVectorMap = Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>;
template <class T>
using ConstRowVectorMap = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>;

// Applies an Eigen array expression f to x[0, n) in aligned blocks of kMapBlock elements and hands
// each block's result to store(offset, block, count). Why not a plain Map: Eigen runs the elements
// before the first aligned address and after the last whole packet through scalar code, whose
// exp/log/tanh differ from the vectorised ones in the last bit, so results would depend on where
// NumPy put the array and on how a loop was split across threads. Here every element takes the
// vector path (the copies stay in L1 and cost little next to a transcendental).
constexpr Index kMapBlock = 256;

template <class T, class F, class Store>
void map_blocks(const T* x, Index n, F f, Store store) {
  // Blocks are padded to 64 bytes, a whole number of packets at any SIMD width up to 512 bits,
  // so Eigen sees an aligned start and no tail: it runs packets only, and no more of them than
  // a short row (a gate of 64 units) needs.
  constexpr Index kPad = 64 / sizeof(T);
  using Block = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;
  alignas(64) T in[kMapBlock];
  alignas(64) T out[kMapBlock];
  for (Index i = 0; i < n; i += kMapBlock) {
    const Index m = std::min(kMapBlock, n - i);
    const Index padded = (m + kPad - 1) / kPad * kPad;
    std::copy(x + i, x + i + m, in);
    std::fill(in + m, in + padded, T(0));
    Block(out, padded) = f(Block(in, padded));
    store(i, static_cast<const T*>(out), m);
  }
}

// x[0, n) summed left to right: the order, hence the rounding, never depends on alignment.
template <class T>
T ordered_sum(const T* x, Index n) {
  T s = T(0);
  for (Index i = 0; i < n; ++i) s += x[i];
  return s;
}

}  // namespace brisknn
