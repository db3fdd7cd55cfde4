// Argument parsing shared by the convolution and pooling bindings: padding names, strides and
// the window geometry, with errors naming the function and the shapes involved.
#pragma once
#include <algorithm>
#include <cctype>
#include <string>
#include <utility>

#include "brisknn/conv.h"
#include "check.h"

namespace brisknn::bind {

using Pair = std::pair<Index, Index>;

inline std::string pair_str(Pair p) {
  return "(" + std::to_string(p.first) + ", " + std::to_string(p.second) + ")";
}

// Keras accepts the padding name in any case; returns true for 'same'.
inline bool parse_padding(const char* fn, std::string padding) {
  std::transform(padding.begin(), padding.end(), padding.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (padding != "valid" && padding != "same") {
    fail_value(std::string(fn) + ": padding must be 'valid' or 'same', got '" + padding + "'");
  }
  return padding == "same";
}

// The two axes of a window of size `window` sliding over an image of size `image`, its taps
// `dilation` apart; `what` names the window in errors (e.g. "kernel of shape (5, 5, 1, 8)").
inline void window_axes(const char* fn, Pair image, Pair window, Pair strides, bool same,
                        const std::string& what, WindowAxis* h, WindowAxis* w,
                        Pair dilation = {1, 1}) {
  if (strides.first < 1 || strides.second < 1) {
    fail_value(std::string(fn) + ": strides must be >= 1, got " + pair_str(strides));
  }
  if (dilation.first < 1 || dilation.second < 1) {
    fail_value(std::string(fn) + ": dilation_rate must be >= 1, got " + pair_str(dilation));
  }
  if (window.first < 1 || window.second < 1 || image.first < 1 || image.second < 1) {
    fail_value(std::string(fn) + ": empty window or image: " + what + ", image " +
               pair_str(image));
  }
  if (!window_span_fits(window.first, dilation.first) ||
      !window_span_fits(window.second, dilation.second)) {
    fail_value(std::string(fn) + ": " + what + " with dilation_rate " + pair_str(dilation) +
               " spans more positions than an index holds");
  }
  const bool fits =
      window_axis(image.first, window.first, strides.first, same, h, dilation.first) &
      window_axis(image.second, window.second, strides.second, same, w, dilation.second);
  if (!fits) {
    const bool dilated = dilation.first != 1 || dilation.second != 1;
    fail_value(std::string(fn) + ": " + what +
               (dilated ? " with dilation_rate " + pair_str(dilation) + " (spanning " +
                              pair_str({h->span(), w->span()}) + ")"
                        : std::string()) +
               " is larger than the input's spatial size " + pair_str(image) +
               " with padding='valid'");
  }
}

}  // namespace brisknn::bind
