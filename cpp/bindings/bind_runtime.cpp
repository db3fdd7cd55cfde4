// Thread control and build facts.
#include <Eigen/Core>

#include "brisknn/parallel.h"
#include "check.h"

namespace brisknn::bind {

namespace {

constexpr long long kMaxThreads = 4096;  // beyond any machine; OpenMP fails on absurd counts

py::list simd_instruction_sets() {
  // Eigen reports what it vectorises with, which follows the -m flags the kernels were built with.
  py::list sets;
  std::string s = Eigen::SimdInstructionSetsInUse();
  std::string item;
  for (char c : s) {
    if (c == ',') {
      if (!item.empty()) sets.append(item);
      item.clear();
    } else if (c != ' ') {
      item += c;
    }
  }
  if (!item.empty()) sets.append(item);
  return sets;
}

}  // namespace

void bind_runtime(py::module_& m) {
  m.def("get_num_threads", &get_num_threads, "Number of threads the kernels use.");
  m.def(
      "set_num_threads",
      [](const py::object& threads) {
        // Any Python integer: a float or a count past int would otherwise get pybind11's
        // generic "incompatible function arguments".
        if (!PyIndex_Check(threads.ptr()) || py::isinstance<py::bool_>(threads)) {
          throw py::type_error("set_num_threads: expected an integer thread count, got " +
                               std::string(py::str(py::repr(threads))));
        }
        const py::int_ count(threads);
        int overflow = 0;
        const long long n = PyLong_AsLongLongAndOverflow(count.ptr(), &overflow);
        if (overflow != 0 || n < 1 || n > kMaxThreads) {
          fail_value("set_num_threads: expected a count in [1, " + std::to_string(kMaxThreads) +
                     "], got " + std::string(py::str(count)));
        }
        set_num_threads(static_cast<int>(n));
      },
      py::arg("threads"));
  m.def("build_info", []() {
    py::dict info;
    info["version"] = BRISKNN_VERSION;
    info["compiler"] = BRISKNN_COMPILER;
    info["simd"] = simd_instruction_sets();
    info["eigen"] = std::to_string(EIGEN_WORLD_VERSION) + "." +
                    std::to_string(EIGEN_MAJOR_VERSION) + "." +
                    std::to_string(EIGEN_MINOR_VERSION);
    info["openmp"] = _OPENMP;
    info["num_threads"] = get_num_threads();
    return info;
  });
}

}  // namespace brisknn::bind
