// Matrix product and the dense layer y = act(x W + b).
#pragma once
#include "brisknn/activation.h"
#include "brisknn/parallel.h"

namespace brisknn {

// c (m, n) = op(a) op(b), op transposing when asked; a is (m, k), or (k, m) with trans_a.
// accumulate adds into c instead of overwriting it.
template <class T>
void matmul(T* c, const T* a, const T* b, Index m, Index k, Index n, bool trans_a, bool trans_b,
            bool accumulate);

// The same on operands that may be column blocks of wider matrices (one gate's columns of an
// LSTM kernel, say): c (m, n) has row stride ldc; a is (m, k) with row stride lda, or with
// trans_a its transpose stored (k, m) with row stride lda; likewise b (k, n) and ldb.
template <class T>
void gemm(T* c, Index ldc, const T* a, Index lda, bool trans_a, const T* b, Index ldb,
          bool trans_b, Index m, Index k, Index n, bool accumulate);

// y (batch, out) = act(x (batch, in) w (in, out) + bias (out)); bias may be null. Returns whether
// every x w + bias was finite: false whenever x holds a NaN or an inf.
template <class T>
bool dense_forward(T* y, const T* x, const T* w, const T* bias, Index batch, Index in, Index out,
                   Activation act, T alpha);

// From dz = dL/d(xw + b) (batch, out): dx = dz w^T (overwritten), dw += x^T dz, dbias += sum_rows dz.
// Any of dx, dw, dbias may be null to skip it (the first layer needs no dx).
template <class T>
void dense_backward(T* dx, T* dw, T* dbias, const T* dz, const T* x, const T* w, Index batch,
                    Index in, Index out);

// The same from dy = dL/dy and the layer's output y = act(z): dz = act'(z) dy first (into a
// reused per-thread buffer), so a layer hands over its output gradient in one call.
template <class T>
void dense_backward(T* dx, T* dw, T* dbias, const T* dy, const T* y, Activation act, T alpha,
                    const T* x, const T* w, Index batch, Index in, Index out);

}  // namespace brisknn
