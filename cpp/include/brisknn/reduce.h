// Whole-array checks that inputs pass through once, at the Python boundary.
#pragma once
#include "brisknn/parallel.h"

namespace brisknn {

// Index of the first NaN or infinity in x (n), or -1 when every value is finite.
template <class T>
Index first_nonfinite(const T* x, Index n);

}  // namespace brisknn
