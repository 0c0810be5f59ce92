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
//          completion (decrement a counter), then waits for all; wall time / n. Default
//          GOMAXPROCS. Until urgent has a WaitGroup, main waits by yielding (gosched).
//   yield  (n = 1000000, ns/switch): at GOMAXPROCS=1, two goroutines (main and one it
//          starts) each call gosched n times; wall time / 2n. GOMAXPROCS is restored.
#include <urgent/urgent.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>

namespace {

using Clock = std::chrono::steady_clock;

struct Workload {
  long default_n;
  const char* unit;
  double (*run)(long n);  // returns ns per operation
};

// A counter alone on its cache line. Go's WaitGroup in the twin escapes to the heap; a
// counter on main's stack would share a line with the return addresses main's calls keep
// writing while the other P decrements it (measured: +50% on spawn).
struct alignas(64) PaddedCounter {
  std::atomic<long> v;
  char pad[64 - sizeof(std::atomic<long>)];
};

double spawn(long n) {
  auto left = std::make_unique<PaddedCounter>();
  left->v.store(n);
  std::atomic<long>* counter = &left->v;
  auto t0 = Clock::now();
  for (long i = 0; i < n; i++) {
    urgent::go([counter] { counter->fetch_sub(1, std::memory_order_release); });
  }
  while (counter->load(std::memory_order_acquire) != 0) urgent::gosched();
  auto dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  return dt / static_cast<double>(n);
}

double yield(long n) {
  int old = urgent::gomaxprocs(1);
  std::atomic<bool> done{false};
  auto t0 = Clock::now();
  // main is the second goroutine: until urgent has a WaitGroup, a main that waited by
  // yielding would add a third goroutine to the rotation.
  urgent::go([&done, n] {
    for (long i = 0; i < n; i++) urgent::gosched();
    done.store(true, std::memory_order_release);
  });
  for (long i = 0; i < n; i++) urgent::gosched();
  while (!done.load(std::memory_order_acquire)) urgent::gosched();
  auto dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  urgent::gomaxprocs(old);
  return dt / (2.0 * static_cast<double>(n));
}

const std::map<std::string, Workload> kWorkloads = {
    {"spawn", {1000000, "ns/goroutine", spawn}},
    {"yield", {1000000, "ns/switch", yield}},
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
