// Whole-array checks that inputs pass through once, at the Python boundary.
#pragma once
#include <cstdint>

#include "brisknn/parallel.h"

namespace brisknn {

// Index of the first NaN or infinity in x (n), or -1 when every value is finite.
template <class T>
Index first_nonfinite(const T* x, Index n);

// Index of the first label outside [0, classes) in labels (n), or -1 when all are inside.
Index first_label_outside(const int64_t* labels, Index n, int64_t classes);

}  // namespace brisknn
