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

// The two axes of a window of size `window` sliding over an image of size `image`; `what`
// names the window in errors (e.g. "kernel of shape (5, 5, 1, 8)").
inline void window_axes(const char* fn, Pair image, Pair window, Pair strides, bool same,
                        const std::string& what, WindowAxis* h, WindowAxis* w) {
  if (strides.first < 1 || strides.second < 1) {
    fail_value(std::string(fn) + ": strides must be >= 1, got " + pair_str(strides));
  }
  if (window.first < 1 || window.second < 1 || image.first < 1 || image.second < 1) {
    fail_value(std::string(fn) + ": empty window or image: " + what + ", image " +
               pair_str(image));
  }
  const bool fits = window_axis(image.first, window.first, strides.first, same, h) &
                    window_axis(image.second, window.second, strides.second, same, w);
  if (!fits) {
    fail_value(std::string(fn) + ": " + what + " is larger than the input's spatial size " +
               pair_str(image) + " with padding='valid'");
  }
}

}  // namespace brisknn::bind
