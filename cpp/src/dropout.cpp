#include "brisknn/dropout.h"

namespace brisknn {

namespace {

constexpr Index kElementGrain = 1 << 15;

// SplitMix64 of (seed, index): a counter-based generator, so any chunk of the mask can be drawn
// by any thread without sharing state.
inline uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

template <class T>
void dropout_forward(T* y, uint8_t* mask, const T* x, Index n, double rate, uint64_t seed) {
  // Keep a unit when its 53-bit uniform draw is >= rate, i.e. with probability 1 - rate.
  const uint64_t threshold = static_cast<uint64_t>(rate * 9007199254740992.0);  // rate * 2^53
  const T scale = T(1.0 / (1.0 - rate));
  const uint64_t key = mix(seed + 0x9e3779b97f4a7c15ULL);
  parallel_for(n, kElementGrain, [&](Index begin, Index end) {
    for (Index i = begin; i < end; ++i) {
      const uint8_t keep = (mix(key ^ static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL) >> 11) >= threshold;
      mask[i] = keep;
      y[i] = keep ? x[i] * scale : T(0);
    }
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
