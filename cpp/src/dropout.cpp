#include "brisknn/dropout.h"

#include <algorithm>

namespace brisknn {

namespace {

constexpr Index kElementGrain = 1 << 15;

// PCG's output hash: a 32-bit bijection whose variable shift vectorises (AVX2 vpsrlvd), so the
// mask costs about as much as the multiply it gates.
inline uint32_t hash32(uint32_t v) {
  v = v * 747796405u + 2891336453u;
  const uint32_t w = ((v >> ((v >> 28u) + 4u)) ^ v) * 277803737u;
  return (w >> 22u) ^ w;
}

inline uint32_t seed_key(uint64_t seed, uint32_t salt) {
  return hash32(static_cast<uint32_t>(seed) ^ hash32(static_cast<uint32_t>(seed >> 32) + salt));
}

}  // namespace

template <class T>
void dropout_forward(T* y, uint8_t* mask, const T* x, Index n, double rate, uint64_t seed) {
  // A unit is kept when its 32-bit draw is >= rate * 2^32, i.e. with probability 1 - rate.
  const uint32_t threshold = static_cast<uint32_t>(std::min(rate * 4294967296.0, 4294967295.0));
  const T scale = T(1.0 / (1.0 - rate));
  const uint32_t key_lo = seed_key(seed, 0x9e3779b9u), key_hi = seed_key(seed, 0x7f4a7c15u);
  parallel_for(n, kElementGrain, [&](Index begin, Index end) {
    // Two rounds keyed by the seed; the index's high half (non-zero only past 2^32 elements)
    // enters the second, so a draw depends on (seed, index) alone, never on the chunking.
    for (Index i = begin; i < end; ++i) {
      const uint32_t high = static_cast<uint32_t>(static_cast<uint64_t>(i) >> 32) * 0x9e3779b9u;
      const uint32_t draw = hash32(hash32(static_cast<uint32_t>(i) ^ key_lo) + (high ^ key_hi));
      mask[i] = draw >= threshold;
    }
    for (Index i = begin; i < end; ++i) y[i] = x[i] * (T(mask[i]) * scale);
  });
}

template <class T>
void dropout_backward(T* dx, const T* dy, const uint8_t* mask, Index n, double rate) {
  const T scale = T(1.0 / (1.0 - rate));
  parallel_for(n, kElementGrain, [&](Index begin, Index end) {
    for (Index i = begin; i < end; ++i) dx[i] = mask[i] ? dy[i] * scale : T(0);
  });
}

template void dropout_forward<float>(float*, uint8_t*, const float*, Index, double, uint64_t);
template void dropout_forward<double>(double*, uint8_t*, const double*, Index, double, uint64_t);
template void dropout_backward<float>(float*, const float*, const uint8_t*, Index, double);
template void dropout_backward<double>(double*, const double*, const uint8_t*, Index, double);

}  // namespace brisknn
