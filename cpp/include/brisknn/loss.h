// Losses per sample and their gradients, in Keras' definitions (Keras 3, probabilities clipped to
// [eps, 1 - eps] with eps = 1e-7). The batch mean is taken by the caller.
#pragma once
#include <cstdint>
#include <string>

#include "brisknn/parallel.h"

namespace brisknn {

enum class Loss { MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy,
                  CategoricalCrossentropy, SparseCategoricalCrossentropy };

bool parse_loss(const std::string& name, Loss* out);

// per_sample (batch) = loss of each row of y_pred (batch, dim) against y_true (batch, dim), or
// against labels (batch) for the sparse loss (y_true then unused, and vice versa).
// Returns the row of the first label outside [0, dim), or -1 when all are valid.
template <class T>
Index loss_forward(T* per_sample, const T* y_true, const int64_t* labels, const T* y_pred,
                   Index batch, Index dim, Loss loss, bool from_logits);

// grad (batch, dim) = scale * d(per_sample loss)/d(y_pred); scale = 1/batch gives the gradient
// of the batch mean. Same label check and return value as loss_forward.
template <class T>
Index loss_backward(T* grad, const T* y_true, const int64_t* labels, const T* y_pred, Index batch,
                    Index dim, Loss loss, bool from_logits, T scale);

// Both of the above in one call (a training step needs both): the same numbers, one row at a
// time while it is in cache, with one check of the labels and one trip to the thread pool.
template <class T>
Index loss_forward_backward(T* per_sample, T* grad, const T* y_true, const int64_t* labels,
                            const T* y_pred, Index batch, Index dim, Loss loss, bool from_logits,
                            T scale);

}  // namespace brisknn
