// bpf/activator.cc: the loader of activate.bpf.c (libbpf skeleton, activate.skel.h).
#include "activator.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "activate.skel.h"
#include "libbpf_errors.h"

namespace urgent::bpf {

std::unique_ptr<Activator> Activator::start(pid_t tgid, int signal, std::string* error,
                                            act_wake wake_by) {
  if (std::string why = btf_missing(); !why.empty()) {
    *error = why;
    return nullptr;
  }
  LibbpfErrors errors;
  std::unique_ptr<Activator> a(new Activator);
  a->skel_ = activate_bpf::open();
  if (a->skel_ == nullptr) {
    *error = errors.why("opening the BPF object", errno);
    return nullptr;
  }
  a->skel_->rodata->target_tgid = static_cast<__u32>(tgid);
  a->tgid_ = tgid;
  a->skel_->rodata->activation_signal = static_cast<__u32>(signal);
  a->skel_->rodata->wake_by = static_cast<__u32>(wake_by);
  if (int err = activate_bpf::load(a->skel_); err != 0) {
    *error = errors.why("loading the BPF program", err);
    return nullptr;
  }
  a->slots_size_ = sizeof(act_slot) * ACT_MAX_MS;
  void* mem = mmap(nullptr, a->slots_size_, PROT_READ | PROT_WRITE, MAP_SHARED,
                   bpf_map__fd(a->skel_->maps.act_slots), 0);
  if (mem == MAP_FAILED) {
    *error = errors.why("mapping the slots", errno);
    return nullptr;
  }
  a->slots_ = static_cast<act_slot*>(mem);
  if (int err = activate_bpf::attach(a->skel_); err != 0) {
    *error = errors.why("attaching to sched_switch", err);
    return nullptr;
  }
  return a;
}

Activator::~Activator() {
  if (slots_ != nullptr) munmap(slots_, slots_size_);
  if (skel_ != nullptr) activate_bpf::destroy(skel_);
}

bool Activator::add_thread(pid_t tid, std::uint32_t slot) {
  __u32 key = static_cast<__u32>(tid);
  return bpf_map__update_elem(skel_->maps.act_tids, &key, sizeof key, &slot, sizeof slot,
                              BPF_ANY) == 0;
}

int Activator::wakeups_fd() const { return bpf_map__fd(skel_->maps.act_wakeups); }

void Activator::remove_thread(pid_t tid) {
  __u32 key = static_cast<__u32>(tid);
  bpf_map__delete_elem(skel_->maps.act_tids, &key, sizeof key, 0);
}

}  // namespace urgent::bpf
