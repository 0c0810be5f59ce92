// bench/micro.cc: Google Benchmark micro-benchmarks of the scheduler's building blocks.
//
//   BM_RawContextSwitch  urgent_ctx_switch between two stacks, no scheduler (one switch)
//   BM_Gosched           gosched with one other runnable goroutine at GOMAXPROCS=1 (per yield)
//   BM_Spawn             go() + run + exit of an empty goroutine at GOMAXPROCS=1
//   BM_GoschedTraced     BM_Gosched with the execution tracer on (writing to /dev/null):
//                        two events (GoSched, GoStart) per yield
//   BM_Cputicks          the tracer's clock (RDTSC) alone
//   BM_LockedOp, BM_LockedOpCputicks  a locked exchange alone, then followed by the clock:
//                        what a timestamp costs amid the scheduler's atomics
#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <urgent/urgent.h>

#include <atomic>

#include "context.h"
#include "cpu.h"

namespace {

struct PingPong {
  urgent::arch::Context main_ctx, other_ctx;
  long remaining = 0;
};
PingPong pp;

void other_entry(void*) {
  for (;;) urgent_ctx_switch(&pp.other_ctx, &pp.main_ctx);
}

void BM_RawContextSwitch(benchmark::State& state) {
  constexpr std::size_t kStack = 64 * 1024;
  void* mem = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  pp.other_ctx = urgent::arch::make_context(static_cast<char*>(mem) + kStack, other_entry, nullptr);
  for (auto _ : state) urgent_ctx_switch(&pp.main_ctx, &pp.other_ctx);  // there and back
  state.SetItemsProcessed(state.iterations() * 2);
  state.counters["ns/switch"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 2,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  munmap(mem, kStack);
}
BENCHMARK(BM_RawContextSwitch);

// Runs the benchmark loop inside urgent::run at GOMAXPROCS=1.
template <class F>
void in_runtime(benchmark::State& state, F body) {
  setenv("GOMAXPROCS", "1", 1);
  urgent::run([&] { body(state); });
  unsetenv("GOMAXPROCS");
}

void gosched_loop(benchmark::State& st) {
  std::atomic<bool> stop{false};
  std::atomic<bool> stopped{false};
  urgent::go([&] {
    while (!stop.load(std::memory_order_relaxed)) urgent::gosched();
    stopped = true;
  });
  for (auto _ : st) urgent::gosched();
  stop = true;
  while (!stopped.load()) urgent::gosched();
}

void BM_Gosched(benchmark::State& state) {
  in_runtime(state, gosched_loop);
}
BENCHMARK(BM_Gosched);

void BM_GoschedTraced(benchmark::State& state) {
  in_runtime(state, [](benchmark::State& st) {
    std::string error;
    if (!urgent::trace::start("/dev/null", {}, &error)) {
      st.SkipWithError(error.c_str());
      return;
    }
    gosched_loop(st);
    urgent::trace::stop();
  });
}
BENCHMARK(BM_GoschedTraced);

void BM_Cputicks(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(urgent::arch::cputicks());
}
BENCHMARK(BM_Cputicks);

std::atomic<long> word{0};

void BM_LockedOp(benchmark::State& state) {
  long i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(word.exchange(i++));
}
BENCHMARK(BM_LockedOp);

void BM_LockedOpCputicks(benchmark::State& state) {
  long i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(word.exchange(i++));
    benchmark::DoNotOptimize(urgent::arch::cputicks());
  }
}
BENCHMARK(BM_LockedOpCputicks);

void BM_Spawn(benchmark::State& state) {
  in_runtime(state, [](benchmark::State& st) {
    for (auto _ : st) {
      urgent::go([] {});
      urgent::gosched();  // let it run and exit, so its G is reused
    }
  });
}
BENCHMARK(BM_Spawn);

}  // namespace

BENCHMARK_MAIN();
