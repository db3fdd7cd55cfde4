#include "brisknn/conv.h"

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "brisknn/dense.h"
#include "brisknn/views.h"

namespace brisknn {

namespace {

constexpr Index kBlockRows = 256;          // GEMM rows per block worth batching images for
constexpr Index kBlockElements = 1 << 18;  // cap on one block's im2col buffer (1 MiB in float)
constexpr Index kSlotMacs = 1 << 19;       // multiply-adds per thread before threading pays
constexpr Index kElementGrain = 1 << 15;
// Forward, patches up to this many elements (k_h * k_w * in_c) are convolved directly: with so
// few multiply-adds per output the im2col copy and GEMM packing cost more than the arithmetic
// (measured: 1.5x faster for 3x3x1, even at 3x3x3, slower from 3x3x4). The kernel gradient, whose
// direct form is store-bound, always goes through im2col + GEMM.
constexpr Index kDirectPatch = 32;

// The taps j of a window starting at input position `start` that land inside the input:
// start + j * dilation in [0, in) for j in [lo, hi), empty when hi <= lo.
inline void valid_taps(const WindowAxis& a, Index start, Index* lo, Index* hi) {
  if (a.dilation == 1) {
    *lo = std::max<Index>(0, -start);
    *hi = std::min<Index>(a.kernel, a.in - start);
    return;
  }
  const Index d = a.dilation;
  *lo = start >= 0 ? 0 : (-start + d - 1) / d;
  *hi = start >= a.in ? 0 : std::min<Index>(a.kernel, (a.in - start + d - 1) / d);
}

// col (images * out_h * out_w, groups * k_h * k_w * group_in): each row the receptive field of
// one output pixel, group after group (group g's patch, tap-major, in columns [g * D, g * D + D)),
// zeros where it hangs over the padding. Undilated and ungrouped, the input columns along a
// kernel row are consecutive whatever the stride, so each kernel row is one contiguous copy of
// (hi - lo) * C; otherwise each tap's channels are dealt out to their groups, in one pass.
template <class T>
void im2col(T* col, const T* x, const Conv2DShape& s, Index images) {
  const Index C = s.in_c, G = s.group_in(), D = s.patch(), KW = s.w.kernel;
  const Index width = s.col_width(), dh = s.h.dilation, dw = s.w.dilation;
  const bool whole_rows = dw == 1 && s.groups == 1;
  for (Index n = 0; n < images; ++n) {
    const T* img = x + n * s.h.in * s.w.in * C;
    for (Index oh = 0; oh < s.h.out; ++oh) {
      const Index h0 = oh * s.h.stride - s.h.pad_before;
      for (Index ow = 0; ow < s.w.out; ++ow, col += width) {
        const Index w0 = ow * s.w.stride - s.w.pad_before;
        Index lo, hi;
        valid_taps(s.w, w0, &lo, &hi);
        for (Index i = 0; i < s.h.kernel; ++i) {
          const Index h = h0 + i * dh;
          const bool row_in = h >= 0 && h < s.h.in && lo < hi;
          const T* src = row_in ? img + (h * s.w.in + w0) * C : nullptr;
          if (whole_rows) {
            T* dst = col + i * KW * C;
            if (!row_in) {
              std::fill(dst, dst + KW * C, T(0));
              continue;
            }
            std::fill(dst, dst + lo * C, T(0));
            std::copy(src + lo * C, src + hi * C, dst + lo * C);
            std::fill(dst + hi * C, dst + KW * C, T(0));
            continue;
          }
          for (Index j = 0; j < KW; ++j) {
            T* dst = col + (i * KW + j) * G;
            if (!row_in || j < lo || j >= hi) {
              for (Index g = 0; g < s.groups; ++g) std::fill(dst + g * D, dst + g * D + G, T(0));
              continue;
            }
            const T* tap = src + j * dw * C;
            for (Index g = 0; g < s.groups; ++g) {
              std::copy(tap + g * G, tap + g * G + G, dst + g * D);
            }
          }
        }
      }
    }
  }
}

// dx (images, in_h, in_w, in_c) = each dcol row (im2col's layout) summed back over its
// receptive field (im2col's transpose, tap for tap).
template <class T>
void col2im(T* dx, const T* dcol, const Conv2DShape& s, Index images) {
  const Index C = s.in_c, G = s.group_in(), D = s.patch(), KW = s.w.kernel;
  const Index width = s.col_width(), dh = s.h.dilation, dw = s.w.dilation;
  const bool whole_rows = dw == 1 && s.groups == 1;
  std::fill(dx, dx + images * s.h.in * s.w.in * C, T(0));
  for (Index n = 0; n < images; ++n) {
    T* img = dx + n * s.h.in * s.w.in * C;
    for (Index oh = 0; oh < s.h.out; ++oh) {
      const Index h0 = oh * s.h.stride - s.h.pad_before;
      for (Index ow = 0; ow < s.w.out; ++ow, dcol += width) {
        const Index w0 = ow * s.w.stride - s.w.pad_before;
        Index lo, hi;
        valid_taps(s.w, w0, &lo, &hi);
        if (hi <= lo) continue;
        for (Index i = 0; i < s.h.kernel; ++i) {
          const Index h = h0 + i * dh;
          if (h < 0 || h >= s.h.in) continue;
          T* dst = img + (h * s.w.in + w0) * C;
          if (whole_rows) {
            const Index len = (hi - lo) * C;
            const T* src = dcol + i * KW * C;
            ArrayMap<T>(dst + lo * C, len) += ConstArrayMap<T>(src + lo * C, len);
            continue;
          }
          for (Index j = lo; j < hi; ++j) {
            T* tap = dst + j * dw * C;
            const T* src = dcol + (i * KW + j) * G;
            for (Index g = 0; g < s.groups; ++g) {
              ArrayMap<T>(tap + g * G, G) += ConstArrayMap<T>(src + g * D, G);
            }
          }
        }
      }
    }
  }
}

// Runs f(output row, x offset of the receptive field's top-left, [i_lo, i_hi), [j_lo, j_hi))
// for each output pixel of images [first, first + images) in order, with the kernel taps that
// land inside (rows and offsets counted from image 0).
template <class F>
void for_each_pixel(const Conv2DShape& s, Index first, Index images, F&& f) {
  const Index C = s.in_c;
  Index r = first * s.pixels();
  for (Index g = first; g < first + images; ++g) {
    for (Index oh = 0; oh < s.h.out; ++oh) {
      const Index h0 = oh * s.h.stride - s.h.pad_before;
      Index i_lo, i_hi;
      valid_taps(s.h, h0, &i_lo, &i_hi);
      for (Index ow = 0; ow < s.w.out; ++ow, ++r) {
        const Index w0 = ow * s.w.stride - s.w.pad_before;
        Index j_lo, j_hi;
        valid_taps(s.w, w0, &j_lo, &j_hi);
        f(r, ((g * s.h.in + h0) * s.w.in + w0) * C, i_lo, i_hi, j_lo, j_hi);
      }
    }
  }
}

template <class T, int W>
using Chunk = Eigen::Array<T, W, 1>;  // fixed size: Eigen keeps it in vector registers
template <class T, int W>
using ConstChunkMap = Eigen::Map<const Chunk<T, W>>;
template <class T, int W>
using ChunkMap = Eigen::Map<Chunk<T, W>>;

// Output channels [f0, f0 + W) of y (rows, F) = bias + the convolution of input channels
// [c0, c0 + group_in) (their group's), straight from x, the W accumulators held in registers
// across all taps (W is a compile-time width).
template <int W, class T>
void conv_direct_columns(T* y, const T* x, const T* kernel, const T* bias, const Conv2DShape& s,
                         Index images, Index c0, Index f0) {
  const Index C = s.in_c, G = s.group_in(), F = s.out_c, KW = s.w.kernel, row = s.w.in * C;
  const Index tap_row = s.h.dilation * row, tap_col = s.w.dilation * C;
  const Chunk<T, W> start =
      bias ? Chunk<T, W>(ConstChunkMap<T, W>(bias + f0)) : Chunk<T, W>::Zero();
  for_each_pixel(s, 0, images, [&](Index r, Index base, Index i_lo, Index i_hi, Index j_lo,
                                Index j_hi) {
    Chunk<T, W> acc = start;
    for (Index i = i_lo; i < i_hi; ++i) {
      for (Index j = j_lo; j < j_hi; ++j) {
        const T* xp = x + base + i * tap_row + j * tap_col + c0;
        const T* kp = kernel + (i * KW + j) * G * F + f0;
        for (Index c = 0; c < G; ++c) acc += xp[c] * ConstChunkMap<T, W>(kp + c * F);
      }
    }
    ChunkMap<T, W>(y + r * F + f0) = acc;
  });
}

// Runs columns(std::integral_constant<int, W>, f0) over the output channels in chunks of W, the
// widest of 32, 16, 8, 1 that fits: register-sized accumulators with no remainder loop.
template <class F>
void for_each_column_chunk(Index channels, F&& columns) {
  Index f0 = 0;
  for (; f0 + 32 <= channels; f0 += 32) columns(std::integral_constant<int, 32>{}, f0);
  for (; f0 + 16 <= channels; f0 += 16) columns(std::integral_constant<int, 16>{}, f0);
  for (; f0 + 8 <= channels; f0 += 8) columns(std::integral_constant<int, 8>{}, f0);
  for (; f0 < channels; ++f0) columns(std::integral_constant<int, 1>{}, f0);
}

// y rows of `images` images = bias + the convolution, for small patches, group by group.
template <class T>
void conv_direct(T* y, const T* x, const T* kernel, const T* bias, const Conv2DShape& s,
                 Index images) {
  const Index G = s.group_in(), FG = s.group_out();
  for (Index g = 0; g < s.groups; ++g) {
    for_each_column_chunk(FG, [&](auto width, Index f) {
      conv_direct_columns<decltype(width)::value>(y, x, kernel, bias, s, images, g * G,
                                                  g * FG + f);
    });
  }
}

bool direct(const Conv2DShape& s) { return !s.pointwise() && s.patch() <= kDirectPatch; }

// How the batch splits into blocks of images, and blocks over workspace slots (threads). A slot
// holds the block's im2col (or, backward, dcol) buffer, then backward's dz buffer.
struct Blocking {
  Index images;  // per block
  Index blocks;
  Index col_size;   // per slot
  Index slot_size;  // per slot, all buffers
  Index shared;     // backward: per-block kernel and bias gradient partials
};

Blocking blocking_of(const Conv2DShape& s, bool backward) {
  Blocking b;
  b.images = conv2d_block_images(s);
  b.blocks = s.batch > 0 ? (s.batch + b.images - 1) / b.images : 0;
  const Index rows = b.images * s.pixels();
  const bool needs_col = backward ? !s.pointwise() : !s.pointwise() && !direct(s);
  b.col_size = needs_col ? rows * s.col_width() : 0;
  b.slot_size = b.col_size + (backward ? rows * s.out_c : 0);
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
  Index slots =
      std::min<Index>({get_num_threads(), b.blocks, std::max<Index>(1, macs / kSlotMacs)});
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
    for (Index p = 0; p < count; ++p) {
      acc += ConstArrayMap<T>(partials + p * stride + begin, end - begin);
    }
  });
}

}  // namespace

bool window_span_fits(Index kernel, Index dilation) {
  return kernel - 1 <= (std::numeric_limits<Index>::max() - 1) / dilation;
}

bool window_axis(Index in, Index kernel, Index stride, bool same, WindowAxis* axis,
                 Index dilation) {
  axis->in = in;
  axis->kernel = kernel;
  axis->stride = stride;
  axis->dilation = dilation;
  const Index span = axis->span();  // TF's effective kernel, (kernel - 1) * dilation + 1
  if (same) {
    // Written so that no intermediate overflows, whatever the stride or size Python passes:
    // ceil(in / stride), and the window's overhang past the last position's input.
    axis->out = in / stride + (in % stride != 0);
    const Index covered = axis->out > 0 ? in - (axis->out - 1) * stride : 0;  // in [1, stride]
    const Index pad_total = std::max<Index>(span - covered, 0);
    axis->pad_before = pad_total / 2;
    return true;
  }
  axis->pad_before = 0;
  axis->out = in >= span ? (in - span) / stride + 1 : 0;
  return in >= span;
}

Index conv2d_block_images(const Conv2DShape& s) {
  const Index pixels = std::max<Index>(s.pixels(), 1);
  Index images = (kBlockRows + pixels - 1) / pixels;
  images = std::min(images, std::max<Index>(1, kBlockElements / (pixels * s.col_width())));
  return std::max<Index>(1, std::min(images, s.batch));
}

Index conv2d_workspace_size(const Conv2DShape& s, bool backward, Index threads) {
  const Blocking b = blocking_of(s, backward);
  return b.shared + std::max<Index>(1, std::min(threads, b.blocks)) * b.slot_size;
}

// A grouped convolution with one input channel per group is a depthwise one: its kernel
// (k_h, k_w, 1, C * M) has the depthwise kernel's (k_h, k_w, C, M) layout, output channel
// c * M + m alike. The depthwise kernels run it without a GEMM per channel.
static bool one_channel_groups(const Conv2DShape& s) { return s.groups > 1 && s.group_in() == 1; }

template <class T>
void conv2d_forward(T* y, const T* x, const T* kernel, const T* bias, const Conv2DShape& s,
                    Activation act, T alpha, T* workspace, Index workspace_size) {
  if (one_channel_groups(s)) return depthwise_conv2d_forward(y, x, kernel, bias, s, act, alpha);
  const Blocking b = blocking_of(s, false);
  const Index P = s.pixels(), D = s.patch(), F = s.out_c, image_in = s.h.in * s.w.in * s.in_c;
  for_each_block(s, b, workspace, workspace_size, [&](Index k, T* col) {
    const Index n0 = k * b.images, images = std::min(b.images, s.batch - n0), rows = images * P;
    const T* xb = x + n0 * image_in;
    T* yb = y + n0 * P * F;
    if (direct(s)) {
      conv_direct(yb, xb, kernel, bias, s, images);
    } else {
      // Starting from the bias saves a pass over y.
      if (bias) {
        for (Index r = 0; r < rows; ++r) std::copy(bias, bias + F, yb + r * F);
      }
      // Group g: its channels of x (or of their im2col) times its columns of the kernel, into
      // its columns of y, in place through the row strides.
      const Index G = s.group_in(), FG = s.group_out();
      if (!s.pointwise()) im2col(col, xb, s, images);
      for (Index g = 0; g < s.groups; ++g) {
        const T* a = s.pointwise() ? xb + g * G : col + g * D;
        gemm(yb + g * FG, F, a, s.pointwise() ? s.in_c : s.col_width(), false, kernel + g * FG,
             F, false, rows, D, FG, bias != nullptr);
      }
    }
    if (act != Activation::Linear) activation_forward(yb, yb, rows, F, act, alpha);
  });
}

template <class T>
void conv2d_backward(T* dx, T* dkernel, T* dbias, const T* dy, const T* y, Activation act,
                     T alpha, const T* x, const T* kernel, const Conv2DShape& s, T* workspace,
                     Index workspace_size) {
  if (one_channel_groups(s)) {
    return depthwise_conv2d_backward(dx, dkernel, dbias, dy, y, act, alpha, x, kernel, s);
  }
  const Blocking b = blocking_of(s, true);
  const Index P = s.pixels(), D = s.patch(), F = s.out_c, image_in = s.h.in * s.w.in * s.in_c;
  const Index partial_size = D * F + F;
  for_each_block(s, b, workspace, workspace_size, [&](Index k, T* slot) {
    const Index n0 = k * b.images, images = std::min(b.images, s.batch - n0), rows = images * P;
    const T* xb = x + n0 * image_in;
    T* col = slot;
    // dz for this block only, while it is in cache, instead of a pass over the whole batch.
    const T* dz = dy + n0 * P * F;
    if (act != Activation::Linear) {
      T* buffer = slot + b.col_size;
      activation_backward(buffer, dz, y + n0 * P * F, rows, F, act, alpha);
      dz = buffer;
    }
    T* partial = workspace + k * partial_size;
    T* dxb = dx ? dx + n0 * image_in : nullptr;
    // Group by group (one group unless Keras' groups > 1): the group's slice of the kernel
    // gradient from its im2col columns, then dcol_g = dz_g kernel_g^T into the same columns
    // (the im2col is spent by then), all of dcol going back onto x in one pass.
    const Index G = s.group_in(), FG = s.group_out(), C = s.in_c, W = s.col_width();
    if (dkernel) {
      if (!s.pointwise()) im2col(col, xb, s, images);
      for (Index g = 0; g < s.groups; ++g) {
        const T* a = s.pointwise() ? xb + g * G : col + g * D;
        gemm(partial + g * FG, F, a, s.pointwise() ? C : W, true, dz + g * FG, F, false, D,
             rows, FG, false);
      }
    }
    if (dbias) {
      RowVectorMap<T> sums(partial + D * F, F);
      sums.setZero();
      for (Index r = 0; r < rows; ++r) sums += ConstRowVectorMap<T>(dz + r * F, F);
    }
    if (dx) {
      for (Index g = 0; g < s.groups; ++g) {
        T* dcol = s.pointwise() ? dxb + g * G : col + g * D;
        gemm(dcol, s.pointwise() ? C : W, dz + g * FG, F, false, kernel + g * FG, F, true, rows,
             FG, D, false);
      }
      if (!s.pointwise()) col2im(dxb, col, s, images);
    }
  });
  if (dkernel) add_partials(dkernel, workspace, b.blocks, D * F, partial_size);
  if (dbias) add_partials(dbias, workspace + D * F, b.blocks, F, partial_size);
}

namespace {

constexpr Index kDepthwiseBlocks = 8;  // fixed image blocks of the backward's partial sums

// Images per thread chunk below which threads do not pay.
Index depthwise_grain(const Conv2DShape& s) {
  const Index macs = std::max<Index>(1, s.pixels() * s.h.kernel * s.w.kernel * s.out_c);
  return std::max<Index>(1, kSlotMacs / macs);
}

}  // namespace

// The kernel (taps, C, M) as planes (taps, M, C): plane (tap, m) holds kernel[tap, :, m], so
// each multiplier's multiply-add runs over C contiguous channels (for M = 1 it is the kernel).
template <class T>
const T* kernel_planes(const T* kernel, Index taps, Index C, Index M, std::vector<T>* planes) {
  if (M == 1) return kernel;
  planes->resize(static_cast<size_t>(taps * M * C));
  for (Index t = 0; t < taps; ++t) {
    for (Index c = 0; c < C; ++c) {
      for (Index m = 0; m < M; ++m) (*planes)[(t * M + m) * C + c] = kernel[(t * C + c) * M + m];
    }
  }
  return planes->data();
}

template <class T>
void depthwise_conv2d_forward(T* y, const T* x, const T* kernel, const T* bias,
                              const Conv2DShape& s, Activation act, T alpha) {
  const Index C = s.in_c, F = s.out_c, M = F / C, KW = s.w.kernel;
  const Index tap_row = s.h.dilation * s.w.in * C, tap_col = s.w.dilation * C;
  std::vector<T> planes, bias_planes;
  const T* kt = kernel_planes(kernel, s.h.kernel * KW, C, M, &planes);
  const T* bt = bias ? kernel_planes(bias, 1, C, M, &bias_planes) : nullptr;
  parallel_for(s.batch, depthwise_grain(s), [&](Index begin, Index end) {
    std::vector<T> planar(static_cast<size_t>(M > 1 ? F : 0));  // one pixel, (M, C)
    for (Index n = begin; n < end; ++n) {
      for_each_pixel(s, n, 1, [&](Index r, Index base, Index i_lo, Index i_hi, Index j_lo,
                                 Index j_hi) {
        T* acc = M == 1 ? y + r * F : planar.data();
        if (bt) std::copy(bt, bt + F, acc); else std::fill(acc, acc + F, T(0));
        for (Index i = i_lo; i < i_hi; ++i) {
          for (Index j = j_lo; j < j_hi; ++j) {
            const ConstArrayMap<T> xc(x + base + i * tap_row + j * tap_col, C);
            const T* kp = kt + (i * KW + j) * F;
            for (Index m = 0; m < M; ++m) {
              ArrayMap<T>(acc + m * C, C) += xc * ConstArrayMap<T>(kp + m * C, C);
            }
          }
        }
        if (M > 1) {  // back to TF's channel order c * M + m
          T* out = y + r * F;
          for (Index m = 0; m < M; ++m) {
            for (Index c = 0; c < C; ++c) out[c * M + m] = acc[m * C + c];
          }
        }
      });
      if (act != Activation::Linear) {
        T* yn = y + n * s.pixels() * F;
        activation_forward(yn, yn, s.pixels(), F, act, alpha);
      }
    }
  });
}

template <class T>
void depthwise_conv2d_backward(T* dx, T* dkernel, T* dbias, const T* dy, const T* y,
                               Activation act, T alpha, const T* x, const T* kernel,
                               const Conv2DShape& s) {
  const Index C = s.in_c, F = s.out_c, M = F / C, KW = s.w.kernel, P = s.pixels();
  const Index tap_row = s.h.dilation * s.w.in * C, tap_col = s.w.dilation * C;
  const Index image_in = s.h.in * s.w.in * C, taps = s.h.kernel * KW, K = taps * F;
  if (s.batch == 0) return;
  std::vector<T> planes;
  const T* kt = kernel_planes(kernel, taps, C, M, &planes);
  const Index blocks = std::min<Index>(kDepthwiseBlocks, s.batch);
  // Per block: its kernel gradient (as planes) and bias gradient sums, the dz of its current
  // image, and one pixel's dz as planes.
  const Index dz_size = act != Activation::Linear ? P * F : 0;
  const Index slot = K + F + dz_size + (M > 1 ? F : 0);
  std::vector<T> work(static_cast<size_t>(blocks * slot));
  parallel_for(blocks, std::max<Index>(1, depthwise_grain(s) * blocks / s.batch),
               [&](Index first, Index last) {
    for (Index b = first; b < last; ++b) {
      T* dk = work.data() + b * slot;
      T* db = dk + K;
      T* dz_buffer = db + F;
      T* planar = dz_buffer + dz_size;
      std::fill(dk, dk + K + F, T(0));
      for (Index n = s.batch * b / blocks; n < s.batch * (b + 1) / blocks; ++n) {
        const T* dz = dy + n * P * F;
        if (act != Activation::Linear) {
          activation_backward(dz_buffer, dz, y + n * P * F, P, F, act, alpha);
          dz = dz_buffer;
        }
        if (dx) std::fill(dx + n * image_in, dx + (n + 1) * image_in, T(0));
        if (dbias) {
          ArrayMap<T> sums(db, F);
          for (Index r = 0; r < P; ++r) sums += ConstArrayMap<T>(dz + r * F, F);
        }
        for_each_pixel(s, n, 1, [&](Index r, Index base, Index i_lo, Index i_hi,
                                   Index j_lo, Index j_hi) {
          const T* g = dz + (r - n * P) * F;  // r counts rows from image 0
          if (M > 1) {
            for (Index c = 0; c < C; ++c) {
              for (Index m = 0; m < M; ++m) planar[m * C + c] = g[c * M + m];
            }
            g = planar;
          }
          for (Index i = i_lo; i < i_hi; ++i) {
            for (Index j = j_lo; j < j_hi; ++j) {
              const Index at = base + i * tap_row + j * tap_col, tap = (i * KW + j) * F;
              const ConstArrayMap<T> xc(x + at, C);
              for (Index m = 0; m < M; ++m) {
                const ConstArrayMap<T> gm(g + m * C, C);
                if (dkernel) ArrayMap<T>(dk + tap + m * C, C) += xc * gm;
                if (dx) ArrayMap<T>(dx + at, C) += gm * ConstArrayMap<T>(kt + tap + m * C, C);
              }
            }
          }
        });
      }
    }
  });
  if (dbias) add_partials(dbias, work.data() + K, blocks, F, slot);
  if (!dkernel) return;
  if (M == 1) {
    add_partials(dkernel, work.data(), blocks, K, slot);
    return;
  }
  std::vector<T> total(static_cast<size_t>(K), T(0));
  add_partials(total.data(), work.data(), blocks, K, slot);
  for (Index t = 0; t < taps; ++t) {
    for (Index c = 0; c < C; ++c) {
      for (Index m = 0; m < M; ++m) dkernel[(t * C + c) * M + m] += total[(t * M + m) * C + c];
    }
  }
}

#define BRISKNN_INSTANTIATE(T)                                                                 \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const Conv2DShape&,       \
                                  Activation, T, T*, Index);                                  \
  template void conv2d_backward<T>(T*, T*, T*, const T*, const T*, Activation, T, const T*,  \
                                   const T*, const Conv2DShape&, T*, Index);                  \
  template void depthwise_conv2d_forward<T>(T*, const T*, const T*, const T*,                \
                                            const Conv2DShape&, Activation, T);               \
  template void depthwise_conv2d_backward<T>(T*, T*, T*, const T*, const T*, Activation, T,  \
                                             const T*, const T*, const Conv2DShape&);
BRISKNN_INSTANTIATE(float)
BRISKNN_INSTANTIATE(double)
#undef BRISKNN_INSTANTIATE

}  // namespace brisknn
