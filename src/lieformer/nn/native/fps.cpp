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
// Planar rotations (SE2): with angles θ (L, float64 per set; null otherwise) the distance is
//   d = α·min(|θ_j − θ_a|, 2π − |θ_j − θ_a|) + (1 − α)·‖p_a − p_j‖
// in double, the Euclidean part rounded as above first: the same operations, in the same order,
// as the PyTorch loop's planar distance (subsampling._planar_row).
//
// For each set r: points (L, D) row-major (float or double), order (L) the tie-breaking noise
// (−inf on padding), start the first point, scale the rounding unit (computed here from the first
// row exactly as the PyTorch loop does), mask (L) the valid points. Every step:
//   nearest ← min(nearest, dist[current]);  order[current] ← −1e300;
//   current ← argmax_j floor(nearest_j / scale) + order_j      (first maximum; NaN counts as maximal)
// in double precision, as torch.minimum / torch.floor / torch.argmax compute it (finite positions:
// the caller runs the PyTorch loop otherwise).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

template <typename T>
struct PlainDistance {  // sum + diff·diff, two roundings per axis
  static inline __attribute__((always_inline)) T at(const T* pa, const T* pb, int64_t D) {
    T sum = 0;
    for (int64_t k = 0; k < D; ++k) {
      T diff = pa[k] - pb[k];
      sum = sum + diff * diff;
    }
    return std::sqrt(sum);
  }
};

template <typename T>
struct FusedDistance {  // fma(diff, diff, sum), one rounding per axis
  static inline __attribute__((always_inline)) T at(const T* pa, const T* pb, int64_t D) {
    T sum = 0;
    for (int64_t k = 0; k < D; ++k) {
      T diff = pa[k] - pb[k];
      sum = std::fma(diff, diff, sum);
    }
    return std::sqrt(sum);
  }
};

template <typename T, typename Distance>
inline __attribute__((always_inline)) void distance_row(const T* points, int64_t L, int64_t D, int64_t a, T* row) {
  for (int64_t j = 0; j < L; ++j) row[j] = Distance::at(points + a * D, points + j * D, D);
}

// One pass over the set per step: distance to the newest point, running minimum, the key
// floor(nearest/scale) + order refreshed where either changed, and the argmax. Positions are
// finite (the caller checks), so no distance is NaN.
// The distance of point j from point a in double: Euclidean, or with the planar angle term.
struct Planar {
  const double* theta;  // this set's angles, or null
  double alpha, beta;  // α and 1 − α
  inline __attribute__((always_inline)) double at(double euclidean, int64_t a, int64_t j) const {
    if (theta == nullptr) return euclidean;
    const double dt = std::fabs(theta[j] - theta[a]);
    const double angle = std::min(dt, 6.283185307179586 - dt);
    const double x = alpha * angle, y = beta * euclidean;
    return x + y;
  }
};

template <typename T, typename Distance>
inline __attribute__((always_inline)) void fps_sets(const T* points, int64_t D, const double* angles, double alpha,
    double beta, const double* order_in, const int64_t* start, const uint8_t* mask, int64_t R, int64_t L, int64_t M,
    double tolerance, int64_t* out) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> nearest(L), order(L), key(L);
  for (int64_t r = 0; r < R; ++r) {
    const Planar planar{angles == nullptr ? nullptr : angles + r * L, alpha, beta};
    const T* p = points + r * L * D;
    const uint8_t* valid = mask + r * L;
    for (int64_t j = 0; j < L; ++j) order[j] = order_in[r * L + j];
    int64_t current = start[r];
    // step 0: scale = max(amax over where(mask, d, 0), 1e-30) · tolerance, every key computed
    out[r * M] = current;
    const T* pc = p + current * D;
    double top = -inf;
    for (int64_t j = 0; j < L; ++j) {
      nearest[j] = planar.at(static_cast<double>(Distance::at(pc, p + j * D, D)), current, j);
      double v = valid[j] ? nearest[j] : 0.0;
      if (v > top) top = v;
    }
    const double scale = (top < 1e-30 ? 1e-30 : top) * tolerance;
    order[current] = -1e300;
    int64_t best = 0;
    double best_key = -inf;
    for (int64_t j = 0; j < L; ++j) {
      key[j] = std::floor(nearest[j] / scale) + order[j];
      if (key[j] > best_key || j == 0) { best_key = key[j]; best = j; }  // first maximum, as torch.argmax
    }
    for (int64_t i = 1; i < M; ++i) {
      current = best;
      out[r * M + i] = current;
      pc = p + current * D;
      order[current] = -1e300;
      best = 0;
      best_key = -inf;
      for (int64_t j = 0; j < L; ++j) {
        double d = planar.at(static_cast<double>(Distance::at(pc, p + j * D, D)), current, j);
        if (d < nearest[j] || j == current) {
          if (d < nearest[j]) nearest[j] = d;
          key[j] = std::floor(nearest[j] / scale) + order[j];
        }
        if (key[j] > best_key || j == 0) { best_key = key[j]; best = j; }
      }
    }
  }
}

// Clones for FMA hardware, picked at load time (without it std::fma is an exact library call).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LIEFORMER_FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define LIEFORMER_FMA_CLONES
#endif

LIEFORMER_FMA_CLONES void fps_fused_float(const float* points, int64_t D, const double* angles, double alpha,
    double beta, const double* order, const int64_t* start, const uint8_t* mask, int64_t R, int64_t L, int64_t M,
    double tolerance, int64_t* out) {
  fps_sets<float, FusedDistance<float>>(points, D, angles, alpha, beta, order, start, mask, R, L, M, tolerance, out);
}

LIEFORMER_FMA_CLONES void fps_fused_double(const double* points, int64_t D, const double* angles, double alpha,
    double beta, const double* order, const int64_t* start, const uint8_t* mask, int64_t R, int64_t L, int64_t M,
    double tolerance, int64_t* out) {
  fps_sets<double, FusedDistance<double>>(points, D, angles, alpha, beta, order, start, mask, R, L, M, tolerance, out);
}

LIEFORMER_FMA_CLONES void row_fused_float(const float* points, int64_t L, int64_t D, int64_t a, float* row) {
  distance_row<float, FusedDistance<float>>(points, L, D, a, row);
}

LIEFORMER_FMA_CLONES void row_fused_double(const double* points, int64_t L, int64_t D, int64_t a, double* row) {
  distance_row<double, FusedDistance<double>>(points, L, D, a, row);
}

}  // namespace

extern "C" {
int lieformer_fps_abi_version() { return 6; }

void lieformer_fps_float(const float* points, int64_t D, int fused, const double* angles, double alpha, double beta,
                         const double* order, const int64_t* start, const uint8_t* mask, int64_t R, int64_t L,
                         int64_t M, double tolerance, int64_t* out) {
  if (fused) fps_fused_float(points, D, angles, alpha, beta, order, start, mask, R, L, M, tolerance, out);
  else fps_sets<float, PlainDistance<float>>(points, D, angles, alpha, beta, order, start, mask, R, L, M, tolerance, out);
}

void lieformer_fps_double(const double* points, int64_t D, int fused, const double* angles, double alpha, double beta,
                          const double* order, const int64_t* start, const uint8_t* mask, int64_t R, int64_t L,
                          int64_t M, double tolerance, int64_t* out) {
  if (fused) fps_fused_double(points, D, angles, alpha, beta, order, start, mask, R, L, M, tolerance, out);
  else fps_sets<double, PlainDistance<double>>(points, D, angles, alpha, beta, order, start, mask, R, L, M, tolerance,
                                               out);
}

// One distance row ‖p_a − p_j‖, j < L, of a set of points (L, D): what the caller compares with cdist.
void lieformer_distance_row_float(const float* points, int64_t L, int64_t D, int64_t a, int fused, float* row) {
  if (fused) row_fused_float(points, L, D, a, row);
  else distance_row<float, PlainDistance<float>>(points, L, D, a, row);
}

void lieformer_distance_row_double(const double* points, int64_t L, int64_t D, int64_t a, int fused, double* row) {
  if (fused) row_fused_double(points, L, D, a, row);
  else distance_row<double, PlainDistance<double>>(points, L, D, a, row);
}
}
