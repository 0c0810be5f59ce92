// runtime/observe.cc: URGENT_BPF=1 (see observe.h).
//
// Design: one plain thread (signals blocked, not an M) drains the observers' ring buffer
// every 50 ms; `mu` guards the observer against the tracer, which asks for the records
// when it ends a trace file, and against urgent::run's end. `mu` is a leaf, held only for
// the ring-buffer drain and the copy, never while the runtime switches goroutines.
#include "observe.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>

#include "observer.h"
#include "proc.h"
#include "trace_format.h"

namespace urgent::rt {
namespace {

std::mutex mu;
std::unique_ptr<bpf::Observer> observer;  // guarded by mu
pthread_t drainer;
std::atomic<bool> stop{false};

void* drain(void*) {
  while (!stop.load()) {
    {
      std::lock_guard<std::mutex> lock(mu);
      observer->poll(0);
    }
    usleep(50'000);
  }
  return nullptr;
}

std::string fmt_us(std::uint64_t ns) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f µs", static_cast<double>(ns) / 1e3);
  return b;
}

}  // namespace

void observe_run_start(bool enabled) {
  if (!enabled) return;
  std::string error;
  std::unique_ptr<bpf::Observer> o = bpf::Observer::start({.tgid = getpid()}, &error);
  if (o == nullptr) {
    std::fprintf(stderr, "urgent: URGENT_BPF=1: %s; running without the observers\n",
                 error.c_str());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    observer = std::move(o);
  }
  stop.store(false);
  if (start_helper_thread(&drainer, drain, nullptr) != 0) {
    std::fprintf(stderr, "urgent: URGENT_BPF=1: cannot start its thread; running without\n");
    std::lock_guard<std::mutex> lock(mu);
    observer.reset();
  }
}

std::string observe_trace_chunk() {
  std::lock_guard<std::mutex> lock(mu);
  if (observer == nullptr) return "";
  return tracefmt::chunk(tracefmt::Chunk::kKernel, bpf::encode_observations(observer->collect()));
}

void observe_run_end(bool traced) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (observer == nullptr) return;
  }
  stop.store(true);
  join_helper_thread(drainer);
  std::lock_guard<std::mutex> lock(mu);
  if (!traced) {
    const bpf::Observations& o = observer->collect();
    std::uint64_t blocking = 0, offcpu = 0;
    for (const auto& [tid, t] : o.threads) {
      blocking += t.blocking_syscalls;
      offcpu += t.offcpu_blocked_ns + t.offcpu_preempted_ns + t.offcpu_yielded_ns;
    }
    const auto& sig = o.hists[OBS_H_SIGURG];
    std::fprintf(stderr,
                 "urgent: URGENT_BPF=1: %zu threads, %.3f ms off the CPU, %llu blocking system "
                 "calls; SIGURG generated %llu, coalesced %llu, delivered %llu (generate -> "
                 "deliver p50 <= %s, p99 <= %s); dropped: %llu in the kernel, %llu over the "
                 "limit; switch-ins not seen: %llu. (Set URGENT_TRACE too to keep every record, "
                 "or use urgent-scope.)\n",
                 o.threads.size(), static_cast<double>(offcpu) / 1e6,
                 static_cast<unsigned long long>(blocking),
                 static_cast<unsigned long long>(o.counters[OBS_C_SIGURG_GENERATED]),
                 static_cast<unsigned long long>(o.counters[OBS_C_SIGURG_COALESCED]),
                 static_cast<unsigned long long>(o.counters[OBS_C_SIGURG_DELIVERED]),
                 fmt_us(bpf::hist_quantile_ns(sig, 0.5)).c_str(),
                 fmt_us(bpf::hist_quantile_ns(sig, 0.99)).c_str(),
                 static_cast<unsigned long long>(o.counters[OBS_C_RINGBUF_DROPS]),
                 static_cast<unsigned long long>(o.over_limit),
                 static_cast<unsigned long long>(o.counters[OBS_C_SWITCH_IN_UNSEEN]));
  }
  observer.reset();
}

}  // namespace urgent::rt
