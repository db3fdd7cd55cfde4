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
      "numpy_sum",
      [](const py::array& x) {
        const char* fn = "numpy_sum";
        return dispatch_float(fn, x, [&](auto tag) {
          using T = decltype(tag);
          const T* xp = data_ptr<T>(fn, "x", x, false);
          return numpy_sum<T>(xp, x.size());
        });
      },
      py::arg("x"), "np.add.reduce(x.ravel(), dtype=np.float64), bit for bit, as a float.");
  m.def(
      "first_label_outside",
      [](const py::array& labels, int64_t classes) {
        const int64_t* lp = data_ptr<int64_t>("first_label_outside", "labels", labels, false);
        py::gil_scoped_release release;
        return first_label_outside(lp, labels.size(), classes);
      },
      py::arg("labels"), py::arg("classes"),
      "Flat index of the first int64 label outside [0, classes), or -1 if all are inside.");
  m.def(
      "take_rows",
      [](const py::array& x, const py::array& indices, const py::array& out) {
        const char* fn = "take_rows";
        if (x.ndim() < 1) fail_value(std::string(fn) + ": x must have rank >= 1");
        if (!same_dtype(out.dtype(), x.dtype())) {
          fail_type(std::string(fn) + ": out has dtype " + std::string(py::str(out.dtype())) +
                    ", expected x's " + std::string(py::str(x.dtype())));
        }
        // Raw bytes are copied: an object array's pointers would lose their references.
        if (std::string("biufc").find(x.dtype().kind()) == std::string::npos) {
          fail_type(std::string(fn) + ": x must be a numeric array, got dtype " +
                    std::string(py::str(x.dtype())));
        }
        if (!(x.flags() & py::array::c_style) || !(out.flags() & py::array::c_style)) {
          fail_value(std::string(fn) + ": x and out must be C-contiguous");
        }
        if (!out.writeable()) fail_value(std::string(fn) + ": output out is read-only");
        expect_disjoint(fn, {{"x", x}, {"out", out}});
        const Index rows = indices.size(), n = x.shape(0);
        const std::vector<int64_t> index =
            owned_copy(data_ptr<int64_t>(fn, "indices", indices, false), rows);
        const int64_t* ip = index.data();
        bool ok = indices.ndim() == 1 && out.ndim() == x.ndim() && out.shape(0) == rows;
        for (py::ssize_t i = 1; ok && i < x.ndim(); ++i) ok = out.shape(i) == x.shape(i);
        if (!ok) {
          fail_value(std::string(fn) + ": out has shape " + shape_str(out) + ", expected " +
                     std::to_string(rows) + " rows of x's shape " + shape_str(x) +
                     " (indices: shape " + shape_str(indices) + ")");
        }
        for (Index i = 0; i < rows; ++i) {
          if (ip[i] < 0 || ip[i] >= n) {
            fail_value(std::string(fn) + ": index " + std::to_string(ip[i]) + " at position " +
                       std::to_string(i) + " is outside [0, " + std::to_string(n) + ")");
          }
        }
        const Index row_bytes = n ? static_cast<Index>(x.nbytes()) / n : 0;
        const char* xp = static_cast<const char*>(x.data());
        char* op = static_cast<char*>(const_cast<void*>(out.data()));
        py::gil_scoped_release release;
        take_rows(op, xp, ip, rows, row_bytes);
      },
      py::arg("x"), py::arg("indices"), py::arg("out"),
      "out[i] = x[indices[i]] along the first axis (np.take(x, indices, axis=0, out=out)), "
      "on several threads; indices int64, x and out C-contiguous of one dtype.");
}

}  // namespace brisknn::bind
