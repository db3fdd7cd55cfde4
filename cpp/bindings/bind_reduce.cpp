#include "brisknn/reduce.h"

#include "check.h"

namespace brisknn::bind {

void bind_reduce(py::module_& m) {
  m.def(
      "first_nonfinite",
      [](const py::array& x) {
        const char* fn = "first_nonfinite";
        return dispatch_float(fn, x, [&](auto tag) {
          using T = decltype(tag);
          const T* xp = data_ptr<T>(fn, "x", x, false);
          py::gil_scoped_release release;
          return first_nonfinite<T>(xp, x.size());
        });
      },
      py::arg("x"), "Flat index of the first NaN or infinity in x, or -1 if all are finite.");
}

}  // namespace brisknn::bind
