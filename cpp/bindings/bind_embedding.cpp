#include "brisknn/embedding.h"

#include <cstdint>

#include "check.h"

namespace brisknn::bind {

namespace {

// Calls f(I{}) for the ids' integer dtype (int32 or int64).
template <class F>
void dispatch_ids(const char* fn, const py::array& ids, F&& f) {
  if (has_dtype<int32_t>(ids)) return f(int32_t{});
  if (has_dtype<int64_t>(ids)) return f(int64_t{});
  fail_type(std::string(fn) + ": ids must be int32 or int64, got " +
            std::string(py::str(ids.dtype())));
}

// A copy of the ids after checking every one is a row of the table: the kernels trust them.
template <class I>
std::vector<I> checked_ids(const char* fn, const py::array& ids, Index vocab) {
  const Index n = dim(fn, "ids", ids, 1, 0);
  std::vector<I> copy = owned_copy(data_ptr<I>(fn, "ids", ids, false), n);
  const I* p = copy.data();
  Index bad;
  {
    py::gil_scoped_release release;
    bad = embedding_first_bad_id<I>(p, n, vocab);
  }
  if (bad >= 0) {
    fail_value(std::string(fn) + ": id " + std::to_string(static_cast<long long>(p[bad])) +
               " at position " + std::to_string(bad) + " is out of range for a vocabulary of " +
               std::to_string(vocab) + " (ids must be in [0, " + std::to_string(vocab) + "))");
  }
  return copy;
}

}  // namespace

void bind_embedding(py::module_& m) {
  m.def(
      "embedding_forward",
      [](const py::array& ids, const py::array& table, const py::array& output) {
        const char* fn = "embedding_forward";
        dispatch_float(fn, table, [&](auto tag) {
          using T = decltype(tag);
          const Index vocab = dim(fn, "table", table, 2, 0), width = table.shape(1);
          const T* tp = data_ptr<T>(fn, "table", table, false);
          dispatch_ids(fn, ids, [&](auto id_tag) {
            using I = decltype(id_tag);
            const std::vector<I> checked = checked_ids<I>(fn, ids, vocab);
            const Index n = ids.shape(0);
            T* op = out<T>(fn, "out", output, {n, width});
            expect_disjoint(fn, {{"table", table}, {"out", output}});
            py::gil_scoped_release release;
            embedding_forward<T, I>(op, checked.data(), tp, n, width);
          });
        });
      },
      py::arg("ids"), py::arg("table"), py::arg("out"),
      "out (n, dim) = table[ids] for ids (n,) int32/int64 in [0, vocab) and table (vocab, dim).");
  m.def(
      "embedding_backward",
      [](const py::array& ids, const py::array& dy, const py::array& grad_table) {
        const char* fn = "embedding_backward";
        dispatch_float(fn, grad_table, [&](auto tag) {
          using T = decltype(tag);
          const Index vocab = dim(fn, "grad_table", grad_table, 2, 0);
          const Index width = grad_table.shape(1);
          T* gp = data_ptr<T>(fn, "grad_table", grad_table, true);
          dispatch_ids(fn, ids, [&](auto id_tag) {
            using I = decltype(id_tag);
            const std::vector<I> checked = checked_ids<I>(fn, ids, vocab);
            const Index n = ids.shape(0);
            const T* dyp = in<T>(fn, "dy", dy, {n, width});
            expect_disjoint(fn, {{"dy", dy}, {"grad_table", grad_table}});
            py::gil_scoped_release release;
            embedding_backward<T, I>(gp, checked.data(), dyp, n, width);
          });
        });
      },
      py::arg("ids"), py::arg("dy"), py::arg("grad_table"),
      "grad_table[ids[i]] += dy[i] (scatter-add; only the rows used change, in a fixed order).");
}

}  // namespace brisknn::bind
