// Splitting work over std::threads for the native kernels (header-only, no torch header).
#pragma once
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace lieformer_native {

// Groups [0, groups) of `size` rows each (whole samples: size L; single rows: size 1) split
// evenly over min(threads, groups) threads, the last on the calling thread: work(i, first row,
// end row) for thread i.
template <typename F>
void over_groups(int64_t groups, int64_t size, int64_t threads, F&& work) {
  const int64_t T_ = std::max<int64_t>(1, std::min<int64_t>(threads, groups));
  std::vector<std::thread> pool;
  for (int64_t i = 0; i < T_; ++i) {
    const int64_t g0 = groups * i / T_, g1 = groups * (i + 1) / T_;
    if (i + 1 == T_) work(i, g0 * size, g1 * size);
    else pool.emplace_back([&work, i, g0, g1, size] { work(i, g0 * size, g1 * size); });
  }
  for (auto& th : pool) th.join();
}

}  // namespace lieformer_native
