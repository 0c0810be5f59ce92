// urgent/sys.h: common blocking system calls wrapped in urgent::blocking, so a goroutine
// that blocks in one does not hold up the others (Go's syscall package does the same).
//
// Convention: each wrapper has the libc function's signature and result; on failure it
// returns -1 (or the documented error value) with errno set, exactly like libc, so code can
// switch from ::read to urgent::sys::read unchanged. EINTR is retried inside. Wrap any other
// blocking call yourself: `urgent::blocking([&] { return ::msgrcv(...); })`.
#pragma once

#include <netdb.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>

namespace urgent::sys {

ssize_t read(int fd, void* buf, std::size_t n);
ssize_t write(int fd, const void* buf, std::size_t n);
ssize_t pread(int fd, void* buf, std::size_t n, off_t offset);
ssize_t pwrite(int fd, const void* buf, std::size_t n, off_t offset);
int open(const char* path, int flags, mode_t mode = 0);
int close(int fd);
int fsync(int fd);
pid_t waitpid(pid_t pid, int* status, int options);
// Sleeps the *thread* (nanosleep), as a system call: unlike urgent::sleep_for, which parks
// the goroutine, this keeps the M busy (for experiments on syscall handoff). Resumes after
// EINTR with the remaining time. Returns 0, or -1 with errno on a bad duration.
int thread_sleep(std::chrono::nanoseconds d);
// getaddrinfo(3) (blocking DNS); returns its EAI_* code.
int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                struct addrinfo** res);

}  // namespace urgent::sys
