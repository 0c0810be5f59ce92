// bench/demos/schedtrace.cc: the seed's schedtrace demo (Go twin:
// bench/demos/go/schedtrace/main.go). 20 goroutines each sleep one second and then count to
// n (default 300000000; the seed counts to 1e10, which takes minutes on two CPUs). Run it
// with GODEBUG=schedtrace=1000 (scheddetail=1 for the P, M and G lines) to watch the global
// and local run queues fill and drain, next to the Go twin.
#include <urgent/urgent.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  long n = 300000000;
  if (argc > 1) {
    char* end = nullptr;
    n = std::strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || n < 0) {
      std::fprintf(stderr, "schedtrace: bad count \"%s\": want a non-negative integer\n", argv[1]);
      return 2;
    }
  }
  return urgent::run([n] {
    urgent::WaitGroup wg;
    for (int i = 0; i < 20; i++) {
      wg.add(1);
      urgent::go([n, &wg] {
        urgent::sleep_for(std::chrono::seconds(1));
        long counter = 0;
        for (long k = 0; k < n; k++) {
          counter++;
          __asm__ volatile("" : "+r"(counter));  // count for real, as Go's loop does
        }
        wg.done();
      });
    }
    wg.wait();
    return 0;
  });
}
