#include "brisknn/reduce.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "brisknn/views.h"

namespace brisknn {

namespace {

constexpr Index kBlock = 1 << 12;
constexpr Index kPairwiseBlock = 128;  // NumPy's PW_BLOCKSIZE
constexpr Index kNumpyBuffer = 8192;   // NumPy's default ufunc buffer size (np.getbufsize())

// x - x is 0 for finite x and NaN for NaN or infinity, so a block is finite exactly when its
// sum of (x - x) is 0: one vectorised pass without branches.
template <class T>
bool block_finite(const T* x, Index n) {
  ConstArrayMap<T> a(x, n);
  return (a - a).sum() == T(0);
}

// NumPy's pairwise_sum (numpy/_core/src/umath/loops_utils.h.src) on x converted to double.
template <class T>
double pairwise_sum(const T* a, Index n) {
  if (n < 8) {
    double res = 0.;
    for (Index i = 0; i < n; ++i) res += static_cast<double>(a[i]);
    return res;
  }
  if (n <= kPairwiseBlock) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = static_cast<double>(a[j]);
    Index i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += static_cast<double>(a[i + j]);
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += static_cast<double>(a[i]);
    return res;
  }
  Index n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

}  // namespace

template <class T>
double numpy_sum(const T* x, Index n) {
  // A cast goes through NumPy's buffer, and each buffer's sum is added to the result in turn.
  const Index run = std::is_same_v<T, double> ? std::max<Index>(n, 1) : kNumpyBuffer;
  double total = 0.;
  for (Index i = 0; i < n; i += run) total += pairwise_sum(x + i, std::min(run, n - i));
  return total;
}

template double numpy_sum<float>(const float*, Index);
template double numpy_sum<double>(const double*, Index);

template <class T>
Index first_nonfinite(const T* x, Index n) {
  const Index blocks = (n + kBlock - 1) / kBlock;
  std::vector<char> bad(static_cast<size_t>(blocks), 0);
  // Four blocks (64 KB of float32) a thread: a 128x784 batch is scanned by two threads, each
  // reading about the rows its share of the first layer's product will read next.
  parallel_for(blocks, 4, [&](Index begin, Index end) {
    for (Index b = begin; b < end; ++b) {
      bad[b] = !block_finite(x + b * kBlock, std::min(kBlock, n - b * kBlock));
    }
  });
  for (Index b = 0; b < blocks; ++b) {
    if (!bad[b]) continue;
    for (Index i = b * kBlock; i < std::min(n, (b + 1) * kBlock); ++i) {
      if (!std::isfinite(x[i])) return i;
    }
  }
  return -1;
}

Index first_label_outside(const int64_t* labels, Index n, int64_t classes) {
  // Unsigned: a negative label wraps above any class count, so one compare per label.
  for (Index i = 0; i < n; ++i) {
    if (static_cast<uint64_t>(labels[i]) >= static_cast<uint64_t>(classes)) return i;
  }
  return -1;
}

void take_rows(char* out, const char* x, const int64_t* indices, Index rows, Index row_bytes) {
  // 64 KB a thread: random rows come from memory, so copying is latency bound and two threads
  // gather twice as fast (a 128 x 784 float32 batch of a 60000-image set: ~100 us on one).
  const Index grain = std::max<Index>(1, (Index{1} << 16) / std::max<Index>(row_bytes, 1));
  parallel_for(rows, grain, [&](Index begin, Index end) {
    for (Index r = begin; r < end; ++r) {
      std::memcpy(out + r * row_bytes, x + indices[r] * row_bytes, static_cast<size_t>(row_bytes));
    }
  });
}

template Index first_nonfinite<float>(const float*, Index);
template Index first_nonfinite<double>(const double*, Index);

}  // namespace brisknn
