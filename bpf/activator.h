// bpf/activator.h: loads activate.bpf.c for the runtime's own process (URGENT_HANDOFF=bpf)
// and gives it the per-M slots, mapped into the runtime's memory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "activate.h"

struct activate_bpf;

namespace urgent::bpf {

class Activator {
 public:
  // Loads and attaches the program for process tgid, which wakes by sending `signal`
  // (ACT_WAKE_SIGNAL) or by a record in its ring buffer (ACT_WAKE_RINGBUF, see
  // wakeups_fd). Null on failure, with *error saying why in one line; nothing is printed.
  static std::unique_ptr<Activator> start(pid_t tgid, int signal, std::string* error,
                                          act_wake wake_by = ACT_WAKE_SIGNAL);
  ~Activator();
  Activator(const Activator&) = delete;
  Activator& operator=(const Activator&) = delete;

  pid_t tgid() const { return tgid_; }
  // The slots (ACT_MAX_MS of them), shared with the program.
  act_slot* slots() const { return slots_; }
  // Tells the program that thread tid is the M of slot `slot`. False if the map refused.
  bool add_thread(pid_t tid, std::uint32_t slot);
  // ACT_WAKE_RINGBUF: the ring buffer's map fd (for libbpf's ring_buffer__new), one __u32
  // record (a slot) per wakeup.
  int wakeups_fd() const;
  void remove_thread(pid_t tid);

 private:
  Activator() = default;
  activate_bpf* skel_ = nullptr;
  act_slot* slots_ = nullptr;
  pid_t tgid_ = 0;
  std::size_t slots_size_ = 0;
};

}  // namespace urgent::bpf
