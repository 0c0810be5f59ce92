// bench/lab/urgent-lab: the experiments a preemption researcher needs, urgent next to Go 1.19
// in the same run (`make lab`).
//
//   urgent-lab [--quick] [--only NAME[,NAME...]] [--json] [--out DIR]
//
// Experiments (NAME):
//   floor     the machine's floor: tgkill -> handler latency (plain threads, no runtime;
//             urgent-bench preemptlat's) and a plain thread's timer lateness (1 ms sleeps)
//   preempt   preemption latency, decision -> goroutine off its M, at 10 ms, 1 ms, 100 µs
//             and 50 µs slices (urgent-bench preemptlat); as root, the eBPF breakdown
//             (urgent-scope's checker) and its disagreement with the runtime's clock
//   probe     a sleeper's lateness while a goroutine spins with no calls, by slice and
//             trigger (URGENT_PREEMPT), next to Go's (10 ms, fixed); latency CDFs
//   fairness  4 goroutines spinning on 2 Ps: each one's CPU share and Jain's index, by
//             slice and trigger, next to Go
//   overhead  CPU-bound throughput by slice relative to preemption off, with the
//             machine's floor (a bare timer signal per slice)
//   handoff   P handoff from a goroutine blocked in read(2): delays; as root the checker's
//             good/missed/needless counts, and the kernel's view of Go's twin
//   micro     spawn, yield, pingpong, chanbuf, mutex, select, echo against their Go twins
//   trigger   who ends the slice (URGENT_PREEMPT=sysmon|timer|perf): the slice's end ->
//             goroutine off its M (urgent::preempt_overrun), sysmon's wakeups per second,
//             and the CPU-bound overhead next to the bare-timer floor, per slice
//
// Output: a table on stdout (or results.json with --json), DIR/results.json, DIR/*.png
// (gnuplot), DIR/*.dat, DIR/logs/. DIR defaults to results/<UTC timestamp>. Progress goes
// to stderr. Exit status: 0, 1 if an experiment failed (the others still run), 2 usage.
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cmd/urgent-trace/reader.h"
#include "lab.h"

namespace {

using namespace urgent::lab;

constexpr const char* kUsage =
    "usage: urgent-lab [--quick] [--only NAME[,NAME...]] [--json] [--out DIR]\n"
    "experiments: floor preempt probe fairness overhead handoff micro trigger\n";
const std::vector<std::string> kExperiments = {"floor",    "preempt", "probe", "fairness",
                                               "overhead", "handoff", "micro", "trigger"};
const std::vector<std::string> kSlices = {"10ms", "1ms", "100us", "50us"};

struct Lab {
  std::string self;  // this program
  std::string bin;   // directory of the tools
  std::string out;   // results directory
  bool quick = false;
  bool root = false;
  // The floor experiment's activation floors, p50 in us, by URGENT_HANDOFF mode: "perf"
  // (perf switch -> woken), "bpf" (bpf_send_signal -> woken); absent: not measured.
  std::map<std::string, double> activation_p50;
  std::vector<std::string> table;    // lines for stdout
  std::vector<std::string> json;     // "name": {...} members of "experiments"
  std::vector<std::string> crosses;  // cross-check lines
  int failures = 0;
  int log_seq = 0;

  // Runs a shell command (stdout captured, stderr to a log file); false on failure.
  bool run(const std::string& cmd, std::string* output) {
    std::string log = out + "/logs/" + std::to_string(++log_seq) + ".log";
    {
      std::ofstream l(log);
      l << "$ " << cmd << "\n";
    }
    FILE* p = popen((cmd + " 2>>" + log).c_str(), "r");
    if (p == nullptr) return false;
    char buf[4096];
    output->clear();
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
    int st = pclose(p);
    std::ofstream(log, std::ios::app) << *output;
    if (st != 0) {
      std::fprintf(stderr, "[lab]   failed (status %d): %s (log: %s)\n", st, cmd.c_str(),
                   log.c_str());
      return false;
    }
    return true;
  }
  std::string tool(const std::string& name) const { return bin + "/" + name; }
  void progress(const std::string& s) const { std::fprintf(stderr, "[lab] %s\n", s.c_str()); }
  void row(const std::string& s) { table.push_back(s); }
  void fail(const std::string& what) {
    failures++;
    row("  FAILED: " + what);
  }
  void write(const std::string& name, const std::string& data) const {
    std::ofstream(out + "/" + name) << data;
  }
};

// Samples of each probe run (its CDF's denominator too).
long probe_samples(const Lab& lab) {
  return lab.quick ? 40 : 400;
}

// A slice's length in µs (the plots' x axis).
double slice_us(const std::string& slice) {
  static const std::map<std::string, double> us = {
      {"10ms", 10000}, {"1ms", 1000}, {"100us", 100}, {"50us", 50}};
  return us.at(slice);
}

// A file's contents ("" if it cannot be read: the caller's parse then finds nothing).
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

std::string fmt(const char* f, double a) {
  char b[64];
  std::snprintf(b, sizeof b, f, a);
  return b;
}

// Runs `cmd` under urgent-scope with urgent's trace, and returns the checker's JSON (root).
// With keep_trace, the trace stays at *keep_trace (the caller removes it).
bool scoped(Lab& lab, const std::string& env, const std::string& cmd, std::string* output,
            std::string* scope_json, std::string* keep_trace = nullptr) {
  std::string trace = lab.out + "/logs/scope-" + std::to_string(lab.log_seq + 1) + ".trace";
  std::string report = trace + ".json";
  bool ok = lab.run(lab.tool("urgent-scope") + " --json -o " + report + " --trace " + trace +
                        " -- env " + env + " URGENT_TRACE=" + trace + " " + cmd,
                    output);
  *scope_json = read_file(report);
  if (keep_trace != nullptr) {
    *keep_trace = trace;
  } else {
    std::remove(trace.c_str());
  }
  return ok;
}

// ---- experiments ----

// The handoff experiment's calls block this long (urgent-bench handoff: main sleeps 20 ms).
constexpr long kHandoffBlockUs = 20'000;

// urgent-bench activation's wake paths: "perf", "bpf signal", "bpf ringbuf" -> p50, p99 (us).
using WakeFloors = std::map<std::string, std::pair<double, double>>;

WakeFloors wake_floors(Lab& lab, long n, long block_us) {
  WakeFloors floors;
  std::string out;
  if (!lab.run("URGENT_BENCH_BLOCK_US=" + std::to_string(block_us) + " " +
                   lab.tool("urgent-bench") + " activation " + std::to_string(n),
               &out)) {
    return floors;
  }
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    for (const auto& [prefix, path] : {std::pair<std::string, std::string>("activation ", "perf"),
                                       {"bpf signal ", "bpf signal"},
                                       {"bpf ringbuf ", "bpf ringbuf"}}) {
      double p50 = 0, p99 = 0;
      if (line.rfind(prefix + "p50 ", 0) == 0 &&
          std::sscanf(line.c_str() + prefix.size(), "p50 %lf us p99 %lf us", &p50, &p99) == 2) {
        floors[path] = {p50, p99};
      }
    }
  }
  if (lab.root && floors.size() != 3) lab.fail("urgent-bench activation's BPF floors");
  return floors;
}

// The floors as JSON members: "activation_p50_us" (perf), "bpf_signal_p50_us", ...
std::string wake_json(const WakeFloors& floors) {
  std::string j;
  for (const auto& [path, f] : floors) {
    std::string key = path == "perf" ? "activation" : path;
    std::replace(key.begin(), key.end(), ' ', '_');
    j += ",\"" + key + "_p50_us\":" + num(f.first) + ",\"" + key + "_p99_us\":" + num(f.second);
  }
  return j;
}

void floor_experiment(Lab& lab) {
  std::string out;
  long n = lab.quick ? 200 : 1000;
  lab.progress("floor: tgkill -> handler (urgent-bench preemptlat's floor), timer lateness");
  std::optional<PreemptLat> p;
  // As root, the kernel follows the floor's signal (SIGUSR1) from generate to deliver: the
  // part of tgkill -> handler that is the kernel's.
  std::string floor_cmd =
      "URGENT_TIMESLICE=500us " + lab.tool("urgent-bench") + " preemptlat " + std::to_string(n);
  std::string floor_report = lab.out + "/logs/floor.json";
  if (lab.run(lab.root ? lab.tool("urgent-scope") + " --json --signal 10 -o " + floor_report +
                             " -- env " + floor_cmd
                       : floor_cmd,
              &out)) {
    p = parse_preemptlat(out);
  }
  if (p && lab.root) {
    if (auto k = json_number(read_file(floor_report), "sigurg.latency.p50_ns")) {
      lab.crosses.push_back(
          "tgkill -> handler p50: the threads' clock " + fmt("%.1f", p->floor_p50) +
          " us; the kernel's signal_generate -> signal_deliver inside it " + fmt("%.1f", *k / 1e3) +
          " us (the rest: tgkill's entry and the wake-up IPI "
          "before generate, the signal frame after deliver)");
    }
  }
  // A plain thread's timer lateness: this program's --timer-lateness mode, observed by
  // urgent-scope as root, so that the kernel's clock_nanosleep enter->exit checks it.
  long sleeps = lab.quick ? 100 : 500;
  std::string timer_cmd = lab.self + " --timer-lateness " + std::to_string(sleeps);
  std::string report = lab.out + "/logs/timer.json";
  double l50 = 0, l99 = 0;
  std::string cmd = lab.root ? lab.tool("urgent-scope") + " --json --min-syscall-us 0 -o " +
                                   report + " -- " + timer_cmd
                             : timer_cmd;
  bool timer = lab.run(cmd, &out) &&
               std::sscanf(out.c_str(), "timer lateness p50 %lf us p99 %lf us", &l50, &l99) == 2;
  if (timer && lab.root) {
    std::vector<double> kernel;
    for (auto [d, off] : parse_scope_calls(read_file(report), "clock_nanosleep"))
      kernel.push_back(d / 1e3 - 1000);
    if (auto k = median(kernel)) {
      lab.crosses.push_back("timer lateness p50: the thread's clock " + fmt("%.1f", l50) +
                            " us, the kernel's clock_nanosleep enter -> exit " + fmt("%.1f", *k) +
                            " us (" + fmt("%+.1f", *k - l50) + " us)");
    }
  }
  // The floors of kernel-assisted handoff: a plain thread that blocks -> another thread
  // running, woken by a perf context-switch event, by bpf_send_signal or by a BPF ring
  // buffer (urgent-bench activation; the BPF ones as root), beside tgkill's. Measured with
  // the handoff experiment's 20 ms blocks (the ratios' floor), and with 2 ms blocks: how
  // long the woken thread slept changes how long it takes to wake.
  lab.progress("floor: perf/BPF wakeup -> woken thread (urgent-bench activation)");
  long an = lab.quick ? 50 : 400;
  WakeFloors wake = wake_floors(lab, an, kHandoffBlockUs);
  WakeFloors wake_short = wake_floors(lab, an, kHandoffBlockUs / 10);
  bool activation = wake.count("perf") != 0;
  if (activation) lab.activation_p50["perf"] = wake["perf"].first;
  if (wake.count("bpf signal")) lab.activation_p50["bpf"] = wake["bpf signal"].first;
  lab.row("1. signal floor (no runtime)");
  if (p) {
    lab.row("  tgkill -> handler        p50 " + fmt("%8.1f", p->floor_p50) + " us   p99 " +
            fmt("%8.1f", p->floor_p99) + " us");
  } else {
    lab.fail("preemptlat's floor");
  }
  for (const auto& [floors, block] : {std::pair(&wake, kHandoffBlockUs),
                                       std::pair(&wake_short, kHandoffBlockUs / 10)}) {
    for (const auto& [path, f] : *floors) {
      std::string name = path + " -> woken";
      std::string own = path == "perf" ? "perf" : path == "bpf signal" ? "bpf" : "";
      lab.row("  " + name + std::string(25 - name.size(), ' ') + "p50 " + fmt("%8.1f", f.first) +
              " us   p99 " + fmt("%8.1f", f.second) + " us   (after " + num(block / 1000.0) +
              " ms asleep" +
              (block == kHandoffBlockUs && !own.empty() ? "; URGENT_HANDOFF=" + own + "'s floor"
                                                        : "") +
              ")");
    }
  }
  if (!activation) lab.fail("urgent-bench activation");
  if (timer) {
    lab.row("  timer lateness (1 ms)    p50 " + fmt("%8.1f", l50) + " us   p99 " +
            fmt("%8.1f", l99) + " us");
  } else {
    lab.fail("timer lateness");
  }
  lab.json.push_back("\"floor\":{\"tgkill_handler_p50_us\":" + (p ? num(p->floor_p50) : "null") +
                     ",\"tgkill_handler_p99_us\":" + (p ? num(p->floor_p99) : "null") +
                     ",\"timer_lateness_p50_us\":" + (timer ? num(l50) : "null") +
                     ",\"timer_lateness_p99_us\":" + (timer ? num(l99) : "null") +
                     ",\"wake_block_us\":" + std::to_string(kHandoffBlockUs) +
                     wake_json(wake) + ",\"short_block\":{\"wake_block_us\":" +
                     std::to_string(kHandoffBlockUs / 10) + wake_json(wake_short) + "}}");
}

void preempt_experiment(Lab& lab) {
  std::map<std::string, long> n = {{"10ms", 100}, {"1ms", 300}, {"100us", 1000}, {"50us", 1000}};
  lab.row(
      "2. preemption latency, decision -> off its M (urgent-bench preemptlat; floor = tgkill -> "
      "handler)");
  lab.row(
      std::string("  slice       p50 us    p99 us    max us   floor p50") +
      (lab.root
           ? "   kernel: gen->deliver  deliver->handler  handler->off   total p50 (trace+kernel)"
           : ""));
  std::string json = "\"preempt\":{";
  std::string dat = "# slice_us p50_us p99_us floor_p50_us\n";
  bool first = true;
  for (const std::string& s : kSlices) {
    long count = lab.quick ? n[s] / 5 : n[s];
    lab.progress("preempt: slice " + s);
    std::string out, scope;
    std::string cmd = lab.tool("urgent-bench") + " preemptlat " + std::to_string(count);
    bool ok = lab.root ? scoped(lab, "URGENT_TIMESLICE=" + s, cmd, &out, &scope)
                       : lab.run("URGENT_TIMESLICE=" + s + " " + cmd, &out);
    auto p = ok ? parse_preemptlat(out) : std::nullopt;
    if (!p) {
      lab.fail("preemptlat at " + s);
      continue;
    }
    char b[256];
    std::snprintf(b, sizeof b, "  %-8s %9.1f %9.1f %9.1f %9.1f", s.c_str(), p->p50, p->p99, p->max,
                  p->floor_p50);
    std::string line = b;
    std::string kernel;
    if (lab.root) {
      auto g = json_number(scope, "check.preemption.generate_to_deliver.p50_ns");
      auto d = json_number(scope, "check.preemption.deliver_to_handler.p50_ns");
      auto h = json_number(scope, "check.preemption.handler_to_off.p50_ns");
      auto t = json_number(scope, "check.preemption.decision_to_off.p50_ns");
      auto gen = json_number(scope, "sigurg.generated");
      if (g && d && h && t) {
        std::snprintf(b, sizeof b, "   %14.1f us %14.1f us %12.1f us %12.1f us", *g / 1e3, *d / 1e3,
                      *h / 1e3, *t / 1e3);
        line += b;
        lab.crosses.push_back("preemption latency p50 at " + s + ": runtime clock " +
                              fmt("%.1f", p->p50) + " us, trace joined with the kernel " +
                              fmt("%.1f", *t / 1e3) + " us (" +
                              fmt("%+.1f", (*t / 1e3 - p->p50) / p->p50 * 100) + " %)");
        kernel = ",\"kernel\":{\"generate_to_deliver_p50_ns\":" + num(*g) +
                 ",\"deliver_to_handler_p50_ns\":" + num(*d) +
                 ",\"handler_to_off_p50_ns\":" + num(*h) +
                 ",\"decision_to_off_p50_ns\":" + num(*t) +
                 ",\"sigurg_generated\":" + (gen ? num(*gen) : "null") + "}";
      }
    }
    lab.row(line);
    json += std::string(first ? "" : ",") + "\"" + s + "\":{\"p50_us\":" + num(p->p50) +
            ",\"p99_us\":" + num(p->p99) + ",\"max_us\":" + num(p->max) +
            ",\"floor_p50_us\":" + num(p->floor_p50) +
            ",\"preemptions\":" + std::to_string(p->preemptions) + kernel + "}";
    first = false;
    dat +=
        num(slice_us(s)) + " " + num(p->p50) + " " + num(p->p99) + " " + num(p->floor_p50) + "\n";
  }
  lab.json.push_back(json + "}");
  lab.write("preempt.dat", dat);
}

// Who ends the slice (URGENT_PREEMPT): per trigger and slice, how late after the slice's end
// the goroutine left its M, sysmon's wakeups meanwhile, and the CPU-bound overhead next to
// the bare-timer floor (urgent-bench preemptlat and overhead, run with each trigger).
void trigger_experiment(Lab& lab) {
  const std::vector<std::string> triggers = {"sysmon", "timer", "perf"};
  std::map<std::string, long> n = {{"10ms", 60}, {"1ms", 300}, {"100us", 1000}, {"50us", 1000}};
  lab.row("8. triggers: the slice's end -> the goroutine off its M, by who decides (URGENT_PREEMPT)");
  lab.row("  trigger  slice       p50 us    p99 us    max us   sysmon wakeups/s   overhead   floor");
  std::string json = "\"trigger\":{";
  std::string dat = "# slice_us";
  for (const std::string& t : triggers) dat += " " + t + "_p50_us " + t + "_p99_us";
  dat += "\n";
  std::map<std::string, std::map<std::string, Overrun>> by;  // slice -> trigger -> figures
  bool first = true;
  for (const std::string& t : triggers) {
    lab.progress("trigger: " + t + " overhead");
    std::string out;
    long steps = lab.quick ? 10 : 50;
    auto o = lab.run("URGENT_PREEMPT=" + t + " " + lab.tool("urgent-bench") + " overhead " +
                         std::to_string(steps),
                     &out)
                 ? parse_overhead(out)
                 : std::nullopt;
    if (!o) lab.fail("overhead with URGENT_PREEMPT=" + t);
    for (const std::string& s : kSlices) {
      long count = lab.quick ? n[s] / 5 : n[s];
      lab.progress("trigger: " + t + " " + s);
      std::string cmd = "URGENT_PREEMPT=" + t + " URGENT_TIMESLICE=" + s + " " +
                        lab.tool("urgent-bench") + " preemptlat " + std::to_string(count);
      auto r = lab.run(cmd, &out) ? parse_overrun(out) : std::nullopt;
      if (!r || r->trigger != t) {
        lab.fail("preemptlat with URGENT_PREEMPT=" + t + " at " + s +
                 (r ? " (fell back to " + r->trigger + ")" : ""));
        continue;
      }
      by[s][t] = *r;
      std::string ov = "      -", fl = "      -", ov_json = "null", fl_json = "null";
      if (o && o->by_slice.count(s)) {
        double u = (o->by_slice[s].first / o->off_ms - 1) * 100;
        double f = (o->by_slice[s].second / o->floor_off_ms - 1) * 100;
        ov = fmt("%+7.1f%%", u);
        fl = fmt("%+7.1f%%", f);
        ov_json = num(u);
        fl_json = num(f);
      }
      char b[256];
      std::snprintf(b, sizeof b, "  %-8s %-8s %9.1f %9.1f %9.1f   %16.0f   %s  %s", t.c_str(),
                    s.c_str(), r->p50, r->p99, r->max, r->sysmon_per_s, ov.c_str(), fl.c_str());
      lab.row(b);
      json += std::string(first ? "" : ",") + "\"" + t + "-" + s + "\":{\"p50_us\":" + num(r->p50) +
              ",\"p99_us\":" + num(r->p99) + ",\"max_us\":" + num(r->max) +
              ",\"sysmon_wakeups_per_s\":" + num(r->sysmon_per_s) + ",\"overhead_pct\":" + ov_json +
              ",\"floor_pct\":" + fl_json + "}";
      first = false;
    }
  }
  // The slices a goroutine gets when a CPU-bound thread outside urgent shares its CPU.
  lab.row("  sharing the CPU with a CPU-bound thread (urgent-bench sharedcpu, 10 ms slice): a slice's");
  std::string shared = std::string(first ? "" : ",") + "\"sharedcpu\":{";
  bool first_shared = true;
  for (const std::string& t : triggers) {
    lab.progress("trigger: " + t + " sharedcpu");
    std::string out;
    auto c = lab.run("URGENT_PREEMPT=" + t + " URGENT_TIMESLICE=10ms " + lab.tool("urgent-bench") +
                         " sharedcpu " + std::to_string(lab.quick ? 10 : 40),
                     &out)
                 ? parse_sharedcpu(out)
                 : std::nullopt;
    if (!c || c->trigger != t) {
      lab.fail("sharedcpu with URGENT_PREEMPT=" + t);
      continue;
    }
    lab.row("    " + t + ": on the CPU p50 " + fmt("%.2f", c->on_cpu_ms) + " ms, wall time p50 " +
            fmt("%.2f", c->wall_ms) + " ms");
    shared += std::string(first_shared ? "" : ",") + "\"" + t + "\":{\"on_cpu_p50_ms\":" +
              num(c->on_cpu_ms) + ",\"wall_p50_ms\":" + num(c->wall_ms) + "}";
    first_shared = false;
  }
  json += shared + "}";
  // Each trigger's own signal on a thread with no runtime (urgent-bench triggerfloor): the
  // lateness the leads make up for.
  lab.progress("trigger: own-signal floors (urgent-bench triggerfloor)");
  std::string fout;
  json += ",\"own_signal\":{";
  if (lab.run(lab.tool("urgent-bench") + " triggerfloor " + std::to_string(lab.quick ? 200 : 2000),
              &fout)) {
    lab.row("  each trigger's own signal on a spinning thread, no runtime (urgent-bench "
            "triggerfloor, every 100 us):");
    std::istringstream lines(fout);
    bool first_floor = true;
    for (std::string line; std::getline(lines, line);) {
      lab.row("    " + line);
      std::size_t at = line.find(" p50 ");
      double p50 = 0, p99 = 0;
      if (at == std::string::npos ||
          std::sscanf(line.c_str() + at, " p50 %lf us p99 %lf us", &p50, &p99) != 2) {
        continue;  // (unavailable: said on its row)
      }
      json += std::string(first_floor ? "" : ",") + "\"" + line.substr(0, at) +
              "\":{\"p50_us\":" + num(p50) + ",\"p99_us\":" + num(p99) + "}";
      first_floor = false;
    }
  } else {
    lab.fail("urgent-bench triggerfloor");
  }
  json += "}";
  for (const std::string& s : kSlices) {
    dat += num(slice_us(s));
    for (const std::string& t : triggers) {
      auto it = by[s].find(t);
      dat += it == by[s].end() ? " NaN NaN" : " " + num(it->second.p50) + " " + num(it->second.p99);
    }
    dat += "\n";
    auto sy = by[s].find("sysmon");
    for (const char* t : {"timer", "perf"}) {
      auto it = by[s].find(t);
      if (sy == by[s].end() || it == by[s].end() || sy->second.p50 <= 0) continue;
      lab.crosses.push_back(std::string("slice end -> off M p50 at ") + s + ": " + t + " " +
                            fmt("%.1f", it->second.p50) + " us = " +
                            fmt("%.2f", it->second.p50 / sy->second.p50) + "x sysmon's " +
                            fmt("%.1f", sy->second.p50) + " us");
    }
  }
  lab.json.push_back(json + "}");
  lab.write("trigger.dat", dat);
}

void probe_experiment(Lab& lab) {
  long n = probe_samples(lab);
  lab.row("3. probe: a sleeper's lateness while a goroutine spins with no calls (GOMAXPROCS=1)");
  lab.row("  runtime      slice       p50 us     p99 us     max us");
  std::string json = "\"probe\":{";
  bool first = true;
  auto one = [&](const std::string& label, const std::string& slice,
                 const std::string& cmd) -> double {
    lab.progress("probe: " + label + " " + slice);
    std::string samples = lab.out + "/probe-" + label + "-" + slice + ".dat";
    std::string trace = lab.out + "/logs/probe-" + slice + ".trace";
    std::string out;
    bool ran = lab.run("URGENT_BENCH_SAMPLES=" + samples +
                           (label == "urgent" ? " URGENT_TRACE=" + trace : "") + " " + cmd +
                           " probe " + std::to_string(n),
                       &out);
    Probe v{};
    if (auto parsed = ran ? parse_probe(out) : std::nullopt) {
      v = *parsed;
    } else {
      lab.fail("probe " + label + " " + slice);
      return NAN;
    }
    const Probe* p = &v;
    char b[160];
    std::snprintf(b, sizeof b, "  %-12s %-8s %10.1f %10.1f %10.1f", label.c_str(), slice.c_str(),
                  p->p50, p->p99, p->max);
    lab.row(b);
    std::string check;
    if (label == "urgent") {
      // The same lateness from the execution trace (TSC ticks, not the runtime's clock): each
      // sleep's GoBlock to its goroutine's next GoStart, minus the 1 ms.
      urgent::tracetool::Trace t;
      std::string error;
      if (urgent::tracetool::read_trace(trace, &t, &error)) {
        std::map<std::uint64_t, std::int64_t> slept;
        std::vector<double> late;
        for (const urgent::tracetool::Event& e : t.events) {
          if (e.type == urgent::tracefmt::Ev::kGoBlock && t.reason(e.args[1]) == "sleep")
            slept[e.args[0]] = e.ns;
          if (e.type == urgent::tracefmt::Ev::kGoStart && slept.count(e.args[0])) {
            late.push_back(static_cast<double>(e.ns - slept[e.args[0]]) / 1e3 - 1000);
            slept.erase(e.args[0]);
          }
        }
        if (auto m = median(late)) {
          lab.crosses.push_back("probe lateness p50 at " + slice + ": the runtime's clock " +
                                fmt("%.1f", p->p50) + " us, the trace's " + fmt("%.1f", *m) +
                                " us (" + fmt("%+.1f", *m - p->p50) +
                                " us; the trace counts the warm-up's sleeps too)");
          check = ",\"trace_p50_us\":" + num(*m);
        }
      }
      std::remove(trace.c_str());
    }
    json += std::string(first ? "" : ",") + "\"" + label + "-" + slice +
            "\":{\"p50_us\":" + num(p->p50) + ",\"p99_us\":" + num(p->p99) +
            ",\"max_us\":" + num(p->max) + check + "}";
    first = false;
    return p->p50;
  };
  // urgent with each trigger (URGENT_PREEMPT; "urgent" is sysmon's, Go's way), then Go.
  std::string dat = "# slice_us sysmon_p50_us timer_p50_us perf_p50_us\n";
  std::map<std::string, std::map<std::string, double>> p50;  // slice -> trigger -> p50
  for (const char* t : {"sysmon", "timer", "perf"}) {
    std::string label = t == std::string("sysmon") ? "urgent" : std::string("urgent-") + t;
    for (const std::string& s : kSlices) {
      p50[s][t] = one(label, s,
                      "URGENT_PREEMPT=" + std::string(t) + " URGENT_TIMESLICE=" + s + " " +
                          lab.tool("urgent-bench"));
    }
  }
  for (const std::string& s : kSlices) {
    dat += num(slice_us(s)) + " " + num(p50[s]["sysmon"]) + " " + num(p50[s]["timer"]) + " " +
           num(p50[s]["perf"]) + "\n";
  }
  double go = one("go", "10ms", lab.tool("urgent-bench-go"));
  lab.json.push_back(json + "}");
  lab.write("probe-trigger.dat", dat);
  lab.write("probe-go.dat", "# p50_us\n" + num(go) + "\n");
}

void fairness_experiment(Lab& lab) {
  long ms = lab.quick ? 300 : 1000;
  lab.row("4. fairness: 4 goroutines spinning with no calls on 2 Ps, " + std::to_string(ms) +
          " ms");
  lab.row("  runtime  slice      Jain    shares");
  std::string json = "\"fairness\":{";
  std::string dat = "# slice_us jain\n";
  bool first = true;
  double go_jain = 0;
  auto one = [&](const std::string& label, const std::string& slice,
                 const std::string& cmd) -> std::optional<double> {
    lab.progress("fairness: " + label + " " + slice);
    std::string out;
    auto shares =
        lab.run(cmd + " fairness " + std::to_string(ms), &out) ? parse_fairness(out) : std::nullopt;
    auto j = shares ? jain_index(*shares) : std::nullopt;
    if (!j) {
      lab.fail("fairness " + label + " " + slice);
      return std::nullopt;
    }
    std::string sh;
    for (double x : *shares) sh += fmt(" %.3f", x);
    char b[200];
    std::snprintf(b, sizeof b, "  %-8s %-8s %6.3f  %s", label.c_str(), slice.c_str(), *j,
                  sh.c_str());
    lab.row(b);
    json += std::string(first ? "" : ",") + "\"" + label + "-" + slice + "\":{\"jain\":" + num(*j) +
            ",\"shares\":[";
    for (std::size_t i = 0; i < shares->size(); i++) json += (i ? "," : "") + num((*shares)[i]);
    json += "]}";
    first = false;
    return j;
  };
  std::map<std::string, std::map<std::string, double>> by;  // slice -> trigger -> Jain
  for (const char* t : {"sysmon", "timer", "perf"}) {
    std::string label = t == std::string("sysmon") ? "urgent" : std::string("urgent-") + t;
    for (const std::string& s : kSlices) {
      auto j = one(label, s,
                   "URGENT_PREEMPT=" + std::string(t) + " URGENT_TIMESLICE=" + s + " " +
                       lab.tool("urgent-bench"));
      by[s][t] = j ? *j : NAN;
    }
  }
  dat = "# slice_us sysmon_jain timer_jain perf_jain\n";
  for (const std::string& s : kSlices) {
    dat += num(slice_us(s)) + " " + num(by[s]["sysmon"]) + " " + num(by[s]["timer"]) + " " +
           num(by[s]["perf"]) + "\n";
  }
  if (auto j = one("go", "10ms", lab.tool("urgent-bench-go"))) go_jain = *j;
  lab.json.push_back(json + "}");
  lab.write("fairness.dat", dat);
  lab.write("fairness-go.dat", "# jain\n" + num(go_jain) + "\n");
}

void overhead_experiment(Lab& lab) {
  long n = lab.quick ? 10 : 50;
  lab.progress("overhead: CPU-bound throughput by slice");
  std::string out;
  auto o = lab.run(lab.tool("urgent-bench") + " overhead " + std::to_string(n), &out)
               ? parse_overhead(out)
               : std::nullopt;
  lab.row(
      "5. overhead: 4 CPU-bound goroutines on 2 Ps, time relative to preemption off (floor: a bare "
      "timer signal)");
  if (!o) {
    lab.fail("overhead");
    return;
  }
  std::string json =
      "\"overhead\":{\"off_ms\":" + num(o->off_ms) + ",\"floor_off_ms\":" + num(o->floor_off_ms);
  std::string dat = "# slice_us urgent_pct floor_pct\n";
  for (const std::string& s : kSlices) {
    auto it = o->by_slice.find(s);
    if (it == o->by_slice.end()) continue;
    double u = (it->second.first / o->off_ms - 1) * 100,
           f = (it->second.second / o->floor_off_ms - 1) * 100;
    char b[160];
    std::snprintf(b, sizeof b, "  slice %-8s %+7.1f %%    floor %+7.1f %%", s.c_str(), u, f);
    lab.row(b);
    json += ",\"" + s + "\":{\"urgent_pct\":" + num(u) + ",\"floor_pct\":" + num(f) + "}";
    dat += num(slice_us(s)) + " " + num(u) + " " + num(f) + "\n";
  }
  lab.json.push_back(json + "}");
  lab.write("overhead.dat", dat);
}

void handoff_experiment(Lab& lab) {
  long n = lab.quick ? 40 : 200;
  lab.row(
      "6. syscall handoff: a goroutine blocks 20 ms in read(2) at GOMAXPROCS=1, another waits for "
      "the P; urgent in each URGENT_HANDOFF mode (poll: Go's sysmon rule; perf, bpf: the kernel "
      "wakes a spare M)");
  std::string json = "\"handoff\":{";
  double poll_p99 = 0;
  // Who: urgent in each mode, then Go's twin.
  const std::vector<std::string> runs = {"poll", "perf", "bpf", "go"};
  for (const std::string& mode : runs) {
    bool go = mode == "go";
    std::string who = go ? "go" : "urgent-" + mode;
    lab.progress("handoff: " + who);
    std::string samples = lab.out + "/handoff-" + who + ".dat";  // the CDF's (sorted, us)
    std::string env = "URGENT_BENCH_SAMPLES=" + samples + (go ? "" : " URGENT_HANDOFF=" + mode);
    std::string cmd = lab.tool(go ? "urgent-bench-go" : "urgent-bench") + " handoff " +
                      std::to_string(n);
    std::string out, scope;
    std::string trace = lab.out + "/logs/handoff-" + mode + ".trace";
    std::string go_report = lab.out + "/logs/go-handoff.json";
    bool ok = lab.root ? (go ? lab.run(lab.tool("urgent-scope") + " --json -o " + go_report +
                                           " -- env " + env + " " + cmd,
                                       &out)
                             : scoped(lab, env, cmd, &out, &scope, &trace))
                       : lab.run(env + (go ? "" : " URGENT_TRACE=" + trace) + " " + cmd, &out);
    double handoff_trace_p50 = 0;
    if (!go) {
      // The same delay from the trace: each goroutine's GoSysCall to the next GoStart of
      // another goroutine on the P it held.
      urgent::tracetool::Trace t;
      std::string error;
      if (ok && urgent::tracetool::read_trace(trace, &t, &error)) {
        std::map<std::uint64_t, std::uint64_t> on_p;  // goroutine -> the P it last started on
        std::map<std::uint64_t, std::pair<std::uint64_t, std::int64_t>> waiting;  // P -> (g, call)
        std::vector<double> delays;
        for (const urgent::tracetool::Event& e : t.events) {
          if (e.type == urgent::tracefmt::Ev::kGoSysCall && on_p.count(e.args[0])) {
            waiting[on_p[e.args[0]]] = {e.args[0], e.ns};
          } else if (e.type == urgent::tracefmt::Ev::kGoStart) {
            on_p[e.args[0]] = e.args[1];
            auto w = waiting.find(e.args[1]);
            if (w != waiting.end() && w->second.first != e.args[0]) {
              delays.push_back(static_cast<double>(e.ns - w->second.second) / 1e3);
              waiting.erase(w);
            } else if (w != waiting.end()) {
              waiting.erase(w);  // it came back first: no handoff to time
            }
          }
        }
        if (auto m = median(delays)) handoff_trace_p50 = *m;
      }
      std::remove(trace.c_str());
    }
    auto h = ok ? parse_handoff(out) : std::nullopt;
    if (h && handoff_trace_p50 > 0) {
      lab.crosses.push_back("handoff p50 (" + who + "): the runtime's clock " +
                            fmt("%.1f", h->p50) +
                            " us, the trace's (GoSysCall -> the next GoStart on that P) " +
                            fmt("%.1f", handoff_trace_p50) + " us (" +
                            fmt("%+.1f", handoff_trace_p50 - h->p50) + " us)");
    }
    if (!h) {
      lab.fail("handoff " + who);
      continue;
    }
    if (mode == "poll") poll_p99 = h->p99;
    std::string line = "  " + who + std::string(13 - who.size(), ' ') + "call -> next goroutine p50 " +
                       fmt("%.1f", h->p50) + " us  p99 " + fmt("%.1f", h->p99) + " us  max " +
                       fmt("%.1f", h->max) + " us";
    if (!go && mode != "poll" && poll_p99 > 0) {
      line += "  (p99 " + fmt("%.2f", h->p99 / poll_p99) + "x poll's)";
    }
    if (h->sysmon_per_s >= 0) line += "; sysmon " + fmt("%.0f", h->sysmon_per_s) + " wakeups/s";
    json += std::string(mode == runs.front() ? "" : ",") + "\"" + who + "\":{\"p50_us\":" +
            num(h->p50) + ",\"p99_us\":" + num(h->p99) + ",\"max_us\":" + num(h->max) +
            ",\"samples\":" + std::to_string(n);
    if (h->sysmon_per_s >= 0) json += ",\"sysmon_wakeups_per_s\":" + num(h->sysmon_per_s);
    if (lab.root && !go) {
      auto good = json_number(scope, "check.syscalls.good"),
           missed = json_number(scope, "check.syscalls.missed");
      auto needless = json_number(scope, "check.syscalls.needless"),
           d50 = json_number(scope, "check.handoff_delay.p50_ns");
      auto d99 = json_number(scope, "check.handoff_delay.p99_ns"),
           clock = json_number(scope, "check.clock_check.p50_ns");
      if (good && missed && needless && d50 && d99) {
        line += "; checker: good " + num(*good) + ", missed " + num(*missed) + ", needless " +
                num(*needless) + ", delay after leaving the CPU p50 " + fmt("%.1f", *d50 / 1e3) +
                " us, p99 " + fmt("%.1f", *d99 / 1e3) + " us";
        // (Each kernel-assisted mode against its own wake path's floor; poll against perf's.)
        auto fl = lab.activation_p50.find(mode == "bpf" ? "bpf" : "perf");
        if (fl != lab.activation_p50.end() && fl->second > 0) {
          line += " (" + fmt("%.2f", *d50 / 1e3 / fl->second) + "x the " + fl->first +
                  " activation floor)";
          json += ",\"floor_ratio\":" + num(*d50 / 1e3 / fl->second);
        }
        json += ",\"checker\":{\"good\":" + num(*good) + ",\"missed\":" + num(*missed) +
                ",\"needless\":" + num(*needless) + ",\"delay_p50_ns\":" + num(*d50) +
                ",\"delay_p99_ns\":" + num(*d99) + "}";
      }
      if (clock)
        lab.crosses.push_back("clocks (" + who + "): the trace's GoSysCall -> the kernel's "
                              "sys_enter, p50 " + fmt("%.2f", *clock / 1e3) + " us");
    }
    if (lab.root && go) {  // the kernel's side of Go's twin: its blocking reads
      std::vector<double> dur, off;
      for (auto [d, o] : parse_scope_calls(read_file(go_report), "read")) {
        if (o == 0) continue;
        dur.push_back(d);
        off.push_back(o);
      }
      if (!dur.empty()) {
        line += "; kernel: " + std::to_string(dur.size()) + " reads left the CPU, p50 " +
                fmt("%.2f", *median(dur) / 1e6) + " ms, off the CPU p50 " +
                fmt("%.2f", *median(off) / 1e6) + " ms";
        json += ",\"kernel\":{\"blocking_reads\":" + std::to_string(dur.size()) +
                ",\"read_p50_ns\":" + num(*median(dur)) +
                ",\"offcpu_p50_ns\":" + num(*median(off)) + "}";
      }
    }
    json += "}";
    lab.row(line);
  }
  // Calls that never block must keep their P in every mode: the checker on 20,000 getpid
  // calls through urgent::blocking (root: the kernel's view).
  if (lab.root) {
    lab.row("  short calls under the checker (urgent-bench syscall 20000 and its 2,000-call "
            "warm-up: getpid through urgent::blocking)");
    json += ",\"short_calls\":{";
    for (const std::string& mode : {std::string("poll"), std::string("perf"), std::string("bpf")}) {
      lab.progress("handoff short calls: " + mode);
      std::string out, scope;
      bool ok = scoped(lab, "URGENT_HANDOFF=" + mode, lab.tool("urgent-bench") + " syscall 20000",
                       &out, &scope);
      auto kept = json_number(scope, "check.syscalls.kept"),
           needless = json_number(scope, "check.syscalls.needless"),
           stalled = json_number(scope, "check.syscalls.stalled");
      if (!ok || !kept || !needless || !stalled) {
        lab.fail("handoff short calls " + mode);
        continue;
      }
      lab.row("    urgent-" + mode + std::string(6 - mode.size(), ' ') + "kept " + num(*kept) +
              ", needless " + num(*needless) + ", stalled " + num(*stalled));
      json += std::string(mode == "poll" ? "" : ",") + "\"urgent-" + mode + "\":{\"kept\":" +
              num(*kept) + ",\"needless\":" + num(*needless) + ",\"stalled\":" + num(*stalled) +
              "}";
    }
    json += "}";
  }
  // What watching for blocked calls costs: sysmon during a load of blocking reads, and the
  // workloads kernel-assisted handoff must not slow, in each mode (ratios to poll's).
  lab.row("  sysmon during a load of blocking reads (urgent-bench handoffload 1000: every read "
          "blocks ~500 us, GOMAXPROCS=1), and idle (urgent-bench sysmonidle 1000: main sleeps)");
  double poll_wakeups = 0;
  json += ",\"load\":{";
  for (const std::string& mode : {std::string("poll"), std::string("perf"), std::string("bpf")}) {
    lab.progress("handoff load: " + mode);
    std::string out;
    double reads = 0, secs = 0, wakeups = 0, cpu = 0;
    unsigned long long by_spare = 0, by_sysmon = 0;
    char got_mode[16] = {};
    bool ok = lab.run("URGENT_HANDOFF=" + mode + " " + lab.tool("urgent-bench") +
                          " handoffload " + std::string(lab.quick ? "300" : "1000"),
                      &out) &&
              std::sscanf(out.c_str(),
                          "handoffload URGENT_HANDOFF=%15[a-z]: %lf reads in %lf s; handoffs by "
                          "the kernel's spare %llu, by sysmon %llu; sysmon %lf wakeups/s, CPU %lf%%",
                          got_mode, &reads, &secs, &by_spare, &by_sysmon, &wakeups, &cpu) == 7;
    if (!ok) {
      lab.fail("handoffload " + mode);
      continue;
    }
    if (mode == "poll") poll_wakeups = wakeups;
    std::string line = "    urgent-" + mode + std::string(6 - mode.size(), ' ') + fmt("%.0f", reads) +
                       " reads: handoffs by a spare " + std::to_string(by_spare) + ", by sysmon " +
                       std::to_string(by_sysmon) + "; sysmon " + fmt("%.0f", wakeups) +
                       " wakeups/s";
    if (mode != "poll" && poll_wakeups > 0) line += " (" + fmt("%.3f", wakeups / poll_wakeups) + "x poll's)";
    line += ", CPU " + fmt("%.2f", cpu) + "%";
    json += std::string(mode == "poll" ? "" : ",") + "\"urgent-" + mode + "\":{\"reads\":" +
            num(reads) + ",\"handoffs_by_spare\":" + std::to_string(by_spare) +
            ",\"handoffs_by_sysmon\":" + std::to_string(by_sysmon) +
            ",\"sysmon_wakeups_per_s\":" + num(wakeups) + ",\"sysmon_cpu_pct\":" + num(cpu);
    // The same runtime with nothing to do (urgent-bench sysmonidle: main sleeps).
    double idle_secs = 0, idle_wakeups = 0, idle_cpu = 0;
    unsigned long long spares = 0;
    if (lab.run("URGENT_HANDOFF=" + mode + " " + lab.tool("urgent-bench") + " sysmonidle " +
                    std::string(lab.quick ? "300" : "1000"),
                &out) &&
        std::sscanf(out.c_str(),
                    "sysmonidle URGENT_HANDOFF=%15[a-z]: idle %lf s; spares woken %llu; sysmon %lf "
                    "wakeups/s, CPU %lf%%",
                    got_mode, &idle_secs, &spares, &idle_wakeups, &idle_cpu) == 5) {
      line += "; idle: " + fmt("%.0f", idle_wakeups) + " wakeups/s, CPU " + fmt("%.3f", idle_cpu) +
              "%";
      json += ",\"idle_sysmon_wakeups_per_s\":" + num(idle_wakeups) +
              ",\"idle_sysmon_cpu_pct\":" + num(idle_cpu);
    } else {
      lab.fail("sysmonidle " + mode);
    }
    json += "}";
    lab.row(line);
  }
  json += "}";
  int rounds = lab.quick ? 1 : 5;
  lab.row("  micro-benchmarks per mode (urgent-bench; medians of " + std::to_string(rounds) +
          (lab.quick ? "" : " [min-max]; ratio = median / poll's median, echo: poll's / it") + ")");
  json += ",\"micro\":{";
  bool first_w = true;
  for (const std::string& w : {std::string("syscall"), std::string("yield"), std::string("pingpong"),
                               std::string("echo")}) {
    std::string line = "    " + w + std::string(9 - w.size(), ' ');
    json += std::string(first_w ? "" : ",") + "\"" + w + "\":{";
    first_w = false;
    double poll_value = 0;
    for (const std::string& mode : {std::string("poll"), std::string("perf"), std::string("bpf")}) {
      lab.progress("handoff micro: " + w + " " + mode);
      std::vector<double> v;
      for (int r = 0; r < rounds; r++) {
        std::string out;
        if (lab.run("URGENT_HANDOFF=" + mode + " " + lab.tool("urgent-bench") + " " + w +
                        (lab.quick && w == "echo" ? " 300" : ""),
                    &out)) {
          if (auto x = parse_value(out, w)) v.push_back(*x);
        }
      }
      auto m = median(v);
      if (!m) {
        lab.fail("handoff micro " + w + " " + mode);
        continue;
      }
      if (mode == "poll") poll_value = *m;
      auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      line += "  " + mode + " " + fmt("%.1f", *m);
      if (!lab.quick) line += " [" + fmt("%.1f", *lo) + "-" + fmt("%.1f", *hi) + "]";
      if (mode != "poll" && poll_value > 0 && !lab.quick) {
        double ratio = w == "echo" ? poll_value / *m : *m / poll_value;
        line += " (" + fmt("%.3f", ratio) + ")";
      }
      json += std::string(mode == "poll" ? "" : ",") + "\"" + mode + "\":{\"median\":" + num(*m) +
              ",\"min\":" + num(*lo) + ",\"max\":" + num(*hi) + ",\"runs\":" +
              std::to_string(v.size()) + "}";
    }
    json += "}";
    lab.row(line);
  }
  json += "}";
  lab.json.push_back(json + "}");
}

void micro_experiment(Lab& lab) {
  const std::vector<std::string> workloads = {"spawn", "yield",  "pingpong", "chanbuf",
                                              "mutex", "select", "echo"};
  int rounds = lab.quick ? 1 : 5;
  lab.row("7. micro-benchmarks against their Go twins (medians of " + std::to_string(rounds) +
          "; ratio = urgent time / Go time)");
  std::string json = "\"micro\":{", dat = "# workload ratio\n";
  bool first = true;
  for (const std::string& w : workloads) {
    lab.progress("micro: " + w);
    std::vector<double> u, g;
    std::string arg = lab.quick ? (w == "echo" ? " 300" : "") : "";
    for (int r = 0; r < rounds; r++) {
      std::string out;
      if (lab.run(lab.tool("urgent-bench") + " " + w + arg, &out)) {
        if (auto v = parse_value(out, w)) u.push_back(*v);
      }
      if (lab.run(lab.tool("urgent-bench-go") + " " + w + arg, &out)) {
        if (auto v = parse_value(out, w)) g.push_back(*v);
      }
    }
    auto um = median(u), gm = median(g);
    if (!um || !gm) {
      lab.fail("micro " + w);
      continue;
    }
    double ratio = w == "echo" ? *gm / *um : *um / *gm;  // echo is a rate: invert
    char b[160];
    std::snprintf(b, sizeof b, "  %-9s urgent %12.1f   Go %12.1f   ratio %.3f", w.c_str(), *um, *gm,
                  ratio);
    lab.row(b);
    json += std::string(first ? "" : ",") + "\"" + w + "\":{\"urgent\":" + num(*um) +
            ",\"go\":" + num(*gm) + ",\"ratio\":" + num(ratio) + "}";
    dat += w + " " + num(ratio) + "\n";
    first = false;
  }
  lab.json.push_back(json + "}");
  lab.write("micro.dat", dat);
}

// --timer-lateness N: N sleeps of 1 ms on this plain thread; prints their lateness.
int timer_lateness(long n) {
  if (n <= 0) return 2;
  std::vector<double> late;
  for (long i = 0; i < n; i++) {
    auto t0 = std::chrono::steady_clock::now();
    timespec ts{0, 1'000'000};
    clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
    late.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() -
        1000);
  }
  std::printf("timer lateness p50 %.1f us p99 %.1f us\n", *percentile(late, 50),
              *percentile(late, 99));
  return 0;
}

// ---- plots ----

void plots(Lab& lab, const std::set<std::string>& ran) {
  std::string gp = "set terminal pngcairo size 900,560\nset grid\nset key left top\n";
  if (ran.count("probe")) {
    gp +=
        "set output 'probe_cdf.png'\nset title 'probe lateness CDF by slice (urgent) and Go'\n"
        "set xlabel 'lateness (us)'\nset ylabel 'fraction'\nset logscale x\nplot ";
    bool first = true;
    for (const std::string& s : kSlices) {
      gp += std::string(first ? "" : ", ") + "'probe-urgent-" + s + ".dat' using 1:($0+1)/" +
            std::to_string(probe_samples(lab)) + " with lines title 'urgent " + s + "'";
      first = false;
    }
    gp += ", 'probe-go-10ms.dat' using 1:($0+1)/" + std::to_string(probe_samples(lab)) +
          " with lines dt 2 title 'Go 10ms'\nunset logscale x\n";
  }
  if (ran.count("probe")) {
    gp +=
        "set output 'probe_trigger.png'\nset title 'probe lateness p50 by slice and trigger'\n"
        "set xlabel 'slice (us)'\nset ylabel 'us'\nset logscale xy\ngo = system(\"tail -1 "
        "probe-go.dat\")\nplot 'probe-trigger.dat' using 1:2 with linespoints title 'sysmon', '' "
        "using 1:3 with linespoints title 'timer', '' using 1:4 with linespoints title 'perf', "
        "go+0 with lines dt 2 title 'Go (10 ms)'\nunset logscale xy\n";
  }
  if (ran.count("handoff")) {
    gp +=
        "set output 'handoff_cdf.png'\nset title 'syscall handoff: call -> next goroutine, "
        "CDF'\nset xlabel 'us'\nset ylabel 'fraction'\nset logscale x\nplot ";
    bool first = true;
    for (const char* who : {"urgent-poll", "urgent-perf", "urgent-bpf", "go"}) {
      gp += std::string(first ? "" : ", ") + "'handoff-" + who + ".dat' using 1:($0+1)/" +
            std::to_string(lab.quick ? 40 : 200) + " with lines" +
            (who == std::string("go") ? " dt 2 title 'Go 1.19'" : " title '" + std::string(who) + "'");
      first = false;
    }
    gp += "\nunset logscale x\n";
  }
  if (ran.count("preempt")) {
    gp +=
        "set output 'preempt.png'\nset title 'preemption latency by slice'\nset xlabel 'slice "
        "(us)'\n"
        "set ylabel 'us'\nset logscale x\nplot 'preempt.dat' using 1:2 with linespoints title "
        "'p50', "
        "'' using 1:3 with linespoints title 'p99', '' using 1:4 with linespoints dt 2 title "
        "'floor p50 (tgkill->handler)'\nunset logscale x\n";
  }
  if (ran.count("trigger")) {
    gp +=
        "set output 'trigger.png'\nset title 'slice end -> goroutine off its M, by trigger "
        "(p50 solid, p99 dashed)'\nset xlabel 'slice (us)'\nset ylabel 'us'\nset logscale xy\n"
        "plot 'trigger.dat' using 1:2 with linespoints lc 1 title 'sysmon', '' using 1:3 with "
        "linespoints lc 1 dt 2 notitle, '' using 1:4 with linespoints lc 2 title 'timer', '' using "
        "1:5 with linespoints lc 2 dt 2 notitle, '' using 1:6 with linespoints lc 3 title 'perf', "
        "'' using 1:7 with linespoints lc 3 dt 2 notitle\nunset logscale xy\n";
  }
  if (ran.count("overhead")) {
    gp +=
        "set output 'overhead.png'\nset title 'CPU-bound slowdown by slice'\nset xlabel 'slice "
        "(us)'\n"
        "set ylabel '% vs preemption off'\nset logscale x\nplot 'overhead.dat' using 1:2 with "
        "linespoints "
        "title 'urgent', '' using 1:3 with linespoints dt 2 title 'floor (bare timer "
        "signal)'\nunset logscale x\n";
  }
  if (ran.count("fairness")) {
    gp +=
        "set output 'fairness.png'\nset title 'Jain index, 4 spinners on 2 Ps'\nset xlabel 'slice "
        "(us)'\n"
        "set ylabel 'Jain index'\nset yrange [0:1.05]\nset logscale x\ngo = system(\"tail -1 "
        "fairness-go.dat\")\n"
        "plot 'fairness.dat' using 1:2 with linespoints title 'urgent (sysmon)', '' using 1:3 with "
        "linespoints title 'urgent (timer)', '' using 1:4 with linespoints title 'urgent (perf)', "
        "go+0 with lines dt 2 title 'Go (10 ms)'\n"
        "unset logscale x\nset autoscale y\n";
  }
  if (ran.count("micro")) {
    gp +=
        "set output 'micro.png'\nset title 'urgent time / Go time (below 1: urgent faster)'\n"
        "set style data histograms\nset style fill solid 0.6\nset ylabel 'ratio'\nset xlabel ''\n"
        "set yrange [0:*]\nplot 'micro.dat' using 2:xtic(1) title 'urgent/Go', 1 with lines dt 2 "
        "title ''\n";
  }
  lab.write("plots.gp", gp);
  std::string out;
  if (!lab.run("cd " + lab.out + " && gnuplot plots.gp", &out)) lab.fail("gnuplot");
}

std::string machine_json() {
  utsname u{};
  uname(&u);
  std::string model;
  std::ifstream cpu("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpu, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return "{\"kernel\":\"" + json_escape(u.release) + "\",\"machine\":\"" + json_escape(u.machine) +
         "\",\"cpus\":" + std::to_string(std::thread::hardware_concurrency()) + ",\"cpu\":\"" +
         json_escape(model) + "\"}";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--timer-lateness") == 0)
    return timer_lateness(std::atol(argv[2]));
  Lab lab;
  bool json = false;
  std::set<std::string> only;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--quick") {
      lab.quick = true;
    } else if (a == "--json") {
      json = true;
    } else if ((a == "--only" || a == "--out") && i + 1 < argc) {
      std::string v = argv[++i];
      if (a == "--out") {
        lab.out = v;
        continue;
      }
      std::stringstream ss(v);
      std::string name;
      while (std::getline(ss, name, ',')) {
        if (std::find(kExperiments.begin(), kExperiments.end(), name) == kExperiments.end()) {
          std::fprintf(stderr, "urgent-lab: unknown experiment '%s'\n%s", name.c_str(), kUsage);
          return 2;
        }
        only.insert(name);
      }
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "urgent-lab: bad argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  lab.self = argv[0];
  lab.bin = lab.self.find('/') == std::string::npos ? "." : lab.self.substr(0, lab.self.rfind('/'));
  for (const char* t : {"urgent-bench", "urgent-bench-go", "urgent-scope"}) {
    if (access(lab.tool(t).c_str(), X_OK) != 0) {
      std::fprintf(stderr, "urgent-lab: %s is missing next to urgent-lab (run `make`)\n",
                   lab.tool(t).c_str());
      return 2;
    }
  }
  if (lab.out.empty()) {
    char ts[32];
    time_t now = time(nullptr);
    strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", gmtime(&now));
    lab.out = std::string("results/") + ts;
  }
  char* abs = nullptr;
  if (system(("mkdir -p '" + lab.out + "/logs'").c_str()) != 0 ||
      (abs = realpath(lab.out.c_str(), nullptr)) == nullptr) {
    std::fprintf(stderr, "urgent-lab: cannot create %s\n", lab.out.c_str());
    return 2;
  }
  lab.out = abs;  // the plots run in it
  free(abs);
  lab.root = geteuid() == 0;
  if (!lab.root) lab.progress("not root: no eBPF breakdown, no checker");
  const std::map<std::string, std::function<void(Lab&)>> experiments = {
      {"floor", floor_experiment},       {"preempt", preempt_experiment},
      {"probe", probe_experiment},       {"fairness", fairness_experiment},
      {"overhead", overhead_experiment}, {"handoff", handoff_experiment},
      {"micro", micro_experiment},       {"trigger", trigger_experiment}};
  auto t0 = std::chrono::steady_clock::now();
  std::set<std::string> ran;
  for (const std::string& name : kExperiments) {
    if (!only.empty() && only.count(name) == 0) continue;
    experiments.at(name)(lab);
    ran.insert(name);
    lab.row("");
  }
  plots(lab, ran);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string results = "{\"machine\":" + machine_json() +
                        ",\"quick\":" + (lab.quick ? "true" : "false") +
                        ",\"root\":" + (lab.root ? "true" : "false") + ",\"seconds\":" + num(secs) +
                        ",\"failures\":" + std::to_string(lab.failures) + ",\"experiments\":{";
  for (std::size_t i = 0; i < lab.json.size(); i++) results += (i ? "," : "") + lab.json[i];
  results += "},\"cross_checks\":[";
  for (std::size_t i = 0; i < lab.crosses.size(); i++)
    results += (i ? ",\"" : "\"") + json_escape(lab.crosses[i]) + "\"";
  results += "]}\n";
  lab.write("results.json", results);
  if (json) {
    std::fputs(results.c_str(), stdout);
  } else {
    std::printf("urgent-lab: %s, %.0f s, results in %s\n\n", lab.quick ? "quick" : "full suite",
                secs, lab.out.c_str());
    for (const std::string& l : lab.table) std::printf("%s\n", l.c_str());
    std::printf("cross-checks (independent clocks):\n");
    for (const std::string& c : lab.crosses) std::printf("  %s\n", c.c_str());
  }
  return lab.failures == 0 ? 0 : 1;
}
