#include "brisknn/pool.h"

#include <algorithm>

#include "brisknn/views.h"

namespace brisknn {

namespace {

constexpr Index kElementGrain = 1 << 15;  // elements touched per thread before threading pays

// The input range [lo, hi) that output o's window covers, padding excluded (never empty).
struct Span {
  Index lo, hi;
};
inline Span window(const WindowAxis& a, Index o) {
  const Index start = o * a.stride - a.pad_before;
  return {std::max<Index>(start, 0), std::min<Index>(start + a.kernel, a.in)};
}

// Rows of outputs (batch * out_h of them) per thread, by the input elements each row reads.
Index row_grain(const Pool2DShape& s) {
  const Index per_row = std::max<Index>(1, s.w.out * s.h.kernel * s.w.kernel * s.channels);
  return std::max<Index>(1, kElementGrain / per_row);
}

Index image_grain(const Pool2DShape& s) {
  const Index per_image = std::max<Index>(1, s.h.in * s.w.in * s.channels);
  return std::max<Index>(1, kElementGrain / per_image);
}

// Runs f(image, oh, ow, window rows, window cols, output offset) for every output position of
// rows [begin, end) of the (batch * out_h) output rows.
template <class F>
void for_each_output(const Pool2DShape& s, Index begin, Index end, F&& f) {
  for (Index row = begin; row < end; ++row) {
    const Index n = row / s.h.out;
    const Span hs = window(s.h, row % s.h.out);
    for (Index ow = 0; ow < s.w.out; ++ow) {
      f(n, hs, window(s.w, ow), (row * s.w.out + ow) * s.channels);
    }
  }
}

template <class T>
void max_pool_rows(T* y, std::int32_t* argmax, const T* x, const Pool2DShape& s, Index begin,
                   Index end) {
  const Index C = s.channels, W = s.w.in;
  for_each_output(s, begin, end, [&](Index n, Span hs, Span ws, Index o) {
    const T* img = x + n * s.h.in * W * C;
    T* yo = y + o;
    std::int32_t* ao = argmax ? argmax + o : nullptr;
    const Index first = hs.lo * W + ws.lo;
    std::copy(img + first * C, img + (first + 1) * C, yo);
    if (ao) std::fill(ao, ao + C, static_cast<std::int32_t>(first));
    for (Index h = hs.lo; h < hs.hi; ++h) {
      for (Index w = ws.lo; w < ws.hi; ++w) {
        const Index pos = h * W + w;
        if (pos == first) continue;
        const T* xp = img + pos * C;
        // Strictly greater: ties keep the first position, as TensorFlow's gradient does.
        if (ao) {
          for (Index c = 0; c < C; ++c) {
            const bool gt = xp[c] > yo[c];
            yo[c] = gt ? xp[c] : yo[c];
            ao[c] = gt ? static_cast<std::int32_t>(pos) : ao[c];
          }
        } else {
          for (Index c = 0; c < C; ++c) yo[c] = xp[c] > yo[c] ? xp[c] : yo[c];
        }
      }
    }
  });
}

template <class T>
void avg_pool_rows(T* y, const T* x, const Pool2DShape& s, Index begin, Index end) {
  const Index C = s.channels, W = s.w.in;
  for_each_output(s, begin, end, [&](Index n, Span hs, Span ws, Index o) {
    const T* img = x + n * s.h.in * W * C;
    ArrayMap<T> yo(y + o, C);
    yo.setZero();
    for (Index h = hs.lo; h < hs.hi; ++h) {
      for (Index w = ws.lo; w < ws.hi; ++w) yo += ConstArrayMap<T>(img + (h * W + w) * C, C);
    }
    yo /= static_cast<T>((hs.hi - hs.lo) * (ws.hi - ws.lo));
  });
}

}  // namespace

template <class T>
void max_pool2d_forward(T* y, std::int32_t* argmax, const T* x, const Pool2DShape& s) {
  parallel_for(s.batch * s.h.out, row_grain(s),
               [&](Index b, Index e) { max_pool_rows(y, argmax, x, s, b, e); });
}

template <class T>
void max_pool2d_backward(T* dx, const T* dy, const std::int32_t* argmax, const Pool2DShape& s) {
  const Index C = s.channels, image_in = s.h.in * s.w.in * C, image_out = s.h.out * s.w.out * C;
  // Per image, so overlapping windows add up in one fixed order.
  parallel_for(s.batch, image_grain(s), [&](Index begin, Index end) {
    for (Index n = begin; n < end; ++n) {
      T* img = dx + n * image_in;
      std::fill(img, img + image_in, T(0));
      const T* g = dy + n * image_out;
      const std::int32_t* a = argmax + n * image_out;
      for (Index o = 0; o < image_out; o += C) {
        for (Index c = 0; c < C; ++c) img[a[o + c] * C + c] += g[o + c];
      }
    }
  });
}

template <class T>
void avg_pool2d_forward(T* y, const T* x, const Pool2DShape& s) {
  parallel_for(s.batch * s.h.out, row_grain(s),
               [&](Index b, Index e) { avg_pool_rows(y, x, s, b, e); });
}

template <class T>
void avg_pool2d_backward(T* dx, const T* dy, const Pool2DShape& s) {
  const Index C = s.channels, W = s.w.in, image_in = s.h.in * W * C;
  parallel_for(s.batch, image_grain(s), [&](Index begin, Index end) {
    std::fill(dx + begin * image_in, dx + end * image_in, T(0));
    for_each_output(s, begin * s.h.out, end * s.h.out, [&](Index n, Span hs, Span ws, Index o) {
      T* img = dx + n * image_in;
      const auto share =
          ConstArrayMap<T>(dy + o, C) / static_cast<T>((hs.hi - hs.lo) * (ws.hi - ws.lo));
      for (Index h = hs.lo; h < hs.hi; ++h) {
        for (Index w = ws.lo; w < ws.hi; ++w) ArrayMap<T>(img + (h * W + w) * C, C) += share;
      }
    });
  });
}

#define BRISKNN_INSTANTIATE(T)                                                                 \
  template void max_pool2d_forward<T>(T*, std::int32_t*, const T*, const Pool2DShape&);       \
  template void max_pool2d_backward<T>(T*, const T*, const std::int32_t*, const Pool2DShape&); \
  template void avg_pool2d_forward<T>(T*, const T*, const Pool2DShape&);                       \
  template void avg_pool2d_backward<T>(T*, const T*, const Pool2DShape&);
BRISKNN_INSTANTIATE(float)
BRISKNN_INSTANTIATE(double)
#undef BRISKNN_INSTANTIATE

}  // namespace brisknn
