// runtime/cmd/urgent-trace: reads urgent's execution traces (URGENT_TRACE, urgent/trace.h).
//
//   urgent-trace view FILE [--limit N]            every event, one line each, in time order
//   urgent-trace summary FILE [--json] [--top N]  profiles, like go tool trace's
//   urgent-trace check FILE                       consistency check (exit 1 on a problem,
//                                                 a trace cut short included)
//   urgent-trace convert FILE OUT [--format json|perfetto]
//                                                 Chrome JSON / Perfetto protobuf; the format
//                                                 follows OUT's extension (.json, else
//                                                 protobuf) unless given
//   urgent-trace check-perfetto FILE              decodes a Perfetto file written by convert
//
// Exit status: 0 ok, 1 the trace is inconsistent, 2 bad usage or unreadable input.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "analysis.h"
#include "convert.h"
#include "reader.h"

namespace {

using namespace urgent::tracetool;

constexpr const char* kUsage =
    "usage: urgent-trace view FILE [--limit N]\n"
    "       urgent-trace summary FILE [--json] [--top N]\n"
    "       urgent-trace check FILE\n"
    "       urgent-trace convert FILE OUT [--format json|perfetto]\n"
    "       urgent-trace check-perfetto FILE\n";

constexpr const char* kHelp =
    "\n"
    "Reads an execution trace urgent wrote (URGENT_TRACE=FILE, urgent::trace::start, or a\n"
    "flight recorder's write_flight_recorder).\n"
    "\n"
    "commands:\n"
    "  view FILE             every event, one line each, in time order\n"
    "  summary FILE          goroutine, scheduler-latency, syscall and preemption profiles\n"
    "  check FILE            checks the trace: each thread's timestamps in order, each\n"
    "                        goroutine's events follow its state machine, P ownership by\n"
    "                        Ms; a trace without its End chunk (the program died, or writing\n"
    "                        failed, e.g. on a full disk) or whose End chunk counts other\n"
    "                        batches than the file holds is reported; prints one line per\n"
    "                        problem, then FILE: N events, consistent | INCONSISTENT |\n"
    "                        INCOMPLETE (cut short)\n"
    "  convert FILE OUT      Chrome trace JSON or Perfetto protobuf\n"
    "  check-perfetto FILE   decodes a Perfetto file convert wrote and counts its contents\n"
    "\n"
    "options:\n"
    "  --limit N             view: at most N events\n"
    "  --json                summary: JSON instead of text\n"
    "  --top N               summary: the N longest-waiting goroutines (default 20)\n"
    "  --format json|perfetto  convert: the output format (default: OUT ending in .json is\n"
    "                        JSON, anything else Perfetto)\n"
    "  -h, --help            this text\n"
    "\n"
    "exit status: 0 ok; 1 check found a problem; 2 bad usage or unreadable input\n";

int usage(const std::string& why) {
  std::fprintf(stderr, "urgent-trace: %s\n%s", why.c_str(), kUsage);
  return 2;
}

bool parse_count(const char* s, long* out) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 0) return false;
  *out = v;
  return true;
}

bool load(const std::string& path, Trace* t) {
  std::string error;
  if (!read_trace(path, t, &error)) {
    std::fprintf(stderr, "urgent-trace: %s\n", error.c_str());
    return false;
  }
  return true;
}

bool write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "urgent-trace: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    if (args.empty()) return usage("no command");
    std::printf("%s%s", kUsage, kHelp);
    return 0;
  }
  std::string cmd = args[0];
  std::vector<std::string> pos;
  long limit = -1, top = 20;
  bool json = false;
  std::string format;
  for (std::size_t i = 1; i < args.size(); i++) {
    const std::string& a = args[i];
    auto value = [&]() -> const char* { return i + 1 < args.size() ? args[++i].c_str() : nullptr; };
    if (a == "--json") {
      json = true;
    } else if (a == "--limit" || a == "--top") {
      const char* v = value();
      if (v == nullptr || !parse_count(v, a == "--limit" ? &limit : &top)) {
        return usage(a + " needs a non-negative number");
      }
    } else if (a == "--format") {
      const char* v = value();
      if (v == nullptr || (std::strcmp(v, "json") != 0 && std::strcmp(v, "perfetto") != 0)) {
        return usage("--format is json or perfetto");
      }
      format = v;
    } else if (a.size() > 1 && a[0] == '-') {
      return usage("unknown option " + a);
    } else {
      pos.push_back(a);
    }
  }
  std::size_t want = cmd == "convert" ? 2 : 1;
  if (cmd != "view" && cmd != "summary" && cmd != "check" && cmd != "convert" &&
      cmd != "check-perfetto") {
    return usage("unknown command " + cmd);
  }
  if (pos.size() != want)
    return usage(cmd + " takes " + std::to_string(want) + " file argument(s)");

  if (cmd == "check-perfetto") {
    std::ifstream in(pos[0], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "urgent-trace: cannot open %s\n", pos[0].c_str());
      return 2;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    PerfettoCheck c;
    std::string error;
    if (!check_perfetto(ss.str(), &c, &error)) {
      std::fprintf(stderr, "urgent-trace: %s: %s\n", pos[0].c_str(), error.c_str());
      return 1;
    }
    std::printf(
        "perfetto: %llu packets, %llu tracks, %llu slices, %llu instants, %llu counters, "
        "%llu flows\n",
        static_cast<unsigned long long>(c.packets), static_cast<unsigned long long>(c.tracks),
        static_cast<unsigned long long>(c.slices), static_cast<unsigned long long>(c.instants),
        static_cast<unsigned long long>(c.counters), static_cast<unsigned long long>(c.flows));
    return 0;
  }

  Trace t;
  if (!load(pos[0], &t)) return 2;
  if (cmd == "view") {
    std::int64_t t0 = t.events.empty() ? 0 : t.events.front().ns;
    long n = 0;
    for (const Event& e : t.events) {
      if (limit >= 0 && n++ >= limit) break;
      std::printf("%s\n", describe(t, e, t0).c_str());
    }
    return 0;
  }
  if (cmd == "summary") {
    Summary s = summarize(t);
    std::string out = json ? summary_json(t, s) + "\n" : summary_text(t, s, static_cast<int>(top));
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  if (cmd == "check") {
    std::vector<std::string> problems = validate(t);
    for (const std::string& p : problems) std::printf("%s\n", p.c_str());
    std::printf("%s: %zu events, %s\n", pos[0].c_str(), t.events.size(),
                problems.empty() ? "consistent"
                : t.complete     ? "INCONSISTENT"
                                 : "INCOMPLETE (cut short)");
    return problems.empty() ? 0 : 1;
  }
  // convert
  if (format.empty()) {
    const std::string& out = pos[1];
    format = out.size() >= 5 && out.compare(out.size() - 5, 5, ".json") == 0 ? "json" : "perfetto";
  }
  std::string data = format == "json" ? to_chrome_json(t) : to_perfetto(t);
  return write_file(pos[1], data) ? 0 : 2;
}
