// tests/test_util.h: helpers shared by the runtime tests.
#pragma once

#include <urgent/urgent.h>

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "env.h"
#include "sanitizer.h"

#if defined(URGENT_ASAN)
#include <sanitizer/lsan_interface.h>
#endif

namespace urgent::test {

// Whether the runtime will preempt a goroutine that makes no calls (a SIGURG at an async
// safe point): not with GODEBUG=asyncpreemptoff=1, and not under ThreadSanitizer (see
// HACKING.md, Sanitizers). Tests whose goroutines spin without calls would spin forever.
inline bool async_preemption_expected() {
  if (rt::kTsan) return false;
  const char* env = std::getenv("GODEBUG");
  rt::Godebug d;
  std::string why, bad;
  if (env != nullptr) rt::parse_godebug(env, &d, &why, &bad);
  return d.asyncpreemptoff == 0;
}
#define URGENT_REQUIRE_ASYNC_PREEMPTION()                                                \
  if (!::urgent::test::async_preemption_expected())                                     \
  GTEST_SKIP() << "needs asynchronous preemption (off: GODEBUG=asyncpreemptoff=1 or "   \
                  "ThreadSanitizer)"

// ThreadSanitizer dies past 8128 fibers, and urgent makes one per goroutine descriptor:
// tests that create thousands of goroutines skip under it (HACKING.md, Sanitizers).
#define URGENT_SKIP_UNDER_TSAN_MANY_GOROUTINES()                                          \
  if (::urgent::rt::kTsan) GTEST_SKIP() << "creates more goroutines than ThreadSanitizer's " \
                                           "8128 fibers"

// For its scope, LeakSanitizer does not report what the calling thread allocates: objects
// that only goroutines abandoned on purpose at the end of a run still reference (a
// goroutine's closure and what it captured are never freed, as in Go when main returns).
// LeakSanitizer's switch is per thread, so the scope keeps the goroutine on its thread: it
// is not preempted (NoPreempt) and must not block.
class AbandonedOnPurpose {
 public:
  AbandonedOnPurpose() {
#if defined(URGENT_ASAN)
    __lsan_disable();
#endif
  }
  ~AbandonedOnPurpose() {
#if defined(URGENT_ASAN)
    __lsan_enable();
#endif
  }
  AbandonedOnPurpose(const AbandonedOnPurpose&) = delete;
  AbandonedOnPurpose& operator=(const AbandonedOnPurpose&) = delete;

 private:
  NoPreempt no_preempt_;
};

// A plain blocking pipe (not through the poller: the point is to block the thread).
struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    ::close(r);
    ::close(w);
  }
};

// Ps handed off from system calls by sysmon or by a spare M the kernel woke
// (URGENT_HANDOFF): the suite passes in every handoff mode.
inline std::uint64_t retakes(const SchedStats& s) {
  return s.handoffs + s.handoffs_activated;
}

// In a goroutine at GOMAXPROCS=1: one goroutine spins with no calls while this one sleeps
// 2 ms twenty times, which it can only do when the spinner is preempted.
inline void spin_while_sleeping() {
  using namespace std::chrono_literals;
  std::atomic<bool> stop{false};
  WaitGroup wg;
  wg.add(1);
  go([&] {
    while (!stop.load(std::memory_order_relaxed)) {
    }
    wg.done();
  });
  for (int i = 0; i < 20; i++) sleep_for(2ms);
  stop = true;
  wg.wait();
}

// Preemption signals of a run, whoever decided: sysmon's tgkills, or the Ms' own timer or
// perf events (URGENT_PREEMPT): the suite passes with every trigger.
inline std::uint64_t preempt_signals(const SchedStats& s) {
  return s.preempt_signals + s.trigger_fires;
}
// Whether sysmon ends the slices (URGENT_PREEMPT unset or sysmon, or a trigger that fell back).
inline bool sysmon_preempts(const SchedStats& s) {
  return std::string(s.preempt_trigger) == "sysmon";
}

// Runs main under urgent::run with GOMAXPROCS=procs (the environment is how a program
// configures the runtime, so that is what the tests exercise).
template <class F>
int run_with(int procs, F&& main) {
  const char* old = std::getenv("GOMAXPROCS");
  std::string saved = old ? old : "";
  setenv("GOMAXPROCS", std::to_string(procs).c_str(), 1);
  int status = urgent::run(std::forward<F>(main));
  if (old) {
    setenv("GOMAXPROCS", saved.c_str(), 1);
  } else {
    unsetenv("GOMAXPROCS");
  }
  return status;
}

// Yields until pred() holds; false if it did not within `max_yields` (a generous bound that
// only a real bug exhausts: the tests assert on the result instead of hanging).
template <class Pred>
bool yield_until(Pred pred, long max_yields = 100'000'000) {
  for (long i = 0; i < max_yields; i++) {
    if (pred()) return true;
    urgent::gosched();
  }
  return pred();
}

// Ends the test program with a message if it is still alive `limit` after construction:
// for tests whose failure mode is a hang of every M (nothing inside the runtime could
// report it). Sends SIGQUIT first, so that the goroutine dump shows where it hung.
class Watchdog {
 public:
  Watchdog(std::chrono::seconds limit, const char* what) : what_(what) {
    thread_ = std::thread([this, limit] {
      std::unique_lock<std::mutex> l(mu_);
      if (!cv_.wait_for(l, limit, [this] { return done_; })) {
        std::fprintf(stderr, "watchdog: %s: still running after %llds\n", what_,
                     static_cast<long long>(limit.count()));
        kill(getpid(), SIGQUIT);
        std::this_thread::sleep_for(std::chrono::seconds(5));
        std::abort();
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  const char* what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Runs body in a child process with stderr captured; returns its exit status (or -1) and
// what it printed.
template <class F>
int in_child(F body, std::string* err) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    _exit(body());
  }
  ::close(fds[1]);
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) err->append(buf, n);
  ::close(fds[0]);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// Becomes nobody (65534) for good: 0 on success.
inline int drop_privileges() {
  return setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0 ? 0 : 20;
}

// Forbids perf_event_open (EACCES) for this process and its children, as a container's
// seccomp profile does. 0 on success.
inline int forbid_perf_event_open() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_perf_event_open, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 21;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0 ? 0 : 22;
}

// Sets an environment variable for the scope of one test (the environment is how a program
// configures the runtime).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace urgent::test
