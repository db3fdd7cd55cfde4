#include "brisknn/conv.h"

#include <algorithm>

#include <Eigen/Core>

#include "brisknn/views.h"

namespace brisknn {

namespace {

constexpr Index kBlockRows = 256;          // GEMM rows per block worth batching images for
constexpr Index kBlockElements = 1 << 18;  // cap on one block's im2col buffer (1 MiB in float)
constexpr Index kSlotMacs = 1 << 19;       // multiply-adds per thread before threading pays
constexpr Index kElementGrain = 1 << 15;

// c (m, n, row-major, leading dimension ldc) += a (m, k) b (k, n), each of a and b row-major
// or, with ColMajor, the transpose of a row-major buffer. Eigen's own product splits a large
// GEMM over threads with a thread-count-dependent depth blocking, which changes rounding; this
// calls its single-threaded kernel directly so results never depend on the thread count (the
// threads work on separate blocks instead).
template <class T, int AOrder, int BOrder>
void gemm_add(Index m, Index n, Index k, const T* a, Index lda, const T* b, Index ldb, T* c,
              Index ldc) {
  if (m == 0 || n == 0 || k == 0) return;
  using namespace Eigen::internal;
  gemm_blocking_space<Eigen::RowMajor, T, T, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic, 1,
                      false>
      blocking(m, n, k, 1, true);
  general_matrix_matrix_product<Index, T, AOrder, false, T, BOrder, false, Eigen::RowMajor,
                                1>::run(m, n, k, a, lda, b, ldb, c, 1, ldc, T(1), blocking,
                                        nullptr);
}

// The columns j of a kernel row that land inside the image for an output column starting at
// input column w0: [lo, hi), empty when hi <= lo.
inline void valid_columns(const WindowAxis& w, Index w0, Index* lo, Index* hi) {
  *lo = std::max<Index>(0, -w0);
  *hi = std::min<Index>(w.kernel, w.in - w0);
}

// col (images * out_h * out_w, k_h * k_w * in_c): each row the receptive field of one output
// pixel, zeros where it hangs over the padding. Along a kernel row the input columns are
// consecutive whatever the stride, so each kernel row is one contiguous copy of (hi - lo) * C.
template <class T>
void im2col(T* col, const T* x, const Conv2DShape& s, Index images) {
  const Index C = s.in_c, D = s.patch(), KW = s.w.kernel, row_len = KW * C;
  for (Index g = 0; g < images; ++g) {
    const T* img = x + g * s.h.in * s.w.in * C;
    for (Index oh = 0; oh < s.h.out; ++oh) {
      const Index h0 = oh * s.h.stride - s.h.pad_before;
      for (Index ow = 0; ow < s.w.out; ++ow, col += D) {
        const Index w0 = ow * s.w.stride - s.w.pad_before;
        Index lo, hi;
        valid_columns(s.w, w0, &lo, &hi);
        for (Index i = 0; i < s.h.kernel; ++i) {
          T* dst = col + i * row_len;
          const Index h = h0 + i;
          if (h < 0 || h >= s.h.in || hi <= lo) {
            std::fill(dst, dst + row_len, T(0));
            continue;
          }
          std::fill(dst, dst + lo * C, T(0));
          std::copy(img + (h * s.w.in + w0 + lo) * C, img + (h * s.w.in + w0 + hi) * C,
                    dst + lo * C);
          std::fill(dst + hi * C, dst + row_len, T(0));
        }
      }
    }
  }
}

// dx (images, in_h, in_w, in_c) = the sum of each dcol row back over its receptive field.
template <class T>
void col2im(T* dx, const T* dcol, const Conv2DShape& s, Index images) {
  const Index C = s.in_c, D = s.patch(), KW = s.w.kernel, row_len = KW * C;
  std::fill(dx, dx + images * s.h.in * s.w.in * C, T(0));
  for (Index g = 0; g < images; ++g) {
    T* img = dx + g * s.h.in * s.w.in * C;
    for (Index oh = 0; oh < s.h.out; ++oh) {
      const Index h0 = oh * s.h.stride - s.h.pad_before;
      for (Index ow = 0; ow < s.w.out; ++ow, dcol += D) {
        const Index w0 = ow * s.w.stride - s.w.pad_before;
        Index lo, hi;
        valid_columns(s.w, w0, &lo, &hi);
        if (hi <= lo) continue;
        for (Index i = 0; i < s.h.kernel; ++i) {
          const Index h = h0 + i;
          if (h < 0 || h >= s.h.in) continue;
          const Index len = (hi - lo) * C;
          ArrayMap<T>(img + (h * s.w.in + w0 + lo) * C, len) +=
              ConstArrayMap<T>(dcol + i * row_len + lo * C, len);
        }
      }
    }
  }
}

// How the batch splits into blocks of images, and blocks over workspace slots (threads).
struct Blocking {
  Index images;  // per block
  Index blocks;
  Index slot_size;  // workspace elements per slot (the block's im2col buffer)
  Index shared;     // backward: per-block kernel and bias gradient partials
};

Blocking blocking_of(const Conv2DShape& s, bool backward) {
  Blocking b;
  b.images = conv2d_block_images(s);
  b.blocks = s.batch > 0 ? (s.batch + b.images - 1) / b.images : 0;
  b.slot_size = s.pointwise() ? 0 : b.images * s.pixels() * s.patch();
  b.shared = backward ? b.blocks * (s.patch() * s.out_c + s.out_c) : 0;
  return b;
}

// Runs block(index, slot workspace) over all blocks, the blocks split evenly over as many slots
// as threads, workspace and work allow. Which slot runs a block never changes its result.
template <class T, class F>
void for_each_block(const Conv2DShape& s, const Blocking& b, T* workspace, Index workspace_size,
                    F&& block) {
  if (b.blocks == 0) return;
  const Index macs = s.batch * s.pixels() * s.patch() * s.out_c;
  Index slots = std::min<Index>({get_num_threads(), b.blocks, std::max<Index>(1, macs / kSlotMacs)});
  if (b.slot_size > 0) slots = std::min(slots, (workspace_size - b.shared) / b.slot_size);
  slots = std::max<Index>(slots, 1);
  T* slot_space = workspace + b.shared;
  parallel_for(slots, 1, [&](Index first, Index last) {
    for (Index slot = first; slot < last; ++slot) {
      for (Index k = b.blocks * slot / slots; k < b.blocks * (slot + 1) / slots; ++k) {
        block(k, slot_space + slot * b.slot_size);
      }
    }
  });
}

// out (len) += partials[0] + partials[1] + ... in that order, element by element.
template <class T>
void add_partials(T* out, const T* partials, Index count, Index len, Index stride) {
  parallel_for(len, kElementGrain, [&](Index begin, Index end) {
    ArrayMap<T> acc(out + begin, end - begin);
    for (Index p = 0; p < count; ++p) acc += ConstArrayMap<T>(partials + p * stride + begin, end - begin);
  });
}

}  // namespace

bool window_axis(Index in, Index kernel, Index stride, bool same, WindowAxis* axis) {
  axis->in = in;
  axis->kernel = kernel;
  axis->stride = stride;
  if (same) {
    axis->out = (in + stride - 1) / stride;
    const Index pad_total = std::max<Index>((axis->out - 1) * stride + kernel - in, 0);
    axis->pad_before = pad_total / 2;
    return true;
  }
  axis->pad_before = 0;
  axis->out = in >= kernel ? (in - kernel) / stride + 1 : 0;
  return in >= kernel;
}

Index conv2d_block_images(const Conv2DShape& s) {
  const Index pixels = std::max<Index>(s.pixels(), 1);
  Index images = (kBlockRows + pixels - 1) / pixels;
  images = std::min(images, std::max<Index>(1, kBlockElements / (pixels * s.patch())));
  return std::max<Index>(1, std::min(images, s.batch));
}

Index conv2d_workspace_size(const Conv2DShape& s, bool backward, Index threads) {
  const Blocking b = blocking_of(s, backward);
  return b.shared + std::max<Index>(1, std::min(threads, b.blocks)) * b.slot_size;
}

template <class T>
void conv2d_forward(T* y, const T* x, const T* kernel, const T* bias, const Conv2DShape& s,
                    Activation act, T alpha, T* workspace, Index workspace_size) {
  const Blocking b = blocking_of(s, false);
  const Index P = s.pixels(), D = s.patch(), F = s.out_c, image_in = s.h.in * s.w.in * s.in_c;
  for_each_block(s, b, workspace, workspace_size, [&](Index k, T* col) {
    const Index n0 = k * b.images, images = std::min(b.images, s.batch - n0), rows = images * P;
    const T* patches = x + n0 * image_in;
    if (!s.pointwise()) {
      im2col(col, patches, s, images);
      patches = col;
    }
    T* yb = y + n0 * P * F;
    // Starting from the bias saves a pass over y.
    if (bias) {
      for (Index r = 0; r < rows; ++r) std::copy(bias, bias + F, yb + r * F);
    } else {
      std::fill(yb, yb + rows * F, T(0));
    }
    gemm_add<T, Eigen::RowMajor, Eigen::RowMajor>(rows, F, D, patches, D, kernel, F, yb, F);
    if (act != Activation::Linear) activation_forward(yb, yb, rows, F, act, alpha);
  });
}

template <class T>
void conv2d_backward(T* dx, T* dkernel, T* dbias, const T* dz, const T* x, const T* kernel,
                     const Conv2DShape& s, T* workspace, Index workspace_size) {
  const Blocking b = blocking_of(s, true);
  const Index P = s.pixels(), D = s.patch(), F = s.out_c, image_in = s.h.in * s.w.in * s.in_c;
  const Index partial_size = D * F + F;
  for_each_block(s, b, workspace, workspace_size, [&](Index k, T* col) {
    const Index n0 = k * b.images, images = std::min(b.images, s.batch - n0), rows = images * P;
    const T* dzb = dz + n0 * P * F;
    T* partial = workspace + k * partial_size;
    if (dkernel) {
      const T* patches = x + n0 * image_in;
      if (!s.pointwise()) {
        im2col(col, patches, s, images);
        patches = col;
      }
      std::fill(partial, partial + D * F, T(0));
      gemm_add<T, Eigen::ColMajor, Eigen::RowMajor>(D, F, rows, patches, D, dzb, F, partial, F);
    }
    if (dbias) {
      RowVectorMap<T> sums(partial + D * F, F);
      sums.setZero();
      for (Index r = 0; r < rows; ++r) sums += ConstRowVectorMap<T>(dzb + r * F, F);
    }
    if (dx) {
      // dcol = dz kernel^T, with kernel^T read in place as a column-major (F, D) matrix.
      T* dxb = dx + n0 * image_in;
      T* dcol = s.pointwise() ? dxb : col;
      std::fill(dcol, dcol + rows * D, T(0));
      gemm_add<T, Eigen::RowMajor, Eigen::ColMajor>(rows, D, F, dzb, F, kernel, F, dcol, D);
      if (!s.pointwise()) col2im(dxb, dcol, s, images);
    }
  });
  if (dkernel) add_partials(dkernel, workspace, b.blocks, D * F, partial_size);
  if (dbias) add_partials(dbias, workspace + D * F, b.blocks, F, partial_size);
}

#define BRISKNN_INSTANTIATE(T)                                                                 \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const Conv2DShape&,       \
                                  Activation, T, T*, Index);                                  \
  template void conv2d_backward<T>(T*, T*, T*, const T*, const T*, const T*,                  \
                                   const Conv2DShape&, T*, Index);
BRISKNN_INSTANTIATE(float)
BRISKNN_INSTANTIATE(double)
#undef BRISKNN_INSTANTIATE

}  // namespace brisknn
