// Thread control and build facts.
#include <Eigen/Core>

#include "brisknn/parallel.h"
#include "check.h"

namespace brisknn::bind {

namespace {

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
      [](int threads) {
        if (threads < 1) fail_value("set_num_threads: expected a positive count, got " +
                                    std::to_string(threads));
        set_num_threads(threads);
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
