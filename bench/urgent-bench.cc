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
//          (n = 10000000, ns/lock), select (n = 1000000, ns/op): see the functions below;
//          default GOMAXPROCS.
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
//          `handoff p50 <us> us max <us> us` (not `<workload> <value> <unit>`: not for
//          scripts/compare.sh).
//   echo   (n = 2000, req/s): a TCP echo server on 127.0.0.1 (port 0): urgent::net::listen,
//          accept, one goroutine per connection that reads and writes back what it read.
//          The client is the separate program urgent-echo-client (bench/echo-client.cc;
//          $URGENT_ECHO_CLIENT, else the one next to this executable), the same one
//          urgent-bench-go echo runs: 100 connections, each with one 64-byte message in
//          flight, for n ms. It is spawned with posix_spawn, its stdout read through a pipe
//          (urgent::File) and its exit awaited with urgent::sys::waitpid, so the server's
//          goroutines keep running meanwhile. value = the round trips per second it reports
//          (higher is better). The warm-up is a 200 ms run. Default GOMAXPROCS.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <urgent/urgent.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
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
double handoff50(long n) {
  return percentile(handoffLatency(n), 50);
}
double handoffmax(long n) {
  return percentile(handoffLatency(n), 100);
}
std::string handoffReport(long n) {
  auto l = handoffLatency(n);
  if (l.empty()) return "";
  char line[128];
  std::snprintf(line, sizeof line, "handoff p50 %.1f us max %.1f us", percentile(l, 50),
                percentile(l, 100));
  return line;
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
    {"chanbuf", {10000000, "ns/item", chanbuf}},
    {"mutex", {10000000, "ns/lock", mutex}},
    {"select", {1000000, "ns/op", select2}},
    {"handoff50", {200, "us-handoff-p50", handoff50}},
    {"handoffmax", {200, "us-handoff-max", handoffmax}},
    {"handoff", {.default_n = 200, .unit = nullptr, .run = nullptr, .report = handoffReport}},
    {"echo", {.default_n = 2000, .unit = "req/s", .run = echo, .warmup_n = 200}},
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
