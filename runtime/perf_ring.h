// runtime/perf_ring.h: reading a perf event's ring of fixed-size timed records, mapped
// read-only and written backward (write_backward: the newest record is at data_head), as
// the per-M events of activation.cc (PERF_RECORD_SWITCH) and trigger.cc (PERF_RECORD_SAMPLE
// with PERF_SAMPLE_TIME) write them. Async-signal-safe: plain loads from the mapping.
#pragma once

#include <linux/perf_event.h>

#include <cstdint>
#include <cstring>

namespace urgent::rt {

// A record whose only field is its time (PERF_SAMPLE_TIME, or sample_id_all with it).
struct TimedRecord {
  perf_event_header header;
  std::uint64_t time;  // the event's clock (use_clockid CLOCK_MONOTONIC: nanotime's)
};
static_assert(sizeof(TimedRecord) == 16);

inline std::uint64_t ring_head(const void* ring) {
  auto* meta = static_cast<const perf_event_mmap_page*>(ring);
  return __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
}

// The record at byte `pos` (from ring_head, newest first) of ring. False if it is not a
// `type` record (the kernel may be overwriting it: then its size or type does not fit).
inline bool ring_record(const void* ring, std::uint64_t pos, std::uint32_t type, TimedRecord* out) {
  auto* meta = static_cast<const perf_event_mmap_page*>(ring);
  const char* data = static_cast<const char*>(ring) + meta->data_offset;
  std::uint64_t size = meta->data_size;
  std::uint64_t off = pos & (size - 1);
  if (off + sizeof *out > size) return false;  // records never wrap at 16 bytes each
  std::memcpy(out, data + off, sizeof *out);
  return out->header.type == type && out->header.size == sizeof *out;
}

}  // namespace urgent::rt
