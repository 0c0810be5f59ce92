// bench/urgent-bench.cc: urgent's benchmark tool; bench/go/main.go is its Go twin and
// scripts/compare.sh runs both side by side.
//
//   urgent-bench <workload> [n]
//
// One unmeasured warm-up run with n/10 (echo: a 200 ms run), then one measured run with n;
// prints exactly one line `<workload> <value> <unit>` (`handoff`: a line for humans, see
// below). Unknown workload or bad n: message, exit status 2. A workload that fails (echo's
// client): message, exit status 1.
//
// Workloads:
//   spawn  (n = 1000000, ns/goroutine): main starts n goroutines that each just signal
//          completion (WaitGroup.done), then waits for all; wall time / n. Default
//          GOMAXPROCS.
//   yield  (n = 1000000, ns/switch): at GOMAXPROCS=1, two goroutines each call gosched n
//          times while main waits; wall time / 2n. GOMAXPROCS is restored afterwards.
//   pingpong (n = 1000000, ns/roundtrip), chanbuf (n = 10000000, ns/item), mutex
//          (n = 10000000, ns/lock), select (n = 1000000, ns/op), syscall (n = 1000000,
//          ns/call; urgent only: blocking(getpid)): see the functions below; default
//          GOMAXPROCS.
//   sleep50, sleep99 (n = 1000): lateness of sleep_for(1ms) on an idle runtime, median and
//          99th percentile, in microseconds.
//   handoff50, handoffmax (n = 200, us-handoff-p50, us-handoff-max): latency of handing the P
//          off from a goroutine blocked in a system call, median and maximum of n samples,
//          in microseconds. At GOMAXPROCS=1 (restored afterwards), n times: main starts
//          goroutine A; A starts goroutine B, takes t0 and blocks in
//          urgent::blocking([&] { return ::read(fd, ...); }) on a plain blocking pipe
//          (::pipe2, not urgent::pipe, which would go through the netpoller); B takes t1 when
//          it starts. main sleeps 20 ms, writes one byte to the pipe and waits for A and B.
//          A sample is t1 - t0: how long B waited for the P that A's system call was holding.
//   handoff (n = 200): the same samples, printed for humans as one line
//          `handoff p50 <us> us p99 <us> us max <us> us (URGENT_HANDOFF=<mode>; by the
//          kernel's spare <n>, by sysmon <n>; sysmon <n> wakeups/s)` (not
//          `<workload> <value> <unit>`: not for scripts/compare.sh); with
//          URGENT_BENCH_SAMPLES=<file>, the samples too (µs, sorted, one per line).
//   handoffload (n = 1000 ms): a goroutine's reads through urgent::blocking, each blocking
//          ~500 µs (a plain thread writes the pipe), at GOMAXPROCS=1, for n ms; one line
//          `handoffload URGENT_HANDOFF=<mode>: <n> reads in <s> s; handoffs by the kernel's
//          spare <n>, by sysmon <n>; sysmon <n> wakeups/s, CPU <pct>%`.
//   sysmonidle (n = 1000 ms): what sysmon costs on an idle runtime: main sleeps n ms and
//          nothing else runs; one line `sysmonidle URGENT_HANDOFF=<mode>: idle <s> s; spares
//          woken <n>; sysmon <n> wakeups/s, CPU <pct>%`.
//   echo   (n = 2000, req/s): a TCP echo server on 127.0.0.1 (port 0): urgent::net::listen,
//          accept, one goroutine per connection that reads and writes back what it read.
//          The client is the separate program urgent-echo-client (bench/echo-client.cc;
//          $URGENT_ECHO_CLIENT, else the one next to this executable), the same one
//          urgent-bench-go echo runs: 100 connections, each with one 64-byte message in
//          flight, for n ms. It is spawned with posix_spawn, its stdout read through a pipe
//          (urgent::File) and its exit awaited with urgent::sys::waitpid, so the server's
//          goroutines keep running meanwhile. value = the round trips per second it reports
//          (higher is better). The warm-up is a 200 ms run. Default GOMAXPROCS.
//   probe50, probe99 (n = 200, us-probe-p50, us-probe-p99): preemption seen from a sleeper.
//          At GOMAXPROCS=1 (restored afterwards) one goroutine spins with no calls at all;
//          main sleeps 1 ms n times and records how late each sleep returns (it can only
//          wake when the spinner is preempted), in µs. Time slice: URGENT_TIMESLICE.
//   probe  (n = 200): the same samples as one line for humans,
//          `probe p50 <us> us p99 <us> us max <us> us`; with URGENT_BENCH_SAMPLES=<file>,
//          every sample too, sorted, one per line (urgent-lab's CDFs).
//   preemptlat (n = 2000): a report, in one process: the raw cross-CPU signal latency (a
//          thread spinning, another timing tgkill(SIGUSR1) until the handler runs: the floor
//          of any signal preemption), n/2 samples before and n/2 after; in between, urgent::run
//          at GOMAXPROCS=1 with one spinning goroutine until n preemptions are taken
//          (URGENT_TIMESLICE, default 500us here), and urgent::preempt_latency(): from
//          sysmon's decision to the goroutine entering the scheduler. Prints both and the
//          ratio of the medians (no warm-up; runs urgent::run itself), then
//          `overrun p50 <us> us p99 <us> us max <us> us (URGENT_PREEMPT=<trigger>; ...;
//          sysmon <n> wakeups/s)`: urgent::preempt_overrun(), from the slice's end to the
//          goroutine entering the scheduler, whoever decides (URGENT_PREEMPT), and how often
//          sysmon woke meanwhile.
//   activation (n = 400): a report, no urgent involved: the floors of a kernel-assisted
//          handoff (scheduler activations), one per way the kernel can wake a spare. A
//          plain thread W blocks n times in read(2) on a pipe that a third thread writes
//          every URGENT_BENCH_BLOCK_US µs (default 20000: as long as `handoff`'s calls
//          block; a thread that slept longer takes longer to wake here), taking t0 first; a
//          second thread, the sleeper, is woken by the path under test and takes t1.
//          Paths: (1) `activation`: W's
//          PERF_COUNT_SW_CONTEXT_SWITCHES software event (sample_period 1, context_switch
//          records in a backward ring, O_ASYNC with F_SETSIG = SIGRTMIN+3 and F_SETOWN_EX
//          to the process; the sleeper, the only thread that unblocks that signal, sleeps
//          on a futex its handler ends); (2) `bpf signal`: URGENT_HANDOFF=bpf's program
//          (bpf/activate.bpf.c) with W marked as an M in a call during each read, sending
//          that signal (bpf_send_signal) the same way; (3) `bpf ringbuf`: the same program
//          writing a record to its ring buffer with BPF_RB_FORCE_WAKEUP, the sleeper in
//          epoll_wait on it (libbpf's ring_buffer__poll). Prints for each t1 - t0 (p50,
//          p99, max), the samples and the block length (`(<n> samples, blocks of <us> us;`)
//          and how often the sleeper ran on the CPU W blocked on; for (1) also
//          what W's last switch-out record said (blocked or preempted), then the
//          tgkill->handler floor (preemptlat's) measured in the same run and the ratio of
//          (1)'s p50 to it; then (2) and (3), or `bpf unavailable: <why>` (not root). Needs
//          perf events (perf_event_paranoid <= 2): otherwise a message and exit status 1.
//   fairness (n = 1000): K = 4 goroutines spin with no calls at GOMAXPROCS=2 for n ms, each
//          counting its iterations; prints each one's share of all of them, in creation
//          order: `fairness shares <s1> <s2> <s3> <s4>` (sum 1; urgent-lab computes Jain's
//          index). Time slice: URGENT_TIMESLICE.
//   sharedcpu (n = 50): a report: the slices two call-free goroutines get at GOMAXPROCS=1
//          while a CPU-bound thread outside urgent shares their CPU (the runtime's threads
//          and that thread pinned to one CPU). Each goroutine notes, when it starts running
//          (the other one was preempted), the thread's CPU time and the wall time since the
//          other one started: n samples, each one slice (and a switch):
//          `sharedcpu URGENT_PREEMPT=<t> slice <s>: on-CPU p50 <ms> ms, wall p50 <ms> ms`.
//          sysmon and timer end slices by wall time (the goroutine gets about half of it on
//          the CPU), perf by on-CPU time (it gets the whole slice on the CPU).
//   triggerfloor (n = 2000): a report, no urgent involved: how late each URGENT_PREEMPT
//          trigger's own signal reaches a thread that spins with no calls, every 100 µs,
//          n samples each: `timer expiry -> handler` (a one-shot CLOCK_MONOTONIC POSIX timer,
//          SIGEV_THREAD_ID, re-armed by its handler; from the expiry it was armed for),
//          `task-clock overflow -> handler (F_SETSIG)` (a PERF_COUNT_SW_TASK_CLOCK event,
//          sample_period 100 µs, O_ASYNC to the thread; from the overflow's sample time,
//          PERF_SAMPLE_TIME on CLOCK_MONOTONIC) and the same event with attr.sigtrap
//          (`task-clock overflow -> handler (sigtrap)`: SIGTRAP, which Linux 6.11+ sends
//          from the interrupt's return path instead of an irq_work). A line each, `<what> p50
//          <us> us p99 <us> us max <us> us (<n> samples)`, or `<what> unavailable: <why>`.
//          The floor under each trigger's "slice end -> off M".
//   overhead (n = 100): a report: the cost of preemption for CPU-bound goroutines. Four
//          goroutines each do n million steps of an LCG without any call, at GOMAXPROCS=2;
//          wall time with GODEBUG=asyncpreemptoff=1 (nothing preempts them) and at time
//          slices 10ms, 1ms, 100us and 50us, 5 rounds alternating, medians; prints each
//          relative to preemption off (runs urgent::run itself, once per measurement). Next
//          to each, the machine's floor: the same work on two plain threads that each take a
//          POSIX-timer signal (no-op handler) every slice. URGENT_PREEMPT chooses who ends
//          the slices (the first line says which).
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <urgent/urgent.h>

#include "activator.h"
#include "perf_ring.h"
#include "sanitizer.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

struct Workload {
  long default_n;
  const char* unit;
  double (*run)(long n);  // returns the value printed: ns per operation, µs, req/s
  long warmup_n = 0;      // n of the warm-up run; 0: n / 10 (no warm-up when n < 10)
  // Instead of run: returns the whole line to print (a report for humans).
  std::string (*report)(long n) = nullptr;
  // Instead of both: a report that calls urgent::run itself (no warm-up).
  std::string (*standalone)(long n) = nullptr;
};

// The value at index size*pct/100 of sorted samples (clamped to the last one): pct 50 is the
// median index size/2, pct 100 the maximum. bench/go/main.go's percentile takes the same.
double percentile(const std::vector<double>& sorted, int pct) {
  return sorted[std::min(sorted.size() - 1, sorted.size() * static_cast<std::size_t>(pct) / 100)];
}

double spawn(long n) {
  // On the heap, as the Go twin's WaitGroup escapes there (on main's stack it would share a
  // cache line with the return addresses main's calls keep writing: measured +70%).
  auto wg = std::make_unique<urgent::WaitGroup>();
  urgent::WaitGroup* w = wg.get();
  auto t0 = Clock::now();
  w->add(static_cast<int>(n));
  for (long i = 0; i < n; i++) urgent::go([w] { w->done(); });
  w->wait();
  auto dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  return dt / static_cast<double>(n);
}

double yield(long n) {
  int old = urgent::gomaxprocs(1);
  urgent::WaitGroup wg;
  auto t0 = Clock::now();
  wg.add(2);
  for (int k = 0; k < 2; k++) {
    urgent::go([&wg, n] {
      for (long i = 0; i < n; i++) urgent::gosched();
      wg.done();
    });
  }
  wg.wait();
  auto dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  urgent::gomaxprocs(old);
  return dt / (2.0 * static_cast<double>(n));
}

// pingpong: main and a goroutine bounce a value over two unbuffered channels.
// syscall: ns per urgent::blocking(getpid) on one goroutine, a call that never blocks:
// entersyscall and exitsyscall's fast path (what kernel-assisted handoff must not slow).
double syscall1(long n) {
  long pid = 0;
  auto t0 = Clock::now();
  for (long i = 0; i < n; i++) pid += urgent::blocking([] { return ::syscall(SYS_getpid); });
  auto dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  if (pid == 0) throw std::runtime_error("getpid returned 0");
  return dt / static_cast<double>(n);
}

double pingpong(long n) {
  urgent::Chan<long> ping, pong;
  urgent::WaitGroup wg;
  wg.add(1);
  urgent::go([ping, pong, n, &wg]() mutable {
    for (long i = 0; i < n; i++) pong.send(*ping.recv());
    wg.done();
  });
  auto t0 = Clock::now();
  for (long i = 0; i < n; i++) {
    ping.send(i);
    pong.recv();
  }
  double dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  wg.wait();  // (not timed) the echo goroutine ends before the next run
  return dt / n;
}

// chanbuf: one producer goroutine fills a 1024-slot channel, main consumes.
double chanbuf(long n) {
  urgent::Chan<long> c(1024);
  urgent::WaitGroup wg;
  wg.add(1);
  auto t0 = Clock::now();
  urgent::go([c, n, &wg]() mutable {
    for (long i = 0; i < n; i++) c.send(i);
    c.close();
    wg.done();
  });
  for (long v : c) (void)v;
  double dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  wg.wait();  // (not timed) the producer ends before the next run
  return dt / n;
}

// mutex: 4 goroutines each lock, increment and unlock n/4 times.
double mutex(long n) {
  // On the heap like the Go twin's (escaping) variables.
  struct Shared {
    urgent::Mutex mu;
    long counter = 0;
    urgent::WaitGroup wg;
  };
  auto sh = std::make_unique<Shared>();
  Shared* s = sh.get();
  auto t0 = Clock::now();
  s->wg.add(4);
  for (int g = 0; g < 4; g++) {
    urgent::go([s, n] {
      for (long i = 0; i < n / 4; i++) {
        std::lock_guard<urgent::Mutex> l(s->mu);
        s->counter++;
      }
      s->wg.done();
    });
  }
  s->wg.wait();
  if (s->counter != n / 4 * 4) throw urgent::Panic("mutex: lost increments");
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
}

// select: a goroutine selects over two input channels and echoes on a third; main
// alternates between the inputs.
double select2(long n) {
  urgent::Chan<long> a, b, reply;
  urgent::WaitGroup wg;
  wg.add(1);
  urgent::go([a, b, reply, n, &wg]() mutable {
    auto echo = [&](std::optional<long> v) { reply.send(*v); };
    for (long i = 0; i < n; i++) {
      urgent::select(urgent::case_recv(a, echo), urgent::case_recv(b, echo));
    }
    wg.done();
  });
  auto t0 = Clock::now();
  for (long i = 0; i < n; i++) {
    (i % 2 == 0 ? a : b).send(i);
    reply.recv();
  }
  double dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  wg.wait();  // (not timed) the echo goroutine ends before the next run
  return dt / n;
}

// sleep50 / sleep99: lateness of sleep_for(1ms) on an otherwise idle runtime, in µs:
// the median and the 99th percentile of n sleeps (the value is per workload, not per op).
std::vector<double> sleepLateness(long n) {
  std::vector<double> late;
  late.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; i++) {
    auto t0 = Clock::now();
    urgent::sleep_for(std::chrono::milliseconds(1));
    late.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() - 1000.0);
  }
  std::sort(late.begin(), late.end());
  return late;
}
double sleep50(long n) {
  return percentile(sleepLateness(n), 50);
}
double sleep99(long n) {
  return percentile(sleepLateness(n), 99);
}

std::int64_t nanotime() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// handoff50 / handoffmax / handoff: n samples (sorted, in µs) of the time a goroutine waits
// for the P that a goroutine blocked in a system call holds; see the top of this file.
std::vector<double> handoffLatency(long n) {
  int old = urgent::gomaxprocs(1);
  std::vector<double> lat;
  lat.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; i++) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe2");
    std::int64_t t0 = 0, t1 = 0;
    urgent::WaitGroup wg;
    wg.add(2);
    urgent::go([&] {                       // A
      urgent::go([t1p = &t1, wgp = &wg] {  // B
        *t1p = nanotime();
        wgp->done();
      });
      t0 = nanotime();
      char c;
      ssize_t r = urgent::blocking([&] { return ::read(fds[0], &c, 1); });
      if (r != 1)
        throw urgent::Panic("handoff: read from the pipe: " + std::to_string(r) + ", " +
                            std::strerror(errno));
      wg.done();
    });
    urgent::sleep_for(std::chrono::milliseconds(20));
    if (::write(fds[1], "x", 1) != 1)
      throw std::system_error(errno, std::generic_category(), "handoff: write to the pipe");
    wg.wait();
    ::close(fds[0]);
    ::close(fds[1]);
    lat.push_back(static_cast<double>(t1 - t0) / 1e3);
  }
  urgent::gomaxprocs(old);
  std::sort(lat.begin(), lat.end());
  return lat;
}
// Writes the samples (µs), one per line, to $URGENT_BENCH_SAMPLES if it is set (probe,
// handoff: the lab's CDFs).
void writeSamples(const std::vector<double>& l) {
  const char* path = std::getenv("URGENT_BENCH_SAMPLES");
  if (path == nullptr || *path == '\0') return;
  std::FILE* f = std::fopen(path, "w");
  if (f == nullptr) throw std::runtime_error(std::string("URGENT_BENCH_SAMPLES: ") + path);
  for (double v : l) std::fprintf(f, "%.3f\n", v);
  if (std::fclose(f) != 0) throw std::runtime_error(std::string("writing ") + path);
}

double handoff50(long n) {
  return percentile(handoffLatency(n), 50);
}
double handoffmax(long n) {
  return percentile(handoffLatency(n), 100);
}
std::string handoffReport(long n) {
  urgent::SchedStats before = urgent::sched_stats();
  auto t0 = Clock::now();
  auto l = handoffLatency(n);
  writeSamples(l);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  urgent::SchedStats after = urgent::sched_stats();
  if (l.empty()) return "";
  char line[320];
  std::snprintf(line, sizeof line,
                "handoff p50 %.1f us p99 %.1f us max %.1f us (URGENT_HANDOFF=%s; by the kernel's "
                "spare %llu, by sysmon %llu; sysmon %.0f wakeups/s)",
                percentile(l, 50), percentile(l, 99), percentile(l, 100), after.handoff,
                static_cast<unsigned long long>(after.handoffs_activated - before.handoffs_activated),
                static_cast<unsigned long long>(after.handoffs - before.handoffs),
                static_cast<double>(after.sysmon_ticks - before.sysmon_ticks) / secs);
  return line;
}

// What sysmon cost between two snapshots `secs` apart: `sysmon <n> wakeups/s, CPU <pct>%`.
std::string sysmonCost(const urgent::SchedStats& before, const urgent::SchedStats& after, double secs) {
  char text[96];
  std::snprintf(text, sizeof text, "sysmon %.0f wakeups/s, CPU %.3f%%",
                static_cast<double>(after.sysmon_ticks - before.sysmon_ticks) / secs,
                100.0 * static_cast<double>(after.sysmon_cpu_ns - before.sysmon_cpu_ns) / 1e9 / secs);
  return text;
}

// handoffload: for ms milliseconds at GOMAXPROCS=1, a goroutine reads a pipe through
// urgent::blocking, one byte every 500 µs written by a plain thread: every read blocks and
// its P is handed off (by sysmon's retake, or by a spare M the kernel woke). Reports the
// handoffs, sysmon's wakeups per second and its CPU time: what watching for blocked calls
// costs in each URGENT_HANDOFF mode.
std::string handoffloadReport(long ms) {
  int old = urgent::gomaxprocs(1);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop.load()) {
      ::usleep(500);
      if (::write(fds[1], "x", 1) != 1) break;
    }
  });
  urgent::SchedStats before = urgent::sched_stats();
  auto t0 = Clock::now();
  long reads = 0;
  urgent::WaitGroup wg;
  wg.add(1);
  urgent::go([&] {
    while (Clock::now() - t0 < std::chrono::milliseconds(ms)) {
      char c;
      if (urgent::blocking([&] { return ::read(fds[0], &c, 1); }) != 1) break;
      reads++;
    }
    wg.done();
  });
  wg.wait();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  urgent::SchedStats after = urgent::sched_stats();
  stop = true;
  writer.join();
  ::close(fds[0]);
  ::close(fds[1]);
  urgent::gomaxprocs(old);
  char line[320];
  std::snprintf(line, sizeof line,
                "handoffload URGENT_HANDOFF=%s: %ld reads in %.2f s; handoffs by the kernel's spare "
                "%llu, by sysmon %llu; ",
                after.handoff, reads, secs,
                static_cast<unsigned long long>(after.handoffs_activated - before.handoffs_activated),
                static_cast<unsigned long long>(after.handoffs - before.handoffs));
  return line + sysmonCost(before, after, secs);
}

// sysmonidle: see the top of this file.
std::string sysmonidleReport(long ms) {
  urgent::SchedStats before = urgent::sched_stats();
  auto t0 = Clock::now();
  urgent::sleep_for(std::chrono::milliseconds(ms));
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  urgent::SchedStats after = urgent::sched_stats();
  char line[160];
  std::snprintf(line, sizeof line, "sysmonidle URGENT_HANDOFF=%s: idle %.2f s; spares woken %llu; ",
                after.handoff, secs,
                static_cast<unsigned long long>(after.activations - before.activations));
  return line + sysmonCost(before, after, secs);
}

// A goroutine body that never calls into urgent until stop is set: only a signal preempts it.
void spinUntil(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) {
  }
}

// probe50 / probe99 / probe: n samples (sorted, µs) of how late sleep_for(1ms) returns while
// a goroutine spins at GOMAXPROCS=1; see the top of this file.
std::vector<double> probeLateness(long n) {
  int old = urgent::gomaxprocs(1);
  std::atomic<bool> stop{false};
  urgent::WaitGroup wg;
  wg.add(1);
  urgent::go([&] {
    spinUntil(stop);
    wg.done();
  });
  std::vector<double> late = sleepLateness(n);
  stop.store(true);
  wg.wait();
  urgent::gomaxprocs(old);
  return late;
}
double probe50(long n) {
  return percentile(probeLateness(n), 50);
}
double probe99(long n) {
  return percentile(probeLateness(n), 99);
}
std::string probeReport(long n) {
  auto l = probeLateness(n);
  writeSamples(l);
  char line[128];
  std::snprintf(line, sizeof line, "probe p50 %.1f us p99 %.1f us max %.1f us", percentile(l, 50),
                percentile(l, 99), percentile(l, 100));
  return line;
}

// Sets (or, with null, unsets) an environment variable until destroyed.
class EnvOverride {
 public:
  EnvOverride(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~EnvOverride() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  EnvOverride(const EnvOverride&) = delete;
  EnvOverride& operator=(const EnvOverride&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The floor of signal preemption: n samples (µs) of tgkill(SIGUSR1) from one thread until
// the handler runs on another thread that spins (no urgent involved).
std::atomic<std::int64_t> floor_handled{0};
void floorHandler(int) {
  floor_handled.store(nanotime(), std::memory_order_release);
}
std::vector<double> signalFloor(long n) {
  struct sigaction sa, old;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = floorHandler;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, &old);
  std::atomic<bool> stop{false};
  std::atomic<pid_t> tid{0};
  std::thread target([&] {
    tid.store(static_cast<pid_t>(::gettid()));
    spinUntil(stop);
  });
  while (tid.load() == 0) {
  }
  std::vector<double> lat;
  for (long i = 0; i < n; i++) {
    floor_handled.store(0);
    std::int64_t t0 = nanotime();
    ::tgkill(::getpid(), tid.load(), SIGUSR1);
    std::int64_t t1;
    while ((t1 = floor_handled.load(std::memory_order_acquire)) == 0) {
    }
    lat.push_back(static_cast<double>(t1 - t0) / 1e3);
    ::usleep(200);  // like sysmon between ticks: the sender sleeps, the target spins
  }
  stop.store(true);
  target.join();
  sigaction(SIGUSR1, &old, nullptr);
  return lat;
}

std::string preemptlatReport(long n) {
  std::vector<double> floor = signalFloor(n / 2);
  EnvOverride slice("URGENT_TIMESLICE",
                    std::getenv("URGENT_TIMESLICE") ? std::getenv("URGENT_TIMESLICE") : "500us");
  EnvOverride procs("GOMAXPROCS", "1");
  urgent::PreemptLatency lat, late;
  urgent::SchedStats st0, st1;
  double secs = 0;
  bool async = false;
  urgent::run([&] {
    async = urgent::async_preemption();
    st0 = urgent::sched_stats();
    auto t0 = std::chrono::steady_clock::now();
    std::atomic<bool> stop{false};
    urgent::WaitGroup wg;
    wg.add(1);
    urgent::go([&] {
      spinUntil(stop);
      wg.done();
    });
    while (async && urgent::preempt_latency().count < static_cast<std::uint64_t>(n)) {
      urgent::sleep_for(std::chrono::milliseconds(5));
    }
    stop.store(true);
    wg.wait();
    lat = urgent::preempt_latency();
    late = urgent::preempt_overrun();
    st1 = urgent::sched_stats();
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  });
  if (!async) throw std::runtime_error("asynchronous preemption is off");
  std::vector<double> after = signalFloor(n - n / 2);
  floor.insert(floor.end(), after.begin(), after.end());
  std::sort(floor.begin(), floor.end());
  auto us = [](std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e3; };
  char line[768];
  std::snprintf(line, sizeof line,
                "preemptlat p50 %.1f us p99 %.1f us max %.1f us (%llu preemptions, slice %s)\n"
                "tgkill->handler p50 %.1f us p99 %.1f us max %.1f us (%zu samples)\n"
                "ratio p50 %.3f\n"
                "overrun p50 %.1f us p99 %.1f us max %.1f us (URGENT_PREEMPT=%s; slice end -> "
                "off its M, %llu preemptions; sysmon %.0f wakeups/s)",
                us(lat.p50), us(lat.p99), us(lat.max), static_cast<unsigned long long>(lat.count),
                std::getenv("URGENT_TIMESLICE"), percentile(floor, 50), percentile(floor, 99),
                percentile(floor, 100), floor.size(), us(lat.p50) / percentile(floor, 50),
                us(late.p50), us(late.p99), us(late.max), st1.preempt_trigger,
                static_cast<unsigned long long>(late.count),
                static_cast<double>(st1.sysmon_ticks - st0.sysmon_ticks) / secs);
  return line;
}

// activation: see the header. One harness, three kernel paths (Source): W blocks n times
// in read(2); the sleeper waits to be woken by the path under test (the signal's handler,
// which runs on the sleeper only, the one thread with the signal unblocked, so the kernel
// picks it for the process-directed signal; or a BPF ring buffer's epoll) and takes t1.
namespace activation {
std::atomic<std::uint32_t> word{0};
std::atomic<std::int64_t> handled{0};
std::atomic<int> handled_cpu{-1};
void handler(int, siginfo_t*, void*) {
  handled.store(nanotime(), std::memory_order_relaxed);
  handled_cpu.store(sched_getcpu(), std::memory_order_relaxed);
  word.store(1, std::memory_order_release);
}

// A wake path. arm() runs on W once the other threads run; before()/after() bracket each
// read; wait() is the sleeper's: true when it was woken, with handled/handled_cpu set;
// sampled() runs after each sample is taken (perf reads its ring there).
struct Source {
  std::function<void()> arm = [] {};
  std::function<void()> before = [] {};
  std::function<void()> after = [] {};
  std::function<bool()> wait;
  std::function<void()> sampled = [] {};
};

struct Floor {
  std::vector<double> lat;  // µs, sorted
  long same_cpu = 0;        // the sleeper ran on the CPU W had blocked on
  double same_cpu_pct() const {
    return lat.empty() ? 0 : 100.0 * static_cast<double>(same_cpu) / static_cast<double>(lat.size());
  }
};

// The signal half of a Source: the sleeper unblocks `sig` (every other thread blocks it)
// and sleeps on a futex that the handler ends.
std::function<bool()> signalWait(const sigset_t& only) {
  return [only] {
    thread_local bool unblocked = false;
    if (!unblocked) unblocked = pthread_sigmask(SIG_UNBLOCK, &only, nullptr) == 0;
    timespec to{0, 50'000'000};
    if (word.load(std::memory_order_acquire) == 0) {
      syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &to, nullptr, 0);
    }
    return word.exchange(0) != 0;
  };
}

// How long each of W's reads blocks, µs (URGENT_BENCH_BLOCK_US; see the header).
long blockUs() {
  const char* v = std::getenv("URGENT_BENCH_BLOCK_US");
  if (v == nullptr) return 20'000;
  char* end = nullptr;
  long us = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || us < 100 || us > 1'000'000) {
    throw std::runtime_error(std::string("URGENT_BENCH_BLOCK_US must be 100 to 1000000 (µs), got '") +
                             v + "'");
  }
  return us;
}

Floor measure(long n, Source& src) {
  const long block = blockUs();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> t0{0};
  std::atomic<int> w_cpu{-1};
  Floor f;
  std::thread sleeper([&] {
    while (!stop.load()) {
      if (!src.wait()) continue;
      // (A path may wake the sleeper for W's naps between reads too. Only a wakeup handled
      // after W took t0 belongs to the read.)
      std::int64_t start = t0.load();
      std::int64_t at = handled.load();
      if (start == 0 || at < start || !t0.compare_exchange_strong(start, 0)) continue;
      f.lat.push_back(static_cast<double>(at - start) / 1e3);
      if (handled_cpu.load() == w_cpu.load()) f.same_cpu++;
      src.sampled();
    }
  });
  std::thread writer([&] {
    char c = 1;
    while (!stop.load()) {
      ::usleep(static_cast<useconds_t>(block));
      if (::write(fds[1], &c, 1) != 1) break;
    }
  });
  ::usleep(10'000);
  src.arm();
  for (long i = 0; i < n; i++) {
    char c;
    w_cpu.store(sched_getcpu());
    src.before();
    t0.store(nanotime());
    ssize_t got = ::read(fds[0], &c, 1);
    src.after();
    if (got != 1) break;
    ::usleep(100);  // let the sleeper take its sample before the next block
  }
  stop.store(true);
  writer.join();
  sleeper.join();
  ::close(fds[0]);
  ::close(fds[1]);
  std::sort(f.lat.begin(), f.lat.end());
  return f;
}

std::string line(const char* name, const Floor& f) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%s p50 %.1f us p99 %.1f us max %.1f us (%zu samples, blocks of %ld us; woken "
                "thread on the blocked thread's CPU %.0f%%",
                name, percentile(f.lat, 50), percentile(f.lat, 99), percentile(f.lat, 100),
                f.lat.size(), blockUs(), f.same_cpu_pct());
  return buf;
}

// perf: W's PERF_COUNT_SW_CONTEXT_SWITCHES event (sample_period 1, context_switch records
// in a backward ring, O_ASYNC, F_SETSIG, F_SETOWN_EX to the process).
std::string perfFloor(long n, int sig, const sigset_t& only, double* p50) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CONTEXT_SWITCHES;
  attr.sample_period = 1;
  attr.context_switch = 1;
  attr.write_backward = 1;  // an overwritable ring: its newest record is at data_head
  int pfd = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  if (pfd < 0) {
    throw std::runtime_error(std::string("perf_event_open(PERF_COUNT_SW_CONTEXT_SWITCHES): ") +
                             std::strerror(errno) + " (needs perf_event_paranoid <= 2)");
  }
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* ring = mmap(nullptr, 3 * page, PROT_READ, MAP_SHARED, pfd, 0);
  long said_blocked = 0, said_preempted = 0;
  Source src;
  src.arm = [&] {
    fcntl(pfd, F_SETFL, O_ASYNC);
    fcntl(pfd, F_SETSIG, sig);
    f_owner_ex owner{F_OWNER_PID, ::getpid()};
    fcntl(pfd, F_SETOWN_EX, &owner);
  };
  src.wait = signalWait(only);
  src.sampled = [&] {
    if (ring == MAP_FAILED) return;
    auto* meta = static_cast<perf_event_mmap_page*>(ring);
    std::uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
    perf_event_header h;
    std::memcpy(&h, static_cast<char*>(ring) + meta->data_offset + (head & (meta->data_size - 1)),
                sizeof h);
    if (h.type == PERF_RECORD_SWITCH && (h.misc & PERF_RECORD_MISC_SWITCH_OUT)) {
      ((h.misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT) ? said_preempted : said_blocked)++;
    }
  };
  Floor f = measure(n, src);
  ::close(pfd);
  if (ring != MAP_FAILED) munmap(ring, 3 * page);
  if (f.lat.empty()) throw std::runtime_error("no perf context-switch signal was delivered");
  *p50 = percentile(f.lat, 50);
  return line("activation", f) + "; last switch-out record: " + std::to_string(said_blocked) +
         " blocked, " + std::to_string(said_preempted) + " preempted)";
}

// bpf: URGENT_HANDOFF=bpf's own program (bpf/activate.bpf.c) with W as slot 0, in the
// state of an M in a call (ACT_SYSCALL) only during each read, waking the sleeper by
// bpf_send_signal or by a ring-buffer record (BPF_RB_FORCE_WAKEUP) its epoll sees.
std::string bpfFloor(long n, int sig, const sigset_t& only, act_wake by) {
  std::string why;
  auto act = urgent::bpf::Activator::start(::getpid(), sig, &why, by);
  if (act == nullptr) throw std::runtime_error(why);
  act_slot* slot = &act->slots()[0];
  if (!act->add_thread(static_cast<pid_t>(gettid()), 0)) throw std::runtime_error("act_tids refused W");
  ring_buffer* rb = nullptr;
  Source src;
  src.before = [&] { __atomic_store_n(&slot->state, ACT_SYSCALL, __ATOMIC_RELAXED); };
  src.after = [&] { __atomic_store_n(&slot->state, ACT_IDLE, __ATOMIC_RELAXED); };
  if (by == ACT_WAKE_SIGNAL) {
    src.wait = signalWait(only);
  } else {
    rb = ring_buffer__new(
        act->wakeups_fd(),
        [](void*, void*, std::size_t) {
          handled.store(nanotime(), std::memory_order_relaxed);
          handled_cpu.store(sched_getcpu(), std::memory_order_relaxed);
          return 0;
        },
        nullptr, nullptr);
    if (rb == nullptr) throw std::runtime_error(std::string("ring_buffer__new: ") + std::strerror(errno));
    src.wait = [rb] { return ring_buffer__poll(rb, 50) > 0; };
  }
  Floor f = measure(n, src);
  if (rb != nullptr) ring_buffer__free(rb);
  if (f.lat.empty()) throw std::runtime_error("the BPF program woke nobody");
  return line(by == ACT_WAKE_SIGNAL ? "bpf signal" : "bpf ringbuf", f) + ")";
}
}  // namespace activation

std::string activationReport(long n) {
  using namespace activation;
  blockUs();  // (a bad URGENT_BENCH_BLOCK_US fails before anything starts)
  const int sig = SIGRTMIN + 3;
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &only, &old_mask);  // every thread started below inherits it
  struct sigaction sa {}, old_sa{};
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO;
  sigaction(sig, &sa, &old_sa);
  auto restore = [&] {
    // Discard the signals still queued (every switch-out of W queued one: a real-time
    // signal), or the old action (the default: terminate) would get them.
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigaction(sig, &ign, nullptr);
    sigaction(sig, &old_sa, nullptr);
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  };
  std::string perf, bpf;
  double perf50 = 0;
  try {
    perf = perfFloor(n, sig, only, &perf50);
    // The BPF wake paths (root): each, or why not.
    try {
      bpf = bpfFloor(n, sig, only, ACT_WAKE_SIGNAL) + "\n" + bpfFloor(n, sig, only, ACT_WAKE_RINGBUF);
    } catch (const std::exception& e) {
      bpf = std::string("bpf unavailable: ") + e.what();
    }
  } catch (...) {
    restore();
    throw;
  }
  restore();
  std::vector<double> floor = signalFloor(n);
  std::sort(floor.begin(), floor.end());
  char tail[256];
  std::snprintf(tail, sizeof tail, "tgkill->handler p50 %.1f us p99 %.1f us max %.1f us (%zu samples)",
                percentile(floor, 50), percentile(floor, 99), percentile(floor, 100), floor.size());
  char ratio[64];
  std::snprintf(ratio, sizeof ratio, "ratio p50 %.3f", perf50 / percentile(floor, 50));
  return perf + "\n" + tail + "\n" + ratio + "\n" + bpf;
}

// triggerfloor: see the header. Each source runs on a fresh thread that spins until its
// handler (on that thread) has taken n samples, or 10 s have passed.
namespace triggerfloor {
constexpr std::int64_t kPeriodNs = 100'000;
constexpr std::size_t kRingBytes = 2 * 4096;
std::vector<double> lat;     // µs; the measuring thread's handler writes, nobody else
std::atomic<long> got{0};
std::int64_t armed = 0;      // timer: the expiry it was armed for
timer_t timer;
// task clock: its samples (PERF_SAMPLE_TIME), newest first; null before it is unmapped (a
// handler that ThreadSanitizer deferred may run inside munmap's interceptor).
std::atomic<void*> ring{nullptr};

void take(std::int64_t late_ns) {
  long i = got.load(std::memory_order_relaxed);
  if (i >= static_cast<long>(lat.size())) return;
  lat[static_cast<std::size_t>(i)] = static_cast<double>(late_ns) / 1e3;
  got.store(i + 1, std::memory_order_release);
}
void arm(std::int64_t at) {
  armed = at;
  itimerspec its{};
  its.it_value.tv_sec = at / 1'000'000'000;
  its.it_value.tv_nsec = at % 1'000'000'000;
  timer_settime(timer, TIMER_ABSTIME, &its, nullptr);
}
void onTimer(int, siginfo_t*, void*) {
  std::int64_t now = nanotime();
  take(now - armed);
  arm(now + kPeriodNs);
}
void onOverflow(int, siginfo_t*, void*) {
  std::int64_t now = nanotime();
  void* samples = ring.load(std::memory_order_relaxed);
  urgent::rt::TimedRecord r;
  if (samples != nullptr &&
      urgent::rt::ring_record(samples, urgent::rt::ring_head(samples), PERF_RECORD_SAMPLE, &r)) {
    take(now - static_cast<std::int64_t>(r.time));
  }
}

// The measuring thread's task-clock event (sigtrap: SIGTRAP from the event itself, else
// the ring's wakeups as signal sig, O_ASYNC); "" or why not.
std::string openTaskClock(bool sigtrap, int sig, int* fd) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  attr.sample_period = kPeriodNs;
  attr.sample_type = PERF_SAMPLE_TIME;
  attr.use_clockid = 1;
  attr.clockid = CLOCK_MONOTONIC;
  attr.write_backward = 1;
  attr.exclude_kernel = 1;
  attr.wakeup_events = 1;
  if (sigtrap) {
    attr.sigtrap = 1;
    attr.remove_on_exec = 1;  // (the kernel requires it with sigtrap)
    *fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
    if (*fd < 0) return urgent::rt::perf_open_error("PERF_COUNT_SW_TASK_CLOCK, sigtrap", errno);
    void* r = mmap(nullptr, kRingBytes, PROT_READ, MAP_SHARED, *fd, 0);
    if (r == MAP_FAILED) {
      ::close(*fd);
      return std::string("mmap: ") + std::strerror(errno);
    }
    ring.store(r);
    return "";
  }
  void* r = nullptr;
  *fd = urgent::rt::open_signalled_event(&attr, kRingBytes, sig,
                                         f_owner_ex{F_OWNER_TID, static_cast<pid_t>(gettid())}, &r);
  ring.store(r);
  return *fd < 0 ? urgent::rt::perf_open_error("PERF_COUNT_SW_TASK_CLOCK", errno) : "";
}

// One source: its line.
enum class Source { kTimer, kPerfFasync, kPerfSigtrap };
std::string measure(long n, Source src) {
  const char* name = src == Source::kTimer         ? "timer expiry -> handler"
                     : src == Source::kPerfFasync ? "task-clock overflow -> handler (F_SETSIG)"
                                                   : "task-clock overflow -> handler (sigtrap)";
  const int sig = src == Source::kPerfSigtrap ? SIGTRAP : SIGRTMIN + 4;
  lat.assign(static_cast<std::size_t>(n), 0);
  got.store(0);
  struct sigaction sa {}, old{};
  sa.sa_sigaction = src == Source::kTimer ? onTimer : onOverflow;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigaction(sig, &sa, &old);
  std::string why;
  std::thread spinner([&] {
    int fd = -1;
    if (src == Source::kTimer) {
      sigevent sev{};
      sev.sigev_notify = SIGEV_THREAD_ID;
      sev.sigev_signo = sig;
      sev._sigev_un._tid = static_cast<pid_t>(gettid());
      if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
        why = std::string("timer_create: ") + std::strerror(errno);
        return;
      }
      arm(nanotime() + kPeriodNs);
    } else if (why = openTaskClock(src == Source::kPerfSigtrap, sig, &fd); !why.empty()) {
      return;
    }
    std::int64_t until = nanotime() + 10'000'000'000;
    while (got.load(std::memory_order_acquire) < n && nanotime() < until) {
    }
    if (src == Source::kTimer) {
      timer_delete(timer);
    } else {
      ::close(fd);  // (no overflow after this: the event is gone with its last fd)
      munmap(ring.exchange(nullptr), kRingBytes);
    }
  });
  spinner.join();
  // (A timer signal still queued is discarded with the action's restore: SIG_IGN first.)
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigaction(sig, &ign, nullptr);
  sigaction(sig, &old, nullptr);
  if (!why.empty()) return std::string(name) + " unavailable: " + why;
  lat.resize(static_cast<std::size_t>(got.load()));
  if (lat.empty()) return std::string(name) + " unavailable: no signal within 10 s";
  std::sort(lat.begin(), lat.end());
  char line[200];
  std::snprintf(line, sizeof line, "%s p50 %.1f us p99 %.1f us max %.1f us (%zu samples)", name,
                percentile(lat, 50), percentile(lat, 99), percentile(lat, 100), lat.size());
  return line;
}
}  // namespace triggerfloor

std::string triggerfloorReport(long n) {
  using triggerfloor::Source;
  if (urgent::rt::kTsan) {  // (its handlers would wait for a call the spinner never makes)
    std::string why = " unavailable: ThreadSanitizer defers signal handlers to an intercepted call";
    return "timer expiry -> handler" + why + "\ntask-clock overflow -> handler (F_SETSIG)" + why +
           "\ntask-clock overflow -> handler (sigtrap)" + why;
  }
  return triggerfloor::measure(n, Source::kTimer) + "\n" +
         triggerfloor::measure(n, Source::kPerfFasync) + "\n" +
         triggerfloor::measure(n, Source::kPerfSigtrap);
}

// overhead: wall time (ms) of four goroutines doing `steps` LCG steps each, no calls, at
// GOMAXPROCS=2, in a fresh urgent::run with the given time slice (null: preemption off).
double cpuBoundMs(long steps, const char* slice) {
  EnvOverride ts("URGENT_TIMESLICE", slice);
  EnvOverride debug("GODEBUG", slice == nullptr ? "asyncpreemptoff=1" : nullptr);
  // (Off is off, whichever trigger the other rounds use: URGENT_PREEMPT.)
  const char* trigger = std::getenv("URGENT_PREEMPT");
  EnvOverride who("URGENT_PREEMPT", slice == nullptr ? nullptr : trigger);
  EnvOverride procs("GOMAXPROCS", "2");
  double ms = 0;
  urgent::run([&] {
    std::atomic<std::uint64_t> sink{0};
    urgent::WaitGroup wg;
    wg.add(4);
    auto t0 = Clock::now();
    for (int g = 0; g < 4; g++) {
      urgent::go([&, g] {
        std::uint64_t x = static_cast<std::uint64_t>(g);
        for (long i = 0; i < steps; i++) {
          x = x * 6364136223846793005ull + 1442695040888963407ull;
          __asm__ volatile("" : "+r"(x));  // one step per iteration, not folded away
        }
        sink += x;
        wg.done();
      });
    }
    wg.wait();
    ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  });
  return ms;
}

// The machine's floor for that cost: the same work on two plain threads, each interrupted
// every period_ns by its own POSIX timer delivering a signal to a no-op handler (no runtime,
// no sysmon, no switch; period 0: no timer). Wall time in ms.
void noopHandler(int) {}
double timerSignalMs(long steps, std::int64_t period_ns) {
  struct sigaction sa, old;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = noopHandler;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR2, &sa, &old);
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int k = 0; k < 2; k++) {
    threads.emplace_back([steps, period_ns, k] {
      timer_t timer{};
      if (period_ns > 0) {
        sigevent se{};
        se.sigev_notify = SIGEV_THREAD_ID;
        se.sigev_signo = SIGUSR2;
        se._sigev_un._tid = ::gettid();
        if (timer_create(CLOCK_MONOTONIC, &se, &timer) != 0)
          throw std::system_error(errno, std::generic_category(), "timer_create");
        itimerspec its{{0, period_ns}, {0, period_ns}};
        timer_settime(timer, 0, &its, nullptr);
      }
      std::uint64_t x = static_cast<std::uint64_t>(k);
      for (long i = 0; i < 2 * steps; i++) {  // two goroutines' worth per thread
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        __asm__ volatile("" : "+r"(x));
      }
      if (period_ns > 0) timer_delete(timer);
    });
  }
  for (auto& t : threads) t.join();
  sigaction(SIGUSR2, &old, nullptr);
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// sharedcpu: the slices two goroutines get while a CPU-bound thread outside urgent shares
// their CPU; see the top of this file.
std::string sharedcpuReport(long n) {
  EnvOverride procs("GOMAXPROCS", "1");
  cpu_set_t old, one;
  if (sched_getaffinity(0, sizeof old, &old) != 0) throw std::runtime_error("sched_getaffinity");
  CPU_ZERO(&one);
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (CPU_ISSET(c, &old)) {
      CPU_SET(c, &one);
      break;
    }
  }
  // The runtime's threads inherit the affinity of the thread that creates them.
  if (sched_setaffinity(0, sizeof one, &one) != 0) throw std::runtime_error("sched_setaffinity");
  std::atomic<bool> stop{false};
  std::thread hog([&] {
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  auto cpu_ns = [] {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
  };
  std::vector<double> on_cpu, wall;  // per slice, ms
  std::string trigger;
  urgent::run([&] {
    trigger = urgent::sched_stats().preempt_trigger;
    std::atomic<int> turn{-1};
    std::atomic<bool> done{false};
    urgent::WaitGroup wg;
    wg.add(2);
    std::int64_t c0 = 0, w0 = 0;  // the last slice's start (one P: one goroutine at a time)
    for (int me = 0; me < 2; me++) {
      urgent::go([&, me] {
        while (!done.load(std::memory_order_relaxed)) {
          if (turn.load(std::memory_order_relaxed) == me) continue;
          // A new slice of mine: the other goroutine's, which began at (c0, w0), ended.
          turn.store(me, std::memory_order_relaxed);
          std::int64_t c = cpu_ns(), w = nanotime();
          if (c0 != 0 && on_cpu.size() < static_cast<std::size_t>(n)) {
            on_cpu.push_back(static_cast<double>(c - c0) / 1e6);
            wall.push_back(static_cast<double>(w - w0) / 1e6);
          }
          c0 = c;
          w0 = w;
          if (on_cpu.size() >= static_cast<std::size_t>(n)) done = true;
        }
        wg.done();
      });
    }
    wg.wait();
  });
  stop = true;
  hog.join();
  sched_setaffinity(0, sizeof old, &old);
  std::sort(on_cpu.begin(), on_cpu.end());
  std::sort(wall.begin(), wall.end());
  if (on_cpu.empty()) throw std::runtime_error("sharedcpu: no slice ended");
  char line[256];
  std::snprintf(line, sizeof line,
                "sharedcpu URGENT_PREEMPT=%s slice %s: on-CPU p50 %.3f ms, wall p50 %.3f ms "
                "(%zu slices; a CPU-bound thread shares the CPU)",
                trigger.c_str(), std::getenv("URGENT_TIMESLICE") ? std::getenv("URGENT_TIMESLICE") : "10ms",
                percentile(on_cpu, 50), percentile(wall, 50), on_cpu.size());
  return line;
}

std::string fairnessReport(long n) {
  EnvOverride procs("GOMAXPROCS", "2");
  constexpr int kSpinners = 4;
  struct alignas(64) Counter {
    std::atomic<long> v{0};
  };
  Counter counters[kSpinners];
  std::atomic<bool> stop{false};
  urgent::run([&] {
    urgent::WaitGroup wg;
    wg.add(kSpinners);
    for (int i = 0; i < kSpinners; i++) {
      urgent::go([&, i] {
        std::atomic<long>& c = counters[i].v;
        while (!stop.load(std::memory_order_relaxed)) {
          c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        }
        wg.done();
      });
    }
    urgent::sleep_for(std::chrono::milliseconds(n));  // wakes when a spinner is preempted
    stop.store(true);
    wg.wait();
  });
  double sum = 0;
  for (const Counter& c : counters) sum += static_cast<double>(c.v.load());
  std::string out = "fairness shares";
  for (const Counter& c : counters) {
    char s[32];
    std::snprintf(s, sizeof s, " %.4f", sum > 0 ? static_cast<double>(c.v.load()) / sum : 0.0);
    out += s;
  }
  return out;
}

std::string overheadReport(long n) {
  struct Config {
    const char* slice;      // URGENT_TIMESLICE; null: preemption off
    std::int64_t floor_ns;  // the bare timer's period
  };
  const Config configs[] = {
      {nullptr, 0}, {"10ms", 10'000'000}, {"1ms", 1'000'000}, {"100us", 100'000}, {"50us", 50'000}};
  constexpr int kConfigs = 5, kRounds = 5;
  std::vector<double> ms[kConfigs], floor[kConfigs];
  long steps = n * 1'000'000;
  cpuBoundMs(steps / 10, nullptr);  // warm-up: page faults, CPU frequency
  for (int r = 0; r < kRounds; r++) {
    for (int c = 0; c < kConfigs; c++) {
      ms[c].push_back(cpuBoundMs(steps, configs[c].slice));
      floor[c].push_back(timerSignalMs(steps, configs[c].floor_ns));
    }
  }
  for (int c = 0; c < kConfigs; c++) {
    std::sort(ms[c].begin(), ms[c].end());
    std::sort(floor[c].begin(), floor[c].end());
  }
  double off = percentile(ms[0], 50), floor_off = percentile(floor[0], 50);
  std::string out = "overhead: 4 goroutines x " + std::to_string(n) +
                    "M LCG steps, GOMAXPROCS=2, medians of " + std::to_string(kRounds) +
                    " rounds, URGENT_PREEMPT=" +
                    (std::getenv("URGENT_PREEMPT") ? std::getenv("URGENT_PREEMPT") : "sysmon") +
                    "\n  (floor: the same work on 2 threads, each taking a timer signal "
                    "every slice, no runtime)";
  char line[200];
  std::snprintf(line, sizeof line, "\n  preemption off  %8.1f ms           floor %8.1f ms", off,
                floor_off);
  out += line;
  for (int c = 1; c < kConfigs; c++) {
    double m = percentile(ms[c], 50), f = percentile(floor[c], 50);
    std::snprintf(line, sizeof line,
                  "\n  slice %-8s  %8.1f ms  %+6.1f%%   floor %8.1f ms  %+6.1f%%", configs[c].slice,
                  m, (m / off - 1) * 100, f, (f / floor_off - 1) * 100);
    out += line;
  }
  return out;
}

// echo: a TCP echo server driven for ms milliseconds by urgent-echo-client (100
// connections, one 64-byte message in flight on each); returns the round trips per second
// the client reports. Throws std::runtime_error when anything fails.
double echo(long ms) {
  urgent::net::Listener ln = urgent::net::listen("127.0.0.1:0");
  urgent::WaitGroup conns, accepted;
  std::string accept_err;
  accepted.add(1);
  urgent::go([ln, &accepted, &accept_err, c = &conns]() mutable {
    for (;;) {
      urgent::net::Conn conn;
      try {
        conn = ln.accept();
      } catch (const std::system_error& e) {
        if (e.code().value() != EBADF) accept_err = e.what();  // EBADF: closed, we are done
        break;
      }
      c->add(1);
      urgent::go([conn, c]() mutable {
        char buf[4096];
        try {
          for (;;) {
            std::size_t r = conn.read(buf, sizeof buf);
            if (r == 0) break;  // EOF: the client is done
            conn.write(buf, r);
          }
          conn.close();
        } catch (const std::system_error&) {
          // reset by the client, which abandons its last messages when it stops
        }
        c->done();
      });
    }
    accepted.done();
  });

  // The client: $URGENT_ECHO_CLIENT, else urgent-echo-client next to this executable.
  std::string client;
  if (const char* env = std::getenv("URGENT_ECHO_CLIENT"); env != nullptr && *env != '\0') {
    client = env;
  } else {
    char exe[4096];
    ssize_t k = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0)
      throw std::runtime_error(std::string("readlink /proc/self/exe: ") + std::strerror(errno));
    client.assign(exe, static_cast<std::size_t>(k));
    client = client.substr(0, client.rfind('/') + 1) + "urgent-echo-client";
  }
  std::string port = std::to_string(ln.port()), duration = std::to_string(ms);
  std::string conns_arg = "100", bytes_arg = "64";
  char* argv[] = {client.data(),    port.data(),     conns_arg.data(),
                  bytes_arg.data(), duration.data(), nullptr};
  std::string cmd = client + " " + port + " 100 64 " + duration;

  // Its stdout: a blocking pipe for the child, the read end through urgent's poller here.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int err = urgent::blocking(
      [&] { return posix_spawn(&pid, client.c_str(), &fa, &attr, argv, environ); });
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (err != 0) {
    ::close(fds[0]);
    throw std::runtime_error(cmd + ": " + std::strerror(err));
  }
  urgent::File out = urgent::File::adopt(fds[0]);
  std::string text;
  char buf[256];
  for (std::size_t k; (k = out.read(buf, sizeof buf)) > 0;) text.append(buf, k);
  out.close();
  int status = 0;
  if (urgent::sys::waitpid(pid, &status, 0) != pid) {
    throw std::runtime_error(cmd + ": waitpid: " + std::strerror(errno));
  }

  ln.close();
  accepted.wait();
  conns.wait();  // the client has exited: every connection saw EOF
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(cmd + ": " +
                             (WIFEXITED(status)
                                  ? "exit status " + std::to_string(WEXITSTATUS(status))
                                  : "killed by signal " + std::to_string(WTERMSIG(status))));
  }
  if (!accept_err.empty()) throw std::runtime_error("accept: " + accept_err);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || (*end != '\0' && *end != '\n')) {
    throw std::runtime_error(cmd + " printed '" + text + "', want a number");
  }
  return v;
}

const std::map<std::string, Workload> kWorkloads = {
    {"sleep50", {1000, "us-late-p50", sleep50}},
    {"sleep99", {1000, "us-late-p99", sleep99}},
    {"spawn", {1000000, "ns/goroutine", spawn}},
    {"yield", {1000000, "ns/switch", yield}},
    {"pingpong", {1000000, "ns/roundtrip", pingpong}},
    {"syscall", {1000000, "ns/call", syscall1}},
    {"chanbuf", {10000000, "ns/item", chanbuf}},
    {"mutex", {10000000, "ns/lock", mutex}},
    {"select", {1000000, "ns/op", select2}},
    {"handoff50", {200, "us-handoff-p50", handoff50}},
    {"handoffmax", {200, "us-handoff-max", handoffmax}},
    {"handoff", {.default_n = 200, .unit = nullptr, .run = nullptr, .report = handoffReport}},
    {"handoffload",
     {.default_n = 1000, .unit = nullptr, .run = nullptr, .report = handoffloadReport}},
    {"sysmonidle",
     {.default_n = 1000, .unit = nullptr, .run = nullptr, .report = sysmonidleReport}},
    {"echo", {.default_n = 2000, .unit = "req/s", .run = echo, .warmup_n = 200}},
    {"probe50", {200, "us-probe-p50", probe50}},
    {"probe99", {200, "us-probe-p99", probe99}},
    {"probe", {.default_n = 200, .unit = nullptr, .run = nullptr, .report = probeReport}},
    {"activation",
     {.default_n = 400, .unit = nullptr, .run = nullptr, .standalone = activationReport}},
    {"preemptlat",
     {.default_n = 2000, .unit = nullptr, .run = nullptr, .standalone = preemptlatReport}},
    {"overhead", {.default_n = 100, .unit = nullptr, .run = nullptr, .standalone = overheadReport}},
    {"fairness",
     {.default_n = 1000, .unit = nullptr, .run = nullptr, .standalone = fairnessReport}},
    {"sharedcpu",
     {.default_n = 50, .unit = nullptr, .run = nullptr, .standalone = sharedcpuReport}},
    {"triggerfloor",
     {.default_n = 2000, .unit = nullptr, .run = nullptr, .standalone = triggerfloorReport}},
};

[[noreturn]] void usage(const char* problem) {
  std::fprintf(stderr, "urgent-bench: %s\nusage: urgent-bench <workload> [n]\nworkloads:", problem);
  for (const auto& [name, w] : kWorkloads) std::fprintf(stderr, " %s", name.c_str());
  std::fprintf(stderr, "\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) usage("expected a workload and an optional n");
  auto it = kWorkloads.find(argv[1]);
  if (it == kWorkloads.end()) usage((std::string("unknown workload '") + argv[1] + "'").c_str());
  const Workload& w = it->second;
  long n = w.default_n;
  if (argc == 3) {
    char* end = nullptr;
    errno = 0;
    n = std::strtol(argv[2], &end, 10);
    if (errno != 0 || end == argv[2] || *end != '\0' || n <= 0) {
      usage((std::string("n must be a positive integer, got '") + argv[2] + "'").c_str());
    }
  }
  if (w.standalone != nullptr) {
    try {
      std::printf("%s\n", w.standalone(n).c_str());
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "urgent-bench: %s: %s\n", it->first.c_str(), e.what());
      return 1;
    }
  }
  return urgent::run([&] {
    try {
      // Warm-up: stacks mapped, threads started.
      long warm = w.warmup_n > 0 ? w.warmup_n : n / 10;
      if (w.report != nullptr) {
        if (warm > 0) w.report(warm);
        std::printf("%s\n", w.report(n).c_str());
        return 0;
      }
      if (warm > 0) w.run(warm);
      double v = w.run(n);
      std::printf("%s %.1f %s\n", it->first.c_str(), v, w.unit);
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "urgent-bench: %s: %s\n", it->first.c_str(), e.what());
      return 1;
    }
  });
}
