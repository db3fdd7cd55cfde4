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
  m.def(
      "first_label_outside",
      [](const py::array& labels, int64_t classes) {
        const int64_t* lp = data_ptr<int64_t>("first_label_outside", "labels", labels, false);
        py::gil_scoped_release release;
        return first_label_outside(lp, labels.size(), classes);
      },
      py::arg("labels"), py::arg("classes"),
      "Flat index of the first int64 label outside [0, classes), or -1 if all are inside.");
}

}  // namespace brisknn::bind
