// runtime/cmd/urgent-trace/analysis.cc: urgent-trace summary.
#include "analysis.h"

#include <algorithm>
#include <cstdio>

namespace urgent::tracetool {

using tracefmt::Ev;

namespace {

struct GTrack {
  GState state = GState::kUnknown;
  std::int64_t since = 0;
  std::string reason;
  bool handed_off = false;  // in a call whose P was handed off
};

void account(GoroutineTimes* g, const GTrack& tr, std::int64_t d) {
  switch (tr.state) {
    case GState::kRunning: g->running += d; break;
    case GState::kRunnable: g->runnable += d; break;
    case GState::kWaiting:
      g->waiting += d;
      g->waiting_by_reason[tr.reason] += d;
      break;
    case GState::kSyscall: g->syscall += d; break;
    default: break;
  }
}

// Power-of-two histogram lines, from 1 µs.
std::string histogram(const std::vector<std::int64_t>& v) {
  if (v.empty()) return "";
  std::map<int, std::size_t> buckets;
  for (std::int64_t x : v) {
    int b = 0;
    while (b < 40 && (1000LL << b) <= x) b++;
    buckets[b]++;
  }
  std::string out;
  for (auto [b, n] : buckets) {
    std::string range =
        b == 0 ? "< " + fmt_ns(1000) : fmt_ns(1000LL << (b - 1)) + " .. " + fmt_ns(1000LL << b);
    int bar = static_cast<int>(50.0 * static_cast<double>(n) / static_cast<double>(v.size()) + 0.5);
    char line[160];
    std::snprintf(line, sizeof line, "    %-22s %9zu  %s\n", range.c_str(), n,
                  std::string(static_cast<std::size_t>(bar), '#').c_str());
    out += line;
  }
  return out;
}

void json_dist(std::string* o, const char* name, const std::vector<std::int64_t>& v) {
  *o += std::string("\"") + name + "\":" + dist_json(v);
}

}  // namespace

std::string fmt_ns(std::int64_t ns) {
  char b[32];
  if (ns < 10'000) {
    std::snprintf(b, sizeof b, "%lld ns", static_cast<long long>(ns));
  } else if (ns < 10'000'000) {
    std::snprintf(b, sizeof b, "%.1f µs", ns / 1e3);
  } else {
    std::snprintf(b, sizeof b, "%.2f ms", ns / 1e6);
  }
  return b;
}

std::string dist_text(const std::vector<std::int64_t>& v) {
  if (v.empty()) return "none";
  return "n=" + std::to_string(v.size()) + "  p50 " + fmt_ns(percentile(v, 0.5)) + "  p90 " +
         fmt_ns(percentile(v, 0.9)) + "  p99 " + fmt_ns(percentile(v, 0.99)) + "  max " +
         fmt_ns(v.back());
}

std::string dist_json(const std::vector<std::int64_t>& v) {
  char b[200];
  std::snprintf(
      b, sizeof b, "{\"n\":%zu,\"p50_ns\":%lld,\"p90_ns\":%lld,\"p99_ns\":%lld,\"max_ns\":%lld}",
      v.size(), static_cast<long long>(percentile(v, 0.5)),
      static_cast<long long>(percentile(v, 0.9)), static_cast<long long>(percentile(v, 0.99)),
      static_cast<long long>(v.empty() ? 0 : v.back()));
  return b;
}

Summary summarize(const Trace& t) {
  Summary s;
  if (t.events.empty()) return s;
  std::int64_t t_end = t.events.back().ns;
  s.duration_ns = t_end - t.events.front().ns;
  std::map<std::uint64_t, GTrack> track;
  std::map<std::uint64_t, std::int64_t> runnable_since, syscall_since;
  struct Decision {
    std::int64_t ns;
    std::uint64_t g;
    int trigger;
  };
  std::map<std::int64_t, Decision> decided;  // by thread: its last preemption decision
  for (const Event& e : t.events) {
    s.events_by_type[static_cast<int>(e.type)]++;
    if (e.m >= 0) s.threads[e.m] = e.tid;
    switch (e.type) {
      case Ev::kGoStart: s.ps[static_cast<std::int64_t>(e.args[1])]++; break;
      case Ev::kGoPreempt: {
        if (auto it = decided.find(e.tid);
            e.args[1] == 0 && it != decided.end() && it->second.g == e.args[0]) {
          s.preempt_ns[it->second.trigger].push_back(e.ns - it->second.ns);
          decided.erase(it);
        }
        GoroutineTimes& g = s.goroutines[e.args[0]];
        (e.args[1] == 0   ? g.preempt_async
         : e.args[1] == 1 ? g.preempt_cooperative
                          : g.preempt_after_deferred)++;
        break;
      }
      case Ev::kGoSched: s.goroutines[e.args[0]].yields++; break;
      case Ev::kGoSysExit:
        if (e.args[1] < 3) s.syscall_exits[e.args[1]]++;
        break;
      case Ev::kGoSysBlock:
        s.syscalls_handed_off++;
        track[e.args[0]].handed_off = true;
        break;
      case Ev::kPreemptSignal:
        s.signals++;
        decided[static_cast<std::int64_t>(e.args[0])] = {e.ns, e.args[1], 0};
        break;
      case Ev::kPreemptTrigger:
        if (e.args[2] == static_cast<std::uint64_t>(tracefmt::TriggerOutcome::kDue) && e.args[1] < 3) {
          decided[e.tid] = {e.ns, e.args[0], static_cast<int>(e.args[1])};
        }
        break;
      case Ev::kPreemptHandler:
        if (e.args[1] < tracefmt::kVerdictCount) s.verdicts[e.args[1]]++;
        break;
      case Ev::kSteal:
        s.steals++;
        s.stolen += e.args[2];
        break;
      default: break;
    }
    std::uint64_t goid;
    GState to;
    if (!transition(e, &goid, &to)) continue;
    GTrack& tr = track[goid];
    GoroutineTimes& g = s.goroutines[goid];
    if (tr.state != GState::kUnknown) account(&g, tr, e.ns - tr.since);
    if (to == GState::kRunnable) runnable_since[goid] = e.ns;
    if (e.type == Ev::kGoStart) {
      if (auto it = runnable_since.find(goid); it != runnable_since.end()) {
        s.sched_latency_ns.push_back(e.ns - it->second);
        runnable_since.erase(it);
      }
    }
    if (e.type == Ev::kGoSysCall) {
      syscall_since[goid] = e.ns;
      tr.handed_off = false;
    }
    if (e.type == Ev::kGoSysExit) {
      if (auto it = syscall_since.find(goid); it != syscall_since.end()) {
        s.syscall_ns.push_back(e.ns - it->second);
        if (tr.handed_off) s.handed_off_ns.push_back(e.ns - it->second);
        syscall_since.erase(it);
      }
    }
    tr.state = to;
    tr.since = e.ns;
    tr.reason = e.type == Ev::kGoBlock ? t.reason(e.args[1]) : "";
  }
  for (auto& [goid, tr] : track) {
    if (tr.state != GState::kUnknown) account(&s.goroutines[goid], tr, t_end - tr.since);
  }
  for (const auto& [goid, g] : s.goroutines) {
    s.total.running += g.running;
    s.total.runnable += g.runnable;
    s.total.waiting += g.waiting;
    s.total.syscall += g.syscall;
    for (const auto& [r, d] : g.waiting_by_reason) s.total.waiting_by_reason[r] += d;
    s.total.preempt_async += g.preempt_async;
    s.total.preempt_cooperative += g.preempt_cooperative;
    s.total.preempt_after_deferred += g.preempt_after_deferred;
    s.total.yields += g.yields;
  }
  for (auto* v : {&s.sched_latency_ns, &s.syscall_ns, &s.handed_off_ns, &s.preempt_ns[0],
                  &s.preempt_ns[1], &s.preempt_ns[2]})
    std::sort(v->begin(), v->end());
  return s;
}

std::string summary_text(const Trace& t, const Summary& s, int top) {
  std::string o;
  char b[512];
  std::snprintf(b, sizeof b,
                "urgent trace: pid %lld, GOMAXPROCS %d, %s, %.3f ms, %zu events, %zu Ms, %zu "
                "goroutines\n",
                static_cast<long long>(t.pid), t.gomaxprocs,
                t.flight ? "flight recorder window" : "full trace", s.duration_ns / 1e6,
                t.events.size(), s.threads.size(), s.goroutines.size());
  o += b;
  std::snprintf(b, sizeof b, "dropped events: %llu%s\n",
                static_cast<unsigned long long>(std::max(t.dropped, t.lost)),
                t.complete ? "" : "  (no End chunk: the trace was cut short)");
  o += b;
  o += "\nevents:";
  for (int i = 1; i < tracefmt::kEvCount; i++) {
    if (s.events_by_type[i] == 0) continue;
    o += std::string(" ") + tracefmt::kEventSpecs[i].name + "=" +
         std::to_string(s.events_by_type[i]);
  }
  o += "\n\nscheduler latency (runnable -> running): " + dist_text(s.sched_latency_ns) + "\n";
  o += histogram(s.sched_latency_ns);
  o += "\nsystem calls: " + dist_text(s.syscall_ns) + "\n";
  std::snprintf(b, sizeof b, "  exits: own P %llu, idle P %llu, no P %llu; P handed off: %llu\n",
                static_cast<unsigned long long>(s.syscall_exits[0]),
                static_cast<unsigned long long>(s.syscall_exits[1]),
                static_cast<unsigned long long>(s.syscall_exits[2]),
                static_cast<unsigned long long>(s.syscalls_handed_off));
  o += b;
  o += "  calls that lost their P: " + dist_text(s.handed_off_ns) + "\n";
  o += histogram(s.syscall_ns);
  std::snprintf(b, sizeof b,
                "\npreemption: %llu signals; handler: safe %llu, deferred runtime %llu, locks "
                "%llu, disabled %llu, foreign %llu, stack %llu; stale %llu\n",
                static_cast<unsigned long long>(s.signals),
                static_cast<unsigned long long>(s.verdicts[0]),
                static_cast<unsigned long long>(s.verdicts[1]),
                static_cast<unsigned long long>(s.verdicts[2]),
                static_cast<unsigned long long>(s.verdicts[3]),
                static_cast<unsigned long long>(s.verdicts[4]),
                static_cast<unsigned long long>(s.verdicts[5]),
                static_cast<unsigned long long>(s.verdicts[6]));
  o += b;
  std::snprintf(b, sizeof b,
                "  preempted: async %llu, cooperative %llu, after deferral %llu; yields %llu; "
                "steals %llu (%llu goroutines)\n",
                static_cast<unsigned long long>(s.total.preempt_async),
                static_cast<unsigned long long>(s.total.preempt_cooperative),
                static_cast<unsigned long long>(s.total.preempt_after_deferred),
                static_cast<unsigned long long>(s.total.yields),
                static_cast<unsigned long long>(s.steals),
                static_cast<unsigned long long>(s.stolen));
  o += b;
  for (int i = 0; i < 3; i++) {
    if (s.preempt_ns[i].empty()) continue;
    o += std::string("  decision -> off its M, decided by ") + tracefmt::kTriggerNames[i] + ": " +
         dist_text(s.preempt_ns[i]) + "\n";
  }
  std::snprintf(
      b, sizeof b,
      "\ntime in each state, all goroutines: running %s, runnable %s, waiting %s, syscall %s\n",
      fmt_ns(s.total.running).c_str(), fmt_ns(s.total.runnable).c_str(),
      fmt_ns(s.total.waiting).c_str(), fmt_ns(s.total.syscall).c_str());
  o += b;
  for (const auto& [r, d] : s.total.waiting_by_reason)
    o += "  waiting, " + r + ": " + fmt_ns(d) + "\n";
  std::vector<std::pair<std::uint64_t, const GoroutineTimes*>> gs;
  for (const auto& [goid, g] : s.goroutines) gs.emplace_back(goid, &g);
  std::sort(gs.begin(), gs.end(), [](const auto& a, const auto& b) {
    return a.second->running != b.second->running ? a.second->running > b.second->running
                                                  : a.first < b.first;
  });
  std::snprintf(b, sizeof b, "\n%8s %12s %12s %12s %12s %7s %7s %7s %7s\n", "goroutine", "running",
                "runnable", "waiting", "syscall", "async", "coop", "defer", "yields");
  o += b;
  int shown = 0;
  for (const auto& [goid, g] : gs) {
    if (shown++ == top) {
      o += "  ... " + std::to_string(gs.size() - static_cast<std::size_t>(top)) + " more\n";
      break;
    }
    std::snprintf(b, sizeof b, "%8llu %12s %12s %12s %12s %7llu %7llu %7llu %7llu\n",
                  static_cast<unsigned long long>(goid), fmt_ns(g->running).c_str(),
                  fmt_ns(g->runnable).c_str(), fmt_ns(g->waiting).c_str(),
                  fmt_ns(g->syscall).c_str(), static_cast<unsigned long long>(g->preempt_async),
                  static_cast<unsigned long long>(g->preempt_cooperative),
                  static_cast<unsigned long long>(g->preempt_after_deferred),
                  static_cast<unsigned long long>(g->yields));
    o += b;
  }
  o += "\ngoroutine starts per P:";
  for (const auto& [p, n] : s.ps) o += " P" + std::to_string(p) + "=" + std::to_string(n);
  o += "\n";
  return o;
}

std::string summary_json(const Trace& t, const Summary& s) {
  std::string o = "{";
  char b[512];
  std::snprintf(b, sizeof b,
                "\"pid\":%lld,\"gomaxprocs\":%d,\"flight\":%s,\"complete\":%s,\"duration_ns\":%lld,"
                "\"events\":%zu,\"dropped\":%llu,\"threads\":%zu,\"goroutines\":%zu,",
                static_cast<long long>(t.pid), t.gomaxprocs, t.flight ? "true" : "false",
                t.complete ? "true" : "false", static_cast<long long>(s.duration_ns),
                t.events.size(), static_cast<unsigned long long>(std::max(t.dropped, t.lost)),
                s.threads.size(), s.goroutines.size());
  o += b;
  o += "\"events_by_type\":{";
  bool first = true;
  for (int i = 1; i < tracefmt::kEvCount; i++) {
    if (s.events_by_type[i] == 0) continue;
    o += std::string(first ? "" : ",") + "\"" + tracefmt::kEventSpecs[i].name +
         "\":" + std::to_string(s.events_by_type[i]);
    first = false;
  }
  o += "},";
  json_dist(&o, "sched_latency", s.sched_latency_ns);
  o += ",";
  json_dist(&o, "syscalls", s.syscall_ns);
  o += ",";
  json_dist(&o, "syscalls_handed_off", s.handed_off_ns);
  std::snprintf(b, sizeof b,
                ",\"syscall_exits\":{\"own_p\":%llu,\"idle_p\":%llu,\"no_p\":%llu},"
                "\"preempt\":{\"signals\":%llu,\"async\":%llu,\"cooperative\":%llu,"
                "\"after_deferred\":%llu,\"handler\":{",
                static_cast<unsigned long long>(s.syscall_exits[0]),
                static_cast<unsigned long long>(s.syscall_exits[1]),
                static_cast<unsigned long long>(s.syscall_exits[2]),
                static_cast<unsigned long long>(s.signals),
                static_cast<unsigned long long>(s.total.preempt_async),
                static_cast<unsigned long long>(s.total.preempt_cooperative),
                static_cast<unsigned long long>(s.total.preempt_after_deferred));
  o += b;
  for (int i = 0; i < tracefmt::kVerdictCount; i++) {
    o += std::string(i ? "," : "") + "\"" + tracefmt::kVerdictNames[i] +
         "\":" + std::to_string(s.verdicts[i]);
  }
  o += "},\"by_trigger\":{";
  for (int i = 0; i < 3; i++) {
    o += std::string(i ? "," : "");
    json_dist(&o, tracefmt::kTriggerNames[i], s.preempt_ns[i]);
  }
  std::snprintf(b, sizeof b,
                "}},\"steals\":%llu,\"stolen\":%llu,\"state_ns\":{\"running\":%lld,\"runnable\":"
                "%lld,\"waiting\":%lld,\"syscall\":%lld},\"ps\":{",
                static_cast<unsigned long long>(s.steals),
                static_cast<unsigned long long>(s.stolen), static_cast<long long>(s.total.running),
                static_cast<long long>(s.total.runnable), static_cast<long long>(s.total.waiting),
                static_cast<long long>(s.total.syscall));
  o += b;
  first = true;
  for (const auto& [p, n] : s.ps) {
    o += std::string(first ? "" : ",") + "\"" + std::to_string(p) + "\":" + std::to_string(n);
    first = false;
  }
  o += "}}";
  return o;
}

}  // namespace urgent::tracetool
