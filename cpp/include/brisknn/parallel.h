// Thread count and a chunked parallel loop shared by every kernel family.
#pragma once
#include <algorithm>
#include <cstddef>

#include <omp.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace brisknn {

using Index = std::ptrdiff_t;

int get_num_threads();
void set_num_threads(int threads);

// Treats denormal floats as zero while it lives (FTZ and DAZ in this thread's MXCSR), then
// restores the caller's mode. Denormal arithmetic is ~100x slower, and training makes plenty of
// them: Adam's moments of a weight whose gradient stays zero (a dead ReLU unit, an embedding row
// not in the batch) decay by 0.9 a step into the denormal range after ~800 steps. TensorFlow
// flushes them as well.
class FlushDenormals {
 public:
#if defined(__SSE__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned int saved_;
#endif
};

// Runs f(begin, end) over [0, n) split into one contiguous chunk per thread. Work below two grains
// stays on the calling thread: waking the pool costs microseconds, more than small loops take.
template <class F>
void parallel_for(Index n, Index grain, F&& f) {
  const Index chunks = grain > 0 ? n / grain : n;
  // Inside another parallel region (a per-image loop, say) the caller already owns the cores.
  const int threads =
      omp_in_parallel() ? 1 : static_cast<int>(std::min<Index>(get_num_threads(), chunks));
  if (threads <= 1) {
    FlushDenormals flush;
    if (n > 0) f(Index{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    FlushDenormals flush;
    const Index t = omp_get_thread_num(), nt = omp_get_num_threads();
    const Index begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) f(begin, end);
  }
}

// Runs f(t) for each block t in [0, blocks), each thread a contiguous run of blocks (one each
// when there are as many threads). Block t is the same work whoever runs it, so a caller that
// splits its range into fixed blocks (aligned to what its rounding depends on) gets the same
// bits on any thread count. Serial when there is one block or the caller already runs inside a
// parallel region.
template <class F>
void parallel_blocks(Index blocks, F&& f) {
  const int threads = static_cast<int>(std::min<Index>(get_num_threads(), blocks));
  if (threads <= 1 || omp_in_parallel()) {
    FlushDenormals flush;
    for (Index t = 0; t < blocks; ++t) f(t);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (Index t = 0; t < blocks; ++t) {
    FlushDenormals flush;
    f(t);
  }
}

}  // namespace brisknn
