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
#include <elf.h>
#include <execinfo.h>
#include <link.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "context.h"
#include "exe_image.h"
#include "proc.h"
#include "sanitizer.h"
#include "sigctxt.h"

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
  // The report reads other goroutines' state while they may still run (Go's does too: a
  // dying process stops nobody); tell ThreadSanitizer those reads are on purpose.
  sanitizer_ignore_accesses();
}

[[noreturn]] void die() {
  std::fflush(nullptr);  // do not lose what the program printed with stdio
  if (kTsan) {
    // Not through ThreadSanitizer's _exit, which would turn status 2 into its own 66 for
    // the accesses enter_dying told it to ignore.
    syscall(SYS_exit_group, 2);
  }
  _exit(2);
}

void print_goroutine_header(const G* gp, const char* status) {
  printf_raw("goroutine %lld [%s]:\n", static_cast<long long>(gp->goid), status);
}

void print_created_by(const G* gp) {
  if (gp->parent_goid != 0)
    printf_raw("created by goroutine %lld\n", static_cast<long long>(gp->parent_goid));
}

// Function symbols of the executable's .symtab, for frames dladdr cannot name (functions
// with internal linkage are not in the dynamic symbol table). Loaded on first use; the
// panic path may allocate.
struct ExeSymbol {
  std::uintptr_t start, size;
  std::string name;
};

const std::vector<ExeSymbol>& exe_symbols() {
  static std::vector<ExeSymbol> syms = [] {
    std::vector<ExeSymbol> out;
    ExeImage exe;
    for (int i = 0; i < exe.sections(); i++) {
      const Elf64_Shdr& sh = exe.section(i);
      if (sh.sh_type != SHT_SYMTAB) continue;
      auto* sym = reinterpret_cast<const Elf64_Sym*>(exe.at(sh.sh_offset));
      const char* names = exe.at(exe.section(static_cast<int>(sh.sh_link)).sh_offset);
      for (std::size_t k = 0; k < sh.sh_size / sizeof(Elf64_Sym); k++) {
        if (ELF64_ST_TYPE(sym[k].st_info) == STT_FUNC && sym[k].st_value != 0) {
          out.push_back({sym[k].st_value, sym[k].st_size, names + sym[k].st_name});
        }
      }
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.start < b.start; });
    return out;
  }();
  return syms;
}

// Load base (as dladdr reports it) and load bias of the main executable.
int find_exe(dl_phdr_info* info, std::size_t, void* out) {
  // The first object dl_iterate_phdr reports is the executable.
  *static_cast<std::uintptr_t*>(out) = info->dlpi_addr;
  return 1;
}

std::uintptr_t exe_load_bias() {
  static std::uintptr_t bias = [] {
    std::uintptr_t b = 0;
    dl_iterate_phdr(find_exe, &b);
    return b;
  }();
  return bias;
}

const void* main_exe_base() {
  static const void* fbase = [] {
    Dl_info info;
    std::memset(&info, 0, sizeof info);
    dladdr(reinterpret_cast<void*>(&exe_load_bias), &info);
    return info.dli_fbase;
  }();
  return fbase;
}

// The executable's function containing link-time address `addr`, or null.
const char* exe_symbol_at(std::uintptr_t addr) {
  const auto& syms = exe_symbols();
  auto it = std::upper_bound(syms.begin(), syms.end(), addr,
                             [](std::uintptr_t a, const ExeSymbol& s) { return a < s.start; });
  if (it == syms.begin()) return nullptr;
  --it;
  return addr < it->start + std::max<std::uintptr_t>(it->size, 1) ? it->name.c_str() : nullptr;
}

// Index of the first frame after the C++ runtime's throw machinery, or -1.
int first_frame_after_throw(void* const* pcs, int n) {
  for (int i = n - 1; i >= 0; i--) {
    Dl_info info;
    // pcs are return addresses: look up the call instruction, in case it ends a function.
    if (dladdr(static_cast<char*>(pcs[i]) - 1, &info) != 0 && info.dli_sname != nullptr &&
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
    auto base = reinterpret_cast<std::uintptr_t>(info.dli_fbase);
    const char* sym = info.dli_sname;
    if (sym == nullptr && info.dli_fbase == main_exe_base()) {
      sym = exe_symbol_at(reinterpret_cast<std::uintptr_t>(pc) - exe_load_bias());
    }
    std::string name = "??";
    if (sym != nullptr) {
      int status = 0;
      char* dem = abi::__cxa_demangle(sym, nullptr, nullptr, &status);
      name = status == 0 && dem != nullptr ? dem : sym;
      std::free(dem);
      if (name.find('(') == std::string::npos) name += "()";
    }
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
      std::int64_t mins = (coarsetime() - gp->waitsince) / 60'000'000'000;
      if (mins >= 1) {
        printf_raw("goroutine %lld [%s, %lld minutes]:\n", static_cast<long long>(gp->goid),
                   wait_reason_string(gp->waitreason), static_cast<long long>(mins));
      } else {
        print_goroutine_header(gp, wait_reason_string(gp->waitreason));
      }
    } else {
      print_goroutine_header(gp, gstatus_name(st));
    }
    // A switched-out goroutine's stack, from its saved context (a running one's is live on
    // another thread: header only). Racy by nature: the walk stays inside the G's stack.
    if ((st == kGwaiting || st == kGrunnable) && gp->stack_lo != 0) {
      void* pcs[kMaxFrames];
      arch::Context ctx{__atomic_load_n(&gp->ctx.sp, __ATOMIC_ACQUIRE)};
      int k = arch::saved_context_pcs(ctx, gp->stack_lo, gp->stack_hi, pcs, kMaxFrames);
      print_frames(pcs, k, true);
    }
    print_created_by(gp);
  }
}

const char* signal_description(int sig) {
  switch (sig) {
    case SIGQUIT: return "SIGQUIT: quit";
    case SIGILL: return "SIGILL: illegal instruction";
    case SIGTRAP: return "SIGTRAP: trace trap";
    case SIGABRT: return "SIGABRT: abort";
    case SIGBUS: return "SIGBUS: bus error";
    case SIGFPE: return "SIGFPE: floating-point exception";
    case SIGSEGV: return "SIGSEGV: segmentation violation";
    case SIGSYS: return "SIGSYS: bad system call";
    default: return "signal";
  }
}

namespace {

// The runtime error Go's sigpanic raises for a fault, or null where it throws "fault".
const char* sigpanic_message(int sig, const siginfo_t* info) {
  auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  switch (sig) {
    case SIGSEGV:
    case SIGBUS:
      return addr < 0x1000 ? "runtime error: invalid memory address or nil pointer dereference"
                           : nullptr;
    case SIGFPE:
      switch (info->si_code) {
        case FPE_INTDIV: return "runtime error: integer divide by zero";
        case FPE_INTOVF: return "runtime error: integer overflow";
        default: return "runtime error: floating point error";
      }
    default: return nullptr;
  }
}

// The calling thread's stack from the interrupted pc on (the frames of the handler and of
// the kernel's signal trampoline are left out), async-signal-safe.
void print_stack_from(std::uintptr_t pc) {
  void* pcs[kMaxFrames];
  int n = backtrace(pcs, kMaxFrames);
  int start = 0;
  while (start < n && reinterpret_cast<std::uintptr_t>(pcs[start]) != pc) start++;
  if (start == n) start = 0;  // not found: show everything rather than nothing
  print_frames(pcs + start, n - start, true);
}

// Go prints the bytes of the instruction that raised SIGILL or SIGFPE: 16, not crossing
// into the next page (it may be unmapped).
void print_instruction_bytes(std::uintptr_t pc) {
  std::uintptr_t page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  std::uintptr_t n = std::min<std::uintptr_t>(16, page - pc % page);
  print_raw("instruction bytes:");
  for (std::uintptr_t i = 0; i < n; i++) {
    printf_raw(" 0x%x", static_cast<unsigned>(reinterpret_cast<const unsigned char*>(pc)[i]));
  }
  print_raw("\n");
}

void print_reg(const char* name, std::uint64_t v) {
  printf_raw("%-7s0x%llx\n", name, static_cast<unsigned long long>(v));
}

}  // namespace

void fatal_signal(int sig, const siginfo_t* info, const void* uctx) {
  enter_dying();
  std::uintptr_t pc = arch::sigctxt_pc(uctx);
  M* mp = getm();
  G* gp = mp != nullptr ? mp->curg : nullptr;
  bool from_kernel = info->si_code > 0;  // kill, tgkill, sigqueue: <= 0, nothing faulted
  if (from_kernel && (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE)) {
    auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
    const char* msg = sigpanic_message(sig, info);
    if (msg != nullptr) {
      printf_raw("panic: %s\n", msg);
    } else {
      printf_raw("unexpected fault address 0x%lx\nfatal error: fault\n",
                 static_cast<unsigned long>(addr));
    }
    printf_raw("[signal %s code=0x%x addr=0x%lx pc=0x%lx]\n", signal_description(sig),
               static_cast<unsigned>(info->si_code), static_cast<unsigned long>(addr),
               static_cast<unsigned long>(pc));
    if (gp != nullptr) {
      print_raw("\n");
      print_goroutine_header(gp, "running");
      print_stack_from(pc);
      print_created_by(gp);
    }
    if (msg == nullptr) print_other_goroutines(gp);  // a throw lists them all, a panic not
    die();
  }
  printf_raw("%s\nPC=0x%lx m=%lld sigcode=%llu\n", signal_description(sig),
             static_cast<unsigned long>(pc), static_cast<long long>(mp != nullptr ? mp->id : -1),
             static_cast<unsigned long long>(static_cast<long long>(info->si_code)));
  if (sig == SIGILL || sig == SIGFPE) print_instruction_bytes(pc);
  if (gp != nullptr) {
    print_raw("\n");
    print_goroutine_header(gp, "running");
    print_stack_from(pc);
    print_created_by(gp);
  }
  print_other_goroutines(gp);
  print_raw("\n");
  arch::sigctxt_each_reg(uctx, print_reg);
  die();
}

void panic_init() {
  void* warm[2];
  backtrace(warm, 2);  // loads libgcc_s now, so the signal path does not malloc
  old_terminate = std::set_terminate(on_terminate);
}

void panic_fini() {
  std::set_terminate(old_terminate);
}

}  // namespace urgent::rt
