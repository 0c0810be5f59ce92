// runtime/fd.h: a file descriptor served by the network poller (Go's internal/poll.FD),
// shared by urgent::File and urgent::net.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "lock.h"
#include "urgent/file.h"
#include "urgent/mutex.h"

namespace urgent::rt {
struct PollDesc;
}

namespace urgent::detail {

// Throws std::system_error(err, generic_category) whose what() is exactly msg (no strerror
// suffix, unlike std::system_error's own constructor).
[[noreturn]] void throw_error(int err, std::string msg);
// throw_error(err, "op: <Go's text for err>"): "read: i/o timeout",
// "dial tcp 127.0.0.1:1: connect: connection refused".
[[noreturn]] void throw_op_error(int err, const std::string& op);

struct PollFD {
  // Takes ownership of sysfd: sets O_NONBLOCK and registers it with the poller (an fd epoll
  // cannot watch, a regular file, stays blocking and is served by urgent::blocking calls).
  // `closed_msg` is what operations after close() say: "use of closed file" or "use of
  // closed network connection".
  PollFD(int sysfd, const char* closed_msg);
  ~PollFD();
  PollFD(const PollFD&) = delete;
  PollFD& operator=(const PollFD&) = delete;

  std::size_t read(void* buf, std::size_t n);
  std::size_t write(const void* buf, std::size_t n);
  void close();
  void set_deadline(std::int64_t when, bool read, bool write);
  // Parks until the fd is ready for writing (a non-blocking connect finishing).
  void wait_write(const char* op);
  // accept4 on a listening socket, parking while none is pending; returns the new fd.
  int accept(sockaddr* addr, socklen_t* len);
  // f(sysfd) with the fd held open, for calls the poller does not serve (shutdown,
  // getsockname): after close() it throws closed_msg instead of touching a number that may
  // belong to another file by now.
  template <class F>
  decltype(auto) with_sysfd(const char* op, F&& f) {
    Op hold(this, op);
    return std::forward<F>(f)(sysfd);
  }

  bool closed() const;  // close() was called

  const int sysfd;
  const char* const closed_msg;

 private:
  // Holds a reference for the length of one operation; throws closed_msg after close().
  class Op {
   public:
    Op(PollFD* fd, const char* name);
    ~Op() { fd_->decref(); }
    Op(const Op&) = delete;
    Op& operator=(const Op&) = delete;

   private:
    PollFD* fd_;
  };
  void decref();
  void destroy();
  void check(int pollerr, const char* op);
  // The first operation in another urgent::run than the last one's (the File outlived its
  // run): operations that run's goroutines were abandoned in never finish, so their
  // references and locks are dropped (the PollDesc forgets them too: netpoll.cc, revive).
  void revive();

  rt::PollDesc* pd_ = nullptr;  // null: not pollable
  bool socket_ = false;         // send(MSG_NOSIGNAL) instead of write
  // Bit 0: closed; the rest: operations in progress << 1. The fd is closed and
  // unregistered when it is closed and no operation is in progress (Go's fdMutex).
  std::atomic<std::uint64_t> state_{0};
  // close() of a pollable fd waits here until the last reference has closed the fd (Go's
  // csema), so the fd number and a listener's port are free once close() returns.
  std::atomic<std::uint32_t> csema_{0};
  urgent::Mutex rmu_, wmu_, dmu_;  // one reader, one writer, one deadline setter at a time
  std::atomic<std::uint32_t> epoch_;  // current_run() of the operations in state_ and locks
  rt::SpinMutex revive_lock_;        // the first operation of a run revives alone
};

}  // namespace urgent::detail
