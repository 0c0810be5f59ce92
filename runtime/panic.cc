// runtime/panic.cc: `fatal error:` and `panic:` output, native stacks, and the
// std::terminate hook that turns an exception escaping a goroutine into a panic.
//
// Invariants:
// - Only one thread prints a fatal report; any other thread that fails meanwhile sleeps
//   forever (the first one exits the process).
// - Output goes straight to fd 2 with write(2); the signal-handler path never mallocs.
// - An escaping exception is reported on the goroutine's intact stack: urgent_gostart
//   ends every goroutine's unwind info, so the unwinder finds no handler and std::terminate
//   runs before anything is unwound (see arch/x86_64/context.S).
#include "panic.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "proc.h"

namespace urgent::rt {
namespace {

constexpr int kMaxFrames = 100;
std::atomic<bool> dying{false};
std::terminate_handler old_terminate = nullptr;

void enter_dying() {
  bool expected = false;
  if (!dying.compare_exchange_strong(expected, true)) {
    for (;;) pause();  // another thread is already reporting; it will exit the process
  }
}

[[noreturn]] void die() {
  std::fflush(nullptr);  // do not lose what the program printed with stdio
  _exit(2);
}

void print_goroutine_header(const G* gp, const char* status) {
  printf_raw("goroutine %lld [%s]:\n", static_cast<long long>(gp->goid), status);
}

void print_created_by(const G* gp) {
  if (gp->parent_goid != 0) printf_raw("created by goroutine %lld\n", static_cast<long long>(gp->parent_goid));
}

// Index of the first frame after the C++ runtime's throw machinery, or -1.
int first_frame_after_throw(void* const* pcs, int n) {
  for (int i = n - 1; i >= 0; i--) {
    Dl_info info;
    if (dladdr(pcs[i], &info) != 0 && info.dli_sname != nullptr &&
        (std::strcmp(info.dli_sname, "__cxa_throw") == 0 ||
         std::strcmp(info.dli_sname, "__cxa_rethrow") == 0)) {
      return i + 1;
    }
  }
  return -1;
}

void print_frames(void* const* pcs, int n, bool async_signal_safe) {
  if (async_signal_safe) {
    backtrace_symbols_fd(const_cast<void**>(pcs), n, 2);
    return;
  }
  for (int i = 0; i < n; i++) {
    // Return addresses point after the call; look up the call instruction itself.
    void* pc = static_cast<char*>(pcs[i]) - (i > 0 ? 1 : 0);
    Dl_info info;
    std::memset(&info, 0, sizeof info);
    dladdr(pc, &info);
    std::string name = "??";
    if (info.dli_sname != nullptr) {
      int status = 0;
      char* dem = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
      name = status == 0 && dem != nullptr ? dem : info.dli_sname;
      std::free(dem);
      if (name.find('(') == std::string::npos) name += "()";
    }
    auto base = reinterpret_cast<std::uintptr_t>(info.dli_fbase);
    auto off = reinterpret_cast<std::uintptr_t>(pcs[i]) - base;
    printf_raw("%s\n\t%s +%#lx\n", name.c_str(), info.dli_fname ? info.dli_fname : "?",
               static_cast<unsigned long>(off));
  }
}

void on_terminate() {
  G* gp = getg();
  if (gp == nullptr) {
    // Not a goroutine: keep the behaviour the program had.
    if (old_terminate != nullptr) old_terminate();
    std::abort();
  }
  std::string msg = "std::terminate called";
  if (std::exception_ptr ep = std::current_exception()) {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      msg = e.what();
    } catch (...) {
      const std::type_info* t = abi::__cxa_current_exception_type();
      int status = 0;
      char* dem = t ? abi::__cxa_demangle(t->name(), nullptr, nullptr, &status) : nullptr;
      msg = std::string("exception of type ") + (dem ? dem : t ? t->name() : "unknown");
      std::free(dem);
    }
  }
  panic_exit(msg.c_str());
}

}  // namespace

void print_raw(const char* s) {
  std::size_t n = std::strlen(s);
  while (n > 0) {
    ssize_t w = write(2, s, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return;
    }
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

void printf_raw(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  print_raw(buf);
}

void print_stack(int skip, bool async_signal_safe) {
  void* pcs[kMaxFrames + 1];
  int n = backtrace(pcs, kMaxFrames + 1);
  bool elided = n > kMaxFrames;
  if (elided) n = kMaxFrames;
  int start = async_signal_safe ? skip : first_frame_after_throw(pcs, n);
  if (start < 0) start = skip;
  if (start > n) start = n;
  print_frames(pcs + start, n - start, async_signal_safe);
  if (elided) print_raw("...additional frames elided...\n");
}

void fatal(const char* fmt, ...) {
  enter_dying();
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  printf_raw("fatal error: %s\n", buf);
  G* gp = getg();
  if (gp != nullptr) {
    print_raw("\n");
    print_goroutine_header(gp, "running");
    // Fatal errors may come from a signal handler: stay async-signal-safe.
    print_stack(1, true);
    print_created_by(gp);
  }
  print_other_goroutines(gp);
  die();
}

void panic_exit(const char* msg) {
  enter_dying();
  printf_raw("panic: %s\n\n", msg);
  G* gp = getg();
  if (gp != nullptr) {
    print_goroutine_header(gp, "running");
    print_stack(0, false);
    print_created_by(gp);
  }
  die();
}

void print_other_goroutines(const G* except) {
  std::int64_t n = allglen();
  for (std::int64_t i = 0; i < n; i++) {
    G* gp = allg_at(i);
    if (gp == except) continue;
    std::uint32_t st = gp->atomicstatus.load(std::memory_order_relaxed);
    if (st == kGdead || st == kGidle) continue;
    print_raw("\n");
    if (st == kGwaiting) {
      std::int64_t mins = (nanotime() - gp->waitsince) / 60'000'000'000;
      if (mins >= 1) {
        printf_raw("goroutine %lld [%s, %lld minutes]:\n", static_cast<long long>(gp->goid),
                   wait_reason_string(gp->waitreason), static_cast<long long>(mins));
      } else {
        print_goroutine_header(gp, wait_reason_string(gp->waitreason));
      }
    } else {
      print_goroutine_header(gp, gstatus_name(st));
    }
    print_created_by(gp);
  }
}

void panic_init() {
  void* warm[2];
  backtrace(warm, 2);  // loads libgcc_s now, so the signal path does not malloc
  old_terminate = std::set_terminate(on_terminate);
}

void panic_fini() { std::set_terminate(old_terminate); }

}  // namespace urgent::rt
