// bpf/urgent-scope: the kernel's view of any process (urgent's or a real Go program's).
//
//   urgent-scope [options] -p PID          observe a running process (until it exits,
//                                           --duration, or Ctrl-C)
//   urgent-scope [options] -- CMD ARGS...  run CMD and observe it from its first instruction
//   urgent-scope [options] --trace FILE    no observing: the kernel's records that an
//                                           urgent program kept in its trace (URGENT_BPF=1
//                                           with URGENT_TRACE=FILE), and the checker on them
//
//   --duration SECONDS   stop after this long
//   --json               one JSON object instead of tables
//   -o FILE              the report goes to FILE instead of stdout (which CMD shares)
//   --trace FILE         urgent's execution trace of the same run (URGENT_TRACE=FILE): adds
//                        the P-handoff and preemption checker (bpf/checker.h)
//   --block-threshold-us N   the checker's "blocked" threshold (default 1000)
//   --min-syscall-us N   also list non-blocking system calls at least this long (default 20: every
//   call
//                        long enough for sysmon to retake its P, which the checker needs)
//   --signal N           follow signal N instead of SIGURG (the "SIGURG" fields then mean it)
//
// Prints per-thread off-CPU totals (blocked, preempted, yielded) and run-queue latency, the
// histograms, a table of the system calls that blocked (left the CPU), the SIGURG
// generate -> deliver latency, and every drop counter. Needs root (CAP_BPF, CAP_PERFMON)
// and a kernel with BTF; without them it says why and exits with status 1 (2: bad usage).
// With -- CMD, the exit status is CMD's unless observing failed.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "checker.h"
#include "cmd/urgent-trace/analysis.h"
#include "observer.h"

namespace {

using namespace urgent::bpf;

constexpr const char* kUsage =
    "usage: urgent-scope [--duration S] [--json] [-o FILE] [--trace FILE] [--block-threshold-us "
    "N]\n"
    "                    [--min-syscall-us N] (-p PID | -- CMD [ARGS...] | --trace FILE)\n";

const std::map<long, const char*> kSyscallNames = {
#include "syscall_names.h"
};

std::string syscall_name(long nr) {
  auto it = kSyscallNames.find(nr);
  return it != kSyscallNames.end() ? it->second : "syscall " + std::to_string(nr);
}

FILE* out = stdout;  // the report (-o)
volatile sig_atomic_t interrupted = 0;
void on_sigint(int) {
  interrupted = 1;
}

int usage(const std::string& why) {
  std::fprintf(stderr, "urgent-scope: %s\n%s", why.c_str(), kUsage);
  return 2;
}

bool parse_number(const char* s, double* out) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || v < 0) return false;
  *out = v;
  return true;
}

std::string fmt_ns(double ns) {
  return urgent::tracetool::fmt_ns(static_cast<std::int64_t>(ns));
}

std::string thread_name(pid_t pid, std::uint32_t tid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

// Thread labels from urgent's trace: which M (or sysmon) each thread was.
std::map<std::uint32_t, std::string> labels_from(const urgent::tracetool::Trace& t) {
  std::map<std::uint32_t, std::string> names;
  for (const urgent::tracetool::Event& e : t.events) {
    names[static_cast<std::uint32_t>(e.tid)] = e.m < 0 ? "sysmon" : "M" + std::to_string(e.m);
  }
  return names;
}

struct Percentiles {
  std::vector<std::int64_t> v;
  std::string text() {
    std::sort(v.begin(), v.end());
    return urgent::tracetool::dist_text(v);
  }
  std::string json() {
    std::sort(v.begin(), v.end());
    return urgent::tracetool::dist_json(v);
  }
};

const char* const kHistNames[OBS_H_COUNT] = {
    "off-CPU, blocked", "off-CPU, preempted or yielded", "run-queue latency",
    "system calls",     "system calls that blocked",     "SIGURG generate -> deliver"};
const char* const kHistKeys[OBS_H_COUNT] = {"offcpu_blocked", "offcpu_preempted", "runq",
                                            "syscall",        "syscall_blocked",  "sigurg"};

std::string histogram_text(const std::array<std::uint64_t, OBS_HIST_BUCKETS>& h) {
  std::uint64_t n = hist_count(h);
  std::string o;
  for (int b = 0; b < OBS_HIST_BUCKETS; b++) {
    std::uint64_t c = h[static_cast<std::size_t>(b)];
    if (c == 0) continue;
    double lo = b == 0 ? 0 : static_cast<double>(std::uint64_t{1} << (b - 1));
    double hi = static_cast<double>(std::uint64_t{1} << b);
    char line[160];
    std::snprintf(line, sizeof line, "    %10s .. %-10s %9llu  %s\n", fmt_ns(lo).c_str(),
                  fmt_ns(hi).c_str(), static_cast<unsigned long long>(c),
                  std::string(static_cast<std::size_t>(
                                  40.0 * static_cast<double>(c) / static_cast<double>(n) + 0.5),
                              '#')
                      .c_str());
    o += line;
  }
  return o;
}

struct SyscallRow {
  std::uint64_t count = 0, blocked = 0;
  std::vector<std::int64_t> durations;
  std::uint64_t offcpu_ns = 0;
};

void report_text(pid_t pid, const Observations& o,
                 const std::map<std::uint32_t, std::string>& names) {
  std::fprintf(out, "urgent-scope: pid %d, %zu threads seen\n\n", pid, o.threads.size());
  std::fprintf(out, "%-8s %-16s %12s %12s %12s %8s %12s %9s %9s %12s\n", "tid", "name", "blocked",
               "preempted", "yielded", "offcpu#", "runq wait", "syscalls", "blocking",
               "in-call off");
  for (const auto& [tid, t] : o.threads) {
    auto n = names.find(tid);
    std::fprintf(out, "%-8u %-16s %12s %12s %12s %8llu %12s %9llu %9llu %12s\n", tid,
                 n != names.end() ? n->second.c_str() : "?",
                 fmt_ns(static_cast<double>(t.offcpu_blocked_ns)).c_str(),
                 fmt_ns(static_cast<double>(t.offcpu_preempted_ns)).c_str(),
                 fmt_ns(static_cast<double>(t.offcpu_yielded_ns)).c_str(),
                 static_cast<unsigned long long>(t.offcpu_count),
                 fmt_ns(static_cast<double>(t.runq_ns)).c_str(),
                 static_cast<unsigned long long>(t.syscalls),
                 static_cast<unsigned long long>(t.blocking_syscalls),
                 fmt_ns(static_cast<double>(t.syscall_offcpu_ns)).c_str());
  }
  for (int h = 0; h < OBS_H_COUNT; h++) {
    auto& hist = o.hists[static_cast<std::size_t>(h)];
    std::fprintf(out, "\n%s: n=%llu  p50 <= %s  p99 <= %s\n", kHistNames[h],
                 static_cast<unsigned long long>(hist_count(hist)),
                 fmt_ns(static_cast<double>(hist_quantile_ns(hist, 0.5))).c_str(),
                 fmt_ns(static_cast<double>(hist_quantile_ns(hist, 0.99))).c_str());
    std::fputs(histogram_text(hist).c_str(), out);
  }
  std::map<long, SyscallRow> rows;
  for (const obs_syscall& c : o.syscalls) {
    SyscallRow& r = rows[c.nr];
    r.count++;
    r.blocked += c.offcpu_ns != 0;
    r.durations.push_back(static_cast<std::int64_t>(c.exit_ns - c.enter_ns));
    r.offcpu_ns += c.offcpu_ns;
  }
  std::fprintf(out, "\nsystem calls that blocked or took >= the listing threshold:\n");
  std::fprintf(out, "  %-20s %8s %8s %12s %12s %12s\n", "call", "count", "blocked", "p50", "max",
               "off-CPU");
  for (auto& [nr, r] : rows) {
    std::sort(r.durations.begin(), r.durations.end());
    std::fprintf(
        out, "  %-20s %8llu %8llu %12s %12s %12s\n", syscall_name(nr).c_str(),
        static_cast<unsigned long long>(r.count), static_cast<unsigned long long>(r.blocked),
        fmt_ns(static_cast<double>(urgent::tracetool::percentile(r.durations, 0.5))).c_str(),
        fmt_ns(static_cast<double>(r.durations.back())).c_str(),
        fmt_ns(static_cast<double>(r.offcpu_ns)).c_str());
  }
  Percentiles sig;
  for (const obs_signal& s : o.signals) {
    if (s.deliver_ns != 0) sig.v.push_back(static_cast<std::int64_t>(s.deliver_ns - s.generate_ns));
  }
  std::fprintf(out, "\nSIGURG: generated %llu, coalesced (already pending) %llu, delivered %llu\n",
               static_cast<unsigned long long>(o.counters[OBS_C_SIGURG_GENERATED]),
               static_cast<unsigned long long>(o.counters[OBS_C_SIGURG_COALESCED]),
               static_cast<unsigned long long>(o.counters[OBS_C_SIGURG_DELIVERED]));
  std::fprintf(out, "  generate -> deliver: %s\n", sig.text().c_str());
  std::fprintf(out,
               "\ndrops: ring buffer %llu, threads not followed %llu, program runs skipped %llu, "
               "switch-ins not seen %llu\n",
               static_cast<unsigned long long>(o.counters[OBS_C_RINGBUF_DROPS]),
               static_cast<unsigned long long>(o.counters[OBS_C_THREADS_FULL]),
               static_cast<unsigned long long>(o.prog_misses),
               static_cast<unsigned long long>(o.counters[OBS_C_SWITCH_IN_UNSEEN]));
}

std::string report_json(pid_t pid, const Observations& o) {
  std::string j = "{\"pid\":" + std::to_string(pid) + ",\"threads\":[";
  bool first = true;
  for (const auto& [tid, t] : o.threads) {
    char b[512];
    std::snprintf(
        b, sizeof b,
        "%s{\"tid\":%u,\"offcpu_blocked_ns\":%llu,\"offcpu_preempted_ns\":%llu,"
        "\"offcpu_yielded_ns\":%llu,\"offcpu_count\":%llu,\"runq_ns\":%llu,\"syscalls\":%llu,"
        "\"syscall_ns\":%llu,\"blocking_syscalls\":%llu,\"syscall_offcpu_ns\":%llu,"
        "\"sigurg_delivered\":%llu}",
        first ? "" : ",", tid, static_cast<unsigned long long>(t.offcpu_blocked_ns),
        static_cast<unsigned long long>(t.offcpu_preempted_ns),
        static_cast<unsigned long long>(t.offcpu_yielded_ns),
        static_cast<unsigned long long>(t.offcpu_count), static_cast<unsigned long long>(t.runq_ns),
        static_cast<unsigned long long>(t.syscalls), static_cast<unsigned long long>(t.syscall_ns),
        static_cast<unsigned long long>(t.blocking_syscalls),
        static_cast<unsigned long long>(t.syscall_offcpu_ns),
        static_cast<unsigned long long>(t.sigurg_delivered));
    j += b;
    first = false;
  }
  j += "],\"histograms\":{";
  for (int h = 0; h < OBS_H_COUNT; h++) {
    j += std::string(h ? "," : "") + "\"" + kHistKeys[h] + "\":[";
    for (int b = 0; b < OBS_HIST_BUCKETS; b++) {
      j += (b ? "," : "") +
           std::to_string(o.hists[static_cast<std::size_t>(h)][static_cast<std::size_t>(b)]);
    }
    j += "]";
  }
  j += "},\"blocking_syscalls\":[";
  first = true;
  for (const obs_syscall& c : o.syscalls) {
    char b[256];
    std::snprintf(b, sizeof b,
                  "%s{\"tid\":%u,\"nr\":%lld,\"name\":\"%s\",\"enter_ns\":%llu,\"exit_ns\":%llu,"
                  "\"offcpu_ns\":%llu}",
                  first ? "" : ",", c.tid, static_cast<long long>(c.nr), syscall_name(c.nr).c_str(),
                  static_cast<unsigned long long>(c.enter_ns),
                  static_cast<unsigned long long>(c.exit_ns),
                  static_cast<unsigned long long>(c.offcpu_ns));
    j += b;
    first = false;
  }
  Percentiles sig;
  for (const obs_signal& s : o.signals) {
    if (s.deliver_ns != 0) sig.v.push_back(static_cast<std::int64_t>(s.deliver_ns - s.generate_ns));
  }
  j += "],\"sigurg\":{\"generated\":" + std::to_string(o.counters[OBS_C_SIGURG_GENERATED]) +
       ",\"coalesced\":" + std::to_string(o.counters[OBS_C_SIGURG_COALESCED]) +
       ",\"delivered\":" + std::to_string(o.counters[OBS_C_SIGURG_DELIVERED]) +
       ",\"latency\":" + sig.json() +
       "},\"drops\":{\"ringbuf\":" + std::to_string(o.counters[OBS_C_RINGBUF_DROPS]) +
       ",\"threads_full\":" + std::to_string(o.counters[OBS_C_THREADS_FULL]) +
       ",\"prog_misses\":" + std::to_string(o.prog_misses) +
       ",\"switch_ins_unseen\":" + std::to_string(o.counters[OBS_C_SWITCH_IN_UNSEEN]) + "}";
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  double duration_s = 0, threshold_us = 1000, min_syscall_us = 20;
  bool json = false;
  pid_t pid = 0;
  std::string trace_path, out_path;
  int signal_number = OBS_SIGURG;
  int cmd_at = -1;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--") {
      cmd_at = i + 1;
      break;
    } else if (a == "--json") {
      json = true;
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "-p" || a == "--pid") {
      const char* v = value();
      double p;
      if (v == nullptr || !parse_number(v, &p) || p < 1 || p != static_cast<pid_t>(p))
        return usage("-p needs a process id");
      pid = static_cast<pid_t>(p);
    } else if (a == "--signal") {
      const char* v = value();
      double sig;
      if (v == nullptr || !parse_number(v, &sig) || sig < 1 || sig > 64 ||
          sig != static_cast<int>(sig)) {
        return usage("--signal needs a signal number (1..64)");
      }
      signal_number = static_cast<int>(sig);
    } else if (a == "--duration" || a == "--block-threshold-us" || a == "--min-syscall-us") {
      const char* v = value();
      double* out = a == "--duration"             ? &duration_s
                    : a == "--block-threshold-us" ? &threshold_us
                                                  : &min_syscall_us;
      if (v == nullptr || !parse_number(v, out)) return usage(a + " needs a non-negative number");
    } else if (a == "--trace" || a == "-o") {
      const char* v = value();
      if (v == nullptr) return usage(a + " needs a file");
      (a == "-o" ? out_path : trace_path) = v;
    } else {
      return usage("unknown argument " + a);
    }
  }
  bool offline = pid == 0 && cmd_at < 0 && !trace_path.empty();
  if (!offline && (pid != 0) == (cmd_at > 0 && cmd_at < argc)) {
    return usage("give either -p PID or -- CMD (or --trace FILE alone)");
  }
  if (!out_path.empty() && (out = std::fopen(out_path.c_str(), "we")) == nullptr) {
    std::fprintf(stderr, "urgent-scope: -o %s: %s\n", out_path.c_str(), std::strerror(errno));
    return 2;
  }
  if (pid != 0 && kill(pid, 0) != 0 && errno == ESRCH) {
    std::fprintf(stderr, "urgent-scope: no process %d\n", pid);
    return 1;
  }

  if (offline) {
    urgent::tracetool::Trace t;
    std::string error;
    if (!urgent::tracetool::read_trace(trace_path, &t, &error)) {
      std::fprintf(stderr, "urgent-scope: %s\n", error.c_str());
      return 1;
    }
    if (!t.has_kernel) {
      std::fprintf(stderr,
                   "urgent-scope: %s has no kernel records: run the program with URGENT_BPF=1 "
                   "as well, or observe it with -p PID or -- CMD\n",
                   trace_path.c_str());
      return 1;
    }
    CheckReport r =
        check(t, t.kernel, {.block_threshold_ns = static_cast<std::int64_t>(threshold_us * 1000)});
    if (json) {
      std::fprintf(out, "%s,\"check\":%s}\n",
                   report_json(static_cast<pid_t>(t.pid), t.kernel).c_str(), check_json(r).c_str());
    } else {
      report_text(static_cast<pid_t>(t.pid), t.kernel, labels_from(t));
      std::fprintf(out, "\n%s", check_text(r).c_str());
    }
    return out != stdout && std::fclose(out) != 0 ? 1 : 0;
  }

  // With a command: fork it stopped on a pipe, attach, then let it exec.
  int go_pipe[2] = {-1, -1};
  if (cmd_at > 0) {
    if (pipe2(go_pipe, O_CLOEXEC) != 0) {
      std::perror("urgent-scope: pipe");
      return 1;
    }
    pid = fork();
    if (pid < 0) {
      std::perror("urgent-scope: fork");
      return 1;
    }
    if (pid == 0) {
      close(go_pipe[1]);
      char c;
      if (read(go_pipe[0], &c, 1) != 1) _exit(127);  // the observer could not start
      execvp(argv[cmd_at], argv + cmd_at);
      std::fprintf(stderr, "urgent-scope: %s: %s\n", argv[cmd_at], std::strerror(errno));
      _exit(127);
    }
    close(go_pipe[0]);
  }

  std::string error;
  ObserverConfig cfg;
  cfg.tgid = pid;
  cfg.min_syscall_ns = static_cast<std::uint64_t>(min_syscall_us * 1000);
  cfg.signal = signal_number;
  std::unique_ptr<Observer> obs = Observer::start(cfg, &error);
  if (obs == nullptr) {
    std::fprintf(stderr, "urgent-scope: cannot observe pid %d: %s\n", pid, error.c_str());
    if (cmd_at > 0) {
      close(go_pipe[1]);  // the child exits without running the command
      waitpid(pid, nullptr, 0);
    }
    return 1;
  }
  signal(SIGINT, on_sigint);
  signal(SIGTERM, on_sigint);
  if (cmd_at > 0) {
    if (write(go_pipe[1], "g", 1) != 1) std::perror("urgent-scope: starting the command");
    close(go_pipe[1]);
  }

  auto start = std::chrono::steady_clock::now();
  std::map<std::uint32_t, std::string> names;
  int status = 0;
  bool exited = false;
  for (int round = 0; !interrupted; round++) {
    obs->poll(50);
    // Names while the threads still exist (every half second: collect reads every map).
    if (round % 10 == 0) {
      for (const auto& [tid, t] : obs->collect().threads) {
        if (names.count(tid) == 0) {
          std::string n = thread_name(pid, tid);
          if (!n.empty()) names[tid] = n;
        }
      }
    }
    if (cmd_at > 0) {
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        exited = true;
        break;
      }
    } else if (kill(pid, 0) != 0 && errno == ESRCH) {
      break;
    }
    if (duration_s > 0 &&
        std::chrono::steady_clock::now() - start >= std::chrono::duration<double>(duration_s)) {
      break;
    }
  }
  const Observations& o = obs->collect();
  std::string check_out;
  if (!trace_path.empty()) {
    urgent::tracetool::Trace t;
    if (!urgent::tracetool::read_trace(trace_path, &t, &error)) {
      std::fprintf(stderr, "urgent-scope: --trace: %s\n", error.c_str());
      return 1;
    }
    CheckReport r =
        check(t, o, {.block_threshold_ns = static_cast<std::int64_t>(threshold_us * 1000)});
    check_out = json ? check_json(r) : check_text(r);
    for (const auto& [tid, label] : labels_from(t)) names[tid] = label;
  }
  if (json) {
    std::string j = report_json(pid, o);
    if (!check_out.empty()) j += ",\"check\":" + check_out;
    std::fprintf(out, "%s}\n", j.c_str());
  } else {
    report_text(pid, o, names);
    if (!check_out.empty()) std::fprintf(out, "\n%s", check_out.c_str());
  }
  if (out != stdout && std::fclose(out) != 0) {
    std::fprintf(stderr, "urgent-scope: -o %s: %s\n", out_path.c_str(), std::strerror(errno));
    return 1;
  }
  if (cmd_at > 0 && !exited) {  // interrupted or out of time: the command goes on alone
    std::fprintf(stderr, "urgent-scope: stopped observing pid %d (still running)\n", pid);
  }
  return status;
}
