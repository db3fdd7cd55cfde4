#include "brisknn/activation.h"

#include <algorithm>
#include <cmath>

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

// Transcendental maps go through map_blocks (views.h) so results never depend on alignment.
template <class T, class F>
void transcendental(T* y, const T* x, Index n, F f) {
  map_blocks(x, n, f, [y](Index i, const T* v, Index m) { std::copy(v, v + m, y + i); });
}

template <class T>
void elementwise_forward(T* yp, const T* xp, Index n, Activation act, T alpha) {
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
    case Activation::Softmax: break;  // row-wise, handled by the caller
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
    case Activation::Silu:  // x sigmoid(x)
      map_blocks(xp, n, [](const auto& v) { return v.logistic(); },
                 [xp, yp](Index i, const T* s, Index m) {
                   for (Index k = 0; k < m; ++k) yp[i + k] = xp[i + k] * s[k];
                 });
      break;
  }
}

template <class T>
void elementwise_backward(T* dxp, const T* dyp, const T* yp, Index n, Activation act, T alpha) {
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
    case Activation::Softplus:
      map_blocks(yp, n, [](const auto& v) { return -(-v).expm1(); },
                 [dxp, dyp](Index i, const T* s, Index m) {
                   for (Index k = 0; k < m; ++k) dxp[i + k] = dyp[i + k] * s[k];
                 });
      break;
    case Activation::Softmax: break;
    // The rest from the output too: each is monotonic, so y tells where x was.
    case Activation::Relu6: dx = (y > T(0) && y < T(6)).select(dy, T(0)); break;
    case Activation::Softsign: dx = dy * (T(1) - y.abs()).square(); break;  // 1 / (1 + |x|)^2
    case Activation::HardSigmoid: dx = (y > T(0) && y < T(1)).select(dy / T(6), T(0)); break;
    case Activation::Exponential: dx = dy * y; break;
    case Activation::Selu:
      dx = (y > T(0)).select(dy * kSeluScale<T>, dy * (y + kSeluScale<T> * kSeluAlpha<T>));
      break;
    // From the input (here in yp): Phi(x) + x phi(x), and s (1 + x (1 - s)) with s = sigmoid(x).
    case Activation::Gelu:
      for (Index i = 0; i < n; ++i) {
        const T x = yp[i];
        dxp[i] = dyp[i] * (normal_cdf(x) + x * std::exp(T(-0.5) * x * x) * kInvSqrt2Pi<T>);
      }
      break;
    case Activation::Silu:
      map_blocks(yp, n, [](const auto& v) { return v.logistic(); },
                 [yp, dxp, dyp](Index i, const T* s, Index m) {
                   for (Index k = 0; k < m; ++k) {
                     dxp[i + k] = dyp[i + k] * s[k] * (T(1) + yp[i + k] * (T(1) - s[k]));
                   }
                 });
      break;
  }
}

}  // namespace

bool parse_activation(const std::string& name, Activation* out) {
  static const struct { const char* name; Activation act; } table[] = {
      {"linear", Activation::Linear},   {"relu", Activation::Relu},
      {"leaky_relu", Activation::LeakyRelu}, {"elu", Activation::Elu},
      {"sigmoid", Activation::Sigmoid}, {"tanh", Activation::Tanh},
      {"softplus", Activation::Softplus}, {"softmax", Activation::Softmax},
      {"relu6", Activation::Relu6}, {"softsign", Activation::Softsign},
      {"hard_sigmoid", Activation::HardSigmoid}, {"exponential", Activation::Exponential},
      {"selu", Activation::Selu}, {"gelu", Activation::Gelu}, {"silu", Activation::Silu},
      {"swish", Activation::Silu}};
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
  if (act == Activation::Softmax) {
    parallel_for(rows, std::max<Index>(1, kElementGrain / std::max<Index>(cols, 1)),
                 [&](Index b, Index e) { softmax_rows(y, x, b, e, cols); });
    return;
  }
  parallel_for(rows * cols, kElementGrain, [&](Index b, Index e) {
    elementwise_forward(y + b, x + b, e - b, act, alpha);
  });
}

template <class T>
void activation_backward(T* dx, const T* dy, const T* y, Index rows, Index cols, Activation act,
                         T alpha) {
  if (act == Activation::Softmax) {
    parallel_for(rows, std::max<Index>(1, kElementGrain / std::max<Index>(cols, 1)),
                 [&](Index b, Index e) { softmax_backward_rows(dx, dy, y, b, e, cols); });
    return;
  }
  parallel_for(rows * cols, kElementGrain, [&](Index b, Index e) {
    elementwise_backward(dx + b, dy + b, y + b, e - b, act, alpha);
  });
}

template void activation_forward<float>(float*, const float*, Index, Index, Activation, float);
template void activation_forward<double>(double*, const double*, Index, Index, Activation, double);
template void activation_backward<float>(float*, const float*, const float*, Index, Index,
                                         Activation, float);
template void activation_backward<double>(double*, const double*, const double*, Index, Index,
                                          Activation, double);

}  // namespace brisknn
