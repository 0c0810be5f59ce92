// runtime/stack.cc: goroutine stack allocation. See stack.h for the design.
#include "stack.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cpu.h"
#include "lock.h"
#include "log.h"
#include "panic.h"
#include "sanitizer.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // Linux 6.13 uapi value
#endif

namespace urgent::rt {
namespace {

constexpr std::size_t kChunkBytes = std::size_t{16} << 20;
// Guard below each stack. With MADV_GUARD_INSTALL and PROT_NONE alike it costs address
// space only; 64 KiB catches frames up to that size even without -fstack-clash-protection.
constexpr std::size_t kGuardSize = 64 * 1024;
constexpr std::size_t kCacheLine = 64;
constexpr std::size_t kColours = 64;  // tops spread over one page's worth of cache lines

struct Chunk {
  std::uintptr_t base;
  std::size_t len;
  Chunk* next;
  bool keep = false;  // stack_keep: never unmapped
};

Mutex mu;
std::size_t usable = 0;  // bytes per stack
std::size_t slot = 0;    // guard + usable
std::size_t per_chunk = 0;
std::atomic<Chunk*> chunks{nullptr};       // [mu] writes; read lock-free by the signal handler
std::uintptr_t cursor GUARDED_BY(mu) = 0;  // next free slot in the newest chunk
std::uintptr_t cursor_end GUARDED_BY(mu) = 0;
std::vector<Stack> global_free GUARDED_BY(mu);
bool use_madvise = true;
std::size_t nstacks GUARDED_BY(mu) = 0;
long map_count_ok GUARDED_BY(mu) = 0;  // a vm.max_map_count already known to suffice

long read_max_map_count() {
  long v = -1;
  if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
    if (std::fscanf(f, "%ld", &v) != 1) v = -1;
    std::fclose(f);
  }
  return v;
}

// The mprotect fallback needs two VMAs per stack: make sure the kernel allows them.
void ensure_map_count(std::size_t stacks) REQUIRES(mu) {
  long need = static_cast<long>(2 * stacks + 4096);  // + headroom for the rest of the process
  if (need <= map_count_ok) return;
  long have = read_max_map_count();
  if (have < 0 || have >= need) {
    map_count_ok = have < 0 ? need : have;
    return;
  }
  long want = have;
  while (want < need) want *= 2;
  if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "w")) {
    std::fprintf(f, "%ld\n", want);
    bool ok = std::fclose(f) == 0;
    if (ok && read_max_map_count() >= need) {
      map_count_ok = want;
      log::info("raised vm.max_map_count from {} to {} for goroutine stack guards", have, want);
      return;
    }
  }
  fatal(
      "out of memory mappings: %zu goroutine stacks need vm.max_map_count >= %ld (it is %ld); "
      "run `sysctl -w vm.max_map_count=%ld` as root",
      stacks, need, have, want);
}

void install_guard(std::uintptr_t base) {
  if (use_madvise) {
    if (madvise(reinterpret_cast<void*>(base), kGuardSize, MADV_GUARD_INSTALL) == 0) return;
    if (errno != EINVAL) fatal("madvise(MADV_GUARD_INSTALL): %s", strerror(errno));
    use_madvise = false;  // kernel older than 6.13
    log::info("MADV_GUARD_INSTALL unsupported; stack guards use mprotect");
  }
  if (mprotect(reinterpret_cast<void*>(base), kGuardSize, PROT_NONE) != 0) {
    fatal("mprotect(stack guard): %s", strerror(errno));
  }
}

}  // namespace

void stackinit(std::size_t size) {
  LockGuard lock(mu);
  usable = (size + arch::kPageSize - 1) & ~(arch::kPageSize - 1);
  slot = usable + kGuardSize;
  per_chunk = kChunkBytes / slot;
  if (per_chunk == 0) per_chunk = 1;
  cursor = cursor_end = 0;
  nstacks = 0;
}

void stack_keep(std::uintptr_t addr) {
  LockGuard lock(mu);
  for (Chunk* c = chunks.load(); c != nullptr; c = c->next) {
    if (addr >= c->base && addr < c->base + c->len) c->keep = true;
  }
}

void stackfini() {
  LockGuard lock(mu);
  Chunk* c = chunks.exchange(nullptr);
  while (c != nullptr) {
    Chunk* next = c->next;
    if (!c->keep) {
      sanitizer_unpoison(c->base, c->len);  // (abandoned goroutines' frames poisoned it)
      munmap(reinterpret_cast<void*>(c->base), c->len);
    }
    delete c;
    c = next;
  }
  cursor = cursor_end = 0;
  nstacks = 0;
  global_free.clear();
}

namespace {

// Carves a new stack out of the newest chunk, mapping a chunk when needed.
Stack stacknew() REQUIRES(mu) {
  if (cursor == cursor_end) {
    std::size_t len = per_chunk * slot;
    void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mem == MAP_FAILED) {
      fatal("out of memory: cannot map %zu bytes for goroutine stacks: %s", len, strerror(errno));
    }
    auto* c = new Chunk{reinterpret_cast<std::uintptr_t>(mem), len, chunks.load()};
    chunks.store(c, std::memory_order_release);
    cursor = c->base;
    cursor_end = c->base + len;
  }
  std::uintptr_t base = cursor;
  cursor += slot;
  nstacks++;
  // use_madvise can only turn false on the very first guard, so checking first is enough.
  if (!use_madvise) ensure_map_count(nstacks);
  install_guard(base);
  // Cache colouring: stacks are a multiple of the page size apart, so their tops (where the
  // G, the callable and the first frames live) would all map to the same cache sets. Shift
  // each top down by a different multiple of a cache line.
  std::uintptr_t colour = (nstacks % kColours) * kCacheLine;
  return Stack{base + kGuardSize, base + slot - colour};
}

}  // namespace

Stack stackget(StackCache* c) {
  if (c->n > 0) return c->stacks[--c->n];
  LockGuard lock(mu);
  // Refill half the cache from the global list in one critical section.
  while (c->n < StackCache::kMax / 2 && !global_free.empty()) {
    c->stacks[c->n++] = global_free.back();
    global_free.pop_back();
  }
  if (c->n > 0) return c->stacks[--c->n];
  return stacknew();
}

void stackput(StackCache* c, Stack s) {
  if (c != nullptr && c->n < StackCache::kMax) {
    c->stacks[c->n++] = s;
    return;
  }
  LockGuard lock(mu);
  global_free.push_back(s);
  if (c == nullptr) return;
  // Full: keep the most recently used half (hot), spill the older half.
  int spill = StackCache::kMax / 2;
  for (int i = 0; i < spill; i++) global_free.push_back(c->stacks[i]);
  for (int i = spill; i < c->n; i++) c->stacks[i - spill] = c->stacks[i];
  c->n -= spill;
}

void stackcache_flush(StackCache* c) {
  LockGuard lock(mu);
  for (int i = 0; i < c->n; i++) global_free.push_back(c->stacks[i]);
  c->n = 0;
}

std::size_t stack_size() {
  return usable;
}

std::size_t stack_count() {
  LockGuard lock(mu);
  return nstacks;
}
std::size_t stack_guard_size() {
  return kGuardSize;
}
bool stack_guard_madvise() {
  return use_madvise;
}

bool stack_guard_contains(std::uintptr_t addr) {
  for (Chunk* c = chunks.load(std::memory_order_acquire); c != nullptr; c = c->next) {
    if (addr >= c->base && addr < c->base + c->len) return (addr - c->base) % slot < kGuardSize;
  }
  return false;
}

}  // namespace urgent::rt
