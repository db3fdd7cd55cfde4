// Embedding lookup: rows of a (vocab, dim) table gathered by integer ids, and the scatter-add of
// their gradient.
#pragma once
#include "brisknn/parallel.h"

namespace brisknn {

// Position of the first id outside [0, vocab), or -1 when all are valid. The bindings call it
// before either kernel, so the kernels never read or write outside the table.
template <class I>
Index embedding_first_bad_id(const I* ids, Index n, Index vocab);

// out (n, dim) = table (vocab, dim)[ids (n,)]; every id must be in [0, vocab).
template <class T, class I>
void embedding_forward(T* out, const I* ids, const T* table, Index n, Index dim);

// grad_table[ids[i]] += dy[i] for i = 0..n-1, in that order: only the rows used change, and a row
// used several times sums its gradients in the same order whatever the thread count.
template <class T, class I>
void embedding_backward(T* grad_table, const I* ids, const T* dy, Index n, Index dim);

}  // namespace brisknn
