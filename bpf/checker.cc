// bpf/checker.cc: the P-handoff and preemption checker (see checker.h).
#include "checker.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>

#include "cmd/urgent-trace/analysis.h"

namespace urgent::bpf {

using tracefmt::Ev;
using tracetool::Event;

const char* const kVerdictKindNames[6] = {"good",     "at-entry", "missed",
                                          "needless", "kept",     "stalled"};

namespace {

// How many goroutines were runnable over time (a step function from the trace).
class RunnableCount {
 public:
  explicit RunnableCount(const tracetool::Trace& t) {
    std::map<std::uint64_t, tracetool::GState> state;
    long n = 0;
    for (const Event& e : t.events) {
      std::uint64_t g;
      tracetool::GState to;
      if (!tracetool::transition(e, &g, &to)) continue;
      tracetool::GState& s = state[g];
      n += (to == tracetool::GState::kRunnable) - (s == tracetool::GState::kRunnable);
      s = to;
      steps_.push_back({e.ns, std::max(n, 0L)});
    }
  }
  // Time within [a, b) during which at least one goroutine was runnable.
  std::int64_t busy_within(std::int64_t a, std::int64_t b) const {
    if (b <= a) return 0;
    auto it = std::upper_bound(steps_.begin(), steps_.end(), a,
                               [](std::int64_t t, const Step& s) { return t < s.ns; });
    long n = it == steps_.begin() ? 0 : std::prev(it)->n;
    std::int64_t t = a, busy = 0;
    for (; it != steps_.end() && it->ns < b; ++it) {
      if (n > 0) busy += it->ns - t;
      t = it->ns;
      n = it->n;
    }
    if (n > 0) busy += b - t;
    return busy;
  }

 private:
  struct Step {
    std::int64_t ns;
    long n;
  };
  std::vector<Step> steps_;
};

struct Dist {
  std::vector<std::int64_t> v;
  void add(std::int64_t x) { v.push_back(x); }
  std::string text() {
    std::sort(v.begin(), v.end());
    if (v.empty()) return "none";
    char b[160];
    std::snprintf(b, sizeof b, "n=%zu p50 %.1f µs  p90 %.1f µs  p99 %.1f µs  max %.1f µs", v.size(),
                  tracetool::percentile(v, 0.5) / 1e3, tracetool::percentile(v, 0.9) / 1e3,
                  tracetool::percentile(v, 0.99) / 1e3, v.back() / 1e3);
    return b;
  }
  std::string json() {
    std::sort(v.begin(), v.end());
    return tracetool::dist_json(v);
  }
};

// The preemption chain's steps, from a report.
struct Steps {
  Dist to_generate, to_deliver, to_handler, to_off, total;
  std::uint64_t coalesced = 0, undelivered = 0, deferred = 0, no_handler = 0;
  explicit Steps(const CheckReport& r) {
    for (const PreemptChain& c : r.preemptions) {
      if (c.result < 0) {
        undelivered++;
        continue;
      }
      to_generate.add(c.generate_ns - c.decision_ns);
      if (c.result != 0) {
        coalesced++;
        continue;
      }
      to_deliver.add(c.deliver_ns - c.generate_ns);
      if (c.verdict < 0) {
        no_handler++;
        continue;
      }
      to_handler.add(c.handler_ns - c.deliver_ns);
      if (c.verdict != 0) {
        deferred++;
        continue;
      }
      if (c.off_ns != 0) {
        to_off.add(c.off_ns - c.handler_ns);
        total.add(c.off_ns - c.decision_ns);
      }
    }
  }
};

}  // namespace

CheckReport check(const tracetool::Trace& trace, const Observations& kernel,
                  const CheckerOptions& options) {
  CheckReport r;
  r.threshold_ns = options.block_threshold_ns;
  r.kernel_drops = kernel.counters[OBS_C_RINGBUF_DROPS];
  r.switch_ins_unseen = kernel.counters[OBS_C_SWITCH_IN_UNSEEN];
  r.trace_dropped = std::max(trace.dropped, trace.lost);
  RunnableCount runnable(trace);
  // Kernel records by thread, in time order.
  std::map<std::int64_t, std::vector<const obs_syscall*>> calls;
  for (const obs_syscall& c : kernel.syscalls) calls[c.tid].push_back(&c);
  for (auto& [tid, v] : calls) {
    std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->enter_ns < b->enter_ns; });
  }
  std::map<std::int64_t, std::vector<const obs_offcpu*>> offcpu;
  for (const obs_offcpu& c : kernel.offcpu) offcpu[c.tid].push_back(&c);
  for (auto& [tid, v] : offcpu) {
    std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->start_ns < b->start_ns; });
  }
  std::map<std::int64_t, std::vector<const obs_signal*>> signals;
  for (const obs_signal& s : kernel.signals) signals[s.tid].push_back(&s);
  for (auto& [tid, v] : signals) {
    std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->generate_ns < b->generate_ns; });
  }

  // System calls: GoSysCall .. GoSysExit of one goroutine, on one thread.
  std::map<std::uint64_t, SyscallVerdict> open;  // by goroutine
  for (const Event& e : trace.events) {
    if (e.type == Ev::kGoSysCall) {
      SyscallVerdict v;
      v.tid = e.tid;
      v.g = e.args[0];
      v.enter_ns = e.ns;
      open[v.g] = v;
    } else if (e.type == Ev::kGoSysBlock) {
      auto it = open.find(e.args[0]);
      if (it != open.end() && it->second.handoff_ns == 0) {
        it->second.handoff_ns = e.ns;
        if (e.tid == it->second.tid) it->second.kind = SyscallVerdict::kAtEntry;  // its own M
      }
    } else if (e.type == Ev::kGoSysExit) {
      auto it = open.find(e.args[0]);
      if (it == open.end()) continue;
      SyscallVerdict v = it->second;
      open.erase(it);
      v.exit_ns = e.ns;
      std::int64_t call_first_off = 0;  // the syscall records' own account
      std::uint64_t call_offcpu = 0;
      std::int64_t call_oncpu = 0;  // time the kernel saw the thread in calls, on the CPU
      for (const obs_syscall* c : calls[v.tid]) {
        auto enter = static_cast<std::int64_t>(c->enter_ns);
        if (enter < v.enter_ns) continue;
        if (enter > v.exit_ns) break;
        if (v.kernel_enter_ns == 0) v.kernel_enter_ns = enter;
        if (call_first_off == 0) call_first_off = static_cast<std::int64_t>(c->first_off_ns);
        call_offcpu += c->offcpu_ns;
        call_oncpu += static_cast<std::int64_t>(c->exit_ns - c->enter_ns - c->offcpu_ns);
      }
      // Off the CPU anywhere between entersyscall and exitsyscall: blocked in the kernel,
      // or preempted by it around the call; either way the P had nothing to run on.
      for (const obs_offcpu* c : offcpu[v.tid]) {
        auto start = static_cast<std::int64_t>(c->start_ns),
             end = static_cast<std::int64_t>(c->end_ns);
        if (end <= v.enter_ns) continue;
        if (start >= v.exit_ns) break;
        start = std::max(start, v.enter_ns);
        v.offcpu_ns += static_cast<std::uint64_t>(std::min(end, v.exit_ns) - start);
        if (v.first_off_ns == 0) v.first_off_ns = start;
      }
      // The two accounts disagree when the kernel side missed a switch-in (rare: a read
      // that slept 20 ms with no off-CPU interval): trust the call's record, and count it.
      if (call_first_off != 0 && (v.first_off_ns == 0 || v.offcpu_ns < call_offcpu)) {
        if (v.offcpu_ns == 0) r.kernel_inconsistent++;
        if (v.first_off_ns == 0) v.first_off_ns = call_first_off;
        v.offcpu_ns = std::max(v.offcpu_ns, call_offcpu);
      }
      bool blocked = static_cast<std::int64_t>(v.offcpu_ns) >= options.block_threshold_ns;
      if (v.kind == SyscallVerdict::kAtEntry) {
        // (handed off before the call: nothing to judge)
      } else if (v.handoff_ns != 0) {
        if (v.first_off_ns != 0) {
          v.kind = SyscallVerdict::kGood;
        } else {
          // sysmon retakes a P after a call lasted a tick: if the kernel's calls do not
          // account for that time, the thread was stalled where the guest cannot see.
          v.kind = 2 * call_oncpu >= v.handoff_ns - v.enter_ns ? SyscallVerdict::kNeedless
                                                               : SyscallVerdict::kStalled;
        }
        if (v.first_off_ns != 0) v.delay_ns = v.handoff_ns - v.first_off_ns;
      } else if (blocked) {
        v.wasted_ns =
            runnable.busy_within(v.first_off_ns != 0 ? v.first_off_ns : v.enter_ns, v.exit_ns);
        v.kind = v.wasted_ns > 0 ? SyscallVerdict::kMissed : SyscallVerdict::kKept;
      }
      r.counts[v.kind]++;
      r.syscalls.push_back(v);
    }
  }

  // Preemptions: the trace's signal, the kernel's generate/deliver, the handler, the switch.
  std::map<std::int64_t, std::size_t> next_signal;  // per thread: first kernel record unused
  std::vector<const Event*> handlers, offs;
  for (const Event& e : trace.events) {
    if (e.type == Ev::kPreemptHandler) handlers.push_back(&e);
    if (e.type == Ev::kGoPreempt && e.args[1] == 0) offs.push_back(&e);
  }
  // The first event of thread tid in [ns, before) about goroutine g (any, for g = 0).
  auto first_after = [](const std::vector<const Event*>& v, std::int64_t tid, std::int64_t ns,
                        std::int64_t before, std::uint64_t g) -> const Event* {
    auto it = std::lower_bound(v.begin(), v.end(), ns,
                               [](const Event* e, std::int64_t t) { return e->ns < t; });
    for (; it != v.end() && (*it)->ns < before; ++it) {
      if ((*it)->tid == tid && (g == 0 || (*it)->args[0] == g)) return *it;
    }
    return nullptr;
  };
  for (const Event& e : trace.events) {
    if (e.type == Ev::kPreemptTrigger) {
      if (e.args[2] != static_cast<std::uint64_t>(tracefmt::TriggerOutcome::kDue)) continue;
      // The M's own trigger: the kernel signal it handled is the thread's latest before it.
      PreemptChain c;
      c.tid = e.tid;
      c.g = e.args[0];
      c.trigger = static_cast<int>(e.args[1]);
      auto& ks = signals[c.tid];
      std::size_t& i = next_signal[c.tid];
      while (i + 1 < ks.size() && static_cast<std::int64_t>(ks[i + 1]->generate_ns) <= e.ns) i++;
      if (i < ks.size() && static_cast<std::int64_t>(ks[i]->generate_ns) <= e.ns) {
        const obs_signal* s = ks[i++];
        c.decision_ns = c.generate_ns = static_cast<std::int64_t>(s->generate_ns);
        c.result = static_cast<int>(s->result);
        c.deliver_ns = static_cast<std::int64_t>(s->deliver_ns);
        std::int64_t next = i < ks.size() ? static_cast<std::int64_t>(ks[i]->generate_ns) : INT64_MAX;
        if (const Event* h = first_after(handlers, c.tid, e.ns, next, c.g)) {
          c.handler_ns = h->ns;
          c.verdict = static_cast<int>(h->args[1]);
          if (c.verdict == 0) {
            if (const Event* off = first_after(offs, c.tid, h->ns, next, c.g)) c.off_ns = off->ns;
          }
        }
      } else {
        c.decision_ns = e.ns;
      }
      r.preemptions.push_back(c);
      continue;
    }
    if (e.type != Ev::kPreemptSignal) continue;
    PreemptChain c;
    c.tid = static_cast<std::int64_t>(e.args[0]);
    c.g = e.args[1];
    c.decision_ns = e.ns;
    auto& ks = signals[c.tid];
    std::size_t& i = next_signal[c.tid];
    while (i < ks.size() && static_cast<std::int64_t>(ks[i]->generate_ns) < e.ns) i++;
    if (i < ks.size()) {
      const obs_signal* s = ks[i++];
      c.generate_ns = static_cast<std::int64_t>(s->generate_ns);
      c.result = static_cast<int>(s->result);
      c.deliver_ns = static_cast<std::int64_t>(s->deliver_ns);
      // The handler runs before the thread's next signal can be delivered.
      std::int64_t next = i < ks.size() ? static_cast<std::int64_t>(ks[i]->generate_ns) : INT64_MAX;
      if (c.result == 0) {
        // (A stale handler record has goid 0 or another goroutine: match any.)
        if (const Event* h = first_after(handlers, c.tid, c.deliver_ns, next, 0)) {
          c.handler_ns = h->ns;
          c.verdict = static_cast<int>(h->args[1]);
          if (c.verdict == 0) {
            if (const Event* off = first_after(offs, c.tid, h->ns, next, c.g)) c.off_ns = off->ns;
          }
        }
      }
    }
    r.preemptions.push_back(c);
  }
  for (const Event& e : trace.events) {
    if (e.type != Ev::kUnwrappedBlock) continue;
    auto ns = static_cast<std::int64_t>(e.args[1]);
    if (ns < options.block_threshold_ns) continue;
    r.unwrapped.push_back({static_cast<std::int64_t>(e.args[0]), e.ns, ns, e.args[2] != 0});
  }
  return r;
}

std::string check_text(const CheckReport& r) {
  std::string o;
  char b[512];
  std::snprintf(
      b, sizeof b,
      "P handoff check (blocked = off the CPU >= %.3f ms inside urgent::blocking)\n"
      "  system calls holding a P: %zu   good %llu   at entry %llu   missed %llu   "
      "needless %llu   kept %llu   stalled %llu\n",
      r.threshold_ns / 1e6, r.syscalls.size(), static_cast<unsigned long long>(r.counts[0]),
      static_cast<unsigned long long>(r.counts[1]), static_cast<unsigned long long>(r.counts[2]),
      static_cast<unsigned long long>(r.counts[3]), static_cast<unsigned long long>(r.counts[4]),
      static_cast<unsigned long long>(r.counts[5]));
  o += b;
  Dist delay, wasted;
  for (const SyscallVerdict& v : r.syscalls) {
    if (v.kind == SyscallVerdict::kGood && v.first_off_ns != 0) delay.add(v.delay_ns);
    if (v.kind == SyscallVerdict::kMissed) wasted.add(v.wasted_ns);
  }
  o += "  handoff delay after the thread left the CPU: " + delay.text() + "\n";
  o += "  P-time wasted by missed handoffs: " + wasted.text() + "\n";
  Dist clocks;
  for (const SyscallVerdict& v : r.syscalls) {
    if (v.kernel_enter_ns != 0) clocks.add(v.kernel_enter_ns - v.enter_ns);
  }
  o += "  clock check, trace GoSysCall -> kernel sys_enter: " + clocks.text() + "\n";
  int shown = 0;
  for (const SyscallVerdict& v : r.syscalls) {
    if (v.kind == SyscallVerdict::kKept || v.kind == SyscallVerdict::kAtEntry || shown >= 20)
      continue;
    shown++;
    std::snprintf(
        b, sizeof b, "    %-9s g%-6llu tid %-7lld call %9.3f ms  off-CPU %9.3f ms  handoff %s\n",
        kVerdictKindNames[v.kind], static_cast<unsigned long long>(v.g),
        static_cast<long long>(v.tid), (v.exit_ns - v.enter_ns) / 1e6, v.offcpu_ns / 1e6,
        v.handoff_ns == 0
            ? "none"
            : (std::to_string((v.handoff_ns - v.enter_ns) / 1000) + " µs after entry" +
               (v.first_off_ns != 0
                    ? ", " + std::to_string(v.delay_ns / 1000) + " µs after leaving the CPU"
                    : std::string()))
                  .c_str());
    o += b;
  }
  if (!r.unwrapped.empty()) {
    std::snprintf(b, sizeof b, "  blocks outside urgent::blocking while holding a P: %zu\n",
                  r.unwrapped.size());
    o += b;
  }
  for (std::size_t i = 0; i < r.unwrapped.size() && i < 20; i++) {
    const UnwrappedBlock& u = r.unwrapped[i];
    std::snprintf(b, sizeof b, "    M (tid %lld) blocked %.3f ms outside urgent::blocking%s\n",
                  static_cast<long long>(u.tid), u.ns / 1e6,
                  u.runnable ? " while G's were runnable" : "");
    o += b;
  }
  Steps s(r);
  std::snprintf(b, sizeof b,
                "\npreemption signals: %zu   coalesced %llu   not seen by the kernel %llu   "
                "not taken by the handler (deferred or stale) %llu   no handler seen %llu\n",
                r.preemptions.size(), static_cast<unsigned long long>(s.coalesced),
                static_cast<unsigned long long>(s.undelivered),
                static_cast<unsigned long long>(s.deferred),
                static_cast<unsigned long long>(s.no_handler));
  o += b;
  std::size_t by[3] = {0, 0, 0};
  for (const PreemptChain& c : r.preemptions) by[c.trigger % 3]++;
  if (by[1] + by[2] != 0) {
    std::snprintf(b, sizeof b,
                  "  by sysmon %zu, timer %zu, perf %zu (a trigger's decision is the kernel's "
                  "expiry: decision = signal_generate)\n",
                  by[0], by[1], by[2]);
    o += b;
  }
  o += "  decision -> signal_generate : " + s.to_generate.text() + "\n";
  o += "  signal_generate -> deliver  : " + s.to_deliver.text() + "\n";
  o += "  deliver -> handler          : " + s.to_handler.text() + "\n";
  o += "  handler -> G off its M      : " + s.to_off.text() + "\n";
  o += "  decision -> G off its M     : " + s.total.text() + "\n";
  if (r.kernel_inconsistent != 0 || r.switch_ins_unseen != 0) {
    std::snprintf(b, sizeof b,
                  "  (%llu calls left the CPU by their syscall record without an off-CPU "
                  "interval; the kernel side counted %llu switch-ins it did not see)\n",
                  static_cast<unsigned long long>(r.kernel_inconsistent),
                  static_cast<unsigned long long>(r.switch_ins_unseen));
    o += b;
  }
  if (r.kernel_drops != 0 || r.trace_dropped != 0) {
    std::snprintf(b, sizeof b,
                  "  (incomplete: %llu kernel records and %llu trace events dropped)\n",
                  static_cast<unsigned long long>(r.kernel_drops),
                  static_cast<unsigned long long>(r.trace_dropped));
    o += b;
  }
  return o;
}

std::string check_json(const CheckReport& r) {
  std::string o = "{\"threshold_ns\":" + std::to_string(r.threshold_ns) + ",\"syscalls\":{";
  for (int k = 0; k < 6; k++) {
    o += std::string(k ? "," : "") + "\"" + kVerdictKindNames[k] +
         "\":" + std::to_string(r.counts[k]);
  }
  Dist delay, wasted;
  for (const SyscallVerdict& v : r.syscalls) {
    if (v.kind == SyscallVerdict::kGood && v.first_off_ns != 0) delay.add(v.delay_ns);
    if (v.kind == SyscallVerdict::kMissed) wasted.add(v.wasted_ns);
  }
  Dist clocks;
  for (const SyscallVerdict& v : r.syscalls) {
    if (v.kernel_enter_ns != 0) clocks.add(v.kernel_enter_ns - v.enter_ns);
  }
  o += "},\"handoff_delay\":" + delay.json() + ",\"wasted\":" + wasted.json() +
       ",\"clock_check\":" + clocks.json();
  Steps s(r);
  o += ",\"preemption\":{\"signals\":" + std::to_string(r.preemptions.size()) +
       ",\"coalesced\":" + std::to_string(s.coalesced) +
       ",\"unseen\":" + std::to_string(s.undelivered) +
       ",\"deferred\":" + std::to_string(s.deferred) +
       ",\"no_handler\":" + std::to_string(s.no_handler) +
       ",\"decision_to_generate\":" + s.to_generate.json() +
       ",\"generate_to_deliver\":" + s.to_deliver.json() +
       ",\"deliver_to_handler\":" + s.to_handler.json() + ",\"handler_to_off\":" + s.to_off.json() +
       ",\"decision_to_off\":" + s.total.json() + "}";
  std::uint64_t unwrapped_runnable = 0;
  for (const UnwrappedBlock& u : r.unwrapped) unwrapped_runnable += u.runnable;
  o += ",\"unwrapped_blocks\":{\"count\":" + std::to_string(r.unwrapped.size()) +
       ",\"while_runnable\":" + std::to_string(unwrapped_runnable) + "}";
  o += ",\"kernel_inconsistent\":" + std::to_string(r.kernel_inconsistent) +
       ",\"switch_ins_unseen\":" + std::to_string(r.switch_ins_unseen) +
       ",\"kernel_drops\":" + std::to_string(r.kernel_drops) +
       ",\"trace_dropped\":" + std::to_string(r.trace_dropped) + "}";
  return o;
}

}  // namespace urgent::bpf
