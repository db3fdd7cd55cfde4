#include "brisknn/parallel.h"

#include <atomic>

#include <Eigen/Core>

namespace brisknn {

// Our own count rather than omp_set_num_threads: OpenMP's setting is per calling thread, and
// Python may call the kernels from any thread.
static std::atomic<int> g_threads{0};

// Eigen never threads by itself: matmul splits the work (see dense.cpp) so that results do not
// depend on the thread count.
static const bool g_eigen_single = [] {
  Eigen::setNbThreads(1);
  return true;
}();

int get_num_threads() {
  const int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
}

void set_num_threads(int threads) {
  g_threads.store(threads, std::memory_order_relaxed);
}

}  // namespace brisknn
