// Vectorisable elementary functions for the native kernels (header-only, no torch header).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace lieformer_native {

// e^x for float, vectorisable: x = n ln2 + r, |r| <= ln2/2, e^r by its degree-6 Taylor polynomial
// (relative error < 2e-7), 2^n through the exponent bits. Arguments are clamped to the finite range.
inline float exp_fast(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  float n = __builtin_rintf(x * 1.4426950408889634f);
  float r = x - n * 0.693145751953125f - n * 1.4286068203094172e-06f;
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f + r * (0.008333334f + r * 0.0013888889f)))));
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
inline double exp_fast(double x) { return std::exp(x); }

template <typename T>
inline T sigmoid(T z) { return T(1) / (T(1) + exp_fast(-z)); }

}  // namespace lieformer_native
