// bench/demos/demo1.cc: the seed's first demo, "11 goroutines printing" (Go twin:
// bench/demos/go/demo1/main.go). With GOMAXPROCS=1 urgent prints exactly Go's order,
// 10, 0, 1, ..., 9: each `go` puts the new goroutine in runnext and kicks the previous one
// to the tail of the run queue, so the last one created runs first.
#include <urgent/urgent.h>

#include <cstdio>

int main() {
  return urgent::run([] {
    urgent::WaitGroup wg;
    wg.add(11);
    for (int i = 0; i <= 10; i++) {
      urgent::go([i, &wg] {
        std::printf("Printing value of i in goroutine -- %d\n", i);
        wg.done();
      });
    }
    wg.wait();
    std::printf("Hello, Welcome to Goroutines\n");
    return 0;
  });
}
