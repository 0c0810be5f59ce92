// runtime/env.cc: GOMAXPROCS, URGENT_STACK, URGENT_LOG, URGENT_TIMESLICE, URGENT_TRACE,
// URGENT_TRACE_MEM, URGENT_HANDOFF and GODEBUG.
#include "env.h"

#include <sched.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "log.h"
#include "runtime2.h"

namespace urgent::rt {
namespace {

constexpr std::size_t kMinStack = 16 * 1024;
constexpr std::size_t kMaxStack = std::size_t{1} << 30;

void warn(const char* var, const char* value, const std::string& why, const std::string& used) {
  std::fprintf(stderr, "urgent: ignoring %s=\"%s\": %s; using %s\n", var, value, why.c_str(),
               used.c_str());
}

// Sets *out from the environment variable `var` when it parses and lies within [lo, hi];
// otherwise warns, naming the range (`between`) and what is used instead (`used`).
template <class T>
void read_bounded(const char* var, std::optional<T> (*parse)(const char*, std::string*), T lo, T hi,
                  const char* between, T* out, const std::string& used) {
  const char* s = std::getenv(var);
  if (s == nullptr || *s == '\0') return;
  std::string why;
  std::optional<T> v = parse(s, &why);
  if (v && (*v < lo || *v > hi)) {
    why = std::string("must be between ") + between;
    v.reset();
  }
  if (v) {
    *out = *v;
  } else {
    warn(var, s, why, used);
  }
}

}  // namespace

std::size_t default_stack_size() {
#if defined(__SANITIZE_ADDRESS__)
  return 1024 * 1024;
#else
  return 256 * 1024;
#endif
}

std::optional<int> parse_gomaxprocs(const char* s, std::string* why) {
  if (*s == '\0') {
    *why = "empty";
    return std::nullopt;
  }
  long long v = 0;
  for (const char* p = s; *p; p++) {
    if (*p < '0' || *p > '9') {
      *why = "not a positive integer";
      return std::nullopt;
    }
    v = v * 10 + (*p - '0');
    if (v > INT_MAX) {
      *why = "out of range";
      return std::nullopt;
    }
  }
  if (v == 0) {
    *why = "must be at least 1";
    return std::nullopt;
  }
  return static_cast<int>(v);
}

std::optional<std::size_t> parse_size(const char* s, std::string* why) {
  const char* p = s;
  if (*p < '0' || *p > '9') {
    *why = "not a size (examples: 65536, 64k, 256KiB, 1M)";
    return std::nullopt;
  }
  unsigned long long v = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    v = v * 10 + static_cast<unsigned>(*p - '0');
    if (v > (1ull << 40)) {
      *why = "out of range";
      return std::nullopt;
    }
  }
  int shift = 0;
  switch (*p) {
    case '\0': break;
    case 'k':
    case 'K':
      shift = 10;
      p++;
      break;
    case 'm':
    case 'M':
      shift = 20;
      p++;
      break;
    case 'g':
    case 'G':
      shift = 30;
      p++;
      break;
    default: *why = "unknown unit (use k, M or G)"; return std::nullopt;
  }
  // Accept the spelled-out suffixes KiB/kB/K/k alike: all mean powers of 1024 here.
  if (shift != 0 &&
      (std::strcmp(p, "iB") == 0 || std::strcmp(p, "B") == 0 || std::strcmp(p, "b") == 0)) {
    p += std::strlen(p);
  }
  if (*p != '\0') {
    *why = "unknown unit (use k, M or G)";
    return std::nullopt;
  }
  v <<= shift;
  if (v > (1ull << 40)) {
    *why = "out of range";
    return std::nullopt;
  }
  return static_cast<std::size_t>(v);
}

std::optional<std::int64_t> parse_duration(const char* s, std::string* why) {
  const char* p = s;
  if (*p < '0' || *p > '9') {
    *why = *p == '\0' ? "empty" : "not a duration (e.g. 10ms, 100us, 50us)";
    return std::nullopt;
  }
  // Whole part and up to 9 fractional digits, as an integer count of 10^-9 units.
  unsigned long long whole = 0, frac = 0, scale = 1'000'000'000;
  for (; *p >= '0' && *p <= '9'; p++) {
    whole = whole * 10 + static_cast<unsigned>(*p - '0');
    if (whole > 1'000'000'000'000ull) {
      *why = "out of range";
      return std::nullopt;
    }
  }
  if (*p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++) {
      if (scale > 1) {
        scale /= 10;
        frac += static_cast<unsigned>(*p - '0') * scale;
      }
    }
  }
  struct Unit {
    const char* name;
    unsigned long long ns;
  };
  static constexpr Unit kUnits[] = {
      {"ns", 1}, {"us", 1'000}, {"\u00b5s", 1'000}, {"ms", 1'000'000}, {"s", 1'000'000'000}};
  for (const Unit& u : kUnits) {
    if (std::strcmp(p, u.name) != 0) continue;
    unsigned long long ns = whole * u.ns + frac * u.ns / 1'000'000'000;
    if (whole != 0 && ns / whole < u.ns) {
      *why = "out of range";
      return std::nullopt;
    }
    return static_cast<std::int64_t>(ns);
  }
  *why = *p == '\0' ? "missing unit (ns, us, ms or s)" : "unknown unit (use ns, us, ms or s)";
  return std::nullopt;
}

bool parse_godebug(const char* s, Godebug* out, std::string* why, std::string* bad_value) {
  struct Setting {
    const char* name;
    int Godebug::*value;
  };
  static constexpr Setting kSettings[] = {{"asyncpreemptoff", &Godebug::asyncpreemptoff},
                                          {"schedtrace", &Godebug::schedtrace},
                                          {"scheddetail", &Godebug::scheddetail}};
  bool ok = true;  // a bad item is reported (the first) and skipped; the others still apply
  for (const char* p = s; *p != '\0';) {
    const char* end = std::strchr(p, ',');
    std::string item(p, end ? static_cast<std::size_t>(end - p) : std::strlen(p));
    p = end ? end + 1 : p + item.size();
    std::size_t eq = item.find('=');
    if (eq == std::string::npos) continue;
    std::string name = item.substr(0, eq), value = item.substr(eq + 1);
    for (const Setting& set : kSettings) {
      if (name != set.name) continue;
      if (value == "0") {
        out->*set.value = 0;
      } else if (std::string ignored; auto v = parse_gomaxprocs(value.c_str(), &ignored)) {
        out->*set.value = *v;
      } else if (ok) {
        *why = name + " takes a non-negative integer";
        *bad_value = value;
        ok = false;
      }
    }
  }
  return ok;
}

std::optional<HandoffMode> parse_handoff(const char* s, std::string* why) {
  for (HandoffMode m : {HandoffMode::kPoll, HandoffMode::kPerf, HandoffMode::kBpf, HandoffMode::kAuto}) {
    if (std::strcmp(s, handoff_mode_name(m)) == 0) return m;
  }
  *why = "not poll, perf, bpf or auto";
  return std::nullopt;
}

std::optional<PreemptTrigger> parse_trigger(const char* s, std::string* why) {
  for (PreemptTrigger t : {PreemptTrigger::kSysmon, PreemptTrigger::kTimer, PreemptTrigger::kPerf}) {
    if (std::strcmp(s, trigger_name(t)) == 0) return t;
  }
  *why = "not sysmon, timer or perf";
  return std::nullopt;
}

int getproccount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

Config read_config() {
  Config cfg;
  cfg.gomaxprocs = getproccount();
  if (cfg.gomaxprocs > kMaxGomaxprocs) cfg.gomaxprocs = kMaxGomaxprocs;
  if (const char* s = std::getenv("GOMAXPROCS"); s != nullptr && *s != '\0') {
    std::string why;
    if (auto n = parse_gomaxprocs(s, &why)) {
      cfg.gomaxprocs = *n;
      if (*n > kMaxGomaxprocs) {
        warn("GOMAXPROCS", s, "above the maximum", std::to_string(kMaxGomaxprocs));
        cfg.gomaxprocs = kMaxGomaxprocs;
      }
    } else {
      warn("GOMAXPROCS", s, why, std::to_string(cfg.gomaxprocs) + " (the number of CPUs)");
    }
  }
  cfg.stack_size = default_stack_size();
  read_bounded("URGENT_STACK", parse_size, kMinStack, kMaxStack, "16KiB and 1GiB", &cfg.stack_size,
               std::to_string(cfg.stack_size) + " bytes");
  if (const char* s = std::getenv("URGENT_LOG"); s != nullptr && *s != '\0') {
    if (log::valid_level(s)) {
      cfg.log_level = s;
    } else {
      warn("URGENT_LOG", s, "not a level (trace, debug, info, warn, error, critical, off)", "off");
    }
  }
  read_bounded("URGENT_TIMESLICE", parse_duration, kMinTimesliceNs, kMaxTimesliceNs, "10us and 10s",
               &cfg.timeslice_ns, "10ms");
  if (const char* s = std::getenv("URGENT_TRACE"); s != nullptr) cfg.trace_path = s;
  if (const char* s = std::getenv("URGENT_BPF"); s != nullptr && *s != '\0') {
    if (std::strcmp(s, "1") == 0 || std::strcmp(s, "0") == 0) {
      cfg.observe = *s == '1';
    } else {
      warn("URGENT_BPF", s, "not 0 or 1", "0");
    }
  }
  if (const char* s = std::getenv("URGENT_HANDOFF"); s != nullptr && *s != '\0') {
    std::string why;
    if (auto m = parse_handoff(s, &why)) {
      cfg.handoff = *m;
    } else {
      warn("URGENT_HANDOFF", s, why, handoff_mode_name(cfg.handoff));
    }
  }
  if (const char* s = std::getenv("URGENT_PREEMPT"); s != nullptr && *s != '\0') {
    std::string why;
    if (auto t = parse_trigger(s, &why)) {
      cfg.trigger = *t;
    } else {
      warn("URGENT_PREEMPT", s, why, trigger_name(cfg.trigger));
    }
  }
  read_bounded("URGENT_TRACE_MEM", parse_size, kMinTraceMem, kMaxTraceMem, "64KiB and 64GiB",
               &cfg.trace_mem, "64MiB");
  if (const char* s = std::getenv("GODEBUG"); s != nullptr && *s != '\0') {
    std::string why, bad;
    Godebug debug;
    if (!parse_godebug(s, &debug, &why, &bad)) {
      warn("GODEBUG", s, why + " (got \"" + bad + "\")", "0 for it");
    }
    cfg.asyncpreemptoff = debug.asyncpreemptoff != 0;
    cfg.schedtrace_ms = debug.schedtrace;
    cfg.scheddetail = debug.scheddetail != 0;
  }
  return cfg;
}

}  // namespace urgent::rt
