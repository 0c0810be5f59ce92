// urgent/file.h: file descriptors through the network poller (Go's os.File on a pollable
// fd, internal/poll.FD): pipes, eventfds, sockets, terminals.
//
// Reads and writes park the goroutine (never the thread) until the fd is ready: the fd is
// non-blocking and registered with the runtime's epoll, edge-triggered. An fd epoll cannot
// poll (a regular file) falls back to urgent::blocking system calls.
//
// Errors: every operation throws std::system_error (std::generic_category, the errno value)
// with a Go-style message: "read: i/o timeout" (ETIMEDOUT) when a deadline passed, "read:
// use of closed file" (EBADF) after close(), "write: broken pipe" (EPIPE), ... End of file is
// not an error: read() returns 0.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <utility>

namespace urgent {

namespace detail {
struct PollFD;
}

// A handle to an fd owned by the runtime. Copies share it (like a Go *os.File); the fd is
// closed by close() or when the last handle goes away.
class File {
 public:
  using Clock = std::chrono::steady_clock;

  File() = default;  // no fd: operations throw EBADF
  // Takes ownership of fd: makes it non-blocking and registers it with the poller.
  static File adopt(int fd);

  // Reads up to n bytes, parking until some are available; 0 means end of file.
  std::size_t read(void* buf, std::size_t n);
  // Writes all n bytes (parking while the fd is full) and returns n, or throws.
  std::size_t write(const void* buf, std::size_t n);
  // Closes the fd; goroutines blocked in read or write on it fail with "use of closed
  // file". Closing twice throws EBADF, like Go's ErrClosed.
  void close();

  // Deadlines (absolute, steady_clock) for all future and pending reads / writes; a past one
  // makes them fail at once with ETIMEDOUT; Clock::time_point{} clears it.
  void set_deadline(Clock::time_point t);
  void set_read_deadline(Clock::time_point t);
  void set_write_deadline(Clock::time_point t);

  // The fd number (-1 when there is none); stays owned by the handle.
  int fd() const;
  explicit operator bool() const { return fd_ != nullptr; }
  // The runtime's side of the handle (for urgent's own code).
  explicit File(std::shared_ptr<detail::PollFD> fd) : fd_(std::move(fd)) {}
  detail::PollFD* poll_fd() const { return fd_.get(); }

 protected:
  std::shared_ptr<detail::PollFD> fd_;
};

// pipe2(O_NONBLOCK|O_CLOEXEC): {read end, write end}.
std::pair<File, File> pipe();

}  // namespace urgent
