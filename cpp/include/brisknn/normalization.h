// Batch normalization over x viewed as (outer, channels, inner): each channel's statistics run
// over the outer and inner axes (channels-last data has inner = 1). Sums are taken in double
// over chunks of the outer axis fixed by the shape and added in chunk order, so the results do
// not depend on the thread count.
#pragma once
#include "brisknn/parallel.h"

namespace brisknn {

// The batch mean and biased variance of each channel.
template <class T>
void batch_norm_moments(T* mean, T* variance, const T* x, Index outer, Index channels,
                        Index inner);

// y = (x - mean) * inv * gamma + beta per channel, computed as (x - mean) * scale + beta (no
// cancellation when the mean is large next to the spread); gamma and beta may be null (1 and
// 0). y may be x.
template <class T>
void batch_norm_forward(T* y, const T* x, const T* mean, const T* inv, const T* gamma,
                        const T* beta, Index outer, Index channels, Index inner);

// dgamma += sum dy * x_hat and dbeta += sum dy (either may be null), x_hat = (x - mean) * inv.
// dx (may be null) = gamma inv dy if the statistics were constants, else the gradient through
// the batch statistics too: gamma inv (dy - mean(dy) - x_hat mean(dy x_hat)).
template <class T>
void batch_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean,
                         const T* inv, const T* gamma, Index outer, Index channels, Index inner,
                         bool batch_statistics);

}  // namespace brisknn
