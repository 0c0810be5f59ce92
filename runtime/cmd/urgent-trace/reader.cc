// runtime/cmd/urgent-trace/reader.cc: parsing and checking urgent's execution traces.
#include "reader.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>

namespace urgent::tracetool {

using tracefmt::Ev;

std::string Trace::reason(std::uint64_t i) const {
  return i < reasons.size() ? reasons[i] : "reason " + std::to_string(i);
}

namespace {

struct Sync {
  std::uint64_t ticks;
  std::int64_t ns;
};

// Maps ticks to CLOCK_MONOTONIC ns: linear between the two nearest syncs.
std::int64_t to_ns(const std::vector<Sync>& syncs, std::uint64_t ticks) {
  auto it = std::upper_bound(syncs.begin(), syncs.end(), ticks,
                             [](std::uint64_t t, const Sync& s) { return t < s.ticks; });
  std::size_t hi = static_cast<std::size_t>(it - syncs.begin());
  hi = std::clamp<std::size_t>(hi, 1, syncs.size() - 1);
  const Sync& a = syncs[hi - 1];
  const Sync& b = syncs[hi];
  double per_tick = static_cast<double>(b.ns - a.ns) / static_cast<double>(b.ticks - a.ticks);
  double dt = static_cast<double>(static_cast<std::int64_t>(ticks - a.ticks));
  return a.ns + static_cast<std::int64_t>(dt * per_tick);
}

bool fail(std::string* error, const std::string& what) {
  *error = what;
  return false;
}

}  // namespace

bool parse_trace(const std::string& bytes, Trace* t, std::string* error) {
  *t = Trace{};
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned char* end = p + bytes.size();
  if (bytes.size() < tracefmt::kHeaderSize ||
      bytes.compare(0, sizeof tracefmt::kMagic, tracefmt::kMagic, sizeof tracefmt::kMagic) != 0) {
    return fail(error, "not an urgent trace (no URGTRACE header)");
  }
  std::uint32_t version = tracefmt::get_u32le(p + 8);
  if (version != tracefmt::kVersion) {
    return fail(error, "trace format version " + std::to_string(version) + ", this tool reads " +
                           std::to_string(tracefmt::kVersion));
  }
  p += tracefmt::kHeaderSize;
  std::vector<Sync> syncs;
  std::map<std::uint64_t, std::uint64_t> thread_last;  // tid -> its last event's ticks
  bool info = false;
  while (p < end) {
    std::size_t offset =
        static_cast<std::size_t>(p - reinterpret_cast<const unsigned char*>(bytes.data()));
    // A trace whose writer stopped mid-chunk (the program died, the disk filled): keep what
    // is complete and note the rest, which check reports.
    if (end - p < 5 || static_cast<std::size_t>(end - p - 5) < tracefmt::get_u32le(p + 1)) {
      t->partial_at = offset;
      t->partial_bytes = static_cast<std::size_t>(end - p);
      break;
    }
    auto kind = static_cast<tracefmt::Chunk>(*p);
    std::uint32_t len = tracefmt::get_u32le(p + 1);
    p += 5;
    const unsigned char* q = p;
    const unsigned char* cend = p + len;
    p = cend;
    auto bad = [&](const char* what) {
      return fail(error,
                  std::string(what) + " chunk at byte " + std::to_string(offset) + " is malformed");
    };
    switch (kind) {
      case tracefmt::Chunk::kInfo: {
        std::uint64_t pid, procs, clock, flags, n;
        if (!tracefmt::get_uvarint(&q, cend, &pid) || !tracefmt::get_uvarint(&q, cend, &procs) ||
            !tracefmt::get_uvarint(&q, cend, &clock) || !tracefmt::get_uvarint(&q, cend, &flags) ||
            !tracefmt::get_uvarint(&q, cend, &n) || n > 1000) {
          return bad("info");
        }
        t->pid = static_cast<std::int64_t>(pid);
        t->gomaxprocs = static_cast<int>(procs);
        t->tsc = clock == 0;
        t->flight = (flags & 1) != 0;
        for (std::uint64_t i = 0; i < n; i++) {
          std::uint64_t l;
          if (!tracefmt::get_uvarint(&q, cend, &l) || static_cast<std::uint64_t>(cend - q) < l) {
            return bad("info");
          }
          t->reasons.emplace_back(reinterpret_cast<const char*>(q), l);
          q += l;
        }
        info = true;
        break;
      }
      case tracefmt::Chunk::kClock: {
        std::uint64_t ticks, ns, boot;
        if (!tracefmt::get_uvarint(&q, cend, &ticks) || !tracefmt::get_uvarint(&q, cend, &ns) ||
            !tracefmt::get_uvarint(&q, cend, &boot)) {
          return bad("clock");
        }
        syncs.push_back({ticks, static_cast<std::int64_t>(ns)});
        t->boottime_offset = static_cast<std::int64_t>(boot) - static_cast<std::int64_t>(ns);
        break;
      }
      case tracefmt::Chunk::kBatch: {
        tracefmt::BatchHeader h;
        if (!tracefmt::get_batch_header(&q, cend, &h)) return bad("batch");
        std::uint64_t ticks = h.base;
        std::uint64_t& last = thread_last[h.tid];
        if (ticks < last) t->backwards++;
        while (q < cend) {
          tracefmt::Event e;
          if (!tracefmt::get_event(&q, cend, &ticks, &e)) return bad("batch");
          Event ev;
          ev.ticks = e.ticks;
          ev.m = static_cast<std::int64_t>(h.m1) - 1;
          ev.tid = static_cast<std::int64_t>(h.tid);
          ev.type = e.type;
          std::copy(e.args, e.args + 4, ev.args);
          if (e.type == Ev::kLost) t->lost += e.args[0];
          t->events.push_back(ev);
        }
        last = ticks;
        t->batches++;
        break;
      }
      case tracefmt::Chunk::kKernel:
        if (!bpf::decode_observations(q, cend, &t->kernel)) return bad("kernel");
        t->has_kernel = true;
        break;
      case tracefmt::Chunk::kEnd: {
        std::uint64_t dropped, batches;
        if (!tracefmt::get_uvarint(&q, cend, &dropped) ||
            !tracefmt::get_uvarint(&q, cend, &batches)) {
          return bad("end");
        }
        t->dropped = dropped;
        t->end_batches = batches;
        t->complete = true;
        break;
      }
      default:
        return fail(error, "unknown chunk kind " + std::to_string(static_cast<int>(kind)) +
                               " at byte " + std::to_string(offset));
    }
  }
  if (!info) return fail(error, "no info chunk: not a complete urgent trace");
  std::sort(syncs.begin(), syncs.end(),
            [](const Sync& a, const Sync& b) { return a.ticks < b.ticks; });
  syncs.erase(std::unique(syncs.begin(), syncs.end(),
                          [](const Sync& a, const Sync& b) { return a.ticks == b.ticks; }),
              syncs.end());
  if (syncs.size() < 2) return fail(error, "fewer than two clock chunks: cannot convert times");
  // Batches of one thread are in order in the file, so a stable sort keeps each thread's
  // order when two events have the same ticks.
  std::stable_sort(t->events.begin(), t->events.end(),
                   [](const Event& a, const Event& b) { return a.ticks < b.ticks; });
  for (Event& e : t->events) e.ns = to_ns(syncs, e.ticks);
  return true;
}

bool read_trace(const std::string& path, Trace* t, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(error, "cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) return fail(error, "cannot read " + path);
  if (!parse_trace(ss.str(), t, error)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

std::string describe(const Trace& t, const Event& e, std::int64_t t0) {
  const tracefmt::EventSpec& spec = tracefmt::kEventSpecs[static_cast<int>(e.type)];
  char head[96];
  std::snprintf(head, sizeof head, "%14.6f ms  %-4s tid %-7lld %-15s", (e.ns - t0) / 1e6,
                e.m < 0 ? "sysm" : ("M" + std::to_string(e.m)).c_str(),
                static_cast<long long>(e.tid), spec.name);
  std::string s = head;
  for (int i = 0; i < spec.nargs; i++) {
    s += " ";
    s += spec.args[i];
    s += "=";
    std::uint64_t v = e.args[i];
    if (e.type == Ev::kGoBlock && i == 1) {
      s += "\"" + t.reason(v) + "\"";
    } else if (e.type == Ev::kGoPreempt && i == 1 && v < 3) {
      s += tracefmt::kPreemptKindNames[v];
    } else if (e.type == Ev::kGoSysExit && i == 1 && v < 3) {
      s += tracefmt::kSysExitPathNames[v];
    } else if (e.type == Ev::kPreemptHandler && i == 1 && v < tracefmt::kVerdictCount) {
      s += tracefmt::kVerdictNames[v];
    } else if (e.type == Ev::kPreemptTrigger && i == 1 && v < 3) {
      s += tracefmt::kTriggerNames[v];
    } else if (e.type == Ev::kPreemptTrigger && i == 2 && v < 3) {
      s += tracefmt::kTriggerOutcomeNames[v];
    } else {
      s += std::to_string(v);
    }
  }
  return s;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += c;
    }
  }
  return o;
}

std::int64_t percentile(const std::vector<std::int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  std::size_t rank = static_cast<std::size_t>(q * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

const char* gstate_name(GState s) {
  switch (s) {
    case GState::kUnknown: return "unknown";
    case GState::kRunnable: return "runnable";
    case GState::kRunning: return "running";
    case GState::kWaiting: return "waiting";
    case GState::kSyscall: return "syscall";
    case GState::kDead: return "dead";
  }
  return "?";
}

bool transition(const Event& e, std::uint64_t* g, GState* to) {
  *g = e.args[0];
  switch (e.type) {
    case Ev::kGoCreate:
    case Ev::kGoSched:
    case Ev::kGoPreempt:
    case Ev::kGoUnblock: *to = GState::kRunnable; return true;
    case Ev::kGoStart: *to = GState::kRunning; return true;
    case Ev::kGoEnd: *to = GState::kDead; return true;
    case Ev::kGoBlock: *to = GState::kWaiting; return true;
    case Ev::kGoSysCall: *to = GState::kSyscall; return true;
    case Ev::kGoSysExit: *to = e.args[1] == 2 ? GState::kRunnable : GState::kRunning; return true;
    case Ev::kGoStatus:
      switch (e.args[1]) {
        case 1: *to = GState::kRunnable; return true;
        case 2: *to = GState::kRunning; return true;
        case 3: *to = GState::kSyscall; return true;
        case 4: *to = GState::kWaiting; return true;
        default: *to = GState::kUnknown; return true;
      }
    default: return false;
  }
}

namespace {

struct GInfo {
  GState state = GState::kUnknown;
  std::int64_t m = -2;  // the M it runs on (running, syscall)
  bool created = false;
  bool started = false;
};

class Checker {
 public:
  // A flight recorder's window starts with goroutines in unknown states; a trace that
  // dropped events, or was cut short (threads' batches reach the file in any order, so the
  // missing tail holds earlier events too), misses transitions: then only what is known is
  // checked.
  Checker(const Trace& t, std::size_t limit)
      : t_(t),
        limit_(limit),
        partial_(t.flight),
        lossy_(t.dropped != 0 || t.lost != 0 || !t.complete) {}

  std::vector<std::string> run() {
    if (!t_.complete) {
      std::string what = "the trace was cut short: no End chunk (the program died, or writing "
                         "it failed, e.g. on a full disk)";
      if (t_.partial_bytes != 0) {
        what += "; it ends in " + std::to_string(t_.partial_bytes) +
                " bytes of a partial chunk at byte " + std::to_string(t_.partial_at);
      }
      out_.push_back(what);
    } else if (t_.end_batches != t_.batches) {
      out_.push_back("the End chunk counts " + std::to_string(t_.end_batches) +
                     " batches written, the file holds " + std::to_string(t_.batches));
    }
    if (t_.backwards != 0) {
      out_.push_back(std::to_string(t_.backwards) +
                     " batches start before their thread's previous batch ended");
    }
    for (const Event& e : t_.events) {
      cur_ = &e;
      step(e);
    }
    for (const auto& [g, gi] : gs_) {
      if (gi.created && gi.state == GState::kDead && !gi.started) {
        out_.push_back("g" + std::to_string(g) + " was created and ended without starting");
      }
    }
    if (out_.size() > limit_) out_.resize(limit_);
    return out_;
  }

 private:
  void problem(const std::string& what) {
    if (out_.size() <= limit_) out_.push_back(what + ": " + describe(t_, *cur_, t0()));
  }
  std::int64_t t0() const { return t_.events.empty() ? 0 : t_.events.front().ns; }

  void step(const Event& e) {
    std::uint64_t g;
    GState to;
    if (transition(e, &g, &to)) goroutine_step(e, g, to);
    switch (e.type) {
      case Ev::kGoStart: {
        auto held = mp_.find(e.m);
        bool ok = held != mp_.end() && held->second == static_cast<std::int64_t>(e.args[1]);
        if (!ok && !lossy_ && !(partial_ && held == mp_.end())) {
          problem("M" + std::to_string(e.m) + " starts a goroutine on P" +
                  std::to_string(e.args[1]) + " it does not hold");
        }
        break;
      }
      case Ev::kGoSysCall: mp_.erase(e.m); break;  // the P stays with the call (kPsyscall)
      case Ev::kProcStart: {
        std::int64_t p = static_cast<std::int64_t>(e.args[0]);
        if (!lossy_) {
          if (mp_.count(e.m) != 0) problem("M" + std::to_string(e.m) + " already holds a P");
          for (const auto& [m, held] : mp_) {
            if (held == p) problem("P" + std::to_string(p) + " is held by M" + std::to_string(m));
          }
        }
        mp_[e.m] = p;
        break;
      }
      case Ev::kProcStop: {
        auto held = mp_.find(e.m);
        bool ok = held != mp_.end() && held->second == static_cast<std::int64_t>(e.args[0]);
        if (!ok && !lossy_ && !(partial_ && held == mp_.end())) {
          problem("M stops a P it does not hold");
        }
        mp_.erase(e.m);
        break;
      }
      default: break;
    }
  }

  void goroutine_step(const Event& e, std::uint64_t g, GState to) {
    GInfo& gi = gs_[static_cast<std::int64_t>(g)];
    auto want = [&](std::initializer_list<GState> ok, bool here) {
      if ((gi.state == GState::kUnknown && partial_) || lossy_) return;
      if (std::find(ok.begin(), ok.end(), gi.state) == ok.end()) {
        problem("g" + std::to_string(g) + " is " + gstate_name(gi.state));
      } else if (here && gi.m != -2 && gi.m != e.m) {
        problem("g" + std::to_string(g) + " runs on M" + std::to_string(gi.m) + ", not here");
      }
    };
    switch (e.type) {
      case Ev::kGoCreate:
        if (gi.state != GState::kUnknown) problem("g" + std::to_string(g) + " created twice");
        gi.created = true;
        break;
      case Ev::kGoStatus:
        if (to == GState::kUnknown) problem("unknown status");
        break;
      case Ev::kGoStart:
        want({GState::kRunnable}, false);
        gi.started = true;
        break;
      case Ev::kGoUnblock: want({GState::kWaiting}, false); break;
      case Ev::kGoSysExit: want({GState::kSyscall}, true); break;
      default: want({GState::kRunning}, true); break;  // it leaves the M: end, yield, block, call
    }
    gi.state = to;
    // The M it is on; a call in progress when tracing began may be on any M (-2).
    gi.m = e.type == Ev::kGoStatus && to == GState::kSyscall ? -2 : e.m;
  }

  const Trace& t_;
  std::size_t limit_;
  bool partial_, lossy_;
  const Event* cur_ = nullptr;
  std::map<std::int64_t, GInfo> gs_;
  std::map<std::int64_t, std::int64_t> mp_;  // M -> the P it holds
  std::vector<std::string> out_;
};

}  // namespace

std::vector<std::string> validate(const Trace& t, std::size_t limit) {
  return Checker(t, limit).run();
}

}  // namespace urgent::tracetool
