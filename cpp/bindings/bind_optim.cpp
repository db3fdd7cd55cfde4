#include "check.h"

namespace brisknn::bind {

void bind_optim(py::module_& m) { (void)m; }

}  // namespace brisknn::bind
