#include "check.h"

namespace brisknn::bind {

void bind_loss(py::module_& m) { (void)m; }

}  // namespace brisknn::bind
