// bpf/observer.cc: the loader of observe.bpf.c (libbpf skeleton, observe.skel.h, generated
// at build time by bpftool).
#include "observer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "libbpf_errors.h"
#include "observe.skel.h"

namespace urgent::bpf {

std::unique_ptr<Observer> Observer::start(const ObserverConfig& cfg, std::string* error) {
  if (cfg.tgid <= 0) {
    *error = "no process to observe";
    return nullptr;
  }
  if (std::string why = btf_missing(); !why.empty()) {
    *error = why;
    return nullptr;
  }
  LibbpfErrors errors;
  std::unique_ptr<Observer> o(new Observer);
  auto fail = [&](const char* step, int err) {
    *error = errors.why(step, err);
    return nullptr;
  };
  o->skel_ = observe_bpf::open();
  if (o->skel_ == nullptr) return fail("opening the BPF object", errno);
  o->skel_->rodata->target_tgid = static_cast<__u32>(cfg.tgid);
  o->skel_->rodata->min_offcpu_ns = cfg.min_offcpu_ns;
  o->skel_->rodata->min_syscall_ns = cfg.min_syscall_ns;
  o->skel_->rodata->watched_signal = static_cast<__u32>(cfg.signal);
  o->max_records_ = cfg.max_records;
  if (int err = observe_bpf::load(o->skel_); err != 0) return fail("loading the BPF programs", err);
  if (int err = observe_bpf::attach(o->skel_); err != 0) {
    return fail("attaching to the raw tracepoints", err);
  }
  o->rb_ = ring_buffer__new(bpf_map__fd(o->skel_->maps.events), on_record, o.get(), nullptr);
  if (o->rb_ == nullptr) return fail("opening the ring buffer", errno);
  return o;
}

Observer::~Observer() {
  if (rb_ != nullptr) ring_buffer__free(rb_);
  if (skel_ != nullptr) observe_bpf::destroy(skel_);
}

int Observer::on_record(void* self, void* data, std::size_t size) {
  auto* o = static_cast<Observer*>(self);
  __u32 type;
  if (size < sizeof type) return 0;
  std::memcpy(&type, data, sizeof type);
  auto take = [&](auto* vec) {
    using T = typename std::remove_pointer_t<decltype(vec)>::value_type;
    if (size < sizeof(T)) return;
    if (vec->size() >= o->max_records_) {
      o->obs_.over_limit++;
      return;
    }
    T r;
    std::memcpy(&r, data, sizeof r);
    vec->push_back(r);
  };
  switch (type) {
    case OBS_OFFCPU: take(&o->obs_.offcpu); break;
    case OBS_SYSCALL: take(&o->obs_.syscalls); break;
    case OBS_SIGNAL: take(&o->obs_.signals); break;
    default: break;
  }
  return 0;
}

int Observer::poll(int timeout_ms) {
  return ring_buffer__poll(rb_, timeout_ms);
}

const Observations& Observer::collect() {
  ring_buffer__consume(rb_);
  int hfd = bpf_map__fd(skel_->maps.hists);
  for (__u32 h = 0; h < OBS_H_COUNT; h++) {
    for (__u32 b = 0; b < OBS_HIST_BUCKETS; b++) {
      __u32 key = h * OBS_HIST_BUCKETS + b;
      __u64 v = 0;
      if (bpf_map_lookup_elem(hfd, &key, &v) == 0) obs_.hists[h][b] = v;
    }
  }
  int ncpu = libbpf_num_possible_cpus();
  std::vector<__u64> percpu(static_cast<std::size_t>(ncpu > 0 ? ncpu : 1));
  int cfd = bpf_map__fd(skel_->maps.counters);
  for (__u32 c = 0; c < OBS_C_COUNT; c++) {
    if (bpf_map_lookup_elem(cfd, &c, percpu.data()) != 0) continue;
    __u64 sum = 0;
    for (__u64 v : percpu) sum += v;
    obs_.counters[c] = sum;
  }
  obs_.prog_misses = 0;
  for (bpf_program* prog : {skel_->progs.on_sched_switch, skel_->progs.on_sched_wakeup,
                            skel_->progs.on_sys_enter, skel_->progs.on_sys_exit,
                            skel_->progs.on_signal_generate, skel_->progs.on_signal_deliver}) {
    bpf_prog_info info{};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0) {
      obs_.prog_misses += info.recursion_misses;
    }
  }
  int tfd = bpf_map__fd(skel_->maps.totals);
  __u32 key = 0, next;
  bool first = true;
  while (bpf_map_get_next_key(tfd, first ? nullptr : &key, &next) == 0) {
    obs_thread t{};
    if (bpf_map_lookup_elem(tfd, &next, &t) == 0) obs_.threads[next] = t;
    key = next;
    first = false;
  }
  return obs_;
}

}  // namespace urgent::bpf
