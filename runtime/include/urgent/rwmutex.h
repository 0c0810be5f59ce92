// urgent/rwmutex.h: sync.RWMutex. A blocked writer excludes new readers (writer preference),
// so a steady stream of readers cannot starve writers.
#pragma once

#include <atomic>
#include <cstdint>

#include "urgent/mutex.h"

namespace urgent {

class RWMutex {
 public:
  RWMutex() = default;
  RWMutex(const RWMutex&) = delete;
  RWMutex& operator=(const RWMutex&) = delete;

  void lock();  // writer (std::unique_lock / std::lock_guard)
  void unlock();
  void lock_shared();  // reader (std::shared_lock)
  void unlock_shared();

 private:
  static constexpr std::int32_t kMaxReaders = 1 << 30;
  Mutex w_;                                    // held by writers while pending or active
  std::atomic<std::uint32_t> writer_sem_{0};   // writers wait here for readers to leave
  std::atomic<std::uint32_t> reader_sem_{0};   // readers wait here for the writer
  std::atomic<std::int32_t> reader_count_{0};  // readers; negative: a writer is pending
  std::atomic<std::int32_t> reader_wait_{0};   // readers the pending writer still waits for
};

}  // namespace urgent
