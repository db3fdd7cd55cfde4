#include "brisknn/activation.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "brisknn/views.h"

namespace brisknn {

namespace {

constexpr Index kElementGrain = 1 << 15;  // elements per thread before threading pays
// SELU's constants, as Keras (and Klambauer et al.) give them.
template <class T>
constexpr T kSeluAlpha = T(1.6732632423543772848170429916717);
template <class T>
constexpr T kSeluScale = T(1.0507009873554804934193349852946);
template <class T>
constexpr T kInvSqrt2Pi = T(0.39894228040143267793994605993438);

template <class T>
T normal_cdf(T x) {
  return T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440084436210485)));
}

// ---- row-wise: softmax and log_softmax ---------------------------------------------------------
template <class T>
void softmax_rows(T* y, const T* x, Index begin, Index end, Index cols) {
  for (Index r = begin; r < end; ++r) {
    // Subtracting the row max keeps exp() finite for any input.
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    const T m = *std::max_element(xr, xr + cols);
    T sum = T(0);
    map_blocks(xr, cols, [m](const auto& v) { return (v - m).exp(); },
               [&](Index i, const T* e, Index n) {
                 std::copy(e, e + n, yr + i);
                 sum += ordered_sum(e, n);
               });
    for (Index j = 0; j < cols; ++j) yr[j] /= sum;
  }
}

template <class T>
void softmax_backward_rows(T* dx, const T* dy, const T* y, Index begin, Index end, Index cols) {
  for (Index r = begin; r < end; ++r) {
    const T *yr = y + r * cols, *dyr = dy + r * cols;
    T* dxr = dx + r * cols;
    T dot = T(0);
    for (Index j = 0; j < cols; ++j) dot += yr[j] * dyr[j];
    for (Index j = 0; j < cols; ++j) dxr[j] = yr[j] * (dyr[j] - dot);
  }
}

// x[0, n) summed in 16 interleaved lanes (lane l takes the elements at l mod 16 from the start of
// the row) that are then added in a fixed order: like ordered_sum, the bits depend on neither
// alignment nor thread count, but the lanes vectorise where one running sum cannot.
template <class T>
class LaneSum {
 public:
  // Adds x[0, n); x must sit at a row offset that is a multiple of 16 (map_blocks' blocks do).
  void add(const T* x, Index n) {
    Index k = 0;
    for (; k + kLanes <= n; k += kLanes) {
      for (int l = 0; l < kLanes; ++l) lane_[l] += x[k + l];
    }
    for (; k < n; ++k) lane_[k % kLanes] += x[k];
  }
  T total() const {
    T s = T(0);
    for (int l = 0; l < kLanes; ++l) s += lane_[l];
    return s;
  }

 private:
  static constexpr int kLanes = 16;
  static_assert(kMapBlock % kLanes == 0, "map_blocks' blocks must keep the lanes in step");
  T lane_[kLanes] = {};
};

// log_softmax(x) = (x - m) - log(sum exp(x - m)) with m the row max, as Keras: exact for any input.
template <class T>
void log_softmax_rows(T* y, const T* x, Index begin, Index end, Index cols) {
  for (Index r = begin; r < end; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    const T m = ConstArrayMap<T>(xr, cols).maxCoeff();  // a max is exact in any order
    LaneSum<T> sum;
    map_blocks(xr, cols, [m](const auto& v) { return (v - m).exp(); },
               [&sum](Index, const T* e, Index n) { sum.add(e, n); });
    const T log_sum = std::log(sum.total());
    for (Index j = 0; j < cols; ++j) yr[j] = (xr[j] - m) - log_sum;
  }
}

// dx = dy - softmax(x) sum(dy), with softmax(x) = exp(y).
template <class T>
void log_softmax_backward_rows(T* dx, const T* dy, const T* y, Index begin, Index end,
                               Index cols) {
  for (Index r = begin; r < end; ++r) {
    const T* dyr = dy + r * cols;
    T* dxr = dx + r * cols;
    LaneSum<T> sum;
    sum.add(dyr, cols);
    const T total = sum.total();
    map_blocks(y + r * cols, cols, [](const auto& v) { return v.exp(); },
               [&](Index i, const T* p, Index n) {
                 for (Index k = 0; k < n; ++k) dxr[i + k] = dyr[i + k] - p[k] * total;
               });
  }
}

// ---- element-wise pairs whose formulas take more than one line ---------------------------------
// Transcendental parts (and sqrt, which Eigen vectorises inexactly for float) go through
// map_blocks (views.h) so results never depend on alignment; the rest (+ - * / only, exactly
// rounded) runs in plain loops the compiler vectorises.
template <class T, class F>
void transcendental(T* y, const T* x, Index n, F f) {
  map_blocks(x, n, f, [y](Index i, const T* v, Index m) { std::copy(v, v + m, y + i); });
}

// dx = dy * g, g a transcendental function of y (or x) through map_blocks.
template <class T, class F>
void times_transcendental(T* dx, const T* dy, const T* y, Index n, F g) {
  map_blocks(y, n, g, [dx, dy](Index i, const T* s, Index m) {
    for (Index k = 0; k < m; ++k) dx[i + k] = dy[i + k] * s[k];
  });
}

// store(i, e, m) with e = expm1(arg(x)) block by block, for arg(x) <= 0. In float through
// t = tanh(arg / 2): expm1 = 2t / (1 - t), where 1 - t cannot cancel, as accurate as expm1 (a few
// ulp) for one vectorised tanh, where Eigen's expm1 costs three exps. In double Eigen's tanh is
// scalar, so expm1 itself.
template <class T, class Arg, class Store>
void map_expm1(const T* x, Index n, Arg arg, Store store) {
  if constexpr (std::is_same_v<T, float>) {
    map_blocks(x, n, [arg](const auto& v) { return (T(0.5) * arg(v)).tanh(); },
               [&store](Index i, const T* t, Index m) {
                 alignas(64) T e[kMapBlock];
                 for (Index k = 0; k < m; ++k) e[k] = T(2) * t[k] / (T(1) - t[k]);
                 store(i, static_cast<const T*>(e), m);
               });
  } else {
    map_blocks(x, n, [arg](const auto& v) { return arg(v).expm1(); }, store);
  }
}

// dx = -dy expm1(sign y), for sign y <= 0: softplus' (sign -1) and log_sigmoid' (sign 1).
template <class T>
void times_minus_expm1(T* dx, const T* dy, const T* y, Index n, T sign) {
  map_expm1(y, n, [sign](const auto& v) { return sign * v; },
            [dx, dy](Index i, const T* e, Index m) {
              for (Index k = 0; k < m; ++k) dx[i + k] = -dy[i + k] * e[k];
            });
}

// celu(x) = max(x, 0) + alpha expm1(min(x, 0) / alpha), Keras' formula.
template <class T>
void celu_forward(T* y, const T* x, Index n, T alpha) {
  map_expm1(x, n, [alpha](const auto& v) { return v.min(T(0)) / alpha; },
            [x, y, alpha](Index i, const T* e, Index m) {
              for (Index k = 0; k < m; ++k) y[i + k] = std::max(x[i + k], T(0)) + alpha * e[k];
            });
}

// mish(x) = x tanh(softplus(x)). With e = exp(x) and n = e (e + 2), tanh(log(1 + e)) = n / (n + 2):
// one exp instead of exp, log1p and tanh, and no cancellation for negative x. exp's argument is
// capped at 40, where n / (n + 2) is already 1 even in double, so n never overflows.
constexpr double kMishCap = 40.0;

template <class T>
void mish_forward(T* y, const T* x, Index n) {
  map_blocks(x, n, [](const auto& v) { return v.min(T(kMishCap)).exp(); },
             [x, y](Index i, const T* e, Index m) {
               for (Index k = 0; k < m; ++k) {
                 const T q = e[k] * (e[k] + T(2));
                 y[i + k] = x[i + k] * (q / (q + T(2)));
               }
             });
}

// mish'(x) = t + x (1 - t^2) sigmoid(x), t = n / (n + 2); with r = 1 / (n + 2),
// 1 - t^2 = 4 r (1 - r) without cancellation. Past the cap the second term is below any rounding
// of the first, and using the capped x there keeps x (1 - t^2) from becoming inf * 0.
template <class T>
void mish_backward(T* dx, const T* dy, const T* x, Index n) {
  map_blocks(x, n, [](const auto& v) { return v.min(T(kMishCap)).exp(); },
             [x, dx, dy](Index i, const T* e, Index m) {
               for (Index k = 0; k < m; ++k) {
                 const T xc = std::min(x[i + k], T(kMishCap));
                 const T q = e[k] * (e[k] + T(2)), r = T(1) / (q + T(2));
                 const T sig = e[k] / (T(1) + e[k]);
                 dx[i + k] = dy[i + k] * (q * r + xc * (T(4) * r * (T(1) - r)) * sig);
               }
             });
}

// Keras' gelu(x, approximate=True): 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
// computed as x sigmoid(2u), the same function: 1 + tanh(u) cancels for negative x, sigmoid
// does not.
template <class T>
constexpr T kGeluTwoK = T(1.5957691216057307117597842397375);  // 2 sqrt(2 / pi)
template <class T>
constexpr T kGeluCubic = T(0.044715);

template <class T>
void gelu_tanh_forward(T* y, const T* x, Index n) {
  map_blocks(x, n,
             [](const auto& v) {
               return (kGeluTwoK<T> * (v + kGeluCubic<T> * v.cube())).logistic();
             },
             [x, y](Index i, const T* s, Index m) {
               for (Index k = 0; k < m; ++k) y[i + k] = x[i + k] * s[k];
             });
}

// d/dx x s(x) = s + x s (1 - s) 2u', s = sigmoid(2u). Beyond |x| = 10 the derivative is 0 or 1
// to double precision; x is clamped there so that x^3 cannot overflow into inf * 0.
constexpr double kGeluClamp = 10.0;

template <class T>
void gelu_tanh_backward(T* dx, const T* dy, const T* x, Index n) {
  map_blocks(x, n,
             [](const auto& v) {
               const auto xc = v.max(T(-kGeluClamp)).min(T(kGeluClamp));
               return (kGeluTwoK<T> * (xc + kGeluCubic<T> * xc.cube())).logistic();
             },
             [x, dx, dy](Index i, const T* s, Index m) {
               for (Index k = 0; k < m; ++k) {
                 const T xc = std::clamp(x[i + k], T(-kGeluClamp), T(kGeluClamp));
                 const T du = kGeluTwoK<T> * (T(1) + T(3) * kGeluCubic<T> * xc * xc);
                 dx[i + k] = dy[i + k] * (s[k] + xc * s[k] * (T(1) - s[k]) * du);
               }
             });
}

// squareplus(x) = (x + sqrt(x^2 + b)) / 2 (Keras), computed as max(x, 0) + b / (2 (s + |x|)):
// the same function without the cancellation of x + s for negative x. s = sqrt(x^2 + b) as
// hypot(|x|, sqrt(b)) = a sqrt(1 + (m / a)^2), a and m the larger and smaller, so that x^2 never
// overflows (Eigen's fast float sqrt would turn an inf into NaN). b = 0 makes it relu. Through
// map_blocks: that sqrt is also not the correctly rounded scalar one.
template <class T>
void squareplus_forward(T* y, const T* x, Index n, T b) {
  if (b == T(0)) {
    ArrayMap<T>(y, n) = ConstArrayMap<T>(x, n).max(T(0));
    return;
  }
  const T root_b = std::sqrt(b);
  transcendental(y, x, n, [b, root_b](const auto& v) {
    const auto a = v.abs().max(root_b);
    const auto s = a * (T(1) + (v.abs().min(root_b) / a).square()).sqrt();
    return v.max(T(0)) + b / (T(2) * (s + v.abs()));
  });
}

// squareplus'(x) = y / s = 1 / (1 + b / (4 y^2)), from the output (squareplus is increasing).
template <class T>
void squareplus_backward(T* dxp, const T* dyp, const T* yp, Index n, T b) {
  ConstArrayMap<T> dy(dyp, n), y(yp, n);
  ArrayMap<T> dx(dxp, n);
  if (b == T(0)) {
    dx = (y > T(0)).select(dy, T(0));
    return;
  }
  dx = dy / (T(1) + b / (T(4) * y.square()));
}

}  // namespace

// ---- element-wise: one switch for forward, one for backward ------------------------------------

template <class T>
void elementwise_activation_forward(T* yp, const T* xp, Index n, Activation act, T alpha) {
  ConstArrayMap<T> x(xp, n);
  ArrayMap<T> y(yp, n);
  switch (act) {
    case Activation::Linear: if (yp != xp) y = x; break;
    case Activation::Relu: y = x.max(T(0)); break;
    case Activation::LeakyRelu: y = (x > T(0)).select(x, alpha * x); break;
    // No select(): Eigen 3.4 does not vectorise it, and exp would then run scalar.
    case Activation::Elu:
      transcendental(yp, xp, n, [alpha](const auto& v) {
        return v.max(T(0)) + alpha * (v.min(T(0)).exp() - T(1));
      });
      break;
    case Activation::Sigmoid:
      transcendental(yp, xp, n, [](const auto& v) { return v.logistic(); });
      break;
    case Activation::Tanh:
      transcendental(yp, xp, n, [](const auto& v) { return v.tanh(); });
      break;
    // max(x, 0) + log1p(exp(-|x|)): no overflow for large x, no cancellation for small.
    case Activation::Softplus:
      transcendental(yp, xp, n,
                     [](const auto& v) { return v.max(T(0)) + (-v.abs()).exp().log1p(); });
      break;
    case Activation::Softmax: case Activation::LogSoftmax: break;  // row-wise, by the caller
    case Activation::Relu6: y = x.max(T(0)).min(T(6)); break;
    case Activation::Softsign: y = x / (x.abs() + T(1)); break;
    case Activation::HardSigmoid: y = (x + T(3)).max(T(0)).min(T(6)) / T(6); break;  // Keras 3
    case Activation::Exponential:
      transcendental(yp, xp, n, [](const auto& v) { return v.exp(); });
      break;
    case Activation::Selu:
      transcendental(yp, xp, n, [](const auto& v) {
        return kSeluScale<T> * (v.max(T(0)) + kSeluAlpha<T> * (v.min(T(0)).exp() - T(1)));
      });
      break;
    // Keras' gelu (approximate=False): x Phi(x). A scalar loop: std::erf, same on any alignment.
    case Activation::Gelu:
      for (Index i = 0; i < n; ++i) yp[i] = xp[i] * normal_cdf(xp[i]);
      break;
    case Activation::GeluTanh: gelu_tanh_forward(yp, xp, n); break;
    case Activation::Silu:  // x sigmoid(x)
      map_blocks(xp, n, [](const auto& v) { return v.logistic(); },
                 [xp, yp](Index i, const T* s, Index m) {
                   for (Index k = 0; k < m; ++k) yp[i + k] = xp[i + k] * s[k];
                 });
      break;
    case Activation::Mish: mish_forward(yp, xp, n); break;
    case Activation::HardSilu:  // x hard_sigmoid(x), as Keras
      y = x * ((x + T(3)).max(T(0)).min(T(6)) / T(6));
      break;
    case Activation::Celu: celu_forward(yp, xp, n, alpha); break;
    case Activation::HardTanh: y = x.max(T(-1)).min(T(1)); break;
    // -softplus(-x) = min(x, 0) - log1p(exp(-|x|)).
    case Activation::LogSigmoid:
      transcendental(yp, xp, n,
                     [](const auto& v) { return v.min(T(0)) - (-v.abs()).exp().log1p(); });
      break;
    case Activation::TanhShrink:
      transcendental(yp, xp, n, [](const auto& v) { return v - v.tanh(); });
      break;
    case Activation::Squareplus: squareplus_forward(yp, xp, n, alpha); break;
    // 0 for x <= -1, (x + 1)^2 / 4 below 1, x above: the quadratic of the clipped x is >= x
    // exactly where it applies, so a max picks the branch without select().
    case Activation::SparsePlus:
      y = x.max(((x.max(T(-1)).min(T(1)) + T(1)).square() / T(4)));
      break;
  }
}

template <class T>
void elementwise_activation_backward(T* dxp, const T* dyp, const T* yp, Index n, Activation act,
                                     T alpha) {
  ConstArrayMap<T> dy(dyp, n), y(yp, n);
  ArrayMap<T> dx(dxp, n);
  switch (act) {
    case Activation::Linear: if (dxp != dyp) dx = dy; break;
    case Activation::Relu: dx = (y > T(0)).select(dy, T(0)); break;
    case Activation::LeakyRelu: dx = (y > T(0)).select(dy, alpha * dy); break;
    case Activation::Elu: dx = (y > T(0)).select(dy, dy * (y + alpha)); break;
    case Activation::Sigmoid: dx = dy * y * (T(1) - y); break;
    case Activation::Tanh: dx = dy * (T(1) - y.square()); break;
    // softplus'(x) = sigmoid(x) = 1 - exp(-y); -expm1 keeps precision when y is tiny.
    case Activation::Softplus: times_minus_expm1(dxp, dyp, yp, n, T(-1)); break;
    case Activation::Softmax: case Activation::LogSoftmax: break;
    // The rest from the output too: each is monotonic, so y tells where x was.
    case Activation::Relu6: dx = (y > T(0) && y < T(6)).select(dy, T(0)); break;
    case Activation::Softsign: dx = dy * (T(1) - y.abs()).square(); break;  // 1 / (1 + |x|)^2
    case Activation::HardSigmoid: dx = (y > T(0) && y < T(1)).select(dy / T(6), T(0)); break;
    case Activation::Exponential: dx = dy * y; break;
    case Activation::Selu:
      dx = (y > T(0)).select(dy * kSeluScale<T>, dy * (y + kSeluScale<T> * kSeluAlpha<T>));
      break;
    case Activation::Celu: dx = (y > T(0)).select(dy, dy * (y / alpha + T(1))); break;
    case Activation::HardTanh: dx = (y > T(-1) && y < T(1)).select(dy, T(0)); break;
    // log_sigmoid'(x) = sigmoid(-x) = 1 - exp(y) = -expm1(y).
    case Activation::LogSigmoid: times_minus_expm1(dxp, dyp, yp, n, T(1)); break;
    case Activation::Squareplus: squareplus_backward(dxp, dyp, yp, n, alpha); break;
    // (x + 1) / 2 = sqrt(y) on the quadratic, 0 below it, 1 above.
    case Activation::SparsePlus:
      // The exact sqrt (GCC vectorises std::sqrt without errno), so 1 exactly where y >= 1:
      // Eigen's fast float sqrt on SSE-only builds gives 1 - 2^-24, and its select around a
      // sqrt ran 4x slower than NumPy.
      for (Index i = 0; i < n; ++i) dxp[i] = dyp[i] * std::sqrt(std::min(yp[i], T(1)));
      break;
    // From the input (here in yp): Phi(x) + x phi(x), and s (1 + x (1 - s)) with s = sigmoid(x).
    case Activation::Gelu:
      for (Index i = 0; i < n; ++i) {
        const T x = yp[i];
        dxp[i] = dyp[i] * (normal_cdf(x) + x * std::exp(T(-0.5) * x * x) * kInvSqrt2Pi<T>);
      }
      break;
    case Activation::GeluTanh: gelu_tanh_backward(dxp, dyp, yp, n); break;
    case Activation::Silu:
      map_blocks(yp, n, [](const auto& v) { return v.logistic(); },
                 [yp, dxp, dyp](Index i, const T* s, Index m) {
                   for (Index k = 0; k < m; ++k) {
                     dxp[i + k] = dyp[i + k] * s[k] * (T(1) + yp[i + k] * (T(1) - s[k]));
                   }
                 });
      break;
    case Activation::Mish: mish_backward(dxp, dyp, yp, n); break;
    // hard_sigmoid(x) + x / 6 inside (-3, 3): 0 below, 1 above.
    case Activation::HardSilu:
      dx = dy * ((y + T(3)).max(T(0)).min(T(6)) / T(6) +
                 (y.abs() < T(3)).select(y / T(6), T(0)));
      break;
    case Activation::TanhShrink:  // 1 - (1 - tanh(x)^2)
      times_transcendental(dxp, dyp, yp, n, [](const auto& v) { return v.tanh().square(); });
      break;
  }
}

double keras_default_alpha(Activation act) {
  switch (act) {
    case Activation::LeakyRelu: return 0.2;
    case Activation::Elu: case Activation::Celu: return 1.0;
    case Activation::Squareplus: return 4.0;
    default: return 0.0;
  }
}

bool parse_activation(const std::string& name, Activation* out) {
  static const struct { const char* name; Activation act; } table[] = {
      {"linear", Activation::Linear},   {"relu", Activation::Relu},
      {"leaky_relu", Activation::LeakyRelu}, {"elu", Activation::Elu},
      {"sigmoid", Activation::Sigmoid}, {"tanh", Activation::Tanh},
      {"softplus", Activation::Softplus}, {"softmax", Activation::Softmax},
      {"relu6", Activation::Relu6}, {"softsign", Activation::Softsign},
      {"hard_sigmoid", Activation::HardSigmoid}, {"exponential", Activation::Exponential},
      {"selu", Activation::Selu}, {"gelu", Activation::Gelu}, {"silu", Activation::Silu},
      {"swish", Activation::Silu}, {"gelu_approximate", Activation::GeluTanh},
      {"mish", Activation::Mish}, {"hard_silu", Activation::HardSilu},
      {"hard_swish", Activation::HardSilu}, {"log_softmax", Activation::LogSoftmax},
      {"celu", Activation::Celu}, {"hard_tanh", Activation::HardTanh},
      {"log_sigmoid", Activation::LogSigmoid}, {"tanh_shrink", Activation::TanhShrink},
      {"squareplus", Activation::Squareplus}, {"sparse_plus", Activation::SparsePlus}};
  for (const auto& e : table) {
    if (name == e.name) {
      *out = e.act;
      return true;
    }
  }
  return false;
}

template <class T>
void activation_forward(T* y, const T* x, Index rows, Index cols, Activation act, T alpha) {
  if (rows * cols == 0) return;  // (a row-wise one would read the max of an empty row)
  if (is_row_wise(act)) {
    parallel_for(rows, std::max<Index>(1, kElementGrain / std::max<Index>(cols, 1)),
                 [&](Index b, Index e) {
                   if (act == Activation::Softmax) {
                     softmax_rows(y, x, b, e, cols);
                   } else {
                     log_softmax_rows(y, x, b, e, cols);
                   }
                 });
    return;
  }
  parallel_for(rows * cols, kElementGrain, [&](Index b, Index e) {
    elementwise_activation_forward(y + b, x + b, e - b, act, alpha);
  });
}

template <class T>
void activation_backward(T* dx, const T* dy, const T* y, Index rows, Index cols, Activation act,
                         T alpha) {
  if (rows * cols == 0) return;
  if (is_row_wise(act)) {
    parallel_for(rows, std::max<Index>(1, kElementGrain / std::max<Index>(cols, 1)),
                 [&](Index b, Index e) {
                   if (act == Activation::Softmax) {
                     softmax_backward_rows(dx, dy, y, b, e, cols);
                   } else {
                     log_softmax_backward_rows(dx, dy, y, b, e, cols);
                   }
                 });
    return;
  }
  parallel_for(rows * cols, kElementGrain, [&](Index b, Index e) {
    elementwise_activation_backward(dx + b, dy + b, y + b, e - b, act, alpha);
  });
}

#define BRISKNN_INSTANTIATE(T)                                                                   \
  template void activation_forward<T>(T*, const T*, Index, Index, Activation, T);               \
  template void activation_backward<T>(T*, const T*, const T*, Index, Index, Activation, T);    \
  template void elementwise_activation_forward<T>(T*, const T*, Index, Activation, T);          \
  template void elementwise_activation_backward<T>(T*, const T*, const T*, Index, Activation, T);
BRISKNN_INSTANTIATE(float)
BRISKNN_INSTANTIATE(double)
#undef BRISKNN_INSTANTIATE

}  // namespace brisknn
