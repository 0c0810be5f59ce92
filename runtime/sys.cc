// runtime/sys.cc: urgent::sys, libc's common blocking calls run through urgent::blocking.
//
// Each wrapper retries EINTR itself (a signal, such as SIGURG preemption, must not make a
// call fail) and returns what libc returns, errno included.
#include "urgent/sys.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "urgent/blocking.h"

namespace urgent::sys {
namespace {

// Runs call() through blocking() until it does not fail with EINTR.
template <class F>
auto retry(F call) {
  return blocking([&] {
    for (;;) {
      auto r = call();
      if (!(r == -1 && errno == EINTR)) return r;
    }
  });
}

}  // namespace

ssize_t read(int fd, void* buf, std::size_t n) {
  return retry([&] { return ::read(fd, buf, n); });
}

ssize_t write(int fd, const void* buf, std::size_t n) {
  return retry([&] { return ::write(fd, buf, n); });
}

ssize_t pread(int fd, void* buf, std::size_t n, off_t offset) {
  return retry([&] { return ::pread(fd, buf, n, offset); });
}

ssize_t pwrite(int fd, const void* buf, std::size_t n, off_t offset) {
  return retry([&] { return ::pwrite(fd, buf, n, offset); });
}

int open(const char* path, int flags, mode_t mode) {
  return retry([&] { return ::open(path, flags, mode); });
}

int close(int fd) {
  // Never retried: after EINTR the fd is closed on Linux, and a retry could close another.
  return blocking([&] { return ::close(fd); });
}

int fsync(int fd) {
  return retry([&] { return ::fsync(fd); });
}

pid_t waitpid(pid_t pid, int* status, int options) {
  return retry([&] { return ::waitpid(pid, status, options); });
}

int thread_sleep(std::chrono::nanoseconds d) {
  if (d.count() < 0) {
    errno = EINVAL;
    return -1;
  }
  timespec ts{static_cast<time_t>(d.count() / 1'000'000'000),
              static_cast<long>(d.count() % 1'000'000'000)};
  return blocking([&] {
    // Resumes with the time left after a signal.
    while (nanosleep(&ts, &ts) == -1) {
      if (errno != EINTR) return -1;
    }
    return 0;
  });
}

int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                struct addrinfo** res) {
  return blocking([&] {
    for (;;) {
      int r = ::getaddrinfo(node, service, hints, res);
      if (!(r == EAI_SYSTEM && errno == EINTR)) return r;
    }
  });
}

}  // namespace urgent::sys
