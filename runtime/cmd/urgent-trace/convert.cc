// runtime/cmd/urgent-trace/convert.cc: Chrome JSON and Perfetto protobuf output.
#include "convert.h"

#include <cstdio>
#include <map>
#include <set>
#include <vector>

namespace urgent::tracetool {

using tracefmt::Ev;

namespace {

// Track groups: Chrome JSON's "processes", Perfetto's parent tracks.
enum Group : int { kPs = 1, kMs = 2, kGoroutines = 3, kRunQueues = 4 };
constexpr const char* kGroupNames[] = {"", "Ps", "Ms (threads)", "Goroutines", "Run queues"};

struct Track {
  Group group;
  std::int64_t key;  // P id, M id (-1 sysmon), goid, P id (-1 global) for run queues
  std::string name;
  bool counter;
};

struct Item {
  enum Kind { kBegin, kEnd, kInstant, kCounter } kind;
  std::uint64_t track;
  std::int64_t ns;
  std::string name;
  std::int64_t value = 0;      // counters
  std::uint64_t flow_out = 0;  // a flow starts here (0: none)
  std::uint64_t flow_in = 0;   // a flow ends here
};

// The trace as tracks and timed items, in time order.
class Timeline {
 public:
  explicit Timeline(const Trace& t) : t_(t) { build(); }
  const std::map<std::uint64_t, Track>& tracks() const { return tracks_; }
  const std::vector<Item>& items() const { return items_; }

 private:
  std::uint64_t track(Group g, std::int64_t key, bool counter = false) {
    std::uint64_t uuid = (static_cast<std::uint64_t>(g) << 48) |
                         (static_cast<std::uint64_t>(key + 1) & 0xffffffffffffull);
    if (tracks_.count(uuid) == 0) {
      std::string name;
      switch (g) {
        case kPs: name = "P" + std::to_string(key); break;
        case kMs: name = key < 0 ? "sysmon" : "M" + std::to_string(key); break;
        case kGoroutines: name = "g" + std::to_string(key); break;
        case kRunQueues: name = key < 0 ? "global runq" : "runq P" + std::to_string(key); break;
      }
      tracks_[uuid] = Track{g, key, name, counter};
    }
    return uuid;
  }
  void begin(std::uint64_t tr, std::int64_t ns, std::string name, std::uint64_t flow_in = 0) {
    items_.push_back({Item::kBegin, tr, ns, std::move(name), 0, 0, flow_in});
    open_[tr]++;
  }
  void end(std::uint64_t tr, std::int64_t ns) {
    if (open_[tr] == 0) return;
    items_.push_back({Item::kEnd, tr, ns, "", 0, 0, 0});
    open_[tr]--;
  }
  void instant(std::uint64_t tr, std::int64_t ns, std::string name, std::uint64_t flow_out = 0) {
    items_.push_back({Item::kInstant, tr, ns, std::move(name), 0, flow_out, 0});
  }
  void counter(std::uint64_t tr, std::int64_t ns, std::int64_t v) {
    items_.push_back({Item::kCounter, tr, ns, "", v, 0, 0});
  }
  std::uint64_t emitter(const Event& e) { return track(kMs, e.m); }

  // g stops running where it ran (its P's and its M's slices).
  void stop_running(std::uint64_t g, std::int64_t ns) {
    auto it = running_.find(g);
    if (it == running_.end()) return;
    end(it->second.first, ns);
    end(it->second.second, ns);
    running_.erase(it);
  }

  void build() {
    std::map<std::uint64_t, std::uint64_t> pending_flow;  // goid -> flow from its unblock
    std::set<std::uint64_t> dangling;                     // flows that never land
    std::uint64_t next_flow = 1;
    for (const Event& e : t_.events) {
      std::uint64_t goid = e.args[0];
      std::string gname = "g" + std::to_string(goid);
      switch (e.type) {
        case Ev::kGoCreate: instant(emitter(e), e.ns, "go " + gname); break;
        case Ev::kGoUnblock: {
          std::uint64_t id = next_flow++;
          if (auto it = pending_flow.find(goid); it != pending_flow.end())
            dangling.insert(it->second);
          pending_flow[goid] = id;
          instant(emitter(e), e.ns, "unblock " + gname, id);
          break;
        }
        case Ev::kGoPreempt:
          instant(emitter(e), e.ns,
                  "preempt " + gname + " (" + tracefmt::kPreemptKindNames[e.args[1] % 3] + ")");
          break;
        case Ev::kSteal:
          instant(track(kPs, static_cast<std::int64_t>(e.args[0])), e.ns,
                  "steal " + std::to_string(e.args[2]) + " from P" + std::to_string(e.args[1]));
          break;
        case Ev::kPreemptSignal:
          instant(emitter(e), e.ns,
                  "SIGURG to tid " + std::to_string(e.args[0]) + " (g" + std::to_string(e.args[1]) +
                      ")");
          break;
        case Ev::kPreemptTrigger:
          instant(emitter(e), e.ns,
                  std::string(tracefmt::kTriggerNames[e.args[1] % 3]) + " fired (" + gname + "): " +
                      tracefmt::kTriggerOutcomeNames[e.args[2] % 3]);
          break;
        case Ev::kPreemptHandler:
          instant(emitter(e), e.ns,
                  "handler " + gname + ": " +
                      tracefmt::kVerdictNames[e.args[1] % tracefmt::kVerdictCount]);
          break;
        case Ev::kGoSysBlock:
          instant(emitter(e), e.ns,
                  "handoff P" + std::to_string(e.args[1]) + " from " + gname + " (tid " +
                      std::to_string(e.args[2]) + ")");
          break;
        case Ev::kSysmonTick:
          instant(emitter(e), e.ns,
                  "sysmon: retook " + std::to_string(e.args[0]) + ", preempted " +
                      std::to_string(e.args[1]));
          break;
        case Ev::kLost:
          instant(emitter(e), e.ns, "lost " + std::to_string(e.args[0]) + " events");
          break;
        case Ev::kUnwrappedBlock:
          instant(emitter(e), e.ns,
                  "tid " + std::to_string(e.args[0]) + " blocked " +
                      std::to_string(e.args[1] / 1000) + " us outside urgent::blocking" +
                      (e.args[2] != 0 ? " while goroutines were runnable" : ""));
          break;
        case Ev::kProcStart:
          m_p_[e.m] = static_cast<std::int64_t>(e.args[0]);
          instant(emitter(e), e.ns, "acquire P" + std::to_string(e.args[0]));
          break;
        case Ev::kProcStop:
          m_p_.erase(e.m);
          instant(emitter(e), e.ns, "release P" + std::to_string(e.args[0]));
          break;
        default: break;
      }
      std::uint64_t g;
      GState to;
      if (!transition(e, &g, &to)) continue;
      std::uint64_t gt = track(kGoroutines, static_cast<std::int64_t>(g));
      // The goroutine's own track: one slice per state.
      end(gt, e.ns);
      std::string state = gstate_name(to);
      if (e.type == Ev::kGoBlock) state += ": " + t_.reason(e.args[1]);
      std::uint64_t flow = 0;
      if (e.type == Ev::kGoStart) {
        if (auto it = pending_flow.find(g); it != pending_flow.end()) {
          flow = it->second;
          pending_flow.erase(it);
        }
      }
      if (to != GState::kDead && to != GState::kUnknown) begin(gt, e.ns, state, flow);
      // Where it runs: slices on its P's and its M's tracks.
      if (to != GState::kRunning) stop_running(g, e.ns);
      if (e.type == Ev::kGoSysCall) {
        m_p_.erase(e.m);
        begin(emitter(e), e.ns, "syscall " + gname);
        in_syscall_[g] = emitter(e);
      }
      if (e.type == Ev::kGoSysExit) {
        if (auto it = in_syscall_.find(g); it != in_syscall_.end()) {
          end(it->second, e.ns);
          in_syscall_.erase(it);
        }
      }
      if (to == GState::kRunning && running_.count(g) == 0) {
        std::int64_t p = e.type == Ev::kGoStart ? static_cast<std::int64_t>(e.args[1])
                                                : (m_p_.count(e.m) ? m_p_[e.m] : -1);
        if (p >= 0) {
          std::uint64_t pt = track(kPs, p);
          std::uint64_t mt = emitter(e);
          begin(pt, e.ns, gname);
          begin(mt, e.ns, gname + " on P" + std::to_string(p));
          running_[g] = {pt, mt};
        }
      }
      if (e.type == Ev::kGoStart) {
        counter(track(kRunQueues, static_cast<std::int64_t>(e.args[1]), true), e.ns,
                static_cast<std::int64_t>(e.args[2]));
        counter(track(kRunQueues, -1, true), e.ns, static_cast<std::int64_t>(e.args[3]));
      }
    }
    // Close what is still open at the end, and drop flows that never landed.
    std::int64_t last = t_.events.empty() ? 0 : t_.events.back().ns;
    for (auto& [tr, n] : open_) {
      while (n > 0) {
        items_.push_back({Item::kEnd, tr, last, "", 0, 0, 0});
        n--;
      }
    }
    for (const auto& [g, id] : pending_flow) dangling.insert(id);
    for (Item& it : items_) {
      if (dangling.count(it.flow_out) != 0) it.flow_out = 0;
    }
  }

  const Trace& t_;
  std::map<std::uint64_t, Track> tracks_;
  std::vector<Item> items_;
  std::map<std::uint64_t, int> open_;  // open slices per track
  std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> running_;  // g -> P, M tracks
  std::map<std::uint64_t, std::uint64_t> in_syscall_;                         // g -> M track
  std::map<std::int64_t, std::int64_t> m_p_;                                  // M -> P it holds
};

// ---- protobuf wire format ----

void put_varint(std::string* o, std::uint64_t v) {
  tracefmt::append_uvarint(o, v);
}
void put_tag(std::string* o, int field, int wire) {
  put_varint(o, static_cast<std::uint64_t>(field) << 3 | static_cast<unsigned>(wire));
}
void put_uint(std::string* o, int field, std::uint64_t v) {
  put_tag(o, field, 0);
  put_varint(o, v);
}
void put_bytes(std::string* o, int field, const std::string& b) {
  put_tag(o, field, 2);
  put_varint(o, b.size());
  *o += b;
}
void put_fixed64(std::string* o, int field, std::uint64_t v) {
  put_tag(o, field, 1);
  for (int i = 0; i < 8; i++) o->push_back(static_cast<char>(v >> (8 * i)));
}

// Perfetto field numbers (protos/perfetto/trace/...).
namespace pf {
constexpr int kTracePacket = 1;  // Trace.packet
// TracePacket
constexpr int kTimestamp = 8, kSequenceId = 10, kTrackEvent = 11, kSequenceFlags = 13,
              kClockSnapshot = 6, kTimestampClockId = 58, kTrackDescriptor = 60;
// TrackDescriptor
constexpr int kUuid = 1, kName = 2, kParentUuid = 5, kCounter = 8;
// TrackEvent
constexpr int kType = 9, kTrackUuid = 11, kEventName = 23, kCounterValue = 30, kFlowIds = 47,
              kTerminatingFlowIds = 48;
// ClockSnapshot / Clock
constexpr int kClocks = 1, kClockId = 1, kClockTimestamp = 2;
constexpr int kBuiltinMonotonic = 3, kBuiltinBoottime = 6;
enum Type { kSliceBegin = 1, kSliceEnd = 2, kInstant = 3, kCounter_ = 4 };
constexpr std::uint32_t kSeq = 1;
}  // namespace pf

}  // namespace

std::string to_chrome_json(const Trace& t) {
  Timeline tl(t);
  std::string o =
      "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"clock\":\"CLOCK_MONOTONIC\",\"pid\":" +
      std::to_string(t.pid) + "},\"traceEvents\":[\n";
  bool first = true;
  auto add = [&](const std::string& ev) {
    o += first ? "" : ",\n";
    o += ev;
    first = false;
  };
  auto tid_of = [](const Track& tr) { return tr.key < 0 ? 999999 : tr.key; };
  std::set<int> groups;
  for (const auto& [uuid, tr] : tl.tracks()) {
    groups.insert(tr.group);
    if (!tr.counter) {
      add("{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + std::to_string(tr.group) +
          ",\"tid\":" + std::to_string(tid_of(tr)) + ",\"args\":{\"name\":\"" +
          json_escape(tr.name) + "\"}}");
    }
  }
  for (int g : groups) {
    add("{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + std::to_string(g) +
        ",\"args\":{\"name\":\"" + kGroupNames[g] + "\"}}");
  }
  char ts[64];
  for (const Item& it : tl.items()) {
    const Track& tr = tl.tracks().at(it.track);
    std::snprintf(ts, sizeof ts, "%.3f", it.ns / 1e3);  // µs, ns precision
    std::string where = "\"pid\":" + std::to_string(tr.group) +
                        ",\"tid\":" + std::to_string(tid_of(tr)) + ",\"ts\":" + ts;
    switch (it.kind) {
      case Item::kBegin:
        add("{\"ph\":\"B\",\"name\":\"" + json_escape(it.name) + "\"," + where + "}");
        if (it.flow_in != 0) {
          add("{\"ph\":\"f\",\"bp\":\"e\",\"name\":\"unblock\",\"cat\":\"flow\",\"id\":" +
              std::to_string(it.flow_in) + "," + where + "}");
        }
        break;
      case Item::kEnd: add("{\"ph\":\"E\"," + where + "}"); break;
      case Item::kInstant:
        add("{\"ph\":\"i\",\"s\":\"t\",\"name\":\"" + json_escape(it.name) + "\"," + where + "}");
        if (it.flow_out != 0) {
          add("{\"ph\":\"s\",\"name\":\"unblock\",\"cat\":\"flow\",\"id\":" +
              std::to_string(it.flow_out) + "," + where + "}");
        }
        break;
      case Item::kCounter:
        add("{\"ph\":\"C\",\"name\":\"" + json_escape(tr.name) + "\"," + where +
            ",\"args\":{\"length\":" + std::to_string(it.value) + "}}");
        break;
    }
  }
  o += "\n]}\n";
  return o;
}

std::string to_perfetto(const Trace& t) {
  Timeline tl(t);
  std::string out;
  auto packet = [&](const std::string& p) { put_bytes(&out, pf::kTracePacket, p); };
  {
    // Anchor CLOCK_MONOTONIC (the events' clock) to BOOTTIME, Perfetto's trace clock.
    std::int64_t mono = t.events.empty() ? 0 : t.events.front().ns;
    std::string mono_clock, boot_clock, snap, p;
    put_uint(&mono_clock, pf::kClockId, pf::kBuiltinMonotonic);
    put_uint(&mono_clock, pf::kClockTimestamp, static_cast<std::uint64_t>(mono));
    put_uint(&boot_clock, pf::kClockId, pf::kBuiltinBoottime);
    put_uint(&boot_clock, pf::kClockTimestamp,
             static_cast<std::uint64_t>(mono + t.boottime_offset));
    put_bytes(&snap, pf::kClocks, mono_clock);
    put_bytes(&snap, pf::kClocks, boot_clock);
    put_bytes(&p, pf::kClockSnapshot, snap);
    put_uint(&p, pf::kSequenceId, pf::kSeq);
    put_uint(&p, pf::kSequenceFlags, 1);  // SEQ_INCREMENTAL_STATE_CLEARED
    packet(p);
  }
  std::set<int> groups;
  for (const auto& [uuid, tr] : tl.tracks()) groups.insert(tr.group);
  for (int g : groups) {
    std::string d, p;
    put_uint(&d, pf::kUuid, static_cast<std::uint64_t>(g));
    put_bytes(&d, pf::kName, kGroupNames[g]);
    put_bytes(&p, pf::kTrackDescriptor, d);
    packet(p);
  }
  for (const auto& [uuid, tr] : tl.tracks()) {
    std::string d, p;
    put_uint(&d, pf::kUuid, uuid);
    put_bytes(&d, pf::kName, tr.name);
    put_uint(&d, pf::kParentUuid, static_cast<std::uint64_t>(tr.group));
    if (tr.counter) put_bytes(&d, pf::kCounter, "");
    put_bytes(&p, pf::kTrackDescriptor, d);
    packet(p);
  }
  for (const Item& it : tl.items()) {
    std::string ev, p;
    static constexpr int kTypes[] = {pf::kSliceBegin, pf::kSliceEnd, pf::kInstant, pf::kCounter_};
    put_uint(&ev, pf::kType, static_cast<std::uint64_t>(kTypes[it.kind]));
    put_uint(&ev, pf::kTrackUuid, it.track);
    if (!it.name.empty()) put_bytes(&ev, pf::kEventName, it.name);
    if (it.kind == Item::kCounter)
      put_uint(&ev, pf::kCounterValue, static_cast<std::uint64_t>(it.value));
    if (it.flow_out != 0) put_fixed64(&ev, pf::kFlowIds, it.flow_out);
    if (it.flow_in != 0) put_fixed64(&ev, pf::kTerminatingFlowIds, it.flow_in);
    put_uint(&p, pf::kTimestamp, static_cast<std::uint64_t>(it.ns));
    put_uint(&p, pf::kTimestampClockId, pf::kBuiltinMonotonic);
    put_bytes(&p, pf::kTrackEvent, ev);
    put_uint(&p, pf::kSequenceId, pf::kSeq);
    packet(p);
  }
  return out;
}

namespace {

// A protobuf message's fields, read with the wire format only.
struct Field {
  int number;
  int wire;
  std::uint64_t value;  // varint / fixed64
  std::string bytes;    // length-delimited
};

bool parse_fields(const std::string& msg, std::vector<Field>* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(msg.data());
  const unsigned char* end = p + msg.size();
  while (p < end) {
    std::uint64_t key;
    if (!tracefmt::get_uvarint(&p, end, &key)) return false;
    Field f{static_cast<int>(key >> 3), static_cast<int>(key & 7), 0, {}};
    switch (f.wire) {
      case 0:
        if (!tracefmt::get_uvarint(&p, end, &f.value)) return false;
        break;
      case 1:
        if (end - p < 8) return false;
        for (int i = 0; i < 8; i++) f.value |= static_cast<std::uint64_t>(p[i]) << (8 * i);
        p += 8;
        break;
      case 2: {
        std::uint64_t n;
        if (!tracefmt::get_uvarint(&p, end, &n) || static_cast<std::uint64_t>(end - p) < n)
          return false;
        f.bytes.assign(reinterpret_cast<const char*>(p), n);
        p += n;
        break;
      }
      case 5:
        if (end - p < 4) return false;
        p += 4;
        break;
      default: return false;
    }
    out->push_back(std::move(f));
  }
  return true;
}

}  // namespace

bool check_perfetto(const std::string& bytes, PerfettoCheck* out, std::string* error) {
  *out = PerfettoCheck{};
  std::vector<Field> packets;
  if (!parse_fields(bytes, &packets)) {
    *error = "not a protobuf message (Trace)";
    return false;
  }
  std::set<std::uint64_t> declared;
  std::map<std::uint64_t, int> open;
  std::set<std::uint64_t> flows_out, flows_in;
  for (const Field& pk : packets) {
    if (pk.number != pf::kTracePacket || pk.wire != 2) {
      *error = "top-level field " + std::to_string(pk.number) + " is not a TracePacket";
      return false;
    }
    out->packets++;
    std::vector<Field> fields;
    if (!parse_fields(pk.bytes, &fields)) {
      *error = "packet " + std::to_string(out->packets) + " is malformed";
      return false;
    }
    for (const Field& f : fields) {
      std::vector<Field> sub;
      if (f.number == pf::kTrackDescriptor || f.number == pf::kTrackEvent) {
        if (f.wire != 2 || !parse_fields(f.bytes, &sub)) {
          *error = "packet " + std::to_string(out->packets) + ": malformed submessage";
          return false;
        }
      }
      if (f.number == pf::kTrackDescriptor) {
        for (const Field& d : sub) {
          if (d.number == pf::kUuid) declared.insert(d.value);
        }
        out->tracks++;
      } else if (f.number == pf::kTrackEvent) {
        std::uint64_t type = 0, track = 0;
        for (const Field& d : sub) {
          if (d.number == pf::kType) type = d.value;
          if (d.number == pf::kTrackUuid) track = d.value;
          if (d.number == pf::kFlowIds) flows_out.insert(d.value);
          if (d.number == pf::kTerminatingFlowIds) flows_in.insert(d.value);
        }
        if (declared.count(track) == 0) {
          *error = "an event on undeclared track " + std::to_string(track);
          return false;
        }
        if (type == pf::kSliceBegin) {
          open[track]++;
          out->slices++;
        } else if (type == pf::kSliceEnd) {
          if (open[track]-- == 0) {
            *error = "a slice ends on track " + std::to_string(track) + " with none open";
            return false;
          }
        } else if (type == pf::kInstant) {
          out->instants++;
        } else if (type == pf::kCounter_) {
          out->counters++;
        } else {
          *error = "unknown TrackEvent type " + std::to_string(type);
          return false;
        }
      }
    }
  }
  for (const auto& [track, n] : open) {
    if (n != 0) {
      *error =
          "track " + std::to_string(track) + " has " + std::to_string(n) + " unfinished slices";
      return false;
    }
  }
  if (flows_out != flows_in) {
    *error = "flows started and terminated differ";
    return false;
  }
  out->flows = flows_out.size();
  return true;
}

}  // namespace urgent::tracetool
