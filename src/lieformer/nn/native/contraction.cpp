// LieConv's neighbour contraction (lieformer.nn.contraction), forward and backward, without a
// (pairs, channels) tensor: each query sums the outer products of its valid pairs' kernel values
// and its neighbours' feature rows in place.
//
//   out[q, a, x] = s_q * sum_{k valid} w[r(q, k), a] * f[b(q), idx[q, k], x],   s_q = 1/#valid or 1
//   dw[r, a]     = s_q * sum_x grad[q, a, x] * f[b(q), idx[q, k], x]
//   df[b, j, x] += s_q * sum_a w[r, a] * grad[q, a, x]           for each valid pair (q, k), j = idx
//
// w holds the valid pairs' kernel values only, in (query, k) order: the valid pairs of query q are
// rows offsets[q], offsets[q] + 1, ... Queries are B samples of M; a query's neighbours are rows of
// its own sample (L rows), so the backward gives threads whole samples (their df rows are
// disjoint) or, with fewer samples than threads, a private df table each, added up in thread order.
// Deterministic for a given thread count. No torch header: plain C ABI.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>

#include "threads.h"

namespace {

template <typename T>
struct Problem {
  const T* f;  // (B, L, C)
  const T* w;  // (n_valid, m)
  const int64_t* idx;  // (B, M, K)
  const bool* mask;  // (B, M, K)
  const int64_t* offsets;  // (B*M + 1): first row of w of each query
  int64_t B, M, K, L, m, C;
  bool mean;
};

template <typename T>
inline T query_scale(const Problem<T>& p, int64_t q) {
  const int64_t n = p.offsets[q + 1] - p.offsets[q];
  return p.mean && n > 1 ? T(1) / T(n) : T(1);
}

// Kernel width as a compile-time constant for the common widths (0: run-time width p.m).
template <typename F>
void with_width(int64_t m, F&& f) {
  switch (m) {
    case 8: f(std::integral_constant<int, 8>{}); break;
    case 16: f(std::integral_constant<int, 16>{}); break;
    case 32: f(std::integral_constant<int, 32>{}); break;
    default: f(std::integral_constant<int, 0>{});
  }
}

// A chunk of N = 64 (AVX-512) or 32 bytes of T held in a register (GCC/Clang vector extension); a chunk at the end
// of a row of C values may be partial (n < N lanes): loaded into zeroed lanes, stored back in part.
template <typename T>
struct Chunk {
#ifdef __AVX512F__
  static constexpr int BYTES = 64;
#else
  static constexpr int BYTES = 32;
#endif
  static constexpr int N = BYTES / sizeof(T);
  typedef T V __attribute__((vector_size(BYTES)));
  static V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static V load(const T* p, int n) {  // a fixed-size copy for whole chunks: no memcpy call
    if (n == N) return load(p);
    V v = {};
    for (int i = 0; i < n; ++i) v[i] = p[i];
    return v;
  }
  static void store(T* p, V v, int n) {
    if (n == N) std::memcpy(p, &v, sizeof v);
    else for (int i = 0; i < n; ++i) p[i] = v[i];
  }
};

// out[q] (m x C) for queries [q0, q1). With a compile-time width MC, each chunk of channels keeps
// its m accumulators in registers over the query's pairs; else plain loops over the channels.
template <typename T, int MC>
void forward_rows(const Problem<T>& p, int64_t q0, int64_t q1, T* __restrict out) {
  using Ch = Chunk<T>;
  using V = typename Ch::V;
  const int64_t m = MC > 0 ? MC : p.m, C = p.C;
  std::vector<const T*> rows(p.K), weights(p.K);
  for (int64_t q = q0; q < q1; ++q) {
    T* __restrict o = out + q * m * C;
    const T* fb = p.f + (q / p.M) * p.L * C;
    int64_t n = 0, r = p.offsets[q];
    for (int64_t k = 0; k < p.K; ++k)
      if (p.mask[q * p.K + k]) {
        rows[n] = fb + p.idx[q * p.K + k] * C;
        weights[n++] = p.w + (r++) * m;
      }
    const T s = query_scale(p, q);
    if constexpr (MC > 0) {
      int64_t x0 = 0;
      for (; x0 + Ch::N <= C; x0 += Ch::N) {  // whole chunks
        V acc[MC];
        for (int a = 0; a < MC; ++a) acc[a] = V{};
        for (int64_t t = 0; t < n; ++t) {
          const V fj = Ch::load(rows[t] + x0);
          const T* wr = weights[t];
          for (int a = 0; a < MC; ++a) acc[a] += wr[a] * fj;
        }
        for (int a = 0; a < MC; ++a) Ch::store(o + a * C + x0, s * acc[a], Ch::N);
      }
      if (x0 < C) {  // the partial chunk at the end of the rows
        const int lanes = static_cast<int>(C - x0);
        V acc[MC];
        for (int a = 0; a < MC; ++a) acc[a] = V{};
        for (int64_t t = 0; t < n; ++t) {
          const V fj = Ch::load(rows[t] + x0, lanes);
          const T* wr = weights[t];
          for (int a = 0; a < MC; ++a) acc[a] += wr[a] * fj;
        }
        for (int a = 0; a < MC; ++a) Ch::store(o + a * C + x0, s * acc[a], lanes);
      }
    } else {
      std::fill(o, o + m * C, T(0));
      for (int64_t t = 0; t < n; ++t)
        for (int64_t a = 0; a < m; ++a) {
          const T wa = weights[t][a];
          const T* __restrict fj = rows[t];
          T* __restrict oa = o + a * C;
#pragma omp simd
          for (int64_t x = 0; x < C; ++x) oa[x] += wa * fj[x];
        }
      for (int64_t x = 0; x < m * C; ++x) o[x] *= s;
    }
  }
}

// Queries [q0, q1) (whole samples, or any rows when df is this thread's own table). With a
// compile-time width MC, dw_r = sum_x f_j[x] g[:, x] runs over the transposed gradient (m lanes,
// no horizontal sums) and df_j's chunks sum m rows of g each; else plain loops.
template <typename T, int MC>
void backward_rows(const Problem<T>& p, const T* grad, int64_t q0, int64_t q1, T* __restrict dw, T* __restrict df,
                   std::vector<T>& scratch) {
  using Ch = Chunk<T>;
  using V = typename Ch::V;
  const int64_t m = MC > 0 ? MC : p.m, C = p.C;
  constexpr int MV = MC > 0 ? (MC + Ch::N - 1) / Ch::N : 1;  // chunks of one transposed column
  scratch.resize(2 * m * C + MV * Ch::N);
  T* __restrict g = scratch.data();       // s * grad[q], (m, C)
  T* __restrict gt = g + m * C;           // its transpose (C, m)
  for (int64_t q = q0; q < q1; ++q) {
    int64_t r = p.offsets[q];
    if (p.offsets[q + 1] == r) continue;
    const T s = query_scale(p, q);
    const T* gq = grad + q * m * C;
    for (int64_t a = 0; a < m; ++a)
      for (int64_t x = 0; x < C; ++x) gt[x * m + a] = g[a * C + x] = s * gq[a * C + x];
    const int64_t b = q / p.M;
    const T* fb = p.f + b * p.L * C;
    T* dfb = df + b * p.L * C;
    for (int64_t k = 0; k < p.K; ++k) {
      if (!p.mask[q * p.K + k]) continue;
      const int64_t j = p.idx[q * p.K + k];
      const T* __restrict wr = p.w + r * m;
      T* __restrict dwr = dw + r * m;
      ++r;
      const T* __restrict fj = fb + j * C;
      T* __restrict dfj = dfb + j * C;
      if constexpr (MC > 0 && MC % Ch::N == 0) {
        V acc[MV];
        for (int v = 0; v < MV; ++v) acc[v] = V{};
        for (int64_t x = 0; x < C; ++x)
          for (int v = 0; v < MV; ++v) acc[v] += fj[x] * Ch::load(gt + x * MC + v * Ch::N);
        for (int v = 0; v < MV; ++v) Ch::store(dwr + v * Ch::N, acc[v], Ch::N);
        int64_t x0 = 0;
        for (; x0 + Ch::N <= C; x0 += Ch::N) {
          V d = Ch::load(dfj + x0);
          for (int a = 0; a < MC; ++a) d += wr[a] * Ch::load(g + a * C + x0);
          Ch::store(dfj + x0, d, Ch::N);
        }
        for (; x0 < C; ++x0) {
          T d = 0;
          for (int a = 0; a < MC; ++a) d += wr[a] * g[a * C + x0];
          dfj[x0] += d;
        }
      } else {
        for (int64_t a = 0; a < m; ++a) {
          const T* __restrict ga = g + a * C;
          const T wa = wr[a];
          T acc = 0;
#pragma omp simd reduction(+ : acc)
          for (int64_t x = 0; x < C; ++x) {
            acc += ga[x] * fj[x];
            dfj[x] += wa * ga[x];
          }
          dwr[a] = acc;
        }
      }
    }
  }
}

using lieformer_native::over_groups;

template <typename T>
Problem<T> problem(const T* f, const T* w, const int64_t* idx, const bool* mask, const int64_t* offsets,
                   const int64_t* dims, int mean) {
  return Problem<T>{f, w, idx, mask, offsets, dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], mean != 0};
}

template <typename T>
void forward(const T* f, const T* w, const int64_t* idx, const bool* mask, const int64_t* offsets, const int64_t* dims,
             int mean, int threads, T* out) {
  const auto p = problem(f, w, idx, mask, offsets, dims, mean);
  over_groups(p.B * p.M, 1, threads, [&](int64_t, int64_t q0, int64_t q1) {
    with_width(p.m, [&](auto mc) { forward_rows<T, decltype(mc)::value>(p, q0, q1, out); });
  });
}

// dw (n_valid, m) is written; df (B, L, C) must come in zeroed.
template <typename T>
void backward(const T* f, const T* w, const int64_t* idx, const bool* mask, const int64_t* offsets, const int64_t* dims,
              int mean, int threads, const T* grad, T* dw, T* df) {
  const auto p = problem(f, w, idx, mask, offsets, dims, mean);
  const bool by_samples = p.B >= threads;
  const int64_t T_ = std::max<int64_t>(1, std::min<int64_t>(threads, by_samples ? p.B : p.B * p.M));
  std::vector<std::vector<T>> tables(by_samples ? 0 : T_);
  over_groups(by_samples ? p.B : p.B * p.M, by_samples ? p.M : 1, T_, [&](int64_t i, int64_t q0, int64_t q1) {
    T* table = df;
    if (!by_samples && i > 0) {  // thread 0 writes df itself
      tables[i].assign(p.B * p.L * p.C, T(0));
      table = tables[i].data();
    }
    std::vector<T> scratch;
    with_width(p.m, [&](auto mc) { backward_rows<T, decltype(mc)::value>(p, grad, q0, q1, dw, table, scratch); });
  });
  for (size_t i = 1; i < tables.size(); ++i) {
    const T* t = tables[i].data();
    for (int64_t x = 0; x < p.B * p.L * p.C; ++x) df[x] += t[x];
  }
}

}  // namespace

#define LIEFORMER_CONTRACTION(T, SUFFIX)                                                                             \
  extern "C" void lieformer_contraction_forward_##SUFFIX(const T* f, const T* w, const int64_t* idx,               \
                                                          const bool* mask, const int64_t* offsets,                \
                                                          const int64_t* dims, int mean, int threads, T* out) {   \
    forward<T>(f, w, idx, mask, offsets, dims, mean, threads, out);                                                 \
  }                                                                                                                 \
  extern "C" void lieformer_contraction_backward_##SUFFIX(const T* f, const T* w, const int64_t* idx,              \
                                                           const bool* mask, const int64_t* offsets,               \
                                                           const int64_t* dims, int mean, int threads,             \
                                                           const T* grad, T* dw, T* df) {                          \
    backward<T>(f, w, idx, mask, offsets, dims, mean, threads, grad, dw, df);                                       \
  }

LIEFORMER_CONTRACTION(float, float)
LIEFORMER_CONTRACTION(double, double)

extern "C" int lieformer_contraction_abi_version() { return 1; }
