#include "check.h"

namespace brisknn::bind {

void bind_pool(py::module_& m) { (void)m; }

}  // namespace brisknn::bind
