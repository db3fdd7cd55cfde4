// Argument checking shared by the bindings: every array that reaches a kernel has the right dtype,
// shape, C-contiguity and (for outputs) writeability, or Python gets a ValueError/TypeError
// naming the function, the argument, and the expected and actual shape.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <initializer_list>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "brisknn/parallel.h"

namespace brisknn::bind {

namespace py = pybind11;

constexpr Index kAny = -1;  // wildcard dimension in an expected shape

inline std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  s << (a.ndim() == 1 ? ",)" : ")");
  return s.str();
}

inline std::string shape_str(std::initializer_list<Index> shape) {
  std::ostringstream s;
  s << "(";
  Index i = 0;
  for (Index d : shape) {
    s << (i++ ? ", " : "");
    if (d == kAny) s << "?"; else s << d;
  }
  s << (shape.size() == 1 ? ",)" : ")");
  return s.str();
}

[[noreturn]] inline void fail_value(const std::string& msg) { throw py::value_error(msg); }
[[noreturn]] inline void fail_type(const std::string& msg) { throw py::type_error(msg); }

// NumPy's own descriptor for the dtype, or an equal one: a deep-copied model's dtype is a
// copy, which `is` alone would refuse as "float32, expected float32".
inline bool same_dtype(const py::dtype& a, const py::dtype& b) { return a.is(b) || a.equal(b); }

template <class T>
bool has_dtype(const py::array& a) {
  return same_dtype(a.dtype(), py::dtype::of<T>());
}

// Checks dtype, C-contiguity and (for outputs) writeability; returns the data pointer.
template <class T>
T* data_ptr(const char* fn, const char* name, const py::array& a, bool writeable) {
  if (!has_dtype<T>(a)) {
    fail_type(std::string(fn) + ": " + name + " has dtype " + std::string(py::str(a.dtype())) +
              ", expected " + std::string(py::str(py::dtype::of<T>())));
  }
  if (!(a.flags() & py::array::c_style)) {
    fail_value(std::string(fn) + ": " + name + " must be C-contiguous (use np.ascontiguousarray)");
  }
  if (writeable && !a.writeable()) fail_value(std::string(fn) + ": output " + name + " is read-only");
  return static_cast<T*>(const_cast<void*>(a.data()));
}

// Dimensions given as kAny are not checked.
inline void expect_shape(const char* fn, const char* name, const py::array& a,
                         std::initializer_list<Index> shape) {
  bool ok = static_cast<size_t>(a.ndim()) == shape.size();
  Index i = 0;
  for (Index d : shape) {
    if (ok && d != kAny && a.shape(i) != d) ok = false;
    ++i;
  }
  if (!ok) {
    fail_value(std::string(fn) + ": " + name + " has shape " + shape_str(a) + ", expected " +
               shape_str(shape));
  }
}

inline void expect_same_shape(const char* fn, const char* name, const py::array& a,
                              const py::array& ref) {
  bool ok = a.ndim() == ref.ndim();
  for (py::ssize_t i = 0; ok && i < a.ndim(); ++i) ok = a.shape(i) == ref.shape(i);
  if (!ok) {
    fail_value(std::string(fn) + ": " + name + " has shape " + shape_str(a) + ", expected " +
               shape_str(ref));
  }
}

template <class T>
const T* in(const char* fn, const char* name, const py::array& a,
            std::initializer_list<Index> shape) {
  expect_shape(fn, name, a, shape);
  return data_ptr<T>(fn, name, a, false);
}

template <class T>
T* out(const char* fn, const char* name, const py::array& a, std::initializer_list<Index> shape) {
  expect_shape(fn, name, a, shape);
  return data_ptr<T>(fn, name, a, true);
}

template <class T>
const T* in_like(const char* fn, const char* name, const py::array& a, const py::array& ref) {
  expect_same_shape(fn, name, a, ref);
  return data_ptr<T>(fn, name, a, false);
}

template <class T>
T* out_like(const char* fn, const char* name, const py::array& a, const py::array& ref) {
  expect_same_shape(fn, name, a, ref);
  return data_ptr<T>(fn, name, a, true);
}

// Optional array arguments arrive as None (nullptr) or an array.
template <class T>
const T* optional_in(const char* fn, const char* name, const py::object& a,
                     std::initializer_list<Index> shape) {
  return a.is_none() ? nullptr : in<T>(fn, name, py::cast<py::array>(a), shape);
}

template <class T>
T* optional_out(const char* fn, const char* name, const py::object& a,
                std::initializer_list<Index> shape) {
  return a.is_none() ? nullptr : out<T>(fn, name, py::cast<py::array>(a), shape);
}

// Arrays of any rank viewed as (rows, last dimension): row-wise ops work over the last axis.
inline std::pair<Index, Index> rows_cols(const py::array& a) {
  const Index cols = a.ndim() ? a.shape(a.ndim() - 1) : 1;
  return {cols ? a.size() / cols : 0, cols};
}

// Calls f.template operator()<T>() for the array's floating dtype (float32 or float64).
template <class F>
decltype(auto) dispatch_float(const char* fn, const py::array& a, F&& f) {
  if (has_dtype<float>(a)) return f(float{});
  if (has_dtype<double>(a)) return f(double{});
  fail_type(std::string(fn) + ": expected float32 or float64 data, got " +
            std::string(py::str(a.dtype())));
}

// Reads dimension i of a after checking the rank, so callers can size the other arguments.
inline Index dim(const char* fn, const char* name, const py::array& a, int rank, int i) {
  if (a.ndim() != rank) {
    fail_value(std::string(fn) + ": " + name + " must have rank " + std::to_string(rank) +
               ", got shape " + shape_str(a));
  }
  return a.shape(i);
}

// Kernels assume no output shares memory with another buffer (an in-place update would read what
// it already wrote). None entries (absent slots)
// are skipped; the others were already checked to be arrays. Sorted by address, two buffers
// overlap somewhere exactly when two neighbours do, so many weights cost n log n, not n^2.
inline void expect_disjoint(const char* fn,
                            std::vector<std::pair<std::string, py::handle>> arrays) {
  struct Range { const std::string* name; const char* begin; const char* end; };
  std::vector<Range> ranges;
  for (const auto& [name, h] : arrays) {
    if (h.is_none()) continue;
    const auto a = py::reinterpret_borrow<py::array>(h);
    const char* begin = static_cast<const char*>(a.data());
    if (a.nbytes() > 0) ranges.push_back({&name, begin, begin + a.nbytes()});
  }
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 0; i + 1 < ranges.size(); ++i) {
    if (ranges[i + 1].begin < ranges[i].end) {
      fail_value(std::string(fn) + ": " + *ranges[i].name + " and " + *ranges[i + 1].name +
                 " share memory; each needs its own buffer");
    }
  }
}

inline void expect_disjoint(const char* fn,
                            std::initializer_list<std::pair<const char*, py::handle>> arrays) {
  std::vector<std::pair<std::string, py::handle>> named;
  for (const auto& [name, h] : arrays) named.emplace_back(name, h);
  expect_disjoint(fn, std::move(named));
}

// The same for kernels that only read some buffers: the outputs must not share memory with
// anything, but the inputs may share it with each other (a loss of y against y itself).
inline void expect_outputs_disjoint(
    const char* fn, std::initializer_list<std::pair<const char*, py::handle>> inputs,
    std::initializer_list<std::pair<const char*, py::handle>> outputs) {
  const auto bytes = [](py::handle h) {
    const auto a = py::reinterpret_borrow<py::array>(h);
    const char* begin = static_cast<const char*>(a.data());
    return std::make_pair(begin, begin + a.nbytes());
  };
  for (const auto& [name, out] : outputs) {
    const auto [begin, end] = bytes(out);
    for (const auto* list : {&inputs, &outputs}) {
      for (const auto& [other_name, other] : *list) {
        // Itself is skipped by position, not by object: one array passed as two outputs
        // (batch_norm_moments(x, m, m)) would have one result overwrite the other.
        if (&other == &out) continue;
        const auto [b, e] = bytes(other);
        if (begin < end && b < e && begin < e && b < end) {
          fail_value(std::string(fn) + ": " + name + " and " + other_name +
                     " share memory; each needs its own buffer");
        }
      }
    }
  }
}

// A private copy of n indices (ids, labels), taken with the GIL held: the kernels then read only
// what was checked, whatever another Python thread does to the caller's array meanwhile.
template <class I>
std::vector<I> owned_copy(const I* p, Index n) {
  return std::vector<I>(p, p + n);
}

}  // namespace brisknn::bind
