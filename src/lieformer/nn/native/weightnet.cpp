// LieConv's kernel MLP (lieformer.nn.lieconv.WeightNet) over n pair-feature rows, forward and
// backward, layer by layer in passes over the rows: each pass recomputes a row's input from the
// previous layer's pre-activations, so only those (z_l, n x width_l) are kept between passes (the
// last layer's not even between forward and backward: the backward recomputes it into z[L-1]);
// the BatchNorm inputs, outputs and Swish outputs that autograd would keep are never stored.
//
//   h_0 = p;  z_l = W_l h_{l-1} + b_l;  x^_l = (z_l - mean_l) * invstd_l;  h_l = swish(g_l x^_l + beta_l)
//
// Training: mean_l and the biased variance come from this batch (sums in double), computed here;
// evaluation: given (the running statistics). Backward, given dh_L: per layer one pass for
// dy = dh * swish'(y) and its sums (BatchNorm's backward needs sum dy and sum dy x^), one pass for
//   dz = g invstd (dy - sum(dy)/n - x^ sum(dy x^)/n),  dW_l += dz h_{l-1}^T,  dh_{l-1} = W_l^T dz.
// Threads take contiguous row ranges; their sums and weight gradients are added in thread order
// (deterministic for a thread count). No torch header: plain C ABI.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "fastmath.h"
#include "threads.h"

namespace {

using lieformer_native::over_groups;
using lieformer_native::sigmoid;

template <typename T>
struct Net {
  int64_t n, layers;
  const int64_t* width;  // layers + 1
  const T* p;            // (n, width[0])
  T* const* wt;          // layer l: W_l^T (width[l-1], width[l])
  T* const* bias;        // (width[l])
  T* const* gamma;
  T* const* beta;
  T* const* z;           // (n, width[l]) pre-activations
  double* const* mean;   // (width[l])
  double* const* invstd;
  // per layer, in T: y = a z + c (BatchNorm's affine map) and x^ = s z + t
  std::vector<std::vector<T>> a, c, s, t;

  void affine(int64_t l) {  // from mean / invstd / gamma / beta of layer l (1-based)
    const int64_t o = width[l];
    a.resize(layers); c.resize(layers); s.resize(layers); t.resize(layers);
    a[l - 1].resize(o); c[l - 1].resize(o); s[l - 1].resize(o); t[l - 1].resize(o);
    for (int64_t j = 0; j < o; ++j) {
      const double is = invstd[l - 1][j], mu = mean[l - 1][j], g = gamma[l - 1][j];
      a[l - 1][j] = static_cast<T>(g * is);
      c[l - 1][j] = static_cast<T>(beta[l - 1][j] - mu * g * is);
      s[l - 1][j] = static_cast<T>(is);
      t[l - 1][j] = static_cast<T>(-mu * is);
    }
  }
};

// h = swish(g x^ + beta) of row r of layer l (1-based; layer 0 is p): out[width[l]].
template <typename T>
inline void activation(const Net<T>& net, int64_t l, int64_t r, T* out) {
  const int64_t o = net.width[l];
  if (l == 0) {
    std::copy(net.p + r * o, net.p + (r + 1) * o, out);
    return;
  }
  const T* zr = net.z[l - 1] + r * o;
  const T* a = net.a[l - 1].data();
  const T* c = net.c[l - 1].data();
#pragma omp simd
  for (int64_t j = 0; j < o; ++j) {
    const T y = a[j] * zr[j] + c[j];
    out[j] = y * sigmoid(y);
  }
}

// out[0:o] = init[0:o] (or 0) + sum_{i<a} x[i] M[i*o : (i+1)*o]. With o a compile-time O the row
// of sums stays in registers over the a terms; O = 0: a run-time o, the sums in out. out may be init.
template <typename T, int O>
inline void combine_rows(const T* x, int64_t a, const T* M, int64_t o, const T* init, T* out) {
  const int64_t n = O > 0 ? O : o;
  T local[O > 0 ? O : 1];
  T* acc = O > 0 ? local : out;
  for (int64_t j = 0; j < n; ++j) acc[j] = init ? init[j] : T(0);
  for (int64_t i = 0; i < a; ++i) {
    const T xi = x[i];
    const T* mi = M + i * n;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) acc[j] += xi * mi[j];
  }
  if constexpr (O > 0)
    for (int64_t j = 0; j < n; ++j) out[j] = acc[j];
}

template <typename T>
inline void combine_rows(const T* x, int64_t a, const T* M, int64_t o, const T* init, T* out) {
  switch (o) {
    case 8: combine_rows<T, 8>(x, a, M, o, init, out); break;
    case 16: combine_rows<T, 16>(x, a, M, o, init, out); break;
    case 32: combine_rows<T, 32>(x, a, M, o, init, out); break;
    case 64: combine_rows<T, 64>(x, a, M, o, init, out); break;
    default: combine_rows<T, 0>(x, a, M, o, init, out);
  }
}

// z_l (row r) = W_l h + b_l.
template <typename T>
inline void linear(const Net<T>& net, int64_t l, const T* h, T* __restrict zr) {
  combine_rows(h, net.width[l - 1], net.wt[l - 1], net.width[l], net.bias[l - 1], zr);
}

template <typename T>
void forward(Net<T>& net, bool train, double eps, int threads) {
  int64_t widest = 0;
  for (int64_t l = 0; l <= net.layers; ++l) widest = std::max(widest, net.width[l]);
  const int64_t T_ = std::max<int64_t>(1, std::min<int64_t>(threads, net.n / 256 + 1));
  if (!train)
    for (int64_t l = 1; l <= net.layers; ++l) net.affine(l);
  for (int64_t l = 1; l <= net.layers; ++l) {
    const int64_t o = net.width[l];
    std::vector<std::vector<double>> sums(T_, std::vector<double>(2 * o, 0.0));
    over_groups(net.n, 1, T_, [&](int64_t t, int64_t r0, int64_t r1) {
      std::vector<T> h(widest);
      double* s = sums[t].data();
      for (int64_t r = r0; r < r1; ++r) {
        activation(net, l - 1, r, h.data());
        T* zr = net.z[l - 1] + r * o;
        linear(net, l, h.data(), zr);
        if (train)
#pragma omp simd
          for (int64_t j = 0; j < o; ++j) {
            s[j] += zr[j];
            s[o + j] += static_cast<double>(zr[j]) * zr[j];
          }
      }
    });
    if (train) {
      for (int64_t j = 0; j < o; ++j) {
        double s1 = 0, s2 = 0;
        for (int64_t t = 0; t < T_; ++t) {
          s1 += sums[t][j];
          s2 += sums[t][o + j];
        }
        const double mu = s1 / net.n;
        const double var = std::max(0.0, s2 / net.n - mu * mu);
        net.mean[l - 1][j] = mu;
        net.invstd[l - 1][j] = 1.0 / std::sqrt(var + eps);
      }
      net.affine(l);
    }
  }
}

// The last layer's output h_L (n, width[L]).
template <typename T>
void output(const Net<T>& net, int threads, T* h) {
  const int64_t o = net.width[net.layers];
  over_groups(net.n, 1, threads, [&](int64_t, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) activation(net, net.layers, r, h + r * o);
  });
}

// dh (n, width[L]) in: the output's gradient (overwritten). Weight gradients out, each (like the
// weights) W_l^T-shaped, and d gamma, d beta, d bias.
template <typename T>
void backward(Net<T>& net, const T* grad, bool train, int threads, T* const* dwt, T* const* dbias, T* const* dgamma,
              T* const* dbeta) {
  int64_t widest = 0;
  for (int64_t l = 0; l <= net.layers; ++l) widest = std::max(widest, net.width[l]);
  const int64_t T_ = std::max<int64_t>(1, std::min<int64_t>(threads, net.n / 256 + 1));
  for (int64_t l = 1; l <= net.layers; ++l) net.affine(l);
  {  // the last layer's pre-activations were not kept: z_L = W_L h_{L-1} + b_L again, into net.z[L-1]
    const int64_t L = net.layers, o = net.width[L];
    over_groups(net.n, 1, T_, [&](int64_t, int64_t r0, int64_t r1) {
      std::vector<T> h(widest);
      for (int64_t r = r0; r < r1; ++r) {
        activation(net, L - 1, r, h.data());
        linear(net, L, h.data(), net.z[L - 1] + r * o);
      }
    });
  }
  // one buffer, a row of `widest` per row: pass 1 turns its dh_l into dy, pass 2 reads a row's dy
  // and writes that row's dh_{l-1} in its place (no other row's)
  const int64_t oL = net.width[net.layers];
  std::vector<T> cur(net.n * widest);
  for (int64_t r = 0; r < net.n; ++r) std::copy(grad + r * oL, grad + (r + 1) * oL, cur.begin() + r * widest);
  for (int64_t l = net.layers; l >= 1; --l) {
    const int64_t a = net.width[l - 1], o = net.width[l];
    const double* is = net.invstd[l - 1];
    const T* g = net.gamma[l - 1];
    const T* ya = net.a[l - 1].data();
    const T* yc = net.c[l - 1].data();
    const T* xs = net.s[l - 1].data();
    const T* xt = net.t[l - 1].data();
    const T* zl = net.z[l - 1];
    // pass 1: cur <- dy = dh swish'(y); sums of dy and dy x^
    std::vector<std::vector<double>> sums(T_, std::vector<double>(2 * o, 0.0));
    over_groups(net.n, 1, T_, [&](int64_t t, int64_t r0, int64_t r1) {
      double* s = sums[t].data();
      for (int64_t r = r0; r < r1; ++r) {
        T* dr = cur.data() + r * widest;
        const T* zr = zl + r * o;
#pragma omp simd
        for (int64_t j = 0; j < o; ++j) {
          const T xh = xs[j] * zr[j] + xt[j];
          const T y = ya[j] * zr[j] + yc[j];
          const T sg = sigmoid(y);
          const T dy = dr[j] * sg * (T(1) + y * (T(1) - sg));
          dr[j] = dy;
          s[j] += dy;
          s[o + j] += static_cast<double>(dy) * xh;
        }
      }
    });
    std::vector<double> sdy(o, 0.0), sdyx(o, 0.0);
    for (int64_t t = 0; t < T_; ++t)
      for (int64_t j = 0; j < o; ++j) {
        sdy[j] += sums[t][j];
        sdyx[j] += sums[t][o + j];
      }
    for (int64_t j = 0; j < o; ++j) {
      dbeta[l - 1][j] = static_cast<T>(sdy[j]);
      dgamma[l - 1][j] = static_cast<T>(sdyx[j]);
    }
    // pass 2: dz; dW^T += h_{l-1} dz^T, db += dz; the row of cur <- dh_{l-1} = W^T dz (not for l = 1)
    std::vector<std::vector<T>> acc(T_, std::vector<T>(a * o + o, T(0)));
    std::vector<T> wrows(o * a);  // W_l (o, a): dh_{l-1} = sum_j dz_j W_l[j, :], vectorised over a
    for (int64_t i = 0; i < a; ++i)
      for (int64_t j = 0; j < o; ++j) wrows[j * a + i] = net.wt[l - 1][i * o + j];
    over_groups(net.n, 1, T_, [&](int64_t t, int64_t r0, int64_t r1) {
      std::vector<T> h(widest), coef(o), m1(o), m2(o);
      for (int64_t j = 0; j < o; ++j) {
        coef[j] = static_cast<T>(g[j] * is[j]);
        m1[j] = train ? static_cast<T>(sdy[j] / net.n) : T(0);  // evaluation: the statistics are constants
        m2[j] = train ? static_cast<T>(sdyx[j] / net.n) : T(0);
      }
      T* dW = acc[t].data();
      T* db = dW + a * o;
      // dW^T += h_{l-1} dz^T a block of rows at a time: each row of dW^T is read and written once a
      // block, its sums held in registers over the block's rows (ht: the block's h, transposed)
      constexpr int64_t BR = 16;
      std::vector<T> ht(a * BR), dzb(BR * o);
      int64_t nb = 0;
      auto flush = [&] {
        for (int64_t i = 0; i < a; ++i) combine_rows(ht.data() + i * BR, nb, dzb.data(), o, dW + i * o, dW + i * o);
        nb = 0;
      };
      for (int64_t r = r0; r < r1; ++r) {
        T* dr = cur.data() + r * widest;
        const T* zr = zl + r * o;
        T* dz = dzb.data() + nb * o;  // this row's dz, straight into the block
#pragma omp simd
        for (int64_t j = 0; j < o; ++j) {
          const T xh = xs[j] * zr[j] + xt[j];
          dz[j] = coef[j] * (dr[j] - m1[j] - xh * m2[j]);
          db[j] += dz[j];
        }
        activation(net, l - 1, r, h.data());
        for (int64_t i = 0; i < a; ++i) ht[i * BR + nb] = h[i];
        if (l > 1)  // dz is held in the block: the row's dy may be overwritten now
          combine_rows(static_cast<const T*>(dz), o, wrows.data(), a, static_cast<const T*>(nullptr), dr);
        if (++nb == BR) flush();
      }
      if (nb > 0) flush();
    });
    for (int64_t t = 0; t < T_; ++t) {
      for (int64_t c = 0; c < a * o; ++c) dwt[l - 1][c] += acc[t][c];
      for (int64_t j = 0; j < o; ++j) dbias[l - 1][j] += acc[t][a * o + j];
    }
  }
}

template <typename T>
Net<T> make_net(int64_t n, int64_t layers, const int64_t* width, const T* p, T* const* wt, T* const* bias,
                T* const* gamma, T* const* beta, T* const* z, double* const* mean, double* const* invstd) {
  return Net<T>{n, layers, width, p, wt, bias, gamma, beta, z, mean, invstd};
}

}  // namespace

// p (n, width[0]); per layer l = 1..layers: wt (width[l-1], width[l]), bias / gamma / beta
// (width[l]), z (n, width[l]) written, mean / invstd (width[l], double) written in training, read
// in evaluation; h (n, width[layers]) the output.
#define LIEFORMER_WEIGHTNET(T, SUFFIX)                                                                              \
  extern "C" void lieformer_weightnet_forward_##SUFFIX(int64_t n, int64_t layers, const int64_t* width, const T* p, \
                                                       T* const* wt, T* const* bias, T* const* gamma,               \
                                                       T* const* beta, T* const* z, double* const* mean,            \
                                                       double* const* invstd, int train, double eps, int threads,   \
                                                       T* h) {                                                      \
    auto net = make_net<T>(n, layers, width, p, wt, bias, gamma, beta, z, mean, invstd);                            \
    forward(net, train != 0, eps, threads);                                                                        \
    output(net, threads, h);                                                                                       \
  }                                                                                                                 \
  extern "C" void lieformer_weightnet_backward_##SUFFIX(                                                            \
      int64_t n, int64_t layers, const int64_t* width, const T* p, T* const* wt, T* const* bias, T* const* gamma,  \
      T* const* beta, T* const* z, double* const* mean, double* const* invstd, const T* grad, int train, int threads,\
      T* const* dwt, T* const* dbias, T* const* dgamma, T* const* dbeta) {                                          \
    auto net = make_net<T>(n, layers, width, p, wt, bias, gamma, beta, z, mean, invstd);                            \
    backward(net, grad, train != 0, threads, dwt, dbias, dgamma, dbeta);                                                       \
  }

LIEFORMER_WEIGHTNET(float, float)
LIEFORMER_WEIGHTNET(double, double)

extern "C" int lieformer_weightnet_abi_version() { return 1; }
