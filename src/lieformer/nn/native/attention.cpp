// LieSelfAttention with a dot-product content term and a per-head location MLP (summed), fused
// per query: forward and backward in one pass over each query's K neighbours, nothing per pair
// kept between passes (the backward recomputes the MLP). The same maths as
// lieformer.nn.blocked_attention's _FusedAttention, which the tests compare this with.
//
//   z1 = W_in l + b_in (H*k), s1 = swish(z1); per head z2 = W2[h]^T s1[h] + b2[h], s2 = swish(z2);
//   loc[h] = w3[h] . s2[h] + b3[h];  e[h] = scale <own_i[h], nb_j[h]> + loc[h];
//   w = softmax over the valid neighbours (norm 1) | e / #valid (norm 2) | e (norm 0);
//   out_i[h] = sum_j w[j, h] v_j[h].
//
// Rows are B samples of L points; a query's neighbours lie in its own sample, so in the backward
// threads take whole samples and write the gradients of their samples' rows without races (with
// fewer samples than threads, each thread gets its own neighbour-gradient tables). Weight
// gradients are accumulated per thread and summed in order. No torch header: plain C ABI.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "fastmath.h"
#include "threads.h"
#include <algorithm>
#include <type_traits>

namespace {

using lieformer_native::exp_fast;
using lieformer_native::sigmoid;

template <typename T>
struct Problem {
  const T *own, *nb, *v, *pairs;
  const int64_t* idx;
  const bool* mask;
  const T *w_in_t, *b_in, *w2, *b2, *w3, *b3;  // w_in_t: (P, H*k), the transpose of Linear's weight
  const T* w2t;  // (H, k, k): w2t[h, b, a] = w2[h, a, b]
  int64_t R, L, K, H, E, D, KD, P;
  T scale;
  int norm;
};

// Per-thread scratch for one query: the MLP activations of its K pairs and their logits/weights.
template <typename T>
struct Scratch {
  std::vector<T> z1, g1, s1, z2, g2, s2, logit, w, gw, lt;  // g = sigmoid(z); lt: the valid pairs' features
  std::vector<int64_t> valid;
  explicit Scratch(const Problem<T>& p) {
    const int64_t n = p.K * p.H * p.KD;
    z1.resize(n); g1.resize(n); s1.resize(n); z2.resize(n); g2.resize(n); s2.resize(n);
    logit.resize(p.K * p.H); w.resize(p.K * p.H); gw.resize(p.K * p.H); valid.resize(p.K); lt.resize(p.K * p.P);
  }
};

// A row of N values held in registers (GCC/Clang vector extension; N a power of two).
template <typename T, int N>
struct Row {
  typedef T V __attribute__((vector_size(N * sizeof(T))));
  static V load(const T* p) { V v; std::memcpy(&v, p, sizeof v); return v; }
  static void store(T* p, V v) { std::memcpy(p, &v, sizeof v); }
  static T sum(V v) { T s = 0; for (int i = 0; i < N; ++i) s += v[i]; return s; }
};

constexpr bool power_of_two(int n) { return n > 0 && (n & (n - 1)) == 0; }

// z[0:N] = bias[0:N] + sum_{a<n} x[a] W[a*stride + 0:N] (bias may be null). N, the width, is a
// compile-time power of two (the row stays in registers, four independent accumulators: one would
// chain every multiply-add on the last one's latency), or 0: the run-time width n_out.
template <typename T, int N>
inline void affine_row(const T* __restrict x, int64_t n, const T* __restrict W, int64_t stride, const T* __restrict bias,
                       T* __restrict z, int64_t n_out, int64_t x_stride = 1) {
  if constexpr (power_of_two(N)) {
    using R = Row<T, N>;
    typename R::V a0 = bias ? R::load(bias) : typename R::V{}, a1{}, a2{}, a3{};
    int64_t a = 0;
    for (; a + 4 <= n; a += 4) {
      const T* w = W + a * stride;
      const T* xa = x + a * x_stride;
      a0 += xa[0] * R::load(w);
      a1 += xa[x_stride] * R::load(w + stride);
      a2 += xa[2 * x_stride] * R::load(w + 2 * stride);
      a3 += xa[3 * x_stride] * R::load(w + 3 * stride);
    }
    for (; a < n; ++a) a0 += x[a * x_stride] * R::load(W + a * stride);
    R::store(z, (a0 + a1) + (a2 + a3));
  } else {
    for (int64_t b = 0; b < n_out; ++b) z[b] = bias ? bias[b] : T(0);
    for (int64_t a = 0; a < n; ++a) {
      const T xa = x[a * x_stride];
      const T* wa = W + a * stride;
#pragma omp simd
      for (int64_t b = 0; b < n_out; ++b) z[b] += xa * wa[b];
    }
  }
}

// acc[0:N] += sum_{t<n} x[t*x_stride] Y[t*y_stride + 0:N]: a weight gradient's outer products
// summed over the pairs of one query in registers, then added once.
template <typename T, int N>
inline void accumulate_row(const T* __restrict x, int64_t x_stride, const T* __restrict Y, int64_t y_stride, int64_t n,
                           T* __restrict acc, int64_t n_out) {
  T tmp[N > 0 ? N : 1];
  T* out = N > 0 ? tmp : nullptr;
  std::vector<T> heap;
  if (N == 0) { heap.resize(n_out); out = heap.data(); }
  affine_row<T, N>(x, n, Y, y_stride, nullptr, out, n_out, x_stride);
  for (int64_t b = 0; b < n_out; ++b) acc[b] += out[b];
}

// sum_b x[b] y[b] over N (compile-time power of two) or n values.
template <typename T, int N>
inline T dot(const T* __restrict x, const T* __restrict y, int64_t n) {
  if constexpr (power_of_two(N)) {
    using R = Row<T, N>;
    return R::sum(R::load(x) * R::load(y));
  } else {
    T acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t b = 0; b < n; ++b) acc += x[b] * y[b];
    return acc;
  }
}

// The logits and weights of query q; fills the scratch, returns the number of valid neighbours.
template <typename T, int KDc>
int64_t query_weights(const Problem<T>& p, int64_t q, Scratch<T>& s) {
  const int64_t KD = KDc ? KDc : p.KD;  // the kernel width, a constant where specialised
  const int64_t HK = p.H * KD, K = p.K, H = p.H;
  int64_t n = 0;
  for (int64_t kk = 0; kk < K; ++kk)
    if (p.mask[q * K + kk]) s.valid[n++] = kk;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t kk = s.valid[t], j = p.idx[q * K + kk];
    const T* l = p.pairs + (q * K + kk) * p.P;
    for (int64_t a = 0; a < p.P; ++a) s.lt[t * p.P + a] = l[a];
    T* __restrict z1 = &s.z1[t * HK]; T* __restrict g1 = &s.g1[t * HK]; T* __restrict s1 = &s.s1[t * HK];
    T* __restrict z2 = &s.z2[t * HK]; T* __restrict g2 = &s.g2[t * HK]; T* __restrict s2 = &s.s2[t * HK];
    for (int64_t h = 0; h < H; ++h) affine_row<T, KDc>(l, p.P, p.w_in_t + h * KD, HK, p.b_in + h * KD, z1 + h * KD, KD);
#pragma omp simd
    for (int64_t c = 0; c < HK; ++c) { g1[c] = sigmoid(z1[c]); s1[c] = z1[c] * g1[c]; }
    for (int64_t h = 0; h < H; ++h) affine_row<T, KDc>(s1 + h * KD, KD, p.w2 + h * KD * KD, KD, p.b2 + h * KD, z2 + h * KD, KD);
#pragma omp simd
    for (int64_t c = 0; c < HK; ++c) { g2[c] = sigmoid(z2[c]); s2[c] = z2[c] * g2[c]; }
    for (int64_t h = 0; h < H; ++h) {
      const T loc = p.b3[h] + dot<T, KDc>(s2 + h * KD, p.w3 + h * KD, KD);
      T con = 0;
      const T* __restrict oi = p.own + (q * H + h) * p.E;
      const T* __restrict nj = p.nb + (j * H + h) * p.E;
#pragma omp simd reduction(+ : con)
      for (int64_t e = 0; e < p.E; ++e) con += oi[e] * nj[e];
      s.logit[t * H + h] = con * p.scale + loc;
    }
  }
  for (int64_t h = 0; h < H; ++h) {
    if (p.norm == 1) {
      T top = -INFINITY;
      for (int64_t t = 0; t < n; ++t) top = std::max(top, s.logit[t * H + h]);
      T total = 0;
      for (int64_t t = 0; t < n; ++t) { s.w[t * H + h] = exp_fast(s.logit[t * H + h] - top); total += s.w[t * H + h]; }
      for (int64_t t = 0; t < n; ++t) s.w[t * H + h] /= total;
    } else {
      const T div = p.norm == 2 ? T(n) : T(1);
      for (int64_t t = 0; t < n; ++t) s.w[t * H + h] = s.logit[t * H + h] / div;
    }
  }
  return n;
}

template <typename T, int KDc>
void forward_rows(const Problem<T>& p, int64_t q0, int64_t q1, T* out) {
  Scratch<T> s(p);
  const int64_t H = p.H, D = p.D;
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t n = query_weights<T, KDc>(p, q, s);
    T* oq = out + q * H * D;
    std::fill(oq, oq + H * D, T(0));
    for (int64_t t = 0; t < n; ++t) {
      const int64_t j = p.idx[q * p.K + s.valid[t]];
      for (int64_t h = 0; h < H; ++h) {
        const T wt = s.w[t * H + h];
        const T* __restrict vj = p.v + (j * H + h) * D;
        T* __restrict oqh = oq + h * D;
#pragma omp simd
        for (int64_t d = 0; d < D; ++d) oqh[d] += wt * vj[d];
      }
    }
  }
}

template <typename T>
struct Grads {
  T *own, *nb, *v;                      // (R, H, E), (R, H, E), (R, H, D): accumulated
  std::vector<T> w_in_t, b_in, w2, b2, w3, b3;  // per thread
  explicit Grads(const Problem<T>& p)
      : w_in_t(p.P * p.H * p.KD), b_in(p.H * p.KD), w2(p.H * p.KD * p.KD), b2(p.H * p.KD), w3(p.H * p.KD), b3(p.H) {}
};

template <typename T, int KDc>
void backward_rows(const Problem<T>& p, const T* grad, int64_t q0, int64_t q1, Grads<T>& g) {
  Scratch<T> s(p);
  const int64_t KD = KDc ? KDc : p.KD;
  const int64_t H = p.H, D = p.D, E = p.E, HK = H * KD;
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t n = query_weights<T, KDc>(p, q, s);
    const T* go = grad + q * H * D;
    // o = sum_t w v_j: gradient of the weights and of the values
    for (int64_t t = 0; t < n; ++t) {
      const int64_t j = p.idx[q * p.K + s.valid[t]];
      for (int64_t h = 0; h < H; ++h) {
        const T* __restrict vj = p.v + (j * H + h) * D;
        T* __restrict gvj = g.v + (j * H + h) * D;
        const T* __restrict goh = go + h * D;
        const T wt = s.w[t * H + h];
        T acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t d = 0; d < D; ++d) { acc += goh[d] * vj[d]; gvj[d] += wt * goh[d]; }
        s.gw[t * H + h] = acc;
      }
    }
    for (int64_t h = 0; h < H; ++h) {
      if (p.norm == 1) {
        T dot = 0;
        for (int64_t t = 0; t < n; ++t) dot += s.w[t * H + h] * s.gw[t * H + h];
        for (int64_t t = 0; t < n; ++t) s.gw[t * H + h] = s.w[t * H + h] * (s.gw[t * H + h] - dot);
      } else if (p.norm == 2) {
        for (int64_t t = 0; t < n; ++t) s.gw[t * H + h] /= T(n);
      }
    }  // s.gw now holds the logits' gradient
    // content <own_i, nb_j> scale, and the location MLP's output layer, pair by pair
    for (int64_t t = 0; t < n; ++t) {
      const int64_t j = p.idx[q * p.K + s.valid[t]];
      T* __restrict g2 = &s.g2[t * HK];  // becomes g_z2
      const T* __restrict z2 = &s.z2[t * HK];
      for (int64_t h = 0; h < H; ++h) {
        const T gl = s.gw[t * H + h], gc = gl * p.scale;
        const T* __restrict oi = p.own + (q * H + h) * E;
        const T* __restrict nj = p.nb + (j * H + h) * E;
        T* __restrict goi = g.own + (q * H + h) * E;
        T* __restrict gnj = g.nb + (j * H + h) * E;
#pragma omp simd
        for (int64_t e = 0; e < E; ++e) { goi[e] += gc * nj[e]; gnj[e] += gc * oi[e]; }  // distinct tables
        g.b3[h] += gl;
#pragma omp simd
        for (int64_t b = 0; b < KD; ++b) {  // swish'(z) = sigmoid(z) (1 + z (1 - sigmoid(z)))
          const int64_t c = h * KD + b;
          g2[c] = gl * p.w3[c] * g2[c] * (T(1) + z2[c] * (T(1) - g2[c]));
        }
      }
    }
    // the hidden layer: g_s1 = W2 g_z2, g_z1 = g_s1 swish'(z1) (into the g1 scratch)
    for (int64_t t = 0; t < n; ++t) {
      T* __restrict g1 = &s.g1[t * HK];
      const T* __restrict z1 = &s.z1[t * HK];
      T gs1[KDc > 0 ? KDc : 1];
      std::vector<T> gs1_heap(KDc > 0 ? 0 : KD);
      T* gs1p = KDc > 0 ? gs1 : gs1_heap.data();
      for (int64_t h = 0; h < H; ++h) {
        affine_row<T, KDc>(&s.g2[t * HK + h * KD], KD, p.w2t + h * KD * KD, KD, nullptr, gs1p, KD);
#pragma omp simd
        for (int64_t a = 0; a < KD; ++a) {
          const int64_t c = h * KD + a;
          g1[c] = gs1p[a] * g1[c] * (T(1) + z1[c] * (T(1) - g1[c]));
        }
      }
    }
    // weight gradients: outer products summed over the query's pairs
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t t = 0; t < n; ++t) {
        const T gl = s.gw[t * H + h];
#pragma omp simd
        for (int64_t b = 0; b < KD; ++b) g.w3[h * KD + b] += gl * s.s2[t * HK + h * KD + b];
      }
      for (int64_t a = 0; a < KD; ++a)
        accumulate_row<T, KDc>(&s.s1[h * KD + a], HK, &s.g2[h * KD], HK, n, g.w2.data() + (h * KD + a) * KD, KD);
      for (int64_t a = 0; a < p.P; ++a)
        accumulate_row<T, KDc>(&s.lt[a], p.P, &s.g1[h * KD], HK, n, g.w_in_t.data() + a * HK + h * KD, KD);
    }
    for (int64_t t = 0; t < n; ++t) {
#pragma omp simd
      for (int64_t c = 0; c < HK; ++c) { g.b2[c] += s.g2[t * HK + c]; g.b_in[c] += s.g1[t * HK + c]; }
    }
  }
}

// The kernel width as a compile-time constant for the common widths (0: a run-time width).
template <typename F>
void with_width(int64_t kd, F&& f) {
  switch (kd) {
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 8: f(std::integral_constant<int, 8>{}); break;
    case 16: f(std::integral_constant<int, 16>{}); break;
    case 32: f(std::integral_constant<int, 32>{}); break;
    default: f(std::integral_constant<int, 0>{});
  }
}

using lieformer_native::over_groups;

template <typename T>
Problem<T> problem(const T* own, const T* nb, const T* v, const T* pairs, const int64_t* idx, const bool* mask,
                   const T* w_in_t, const T* b_in, const T* w2, const T* b2, const T* w3, const T* b3, const int64_t* dims,
                   double scale, int norm) {
  return Problem<T>{own, nb, v, pairs, idx, mask, w_in_t, b_in, w2, b2, w3, b3, nullptr,
                    dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6], dims[7], T(scale), norm};
}

template <typename T>
void forward(const T* own, const T* nb, const T* v, const T* pairs, const int64_t* idx, const bool* mask, const T* w_in_t,
             const T* b_in, const T* w2, const T* b2, const T* w3, const T* b3, const int64_t* dims, double scale, int norm,
             int threads, T* out) {
  const auto p = problem(own, nb, v, pairs, idx, mask, w_in_t, b_in, w2, b2, w3, b3, dims, scale, norm);
  // each query writes only its own output row: any split of the rows will do
  over_groups(p.R, 1, threads, [&](int64_t, int64_t q0, int64_t q1) {
    with_width(p.KD, [&](auto kd) { forward_rows<T, decltype(kd)::value>(p, q0, q1, out); });
  });
}

template <typename T>
void backward(const T* own, const T* nb, const T* v, const T* pairs, const int64_t* idx, const bool* mask, const T* w_in_t,
              const T* b_in, const T* w2, const T* b2, const T* w3, const T* b3, const int64_t* dims, double scale, int norm,
              int threads, const T* grad, T* g_own, T* g_nb, T* g_v, T* g_w_in_t, T* g_b_in, T* g_w2, T* g_b2, T* g_w3,
              T* g_b3) {
  auto p = problem(own, nb, v, pairs, idx, mask, w_in_t, b_in, w2, b2, w3, b3, dims, scale, norm);
  std::vector<T> w2t(p.H * p.KD * p.KD);
  for (int64_t h = 0; h < p.H; ++h)
    for (int64_t a = 0; a < p.KD; ++a)
      for (int64_t b = 0; b < p.KD; ++b) w2t[(h * p.KD + b) * p.KD + a] = w2[(h * p.KD + a) * p.KD + b];
  p.w2t = w2t.data();
  const int64_t B = p.R / p.L;
  // Whole samples to each thread where there are enough: a query's neighbours lie in its sample,
  // so the threads' neighbour and value gradients touch disjoint rows. Fewer samples than threads
  // (one large set): rows split evenly, each thread with its own neighbour and value gradient
  // tables, added up in thread order afterwards.
  const bool by_samples = B >= threads;
  const int64_t T_ = std::max<int64_t>(1, std::min<int64_t>(threads, by_samples ? B : p.R));
  std::vector<Grads<T>> grads;
  std::vector<std::vector<T>> thread_rows(by_samples ? 0 : T_);
  for (int64_t i = 0; i < T_; ++i) {
    grads.emplace_back(p);
    grads.back().own = g_own; grads.back().nb = g_nb; grads.back().v = g_v;
    if (!by_samples && i > 0) {  // thread 0 writes the outputs directly
      thread_rows[i].assign(p.R * p.H * (p.E + p.D), T(0));
      grads.back().nb = thread_rows[i].data();
      grads.back().v = thread_rows[i].data() + p.R * p.H * p.E;
    }
  }
  over_groups(by_samples ? B : p.R, by_samples ? p.L : 1, T_, [&](int64_t i, int64_t q0, int64_t q1) {
    with_width(p.KD, [&](auto kd) { backward_rows<T, decltype(kd)::value>(p, grad, q0, q1, grads[i]); });
  });
  for (int64_t i = 1; i < static_cast<int64_t>(thread_rows.size()); ++i) {
    const T* nb_i = thread_rows[i].data();
    const T* v_i = nb_i + p.R * p.H * p.E;
    for (int64_t c = 0; c < p.R * p.H * p.E; ++c) g_nb[c] += nb_i[c];
    for (int64_t c = 0; c < p.R * p.H * p.D; ++c) g_v[c] += v_i[c];
  }
  for (auto& g : grads) {  // sum the per-thread weight gradients in thread order: deterministic
    for (size_t c = 0; c < g.w_in_t.size(); ++c) g_w_in_t[c] += g.w_in_t[c];
    for (size_t c = 0; c < g.b_in.size(); ++c) g_b_in[c] += g.b_in[c];
    for (size_t c = 0; c < g.w2.size(); ++c) g_w2[c] += g.w2[c];
    for (size_t c = 0; c < g.b2.size(); ++c) g_b2[c] += g.b2[c];
    for (size_t c = 0; c < g.w3.size(); ++c) g_w3[c] += g.w3[c];
    for (size_t c = 0; c < g.b3.size(); ++c) g_b3[c] += g.b3[c];
  }
}

}  // namespace

#define LIEFORMER_ATTENTION(T, SUFFIX)                                                                                   \
  extern "C" void lieformer_attention_forward_##SUFFIX(                                                                  \
      const T* own, const T* nb, const T* v, const T* pairs, const int64_t* idx, const bool* mask, const T* w_in_t,      \
      const T* b_in, const T* w2, const T* b2, const T* w3, const T* b3, const int64_t* dims, double scale, int norm,    \
      int threads, T* out) {                                                                                             \
    forward<T>(own, nb, v, pairs, idx, mask, w_in_t, b_in, w2, b2, w3, b3, dims, scale, norm, threads, out);            \
  }                                                                                                                      \
  extern "C" void lieformer_attention_backward_##SUFFIX(                                                                 \
      const T* own, const T* nb, const T* v, const T* pairs, const int64_t* idx, const bool* mask, const T* w_in_t,      \
      const T* b_in, const T* w2, const T* b2, const T* w3, const T* b3, const int64_t* dims, double scale, int norm,    \
      int threads, const T* grad, T* g_own, T* g_nb, T* g_v, T* g_w_in_t, T* g_b_in, T* g_w2, T* g_b2, T* g_w3,        \
      T* g_b3) {                                                                                                         \
    backward<T>(own, nb, v, pairs, idx, mask, w_in_t, b_in, w2, b2, w3, b3, dims, scale, norm, threads, grad, g_own,    \
                g_nb, g_v, g_w_in_t, g_b_in, g_w2, g_b2, g_w3, g_b3);                                                    \
  }

LIEFORMER_ATTENTION(float, float)
LIEFORMER_ATTENTION(double, double)

extern "C" int lieformer_attention_abi_version() { return 1; }
