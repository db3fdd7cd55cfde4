// Whole-array passes at the Python boundary: input checks, and gathering a shuffled batch.
#pragma once
#include <cstdint>

#include "brisknn/parallel.h"

namespace brisknn {

// Index of the first NaN or infinity in x (n), or -1 when every value is finite.
template <class T>
Index first_nonfinite(const T* x, Index n);

// np.add.reduce(x, dtype=np.float64) bit for bit, without NumPy's reduction machinery (whose
// setup, after a training step has flushed the caches, costs ~10 us for a 128-element batch of
// losses): NumPy's pairwise summation (8 accumulators up to 128 elements, halves above), over
// buffers of 8192 elements when x must be cast to float64 (float32), in one run when not.
template <class T>
double numpy_sum(const T* x, Index n);

// Index of the first label outside [0, classes) in labels (n), or -1 when all are inside.
Index first_label_outside(const int64_t* labels, Index n, int64_t classes);

// out row i = x row indices[i], rows of row_bytes bytes (any dtype); indices already checked.
// Threads copy contiguous runs of output rows, so each warms its cache with the rows its share
// of the next product (split by rows the same way) reads.
void take_rows(char* out, const char* x, const int64_t* indices, Index rows, Index row_bytes);

}  // namespace brisknn
