// bpf/observations.h: what the observers saw (observer.h collects it), and its encoding
// as a chunk of urgent's execution trace (trace_format.h's kKernel): records of the types
// in observe.h, each its 32-bit type then the struct's bytes (which repeat the type as
// their first field), plus record types of this file's for the maps. Header-only: the trace reader
// decodes it without libbpf.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "observe.h"

namespace urgent::bpf {

// Everything observed so far (the records in arrival order, i.e. per CPU in time order).
struct Observations {
  std::vector<obs_offcpu> offcpu;
  std::vector<obs_syscall> syscalls;
  std::vector<obs_signal> signals;
  std::map<std::uint32_t, obs_thread> threads;  // by tid
  std::array<std::array<std::uint64_t, OBS_HIST_BUCKETS>, OBS_H_COUNT> hists{};
  std::array<std::uint64_t, OBS_C_COUNT> counters{};
  std::uint64_t over_limit = 0;  // records not kept: ObserverConfig::max_records reached
  // Runs of the programs the kernel skipped (a program already running on that CPU: its
  // recursion_misses), summed: events the observers never saw.
  std::uint64_t prog_misses = 0;
};

// Record types of the encoding beyond observe.h's.
inline constexpr std::uint32_t kObsCounters = 100;    // OBS_C_COUNT u64s
inline constexpr std::uint32_t kObsThread = 101;      // tid (u32), obs_thread
inline constexpr std::uint32_t kObsHists = 102;       // OBS_H_COUNT * OBS_HIST_BUCKETS u64s
inline constexpr std::uint32_t kObsOverLimit = 103;   // Observations::over_limit (u64)
inline constexpr std::uint32_t kObsProgMisses = 104;  // Observations::prog_misses (u64)

namespace detail {
template <class T>
void put_record(std::string* out, std::uint32_t type, const T& v) {
  out->append(reinterpret_cast<const char*>(&type), sizeof type);
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <class T>
bool get(const unsigned char** p, const unsigned char* end, T* v) {
  if (static_cast<std::size_t>(end - *p) < sizeof(T)) return false;
  std::memcpy(v, *p, sizeof(T));
  *p += sizeof(T);
  return true;
}
}  // namespace detail

inline std::string encode_observations(const Observations& o) {
  std::string out;
  for (const obs_offcpu& r : o.offcpu) detail::put_record(&out, OBS_OFFCPU, r);
  for (const obs_syscall& r : o.syscalls) detail::put_record(&out, OBS_SYSCALL, r);
  for (const obs_signal& r : o.signals) detail::put_record(&out, OBS_SIGNAL, r);
  for (const auto& [tid, t] : o.threads) {
    detail::put_record(&out, kObsThread, tid);
    out.append(reinterpret_cast<const char*>(&t), sizeof t);
  }
  detail::put_record(&out, kObsCounters, o.counters);
  detail::put_record(&out, kObsHists, o.hists);
  detail::put_record(&out, kObsOverLimit, o.over_limit);
  detail::put_record(&out, kObsProgMisses, o.prog_misses);
  return out;
}

// The record's own type field is part of the struct (its first member), so a record is
// decoded from its type onwards. False on a truncated or unknown record.
inline bool decode_observations(const unsigned char* p, const unsigned char* end, Observations* o) {
  while (p < end) {
    std::uint32_t type;
    if (!detail::get(&p, end, &type)) return false;
    switch (type) {
      case OBS_OFFCPU: {
        obs_offcpu r;
        if (!detail::get(&p, end, &r)) return false;
        o->offcpu.push_back(r);
        break;
      }
      case OBS_SYSCALL: {
        obs_syscall r;
        if (!detail::get(&p, end, &r)) return false;
        o->syscalls.push_back(r);
        break;
      }
      case OBS_SIGNAL: {
        obs_signal r;
        if (!detail::get(&p, end, &r)) return false;
        o->signals.push_back(r);
        break;
      }
      case kObsThread: {
        std::uint32_t tid;
        obs_thread t;
        if (!detail::get(&p, end, &tid) || !detail::get(&p, end, &t)) return false;
        o->threads[tid] = t;
        break;
      }
      case kObsCounters:
        if (!detail::get(&p, end, &o->counters)) return false;
        break;
      case kObsHists:
        if (!detail::get(&p, end, &o->hists)) return false;
        break;
      case kObsOverLimit:
        if (!detail::get(&p, end, &o->over_limit)) return false;
        break;
      case kObsProgMisses:
        if (!detail::get(&p, end, &o->prog_misses)) return false;
        break;
      default: return false;
    }
  }
  return true;
}

// Log2 histogram helpers: bucket b holds [2^(b-1), 2^b) ns.
inline std::uint64_t hist_count(const std::array<std::uint64_t, OBS_HIST_BUCKETS>& h) {
  std::uint64_t n = 0;
  for (std::uint64_t v : h) n += v;
  return n;
}

// The q-quantile's bucket upper bound (0 for an empty histogram).
inline std::uint64_t hist_quantile_ns(const std::array<std::uint64_t, OBS_HIST_BUCKETS>& h,
                                      double q) {
  std::uint64_t n = hist_count(h);
  if (n == 0) return 0;
  std::uint64_t rank = static_cast<std::uint64_t>(q * static_cast<double>(n) + 0.999999);
  if (rank == 0) rank = 1;
  std::uint64_t seen = 0;
  for (int b = 0; b < OBS_HIST_BUCKETS; b++) {
    seen += h[static_cast<std::size_t>(b)];
    if (seen >= rank) return b == 0 ? 0 : (std::uint64_t{1} << b) - 1;
  }
  return ~std::uint64_t{0};
}

}  // namespace urgent::bpf
