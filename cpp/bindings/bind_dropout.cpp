#include "check.h"

namespace brisknn::bind {

void bind_dropout(py::module_& m) { (void)m; }

}  // namespace brisknn::bind
