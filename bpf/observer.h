// bpf/observer.h: loads the kernel-side observers (observe.bpf.c) for one process and
// collects what they see: off-CPU intervals, blocking system calls, SIGURG deliveries,
// per-thread totals, histograms and drop counters. Used by urgent-scope, by the runtime
// itself (URGENT_BPF=1) and by the tests.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "observations.h"

struct observe_bpf;
struct ring_buffer;

namespace urgent::bpf {

struct ObserverConfig {
  pid_t tgid = 0;                   // the process to observe (its threads: by tgid)
  std::uint64_t min_offcpu_ns = 0;  // shorter off-CPU intervals are only in the totals
  // Non-blocking calls shorter are only in the totals. 20 µs, sysmon's shortest tick: every
  // call long enough to lose its P is recorded (the checker needs them).
  std::uint64_t min_syscall_ns = 20000;
  std::size_t max_records = 2'000'000;  // of each kind kept in memory; beyond: counted only
  int signal = OBS_SIGURG;  // the signal followed from generate to deliver (the SIGURG fields)
};

class Observer {
 public:
  // Loads and attaches the programs for cfg.tgid. Null on failure, with *error saying why
  // in one line (not root, no kernel BTF, BPF unavailable, ...); nothing is printed.
  static std::unique_ptr<Observer> start(const ObserverConfig& cfg, std::string* error);
  ~Observer();
  Observer(const Observer&) = delete;
  Observer& operator=(const Observer&) = delete;

  // Moves ring-buffer records into the observations, waiting up to timeout_ms for the
  // first. Returns how many, or -1 on error.
  int poll(int timeout_ms);
  // Drains the ring buffer and reads the maps: the observations so far.
  const Observations& collect();

 private:
  Observer() = default;
  static int on_record(void* self, void* data, std::size_t size);
  observe_bpf* skel_ = nullptr;
  ring_buffer* rb_ = nullptr;
  std::size_t max_records_ = 0;
  Observations obs_;
};

}  // namespace urgent::bpf
