// Greedy farthest-point subsampling in a Euclidean distance of positions: the loop of
// lieformer.nn.subsampling.farthest_point_subsample, step for step, in plain C++ (no torch
// headers: it compiles in about a second and is called through ctypes).
//
// Distances are ‖p_a − p_b‖ as torch.cdist(…, compute_mode="donot_use_mm_for_euclid_dist") computes
// them in the points' precision: differences, squares summed in axis order, a square root; with
// fused = 1 each square is added by one fused multiply-add (what torch's vectorised CPU builds
// compile that loop to for some types). The caller checks which variant equals cdist bit for bit
// on its data, or uses the PyTorch loop (compiled with -ffp-contract=off: no implicit FMAs).
//
// For each set r: points (L, D) row-major (float or double), order (L) the tie-breaking noise
// (−inf on padding), start the first point, scale the rounding unit (computed here from the first
// row exactly as the PyTorch loop does), mask (L) the valid points. Every step:
//   nearest ← min(nearest, dist[current]);  order[current] ← −1e300;
//   current ← argmax_j floor(nearest_j / scale) + order_j      (first maximum; NaN counts as maximal)
// in double precision, as torch.minimum / torch.floor / torch.argmax compute it.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

inline double nan_min(double a, double b) {  // torch.minimum: NaN propagates
  if (a != a || b != b) return std::numeric_limits<double>::quiet_NaN();
  return a < b ? a : b;
}

template <typename T>
inline void distance_row(const T* points, int64_t L, int64_t D, int64_t a, int fused, T* row) {
  const T* pa = points + a * D;
  for (int64_t j = 0; j < L; ++j) {
    const T* pb = points + j * D;
    T sum = 0;
    for (int64_t k = 0; k < D; ++k) {
      T diff = pa[k] - pb[k];
      sum = fused ? std::fma(diff, diff, sum) : sum + diff * diff;
    }
    row[j] = std::sqrt(sum);
  }
}

template <typename T>
void fps_sets(const T* points, int64_t D, int fused, const double* order_in, const int64_t* start, const uint8_t* mask,
              int64_t R, int64_t L, int64_t M, double tolerance, int64_t* out) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> nearest(L), order(L), key(L);
  std::vector<T> row(L);
  for (int64_t r = 0; r < R; ++r) {
    const T* p = points + r * L * D;
    const uint8_t* valid = mask + r * L;
    for (int64_t j = 0; j < L; ++j) {
      nearest[j] = inf;
      order[j] = order_in[r * L + j];
    }
    int64_t current = start[r];
    double scale = 0.0;
    for (int64_t i = 0; i < M; ++i) {
      out[r * M + i] = current;
      distance_row(p, L, D, current, fused, row.data());
      if (i == 0) {  // amax over where(mask, d, 0), clamp_min(1e-30), times the tolerance
        double top = -inf;
        bool nan = false;
        for (int64_t j = 0; j < L; ++j) {
          double v = valid[j] ? static_cast<double>(row[j]) : 0.0;
          if (v != v) nan = true;
          else if (v > top) top = v;
        }
        scale = nan ? std::numeric_limits<double>::quiet_NaN() : (top < 1e-30 ? 1e-30 : top) * tolerance;
      }
      order[current] = -1e300;
      for (int64_t j = 0; j < L; ++j) {
        double n = nan_min(nearest[j], static_cast<double>(row[j]));
        if (i == 0 || j == current || !(n == nearest[j])) key[j] = std::floor(n / scale) + order[j];
        nearest[j] = n;
      }
      int64_t best = 0;  // torch.argmax: the first maximal value, NaN above everything
      double top = key[0];
      if (top == top) {
        for (int64_t j = 1; j < L; ++j) {
          double v = key[j];
          if (v != v) { best = j; break; }
          if (v > top) { top = v; best = j; }
        }
      }
      current = best;
    }
  }
}

}  // namespace

extern "C" {
int lieformer_fps_abi_version() { return 3; }

void lieformer_fps_float(const float* points, int64_t D, int fused, const double* order, const int64_t* start, const uint8_t* mask,
                         int64_t R, int64_t L, int64_t M, double tolerance, int64_t* out) {
  fps_sets(points, D, fused, order, start, mask, R, L, M, tolerance, out);
}

// One distance row ‖p_a − p_j‖, j < L, of a set of points (L, D): what the tests compare with cdist.
void lieformer_distance_row_float(const float* points, int64_t L, int64_t D, int64_t a, int fused, float* row) {
  distance_row(points, L, D, a, fused, row);
}

void lieformer_distance_row_double(const double* points, int64_t L, int64_t D, int64_t a, int fused, double* row) {
  distance_row(points, L, D, a, fused, row);
}

void lieformer_fps_double(const double* points, int64_t D, int fused, const double* order, const int64_t* start, const uint8_t* mask,
                          int64_t R, int64_t L, int64_t M, double tolerance, int64_t* out) {
  fps_sets(points, D, fused, order, start, mask, R, L, M, tolerance, out);
}
}
