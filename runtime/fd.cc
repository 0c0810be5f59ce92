// runtime/fd.cc: descriptors through the poller (Go's internal/poll/fd_unix.go) and
// urgent::File.
//
// Invariants:
// - Every operation holds a reference (Op) from its start to its end, so the fd number
//   cannot be closed and reused under it; close() marks the PollFD closed, wakes the parked
//   (poll_unblock), and the last reference closes the fd; close() of a pollable fd returns
//   only then (csema_), as Go's does.
// - One reader and one writer at a time (rmu_, wmu_: goroutine mutexes, they park), as Go's
//   fdMutex: two goroutines never wait on the same direction of a PollDesc, and write()
//   writes all its bytes before another write starts.
// - Sockets are written with send(MSG_NOSIGNAL); other fds with SIGPIPE blocked on the
//   thread for the call and a pending SIGPIPE consumed, so a closed reader is EPIPE, never a
//   dead process (Go does the same for fds other than stdout and stderr).
#include "fd.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <system_error>

#include "lock.h"
#include "netpoll.h"
#include "proc.h"
#include "sema.h"
#include "urgent/blocking.h"

namespace urgent::detail {
namespace {

class OpError : public std::system_error {
 public:
  OpError(int err, std::string msg)
      : std::system_error(err, std::generic_category()), msg_(std::move(msg)) {}
  const char* what() const noexcept override { return msg_.c_str(); }

 private:
  std::string msg_;
};

// Go's wording for the common errors; strerror's, lowercased, for the rest.
std::string describe(int err) {
  switch (err) {
    case ETIMEDOUT: return "i/o timeout";
    case ECONNREFUSED: return "connection refused";
    case ECONNRESET: return "connection reset by peer";
    case EPIPE: return "broken pipe";
    default: break;
  }
  std::string s = strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

constexpr std::uint64_t kClosed = 1;
constexpr std::uint64_t kRef = 2;

// write(2) to a non-socket without SIGPIPE: block it, write, and consume one that the write
// raised (it stays pending while blocked) before unblocking.
ssize_t write_nosigpipe(int fd, const void* buf, std::size_t n) {
  sigset_t pipe, old;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &old);
  ssize_t r = ::write(fd, buf, n);
  int err = errno;
  if (r < 0 && err == EPIPE && !sigismember(&old, SIGPIPE)) {
    timespec zero{0, 0};
    sigtimedwait(&pipe, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return r;
}

}  // namespace

void throw_error(int err, std::string msg) {
  throw OpError(err, std::move(msg));
}

void throw_op_error(int err, const std::string& op) {
  throw_error(err, op + ": " + describe(err));
}

void PollFD::revive() {
  std::uint32_t now = rt::current_run();
  if (epoch_.load(std::memory_order_acquire) == now) return;
  rt::SpinGuard lock(revive_lock_);
  if (epoch_.load(std::memory_order_relaxed) == now) return;
  state_.store(state_.load() & kClosed);  // the abandoned operations' references
  for (urgent::Mutex* mu : {&rmu_, &wmu_, &dmu_}) {
    mu->~Mutex();  // held by a goroutine that will never unlock it
    new (mu) urgent::Mutex;
  }
  csema_.store(0);
  epoch_.store(now, std::memory_order_release);
}

bool PollFD::closed() const {
  return state_.load() & kClosed;
}

PollFD::Op::Op(PollFD* fd, const char* name) : fd_(fd) {
  fd->revive();
  std::uint64_t s = fd->state_.load();
  do {
    if (s & kClosed) throw_error(EBADF, std::string(name) + ": " + fd->closed_msg);
  } while (!fd->state_.compare_exchange_weak(s, s + kRef));
}

PollFD::PollFD(int fd, const char* msg)
    : sysfd(fd), closed_msg(msg), epoch_(rt::current_run()) {
  struct stat st;
  socket_ = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
  int err = 0;
  pd_ = rt::poll_open(fd, &err);
  if (pd_ != nullptr) {
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && !(flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  } else if (err != EPERM) {
    ::close(fd);
    throw_op_error(err, "poll: register fd " + std::to_string(fd));
  }
}

PollFD::~PollFD() {
  if (!(state_.load() & kClosed)) {
    if (pd_ != nullptr) rt::poll_unblock(pd_);
    destroy();
  }
}

void PollFD::decref() {
  std::uint64_t s = state_.fetch_sub(kRef) - kRef;
  if (s == kClosed) destroy();
}

void PollFD::destroy() {
  bool closing = state_.load() & kClosed;
  if (pd_ != nullptr) rt::poll_close(pd_);
  int saved = errno;
  ::close(sysfd);
  errno = saved;
  if (closing) rt::semrelease(&csema_, false);  // close() may be waiting
}

void PollFD::check(int pollerr, const char* op) {
  switch (pollerr) {
    case rt::kPollNoError: return;
    case rt::kPollErrClosing: throw_error(EBADF, std::string(op) + ": " + closed_msg);
    case rt::kPollErrTimeout: throw_op_error(ETIMEDOUT, op);
    default: throw_op_error(EINVAL, op);
  }
}

std::size_t PollFD::read(void* buf, std::size_t n) {
  Op op(this, "read");
  std::lock_guard lock(rmu_);
  if (pd_ == nullptr) {
    ssize_t r = blocking([&] {
      ssize_t r;
      while ((r = ::read(sysfd, buf, n)) < 0 && errno == EINTR) {
      }
      return r;
    });
    if (r < 0) throw_op_error(errno, "read");
    return static_cast<std::size_t>(r);
  }
  check(rt::poll_reset(pd_, rt::kModeRead), "read");
  for (;;) {
    ssize_t r = ::read(sysfd, buf, n);
    if (r >= 0) return static_cast<std::size_t>(r);
    int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN) throw_op_error(err, "read");
    check(rt::poll_wait(pd_, rt::kModeRead), "read");
  }
}

std::size_t PollFD::write(const void* buf, std::size_t n) {
  Op op(this, "write");
  std::lock_guard lock(wmu_);
  if (pd_ != nullptr) check(rt::poll_reset(pd_, rt::kModeWrite), "write");
  const char* p = static_cast<const char*>(buf);
  std::size_t done = 0;
  do {
    ssize_t r;
    if (socket_) {
      r = ::send(sysfd, p + done, n - done, MSG_NOSIGNAL);
    } else if (pd_ != nullptr) {
      r = write_nosigpipe(sysfd, p + done, n - done);
    } else {
      r = blocking([&] { return write_nosigpipe(sysfd, p + done, n - done); });
    }
    if (r >= 0) {
      done += static_cast<std::size_t>(r);
      continue;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN || pd_ == nullptr) throw_op_error(err, "write");
    check(rt::poll_wait(pd_, rt::kModeWrite), "write");
  } while (done < n);
  return n;
}

void PollFD::wait_write(const char* op) {
  Op hold(this, op);
  check(rt::poll_wait(pd_, rt::kModeWrite), op);
}

int PollFD::accept(sockaddr* addr, socklen_t* len) {
  Op op(this, "accept");
  std::lock_guard lock(rmu_);
  check(rt::poll_reset(pd_, rt::kModeRead), "accept");
  for (;;) {
    socklen_t l = *len;
    int fd = ::accept4(sysfd, addr, &l, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      *len = l;
      return fd;
    }
    int err = errno;
    if (err == EINTR || err == ECONNABORTED)
      continue;  // (Go retries a connection reset before accept too)
    if (err != EAGAIN) throw_op_error(err, "accept");
    check(rt::poll_wait(pd_, rt::kModeRead), "accept");
  }
}

void PollFD::close() {
  revive();
  // Closed, and one more reference for ourselves (Go's increfAndClose): the PollDesc stays
  // ours while we wake the parked, who fail with closed_msg and drop their references.
  std::uint64_t s = state_.load();
  do {
    if (s & kClosed) throw_error(EBADF, std::string("close: ") + closed_msg);
  } while (!state_.compare_exchange_weak(s, (s | kClosed) + kRef));
  bool pollable = pd_ != nullptr;
  if (pollable) rt::poll_unblock(pd_);
  decref();  // the last reference, ours or an operation's, closes the fd
  if (pollable) rt::semacquire(&csema_, false, rt::WaitReason::kSemacquire);
}

void PollFD::set_deadline(std::int64_t when, bool read, bool write) {
  Op op(this, "set deadline");
  if (pd_ == nullptr) throw_error(ENOTSUP, "set deadline: file type does not support deadline");
  std::lock_guard lock(dmu_);
  if (read) rt::poll_set_deadline(pd_, when, rt::kModeRead);
  if (write) rt::poll_set_deadline(pd_, when, rt::kModeWrite);
}

}  // namespace urgent::detail

namespace urgent {

namespace {

detail::PollFD* need(const std::shared_ptr<detail::PollFD>& fd, const char* op) {
  if (fd == nullptr) detail::throw_error(EBADF, std::string(op) + ": invalid file (no fd)");
  return fd.get();
}

std::int64_t nanotime_of(File::Clock::time_point t) {
  // steady_clock is CLOCK_MONOTONIC, the runtime's clock; the epoch means "no deadline".
  if (t == File::Clock::time_point{}) return 0;
  std::int64_t ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return ns > 0 ? ns : 1;  // a deadline at or before the clock's start has passed
}

}  // namespace

File File::adopt(int fd) {
  rt::require_run("urgent::File::adopt");
  if (fd < 0) detail::throw_error(EBADF, "adopt: invalid fd");
  return File(std::make_shared<detail::PollFD>(fd, "use of closed file"));
}

std::size_t File::read(void* buf, std::size_t n) {
  return need(fd_, "read")->read(buf, n);
}

std::size_t File::write(const void* buf, std::size_t n) {
  return need(fd_, "write")->write(buf, n);
}

void File::close() {
  need(fd_, "close")->close();
}

void File::set_deadline(Clock::time_point t) {
  need(fd_, "set deadline")->set_deadline(nanotime_of(t), true, true);
}

void File::set_read_deadline(Clock::time_point t) {
  need(fd_, "set deadline")->set_deadline(nanotime_of(t), true, false);
}

void File::set_write_deadline(Clock::time_point t) {
  need(fd_, "set deadline")->set_deadline(nanotime_of(t), false, true);
}

int File::fd() const {
  return fd_ != nullptr && !fd_->closed() ? fd_->sysfd : -1;
}

std::pair<File, File> pipe() {
  rt::require_run("urgent::pipe");
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) detail::throw_op_error(errno, "pipe");
  File r = File::adopt(fds[0]);
  File w = File::adopt(fds[1]);
  return {r, w};
}

}  // namespace urgent
