// runtime/histogram.h: a lock-free latency histogram (preemption latency, scheduling
// latency), summarized as urgent::LatencyStats.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "urgent/stats.h"

namespace urgent::rt {

// A log-linear histogram of latencies in ns: 16 buckets per power of two, so a percentile
// is within ~3% of the truth. Lock-free: every M adds to it (relaxed atomics).
class LatencyHistogram {
 public:
  void record(std::int64_t ns) {
    if (ns < 1) ns = 1;
    buckets_[index(static_cast<std::uint64_t>(ns))].fetch_add(1, std::memory_order_relaxed);
    std::int64_t m = max_.load(std::memory_order_relaxed);
    while (ns > m && !max_.compare_exchange_weak(m, ns, std::memory_order_relaxed)) {
    }
  }
  void reset() {
    for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
    max_.store(0, std::memory_order_relaxed);
  }
  LatencyStats summary() const {
    std::uint64_t counts[kBuckets], total = 0;
    for (int i = 0; i < kBuckets; i++)
      total += counts[i] = buckets_[i].load(std::memory_order_relaxed);
    LatencyStats s;
    s.count = total;
    s.max = std::chrono::nanoseconds(max_.load(std::memory_order_relaxed));
    if (total == 0) return s;
    auto at = [&](std::uint64_t rank) {
      std::uint64_t seen = 0;
      for (int i = 0; i < kBuckets; i++) {
        seen += counts[i];
        // (A bucket's midpoint may lie above the largest sample in it: never above max.)
        if (seen > rank) return std::min(std::chrono::nanoseconds(midpoint(i)), s.max);
      }
      return s.max;
    };
    s.p50 = at(total / 2);
    s.p99 = at(total * 99 / 100);
    return s;
  }

 private:
  static constexpr int kSub = 16;  // buckets per power of two
  static constexpr int kBuckets = 64 * kSub;
  static int index(std::uint64_t ns) {
    if (ns < kSub) return static_cast<int>(ns);
    int log = 63 - __builtin_clzll(ns);  // >= 4
    int sub = static_cast<int>((ns >> (log - 4)) & (kSub - 1));
    return (log - 3) * kSub + sub;
  }
  static std::int64_t midpoint(int i) {
    if (i < kSub) return i;
    int log = i / kSub + 3;
    std::int64_t lo = (std::int64_t{1} << log) + (std::int64_t{i % kSub} << (log - 4));
    return lo + (std::int64_t{1} << (log - 4)) / 2;
  }
  std::atomic<std::uint64_t> buckets_[kBuckets]{};
  std::atomic<std::int64_t> max_{0};
};

}  // namespace urgent::rt
