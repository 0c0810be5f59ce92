// runtime/preempt.cc: goroutine preemption, cooperative and asynchronous (Go's preempt.go,
// proc.go's preemptone/preemptM, signal_unix.go's doSigPreempt, signal_amd64.go's pushCall).
//
// Design and invariants:
// - sysmon's retake calls preemptone for a P whose schedtick has not moved for one time
//   slice (URGENT_TIMESLICE, default 10 ms). preemptone sets the running goroutine's
//   cooperative flag (G::preempt) and, unless async preemption is off, sends SIGURG to its M
//   with tgkill, but only if M::signal_pending was 0 (CAS to 1): signals of one kind do not
//   queue, so a second would be lost anyway (Go's signalPending, issue 37741).
// - The SIGURG handler (signal_unix.cc) runs on the M's sigaltstack, on the thread of the
//   goroutine it interrupted. doSigPreempt takes the preemption only at an async safe point
//   (asyncSafePoint): the goroutine was asked to yield and is the M's running goroutine; it
//   is not switching (ctx.sp is non-null); the thread holds no runtime lock (tls_locks_held,
//   m->locks); no NoPreempt scope is open; the pc is in the main executable but not in
//   urgent's own code (the `urgent_text` section: every runtime object file's code, renamed
//   by the Makefile, plus the assembly); the goroutine has async_preempt_stack bytes of stack
//   left; the thread is not inside one of the program's signal handlers (its signal mask is
//   the M's, and no signal frame is on the goroutine's stack: in_program_signal_handler).
//   Anything else is deferred, counted by reason: the cooperative flag stays set, so
//   the goroutine yields at its next runtime call (checkPreempt), and sysmon signals again on
//   a later tick while the slice stays overrun.
// - Taking it: sigctxt_push_call rewrites the ucontext so that the thread, on return from
//   the handler, "calls" urgent_async_preempt (arch/x86_64/preempt.S) at the interrupted pc,
//   below the red zone. The trampoline saves every register and the XSAVE state and calls
//   urgent_async_preempt2, which yields like gosched: the goroutine goes to the global run
//   queue and the M runs another (Go's gopreempt_m). Resumed on any M, the trampoline
//   restores everything and returns to the interrupted pc.
// - Code in other shared objects (libc, libstdc++, the vdso, a sanitizer runtime) is never
//   interrupted: malloc holds locks and thread caches, and a goroutine resumed on another
//   thread would use the wrong ones. Such a goroutine is preempted when it returns to its
//   own code and the next signal finds it there, or at its next runtime call.
// - Everything the handler reads is written before the handler is installed (the code
//   ranges, the XSAVE size) or is atomic or owned by the interrupted thread itself.
#include "preempt.h"

#include <link.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "exe_image.h"
#include "histogram.h"
#include "lock.h"
#include "log.h"
#include "proc.h"
#include "runtime2.h"
#include "sanitizer.h"
#include "sigctxt.h"
#include "signal_unix.h"
#include "trace.h"
#include "trigger.h"
#include "urgent/preempt.h"
#include "urgent/sched.h"
#include "urgent/stats.h"
#include "usdt.h"
#include "xsave.h"

// The bounds of the runtime's own code: the linker defines __start_/__stop_ for a section
// whose name is a C identifier, with no linker script.
extern "C" const char __start_urgent_text[];
extern "C" const char __stop_urgent_text[];

std::uint64_t urgent_xsave_size = 0;

namespace urgent::rt {
namespace {

// Stack a preemption needs below the interrupted sp, besides the XSAVE area (CPUID's size:
// 2.7 KiB with AVX-512, 11 KiB with AMX tiles): the red zone and return address, the GPRs and
// flags, alignment, and the frames of urgent_async_preempt2 -> gosched -> schedule (a few
// KiB; much more under ASan).
#if defined(__SANITIZE_ADDRESS__)
constexpr std::uintptr_t kAsyncPreemptFrames = 64 * 1024;
#else
constexpr std::uintptr_t kAsyncPreemptFrames = 16 * 1024;
#endif
std::uintptr_t async_preempt_stack = kAsyncPreemptFrames;  // + urgent_xsave_size

struct CodeRange {
  std::uintptr_t lo = 0, hi = 0;
  bool contains(std::uintptr_t pc) const { return pc >= lo && pc < hi; }
};
constexpr int kMaxTextRanges = 8;
CodeRange main_text[kMaxTextRanges];  // the main executable's executable segments
int main_text_n = 0;
CodeRange runtime_text;  // urgent_text
// The executable's PLT stubs (.plt, .plt.got, .plt.sec): calls on their way into a shared
// library, from user code or from urgent's (which a stub does not tell): never preempted.
CodeRange plt[4];
int plt_n = 0;

std::int64_t timeslice = 10'000'000;
bool async_enabled = false;

// The handler's verdicts, as the trace records them.
using Verdict = tracefmt::PreemptVerdict;

struct Counters {
  std::atomic<std::uint64_t> requests{0}, signals{0}, async{0}, cooperative{0}, stale{0};
  std::atomic<std::uint64_t> deferred[tracefmt::kVerdictCount]{};  // by Verdict (kSafe unused)
};
Counters counters;

LatencyHistogram latency;
LatencyHistogram overrun;  // the slice's end -> off its M

// A moving average of the preemption latency (ns, weight 1/8): sysmon sends the signal this
// much before a slice ends, so that the goroutine leaves its M when it does.
std::atomic<std::int64_t> latency_avg{0};

void count(std::atomic<std::uint64_t>& c) {
  c.fetch_add(1, std::memory_order_relaxed);
}

bool libc_shared = false;  // libc is a shared object (not linked into the executable)

std::uintptr_t main_bias = 0;

int find_main_text(dl_phdr_info* info, std::size_t, void* first) {
  if (std::strstr(info->dlpi_name, "libc.so") != nullptr) libc_shared = true;
  if (!*static_cast<bool*>(first)) return 0;
  *static_cast<bool*>(first) = false;
  main_bias = info->dlpi_addr;
  // The first object dl_iterate_phdr reports is the main program.
  for (int i = 0; i < info->dlpi_phnum && main_text_n < kMaxTextRanges; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    main_text[main_text_n++] = CodeRange{lo, lo + ph.p_memsz};
  }
  return 0;
}

// Finds the PLT sections in the executable's section headers (not loaded at run time).
void find_plt(std::uintptr_t load_bias) {
  plt_n = 0;
  ExeImage exe;
  for (int i = 0; i < exe.sections() && plt_n < 4; i++) {
    if (std::strncmp(exe.section_name(i), ".plt", 4) != 0) continue;
    const Elf64_Shdr& sh = exe.section(i);
    plt[plt_n++] = CodeRange{load_bias + sh.sh_addr, load_bias + sh.sh_addr + sh.sh_size};
  }
}

bool in_plt(std::uintptr_t pc) {
  for (int i = 0; i < plt_n; i++) {
    if (plt[i].contains(pc)) return true;
  }
  return false;
}

bool in_main_text(std::uintptr_t pc) {
  for (int i = 0; i < main_text_n; i++) {
    if (main_text[i].contains(pc)) return true;
  }
  return false;
}

// Go's isAsyncSafePoint, for C++: may gp, running on mp and interrupted (uctx) at pc with
// stack pointer sp, be switched out right here?
Verdict asyncSafePoint(M* mp, G* gp, const void* uctx, std::uintptr_t pc, std::uintptr_t sp) {
  // Between execute and a switch, G, M and P agree; anything else is the scheduler at work.
  if (gp->m != mp || mp->p == nullptr) return Verdict::kRuntime;
  // The M is scheduling (the goroutine switch's state machine, proc.cc): gp is giving up
  // the CPU, or the scheduler is choosing what runs next, maybe in code whose pc looks like
  // the program's (a timer's callback).
  if (mp->scheduling.load(std::memory_order_relaxed)) return Verdict::kRuntime;
  if (tls_locks_held != 0 || mp->locks != 0) return Verdict::kLocks;
  if (gp->preemptoff != 0) return Verdict::kDisabled;
  if (runtime_text.contains(pc)) return Verdict::kRuntime;
  if (!pc_is_preemptible(pc)) return Verdict::kForeign;
  if (sp < gp->stack_lo + async_preempt_stack || sp > gp->stack_hi) return Verdict::kStack;
  // Inside one of the program's own handlers, on this stack (installed without SA_ONSTACK):
  // its frame holds this thread's mask and sigaltstack, which its sigreturn restores on
  // whichever thread runs it. A goroutine locked to this thread resumes here anyway.
  if (gp->lockedm != mp && in_program_signal_handler(uctx, sp, gp->stack_hi)) {
    return Verdict::kSignal;
  }
  return Verdict::kSafe;
}

}  // namespace

bool pc_is_preemptible(std::uintptr_t pc) {
  return in_main_text(pc) && !runtime_text.contains(pc) && !in_plt(pc);
}

namespace {

void preemptM(M* mp) {
  std::uint32_t expected = 0;
  if (!mp->signal_pending.compare_exchange_strong(expected, 1)) return;
  count(counters.signals);
  mp->preempt_sent.store(nanotime(), std::memory_order_relaxed);
  if (G* gp = mp->curg) {
    URGENT_PROBE(preempt_signal, mp->tid, gp->goid);
    URGENT_TRACE_EVENT(kPreemptSignal, mp->tid, gp->goid);
  }
  syscall(SYS_tgkill, getpid(), mp->tid, SIGURG);
}

}  // namespace

void preempt_init(std::int64_t timeslice_ns, bool asyncpreemptoff) {
  timeslice = timeslice_ns;
  main_text_n = 0;
  libc_shared = false;
  bool first = true;
  dl_iterate_phdr(find_main_text, &first);
  find_plt(main_bias);
  runtime_text = CodeRange{reinterpret_cast<std::uintptr_t>(__start_urgent_text),
                           reinterpret_cast<std::uintptr_t>(__stop_urgent_text)};
  bool xsave = arch::xsave_init();
  async_preempt_stack = kAsyncPreemptFrames + urgent_xsave_size;
  latency.reset();
  overrun.reset();
  latency_avg.store(0, std::memory_order_relaxed);
  async_enabled = !asyncpreemptoff && xsave && main_text_n > 0 && libc_shared && !kTsan;
  if (!asyncpreemptoff && kTsan) {
    // ThreadSanitizer holds back an asynchronous signal until the thread reaches one of its
    // interceptors, then calls the handler with a copy of the context: the handler would
    // rewrite a copy (and push a frame onto a stack the goroutine has moved on from).
    // (In the log, not on stderr: every TSan-built program and death test would print it.)
    log::info("built with ThreadSanitizer: asynchronous preemption is off");
  } else if (!asyncpreemptoff && !xsave) {
    std::fprintf(stderr, "urgent: no usable XSAVE (OSXSAVE): asynchronous preemption is off\n");
  } else if (!asyncpreemptoff && !libc_shared) {
    // Statically linked: malloc would be inside the executable, where the handler preempts.
    std::fprintf(stderr, "urgent: libc is linked statically: asynchronous preemption is off\n");
  }
  for (auto* c : {&counters.requests, &counters.signals, &counters.async, &counters.cooperative,
                  &counters.stale}) {
    c->store(0, std::memory_order_relaxed);
  }
  for (auto& c : counters.deferred) c.store(0, std::memory_order_relaxed);
  log::debug("preemption: time slice {} ns, async {}, XSAVE area {} bytes", timeslice,
             async_enabled ? "on" : "off", urgent_xsave_size);
}

std::int64_t timeslice_ns() {
  return timeslice;
}

std::int64_t preempt_lead_ns() {
  return std::clamp<std::int64_t>(latency_avg.load(std::memory_order_relaxed), 0, timeslice / 2);
}

bool async_preempt_enabled() {
  return async_enabled;
}

bool preemptone(P* pp, M* mp_self, std::int64_t due) {
  M* mp = pp->m;
  if (mp == nullptr || mp == mp_self) return false;
  G* gp = mp->curg;
  if (gp == nullptr) return false;
  mp->preempt_due.store(due, std::memory_order_relaxed);
  gp->preempt = true;
  count(counters.requests);
  if (async_enabled) preemptM(mp);
  return true;
}

void preempt_count_request() {
  count(counters.requests);
}

bool doSigPreempt(M* mp, void* uctx) {
  bool taken = false;
  G* gp = mp->curg;
  if (gp != nullptr && gp->preempt &&
      gp->atomicstatus.load(std::memory_order_relaxed) == kGrunning) {
    Verdict v = asyncSafePoint(mp, gp, uctx, arch::sigctxt_pc(uctx), arch::sigctxt_sp(uctx));
    URGENT_PROBE(preempt_handler, gp->goid, static_cast<int>(v));
    if (tracing()) traceHandlerVerdict(gp->goid, static_cast<std::uint8_t>(v));
    if (v == Verdict::kSafe) {
      arch::sigctxt_push_call(uctx, urgent_async_preempt);
      count(counters.async);
      taken = true;
    } else {
      gp->preempt_deferred = true;  // gp runs on this very thread: its owner
      count(counters.deferred[static_cast<int>(v)]);
    }
  } else if (mp->signal_pending.load(std::memory_order_relaxed) != 0) {
    count(counters.stale);  // ours, but the goroutine already yielded (or none runs)
    if (tracing()) {
      traceHandlerVerdict(gp != nullptr ? gp->goid : 0, static_cast<std::uint8_t>(Verdict::kStale));
    }
  }
  mp->signal_pending.store(0, std::memory_order_release);
  return taken;
}

void checkPreempt(G* gp) {
  if (!gp->preempt || gp->preemptoff != 0) return;
  count(counters.cooperative);
  URGENT_PROBE(go_preempt, gp->goid, 1);
  URGENT_TRACE_EVENT(kGoPreempt, gp->goid,
                     gp->preempt_deferred ? tracefmt::PreemptKind::kAfterDeferred
                                          : tracefmt::PreemptKind::kCooperative);
  M* mp = gp->m;
  mp->p->preempted_at.store(nanotime(), std::memory_order_relaxed);
  goschedImpl(mp, gp);
}

void preempt_stats(SchedStats* s) {
  auto load = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  auto deferred = [&](Verdict v) { return load(counters.deferred[static_cast<int>(v)]); };
  s->preempt_requests = load(counters.requests);
  s->preempt_signals = load(counters.signals);
  s->preempt_async = load(counters.async);
  s->preempt_cooperative = load(counters.cooperative);
  s->preempt_stale = load(counters.stale);
  s->preempt_deferred_runtime = deferred(Verdict::kRuntime);
  s->preempt_deferred_locks = deferred(Verdict::kLocks);
  s->preempt_deferred_disabled = deferred(Verdict::kDisabled);
  s->preempt_deferred_foreign = deferred(Verdict::kForeign);
  s->preempt_deferred_stack = deferred(Verdict::kStack);
  s->preempt_deferred_signal = deferred(Verdict::kSignal);
}

}  // namespace urgent::rt

// Called by urgent_async_preempt on the goroutine's stack, after the handler returned and
// every register is saved: yield as gosched does (Go's asyncPreempt2 -> gopreempt_m).
extern "C" void urgent_async_preempt2() {
  using namespace urgent::rt;
  // The interrupted code's errno (the handler restored it): the way to the switch takes
  // locks that may sleep in futex(2) and run timers, any of which can set errno, and the
  // switch saves whatever errno holds then.
  int interrupted_errno = errno;
  M* mp = getm();
  std::int64_t now = nanotime();
  std::int64_t took = now - mp->preempt_sent.load(std::memory_order_relaxed);
  latency.record(took);
  if (std::int64_t due = mp->preempt_due.exchange(0, std::memory_order_relaxed); due != 0) {
    overrun.record(std::max<std::int64_t>(now - due, 0));
  }
  if (std::int64_t fired = mp->trig_fired.exchange(0, std::memory_order_relaxed); fired != 0) {
    trigger_record_lateness(now - fired);
  }
  std::int64_t avg = latency_avg.load(std::memory_order_relaxed);
  latency_avg.store(avg + (took - avg) / 8, std::memory_order_relaxed);
  mp->p->preempted_at.store(now, std::memory_order_relaxed);
  URGENT_PROBE(go_preempt, mp->curg->goid, 0);
  URGENT_TRACE_EVENT(kGoPreempt, mp->curg->goid, urgent::tracefmt::PreemptKind::kAsync);
  goschedImpl(mp, mp->curg);
  // Resumed, maybe on another thread: through the M, not `errno` (its TLS address may have
  // been computed before the switch).
  *getm()->errno_ptr = interrupted_errno;
}

namespace urgent {

void preempt_point() {
  rt::M* mp = rt::getm();
  if (rt::G* gp = mp != nullptr ? mp->curg : nullptr) rt::checkPreempt(gp);
}

NoPreempt::NoPreempt() {
  rt::M* mp = rt::getm();
  rt::G* gp = mp != nullptr ? mp->curg : nullptr;
  if (gp != nullptr) gp->preemptoff++;
  g_ = gp;
}

NoPreempt::~NoPreempt() {
  auto* gp = static_cast<rt::G*>(g_);
  if (gp == nullptr) return;
  if (--gp->preemptoff == 0) rt::checkPreempt(gp);
}

std::chrono::nanoseconds timeslice() {
  return std::chrono::nanoseconds(rt::timeslice);
}

bool async_preemption() {
  return rt::runtime_running() && rt::async_enabled;
}

PreemptLatency preempt_latency() {
  return rt::latency.summary();
}

PreemptLatency preempt_overrun() {
  return rt::overrun.summary();
}

}  // namespace urgent
