#include "brisknn/dense_chain.h"

#include "brisknn/dense.h"

namespace brisknn {

template <class T>
bool dense_chain_step(const T* x, Index batch, const DenseChainLayer<T>* layers, Index count,
                      const T* y_true, const int64_t* labels, T* per_sample, T* grad, Loss loss,
                      bool from_logits, T scale, bool stop_if_not_finite, Index* bad_label) {
  *bad_label = -1;
  bool finite = true;
  for (Index i = 0; i < count; ++i) {
    const DenseChainLayer<T>& l = layers[i];
    const bool ok = dense_forward(l.y, i ? layers[i - 1].y : x, l.kernel, l.bias, batch, l.in,
                                  l.out, l.act, l.alpha);
    if (i == 0) finite = ok;
  }
  if (!finite && stop_if_not_finite) return false;
  const DenseChainLayer<T>& last = layers[count - 1];
  *bad_label = loss_forward_backward(per_sample, grad, y_true, labels, last.y, batch, last.out,
                                     loss, from_logits, scale);
  if (*bad_label >= 0) return finite;
  const T* dy = grad;
  for (Index i = count - 1; i >= 0; --i) {
    const DenseChainLayer<T>& l = layers[i];
    dense_backward(l.dx, l.dkernel, l.dbias, dy, l.y, l.act, l.alpha, i ? layers[i - 1].y : x,
                   l.kernel, batch, l.in, l.out);
    dy = l.dx;
  }
  return finite;
}

#define BRISKNN_INSTANTIATE(T)                                                                 \
  template bool dense_chain_step<T>(const T*, Index, const DenseChainLayer<T>*, Index, const T*, \
                                    const int64_t*, T*, T*, Loss, bool, T, bool, Index*);
BRISKNN_INSTANTIATE(float)
BRISKNN_INSTANTIATE(double)
#undef BRISKNN_INSTANTIATE

}  // namespace brisknn
