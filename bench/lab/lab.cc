// bench/lab/lab.cc: urgent-lab's statistics and parsers (see lab.h).
#include "lab.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace urgent::lab {

std::optional<double> percentile(std::vector<double> v, double p) {
  if (v.empty() || p < 0 || p > 100) return std::nullopt;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

std::optional<double> median(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::optional<double> jain_index(const std::vector<double>& x) {
  double sum = 0, sq = 0;
  for (double v : x) {
    sum += v;
    sq += v * v;
  }
  if (x.empty() || sq == 0) return std::nullopt;
  return sum * sum / (static_cast<double>(x.size()) * sq);
}

namespace {

// The lines of out that start with prefix.
std::vector<std::string> lines_starting(const std::string& out, const std::string& prefix) {
  std::vector<std::string> r;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, prefix.size(), prefix) == 0) r.push_back(line);
  }
  return r;
}

}  // namespace

std::optional<double> parse_value(const std::string& out, const std::string& name) {
  for (const std::string& l : lines_starting(out, name + " ")) {
    char unit[64];
    double v;
    if (std::sscanf(l.c_str() + name.size(), " %lf %63s", &v, unit) == 2) return v;
  }
  return std::nullopt;
}

std::optional<Probe> parse_probe(const std::string& out) {
  for (const std::string& l : lines_starting(out, "probe ")) {
    Probe p;
    if (std::sscanf(l.c_str(), "probe p50 %lf us p99 %lf us max %lf us", &p.p50, &p.p99, &p.max) ==
        3) {
      return p;
    }
  }
  return std::nullopt;
}

std::optional<PreemptLat> parse_preemptlat(const std::string& out) {
  PreemptLat r;
  auto a = lines_starting(out, "preemptlat ");
  auto b = lines_starting(out, "tgkill->handler ");
  if (a.empty() || b.empty()) return std::nullopt;
  if (std::sscanf(a[0].c_str(), "preemptlat p50 %lf us p99 %lf us max %lf us (%ld", &r.p50, &r.p99,
                  &r.max, &r.preemptions) != 4) {
    return std::nullopt;
  }
  double max;
  if (std::sscanf(b[0].c_str(), "tgkill->handler p50 %lf us p99 %lf us max %lf", &r.floor_p50,
                  &r.floor_p99, &max) != 3) {
    return std::nullopt;
  }
  return r;
}

std::optional<Overrun> parse_overrun(const std::string& out) {
  for (const std::string& l : lines_starting(out, "overrun ")) {
    Overrun r;
    char trigger[32];
    if (std::sscanf(l.c_str(), "overrun p50 %lf us p99 %lf us max %lf us (URGENT_PREEMPT=%31[a-z];",
                    &r.p50, &r.p99, &r.max, trigger) != 4) {
      continue;
    }
    std::size_t at = l.rfind("sysmon ");
    if (at == std::string::npos || std::sscanf(l.c_str() + at, "sysmon %lf wakeups/s", &r.sysmon_per_s) != 1) {
      continue;
    }
    r.trigger = trigger;
    return r;
  }
  return std::nullopt;
}

std::optional<SharedCpu> parse_sharedcpu(const std::string& out) {
  for (const std::string& l : lines_starting(out, "sharedcpu ")) {
    SharedCpu r;
    char trigger[32], slice[32];
    if (std::sscanf(l.c_str(), "sharedcpu URGENT_PREEMPT=%31[a-z] slice %31[^:]: on-CPU p50 %lf ms, wall p50 %lf ms",
                    trigger, slice, &r.on_cpu_ms, &r.wall_ms) == 4) {
      r.trigger = trigger;
      return r;
    }
  }
  return std::nullopt;
}

std::optional<std::vector<double>> parse_fairness(const std::string& out) {
  for (const std::string& l : lines_starting(out, "fairness shares")) {
    std::istringstream in(l.substr(std::strlen("fairness shares")));
    std::vector<double> v;
    double x;
    while (in >> x) v.push_back(x);
    if (!v.empty() && in.eof()) return v;
  }
  return std::nullopt;
}

std::optional<Overhead> parse_overhead(const std::string& out) {
  Overhead o;
  bool off = false;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    char slice[32];
    double ms, pct, fms, fpct;
    if (std::sscanf(line.c_str(), " preemption off %lf ms floor %lf ms", &o.off_ms,
                    &o.floor_off_ms) == 2) {
      off = true;
    } else if (std::sscanf(line.c_str(), " slice %31s %lf ms %lf%% floor %lf ms %lf%%", slice, &ms,
                           &pct, &fms, &fpct) == 5) {
      o.by_slice[slice] = {ms, fms};
    }
  }
  if (!off || o.by_slice.empty()) return std::nullopt;
  return o;
}

std::optional<Handoff> parse_handoff(const std::string& out) {
  for (const std::string& l : lines_starting(out, "handoff p50")) {
    Handoff h;
    if (std::sscanf(l.c_str(), "handoff p50 %lf us p99 %lf us max %lf us", &h.p50, &h.p99,
                    &h.max) != 3) {
      continue;
    }
    if (std::size_t w = l.rfind("sysmon "); w != std::string::npos) {
      double v;
      if (std::sscanf(l.c_str() + w, "sysmon %lf wakeups/s", &v) == 1) h.sysmon_per_s = v;
    }
    return h;
  }
  return std::nullopt;
}

namespace {

// A minimal JSON reader: finds the value at a dotted path of object keys.
class JsonReader {
 public:
  explicit JsonReader(const std::string& s) : s_(s) {}
  // Parses one value; if `want` is non-empty, descends into the object key want[0] and so
  // on, and stores a number found at the end in *out.
  bool value(const std::vector<std::string>& want, std::size_t depth, std::optional<double>* out) {
    skip();
    if (i_ >= s_.size()) return false;
    char c = s_[i_];
    if (c == '{') {
      i_++;
      skip();
      if (peek('}')) return true;
      for (;;) {
        std::string key;
        if (!string(&key)) return false;
        skip();
        if (!peek(':')) return false;
        bool follow = depth < want.size() && key == want[depth];
        if (!value(want, follow ? depth + 1 : want.size() + 1, follow ? out : nullptr))
          return false;
        skip();
        if (peek(',')) continue;
        return peek('}');
      }
    }
    if (c == '[') {
      i_++;
      skip();
      if (peek(']')) return true;
      for (std::size_t index = 0;; index++) {
        bool follow = depth < want.size() && want[depth] == std::to_string(index);
        if (!value(want, follow ? depth + 1 : want.size() + 1, follow ? out : nullptr))
          return false;
        skip();
        if (peek(',')) continue;
        return peek(']');
      }
    }
    if (c == '"') return string(nullptr);
    if (s_.compare(i_, 4, "true") == 0 || s_.compare(i_, 4, "null") == 0) {
      i_ += 4;
      return true;
    }
    if (s_.compare(i_, 5, "false") == 0) {
      i_ += 5;
      return true;
    }
    char* end = nullptr;
    double v = std::strtod(s_.c_str() + i_, &end);
    if (end == s_.c_str() + i_) return false;
    i_ = static_cast<std::size_t>(end - s_.c_str());
    if (out != nullptr && depth == want.size()) *out = v;
    return true;
  }
  bool done() {
    skip();
    return i_ == s_.size();
  }

 private:
  void skip() {
    while (i_ < s_.size() && std::strchr(" \t\r\n", s_[i_]) != nullptr) i_++;
  }
  bool peek(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      i_++;
      return true;
    }
    return false;
  }
  bool string(std::string* out) {
    if (!peek('"')) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\') i_++;
      if (out != nullptr && i_ < s_.size()) *out += s_[i_];
      i_++;
    }
    return peek('"');
  }
  const std::string& s_;
  std::size_t i_ = 0;
};

}  // namespace

std::optional<double> json_number(const std::string& json, const std::string& path) {
  std::vector<std::string> keys;
  std::istringstream in(path);
  std::string k;
  while (std::getline(in, k, '.')) keys.push_back(k);
  std::optional<double> out;
  JsonReader r(json);
  if (!r.value(keys, 0, &out) || !r.done()) return std::nullopt;
  return out;
}

std::vector<std::pair<double, double>> parse_scope_calls(const std::string& json,
                                                         const std::string& name) {
  std::vector<std::pair<double, double>> calls;
  const std::string key = "\"name\":\"" + name + "\",";
  for (std::size_t at = json.find(key); at != std::string::npos; at = json.find(key, at + 1)) {
    unsigned long long enter, exit, off;
    if (std::sscanf(json.c_str() + at + key.size(),
                    "\"enter_ns\":%llu,\"exit_ns\":%llu,\"offcpu_ns\":%llu", &enter, &exit,
                    &off) == 3 &&
        exit >= enter) {
      calls.emplace_back(static_cast<double>(exit - enter), static_cast<double>(off));
    }
  }
  return calls;
}

}  // namespace urgent::lab
