// bench/demos/tracedemo.cc: the seed's trace demo (Go twin: bench/demos/go/tracedemo). At
// GOMAXPROCS=4, six CPU-bound goroutines (3 to 4 million iterations each, times --scale)
// yield with gosched every 500000 iterations, and four goroutines sleep 300 ms, while the
// execution tracer records everything into trace.out (or --out FILE). Read it with
// `urgent-trace summary trace.out`, or convert it for ui.perfetto.dev with
// `urgent-trace convert trace.out trace.json`.
//
// With --no-gosched the CPU-bound goroutines never yield: their slices grow until sysmon
// preempts them (10 ms, URGENT_TIMESLICE), which the trace shows as async preemptions.
#include <urgent/urgent.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

namespace {

void cpu_bound(long iters, bool gosched) {
  long sum = 0;
  for (long i = 0; i < iters; i++) {
    sum += i ^ (i >> 3);
    asm volatile("" : "+r"(sum));  // keep the work (the seed's `_ = sum`), no call
    if (gosched && i % 500000 == 0) urgent::gosched();  // the seed's explicit yield point
  }
}

int usage(const char* why) {
  std::fprintf(stderr, "tracedemo: %s\nusage: tracedemo [--no-gosched] [--out FILE] [--scale N]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool gosched = true;
  std::string out = "trace.out";
  long scale = 1;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--no-gosched") == 0) {
      gosched = false;
    } else if (std::strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
      out = argv[++i];
    } else if (std::strcmp(argv[i], "--scale") == 0 && i + 1 < argc) {
      char* end = nullptr;
      scale = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || scale < 1 || scale > 1000) return usage("--scale wants 1..1000");
    } else {
      return usage((std::string("unknown argument ") + argv[i]).c_str());
    }
  }
  return urgent::run([&] {
    urgent::gomaxprocs(4);  // encourage multiple Ps, to see scheduling across threads
    std::string error;
    if (!urgent::trace::start(out, {}, &error)) {
      std::fprintf(stderr, "tracedemo: %s\n", error.c_str());
      return 1;
    }
    std::mt19937 rng(std::random_device{}());
    urgent::WaitGroup wg;
    const int cpu = 6, io = 4;
    wg.add(cpu + io);
    for (int i = 0; i < cpu; i++) {
      long iters = (3'000'000 + static_cast<long>(rng() % 1'000'000)) * scale;
      urgent::go([iters, gosched, &wg] {
        cpu_bound(iters, gosched);
        wg.done();
      });
    }
    for (int i = 0; i < io; i++) {
      urgent::go([&wg] {
        urgent::sleep_for(std::chrono::milliseconds(300));  // parks, then a timer unparks it
        wg.done();
      });
    }
    wg.wait();
    urgent::trace::Stats st = urgent::trace::stop();
    std::printf("done; trace written to %s (%llu events, %llu dropped)\n", out.c_str(),
                static_cast<unsigned long long>(st.events),
                static_cast<unsigned long long>(st.dropped));
    if (!st.error.empty()) std::fprintf(stderr, "tracedemo: writing %s: %s\n", out.c_str(), st.error.c_str());
    return st.error.empty() ? 0 : 1;
  });
}
