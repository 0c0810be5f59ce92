// bench/urgent-bench.cc: urgent's benchmark tool; bench/go/main.go is its Go twin and
// scripts/compare.sh runs both side by side.
//
//   urgent-bench <workload> [n]
//
// One unmeasured warm-up run with n/10, then one measured run with n; prints exactly one
// line `<workload> <value> <unit>`. Unknown workload or bad n: message, exit status 2.
//
// Workloads:
//   spawn  (n = 1000000, ns/goroutine): main starts n goroutines that each just signal
//          completion (WaitGroup.done), then waits for all; wall time / n. Default
//          GOMAXPROCS.
//   yield  (n = 1000000, ns/switch): at GOMAXPROCS=1, two goroutines each call gosched n
//          times while main waits; wall time / 2n. GOMAXPROCS is restored afterwards.
//   pingpong (n = 1000000, ns/roundtrip), chanbuf (n = 10000000, ns/item), mutex
//          (n = 10000000, ns/lock), select (n = 1000000, ns/op): see the functions below;
//          default GOMAXPROCS.
//   sleep50, sleep99 (n = 1000): lateness of sleep_for(1ms) on an idle runtime, median and
//          99th percentile, in microseconds.
#include <urgent/urgent.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Workload {
  long default_n;
  const char* unit;
  double (*run)(long n);  // returns ns per operation
};

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
  auto l = sleepLateness(n);
  return l[l.size() / 2];
}
double sleep99(long n) {
  auto l = sleepLateness(n);
  return l[std::min(l.size() - 1, l.size() * 99 / 100)];
}

const std::map<std::string, Workload> kWorkloads = {
    {"sleep50", {1000, "us-late-p50", sleep50}},       {"sleep99", {1000, "us-late-p99", sleep99}},
    {"spawn", {1000000, "ns/goroutine", spawn}},       {"yield", {1000000, "ns/switch", yield}},
    {"pingpong", {1000000, "ns/roundtrip", pingpong}}, {"chanbuf", {10000000, "ns/item", chanbuf}},
    {"mutex", {10000000, "ns/lock", mutex}},           {"select", {1000000, "ns/op", select2}},
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
  return urgent::run([&] {
    if (n >= 10) w.run(n / 10);  // warm-up: stacks mapped, threads started
    double v = w.run(n);
    std::printf("%s %.1f %s\n", it->first.c_str(), v, w.unit);
    return 0;
  });
}
