// bench/demos/demo1.cc: the seed's first demo, "11 goroutines printing" (Go twin:
// bench/demos/go/demo1/main.go). With GOMAXPROCS=1 urgent prints exactly Go's order,
// 10, 0, 1, ..., 9: each `go` puts the new goroutine in runnext and kicks the previous one
// to the tail of the run queue, so the last one created runs first.
#include <urgent/urgent.h>

#include <atomic>
#include <cstdio>

int main() {
  return urgent::run([] {
    std::atomic<int> left{11};
    for (int i = 0; i <= 10; i++) {
      urgent::go([i, &left] {
        std::printf("Printing value of i in goroutine -- %d\n", i);
        left.fetch_sub(1);
      });
    }
    // Wait for all 11 (a WaitGroup in Go; urgent's comes with the sync primitives).
    while (left.load() != 0) urgent::gosched();
    std::printf("Hello, Welcome to Goroutines\n");
    return 0;
  });
}
