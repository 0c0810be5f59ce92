// runtime/perf_ring.h: reading a perf event's ring of fixed-size timed records, mapped
// read-only and written backward (write_backward: the newest record is at data_head), as
// the per-M events of activation.cc (PERF_RECORD_SWITCH) and trigger.cc (PERF_RECORD_SAMPLE
// with PERF_SAMPLE_TIME) write them. Async-signal-safe: plain loads from the mapping.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace urgent::rt {

// Opens attr's event on the calling thread with a read-only ring of ring_bytes (the
// metadata page included), each wakeup raising signal sig for owner (O_ASYNC, F_SETSIG,
// F_SETOWN_EX). Returns the fd, the ring in *ring; -1 with errno, nothing left open.
inline int open_signalled_event(perf_event_attr* attr, std::size_t ring_bytes, int sig,
                                f_owner_ex owner, void** ring) {
  int fd = static_cast<int>(syscall(SYS_perf_event_open, attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) return -1;
  void* r = mmap(nullptr, ring_bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (r == MAP_FAILED || fcntl(fd, F_SETSIG, sig) != 0 || fcntl(fd, F_SETOWN_EX, &owner) != 0 ||
      fcntl(fd, F_SETFL, O_ASYNC) != 0) {
    int e = errno;
    if (r != MAP_FAILED) munmap(r, ring_bytes);
    close(fd);
    errno = e;
    return -1;
  }
  *ring = r;
  return fd;
}

// Why `event` (e.g. "PERF_COUNT_SW_TASK_CLOCK") could not be opened, from its errno.
inline std::string perf_open_error(const char* event, int e) {
  std::string why = std::string("perf_event_open(") + event + "): " + std::strerror(e);
  if (e == EACCES || e == EPERM) why += " (needs perf_event_paranoid <= 2; seccomp may forbid it)";
  return why;
}

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
