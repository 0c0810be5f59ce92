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
