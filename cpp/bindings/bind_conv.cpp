#include "check.h"

namespace brisknn::bind {

void bind_conv(py::module_& m) { (void)m; }

}  // namespace brisknn::bind
