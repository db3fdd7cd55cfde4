// Thread count and a chunked parallel loop shared by every kernel family.
#pragma once
#include <algorithm>
#include <cstddef>

#include <omp.h>

namespace brisknn {

using Index = std::ptrdiff_t;

int get_num_threads();
void set_num_threads(int threads);

// Runs f(begin, end) over [0, n) split into one contiguous chunk per thread. Work below two grains
// stays on the calling thread: waking the pool costs microseconds, more than small loops take.
template <class F>
void parallel_for(Index n, Index grain, F&& f) {
  const Index chunks = grain > 0 ? n / grain : n;
  // Inside another parallel region (a per-image loop, say) the caller already owns the cores.
  const int threads =
      omp_in_parallel() ? 1 : static_cast<int>(std::min<Index>(get_num_threads(), chunks));
  if (threads <= 1) {
    if (n > 0) f(Index{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const Index t = omp_get_thread_num(), nt = omp_get_num_threads();
    const Index begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) f(begin, end);
  }
}

}  // namespace brisknn
