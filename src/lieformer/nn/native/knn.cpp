// kNN selection (lieformer.nn.neighbourhood._knn_select) for one block of queries, row by row:
// of X keys per query, the C nearest — distances rounded down to buckets of `scale`, ties broken by
// counter-based noise — then a uniform K of those, drawn by a second noise. The noise is
// lieformer.randomness.uniform, bit for bit (lowbias32 mixer); the fallback forms the same ranks
// as (B, m, X) tensors and takes torch.topk.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

inline uint32_t mix32(uint64_t x) {
  uint32_t h = static_cast<uint32_t>(x);  // x & 0xFFFFFFFF
  h ^= h >> 16;
  h *= 0x7FEB352Du;
  h ^= h >> 15;
  h *= 0x846CA68Bu;
  return h ^ (h >> 16);
}

// hash_indices(seed, b, q): h = seed; h = mix32(h + 0x9E3779B9 + mix32(i)) for i in (b, q)
inline uint32_t row_hash(int64_t seed, int64_t b, int64_t q) {
  uint64_t h = static_cast<uint64_t>(seed) & 0xFFFFFFFFull;
  h = mix32(h + 0x9E3779B9ull + mix32(static_cast<uint64_t>(b)));
  h = mix32(h + 0x9E3779B9ull + mix32(static_cast<uint64_t>(q)));
  return static_cast<uint32_t>(h);
}

// uniform(seed, b, q, key): ((((row ^ col) * 0x5851F42D) & 0xFFFFFFFF) >> 8) / 2^24
inline double noise(uint32_t row, int64_t key) {
  const uint32_t col = mix32(static_cast<uint64_t>(key) + 0x632BE5ABull);
  const uint64_t x = (static_cast<uint64_t>(row ^ col) * 0x5851F42Dull) & 0xFFFFFFFFull;
  return static_cast<double>(x >> 8) * (1.0 / 16777216.0);
}

template <typename T>
void select_rows(const T* d, const bool* valid, const double* scale, const int64_t* query, const int64_t* keys,
                 int64_t keys_row_stride, int64_t m, int64_t X, int64_t C, int64_t K, int64_t seed, int64_t r0, int64_t r1,
                 int64_t* near, bool* keep, double* last) {
  std::vector<double> rank(X), bucket(X), score;
  std::vector<int64_t> order(X);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t b = r / m;
    const T* dr = d + r * X;
    const bool* vr = valid + r * X;
    const int64_t* kr = keys + r * keys_row_stride;
    const uint32_t row = row_hash(seed, b, query[r]);
    for (int64_t x = 0; x < X; ++x) {
      bucket[x] = std::floor(static_cast<double>(dr[x]) / scale[b]);
      rank[x] = vr[x] ? -(bucket[x] + 0.5 * noise(row, kr[x])) : -INFINITY;
      order[x] = x;
    }
    const int64_t top = std::min(C, X);
    // the `top` largest ranks, in decreasing order (equal ranks: the smaller position first)
    auto higher = [&](int64_t a, int64_t c) { return rank[a] > rank[c] || (rank[a] == rank[c] && a < c); };
    std::partial_sort(order.begin(), order.begin() + top, order.end(), higher);
    const int64_t lastpos = order[top - 1];
    last[r] = (X >= C && std::isfinite(rank[lastpos])) ? bucket[lastpos] : INFINITY;
    int64_t* nr = near + r * K;
    bool* kp = keep + r * K;
    if (top > K) {  // a uniform K of them: valid ones first, then by the second draw
      const uint32_t row2 = row_hash(seed + 1, b, query[r]);
      score.resize(top);
      std::vector<int64_t> pos(top);
      for (int64_t c = 0; c < top; ++c) {
        const int64_t x = order[c];
        score[c] = (vr[x] ? 2.0 : 0.0) + noise(row2, kr[x]);
        pos[c] = c;
      }
      auto better = [&](int64_t a, int64_t c) { return score[a] > score[c] || (score[a] == score[c] && a < c); };
      std::partial_sort(pos.begin(), pos.begin() + K, pos.end(), better);
      for (int64_t k = 0; k < K; ++k) nr[k] = order[pos[k]];
    } else {
      for (int64_t k = 0; k < K; ++k) nr[k] = order[k];
    }
    for (int64_t k = 0; k < K; ++k) kp[k] = vr[nr[k]];
  }
}

template <typename T>
void select(const T* d, const bool* valid, const double* scale, const int64_t* query, const int64_t* keys,
            int64_t keys_row_stride, int64_t B, int64_t m, int64_t X, int64_t C, int64_t K, int64_t seed, int threads,
            int64_t* near, bool* keep, double* last) {
  const int64_t rows = B * m;
  const int64_t T_ = std::max<int64_t>(1, std::min<int64_t>(threads, rows / 64 + 1));
  std::vector<std::thread> pool;
  for (int64_t i = 0; i < T_; ++i) {
    const int64_t r0 = rows * i / T_, r1 = rows * (i + 1) / T_;
    auto work = [=] { select_rows(d, valid, scale, query, keys, keys_row_stride, m, X, C, K, seed, r0, r1, near, keep, last); };
    if (i + 1 == T_) work();
    else pool.emplace_back(work);
  }
  for (auto& th : pool) th.join();
}

}  // namespace

// d (B, m, X), valid (B, m, X), scale (B,), query (B, m), keys (B*m, X) with row stride
// keys_row_stride (0: one row shared by all) → near (B, m, K) positions, keep (B, m, K), last (B, m).
#define LIEFORMER_KNN(T, SUFFIX)                                                                                      \
  extern "C" void lieformer_knn_select_##SUFFIX(const T* d, const bool* valid, const double* scale,                   \
                                                const int64_t* query, const int64_t* keys, int64_t keys_row_stride,   \
                                                int64_t B, int64_t m, int64_t X, int64_t C, int64_t K, int64_t seed,  \
                                                int threads, int64_t* near, bool* keep, double* last) {               \
    select<T>(d, valid, scale, query, keys, keys_row_stride, B, m, X, C, K, seed, threads, near, keep, last);         \
  }

LIEFORMER_KNN(float, float)
LIEFORMER_KNN(double, double)

extern "C" int lieformer_knn_abi_version() { return 1; }
