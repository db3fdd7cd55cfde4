#include "check.h"

namespace brisknn::bind {

void bind_dense(py::module_& m) { (void)m; }

}  // namespace brisknn::bind
