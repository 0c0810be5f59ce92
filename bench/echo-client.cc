// bench/echo-client.cc: the TCP echo client that drives both echo servers, urgent's
// (urgent-bench echo) and Go's (urgent-bench-go echo), so that the two are measured by the
// same program. Plain Linux, no urgent runtime: one thread, epoll, non-blocking sockets.
//
//   urgent-echo-client <port> <connections> <bytes> <duration_ms>
//
// Opens <connections> TCP connections to 127.0.0.1:<port> (TCP_NODELAY). Once all of them
// are established, each keeps exactly one <bytes>-byte message in flight: write it, read
// back the same number of bytes, check that they are the bytes sent (each message has
// different content), repeat. After <duration_ms> it stops and prints one line, the round
// trips completed per second: `<requests_per_second>` (one decimal). Messages still in
// flight at the end are abandoned (the sockets are closed).
//
// Exit status: 0 on success; 2 on bad arguments; 1 with a message on stderr on any error:
// connect failure, a message echoed wrong, the server closing a connection (EOF) or a
// socket error, no round trip completed at all. A connection that completed no round trip
// while others did is reported on stderr as a warning (it does not fail the run).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const char* fmt, ...) {
  std::va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "urgent-echo-client: ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
  std::exit(1);
}

[[noreturn]] void usage(const char* problem) {
  std::fprintf(stderr,
               "urgent-echo-client: %s\n"
               "usage: urgent-echo-client <port> <connections> <bytes> <duration_ms>\n",
               problem);
  std::exit(2);
}

long parse(const char* s, const char* what, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
    usage((std::string(what) + " must be an integer in [" + std::to_string(lo) + ", " +
           std::to_string(hi) + "], got '" + s + "'")
              .c_str());
  }
  return v;
}

struct Conn {
  int fd = -1;
  bool connected = false;
  std::uint64_t seq = 0;        // messages sent on this connection
  std::size_t wpos = 0;         // bytes of the current message written
  std::size_t rpos = 0;         // bytes of its echo read
  std::uint64_t completed = 0;  // round trips
  std::vector<unsigned char> msg, got;
};

// The content of message `seq` on connection `id`: different for every message, so that a
// stale or misrouted echo is caught.
void fill(Conn& c, int id) {
  for (std::size_t i = 0; i < c.msg.size(); i++) {
    c.msg[i] = static_cast<unsigned char>(c.seq * 131 + static_cast<std::uint64_t>(id) * 7 + i);
  }
}

void watch(int ep, Conn& c, int id, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u32 = static_cast<std::uint32_t>(id);
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev) != 0) fail("epoll_ctl: %s", std::strerror(errno));
}

// Writes what is left of the current message; watches for EPOLLOUT while the socket is full.
void flush(int ep, Conn& c, int id) {
  while (c.wpos < c.msg.size()) {
    ssize_t w = ::write(c.fd, c.msg.data() + c.wpos, c.msg.size() - c.wpos);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        watch(ep, c, id, EPOLLIN | EPOLLOUT);
        return;
      }
      fail("connection %d: write: %s", id, std::strerror(errno));
    }
    c.wpos += static_cast<std::size_t>(w);
  }
  watch(ep, c, id, EPOLLIN);
}

void send_next(int ep, Conn& c, int id) {
  c.seq++;
  fill(c, id);
  c.wpos = c.rpos = 0;
  flush(ep, c, id);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) usage("expected 4 arguments");
  const int port = static_cast<int>(parse(argv[1], "port", 1, 65535));
  const int nconn = static_cast<int>(parse(argv[2], "connections", 1, 100000));
  const std::size_t bytes = static_cast<std::size_t>(parse(argv[3], "bytes", 1, 1 << 20));
  const long duration_ms = parse(argv[4], "duration_ms", 1, 3600L * 1000);
  ::signal(SIGPIPE, SIG_IGN);  // a closed peer is EPIPE, reported below

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) fail("epoll_create1: %s", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  // Connect all, non-blocking; a connection is established when it becomes writable.
  std::vector<Conn> conns(static_cast<std::size_t>(nconn));
  for (int i = 0; i < nconn; i++) {
    Conn& c = conns[static_cast<std::size_t>(i)];
    c.msg.resize(bytes);
    c.got.resize(bytes);
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) fail("socket: %s", std::strerror(errno));
    int one = 1;
    if (setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
      fail("setsockopt(TCP_NODELAY): %s", std::strerror(errno));
    }
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS) {
      fail("connect to 127.0.0.1:%d (connection %d): %s", port, i, std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) != 0) fail("epoll_ctl: %s", std::strerror(errno));
  }
  std::vector<epoll_event> evs(static_cast<std::size_t>(std::min(nconn, 1024)));
  const auto connect_deadline = Clock::now() + std::chrono::seconds(10);
  for (int established = 0; established < nconn;) {
    int k = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
    if (k < 0) {
      if (errno == EINTR) continue;
      fail("epoll_wait: %s", std::strerror(errno));
    }
    for (int j = 0; j < k; j++) {
      int id = static_cast<int>(evs[static_cast<std::size_t>(j)].data.u32);
      Conn& c = conns[static_cast<std::size_t>(id)];
      if (c.connected) continue;
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) {
        fail("connect to 127.0.0.1:%d (connection %d): %s", port, id, std::strerror(err));
      }
      c.connected = true;
      established++;
      watch(ep, c, id, EPOLLIN);
    }
    if (Clock::now() > connect_deadline) {
      fail("connect to 127.0.0.1:%d: only %d of %d connections established after 10 s", port,
           established, nconn);
    }
  }

  // Measure: one message in flight per connection for duration_ms.
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::milliseconds(duration_ms);
  for (int i = 0; i < nconn; i++) send_next(ep, conns[static_cast<std::size_t>(i)], i);
  std::uint64_t total = 0;
  for (auto now = start; now < deadline; now = Clock::now()) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    int k = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), static_cast<int>(left));
    if (k < 0) {
      if (errno == EINTR) continue;
      fail("epoll_wait: %s", std::strerror(errno));
    }
    for (int j = 0; j < k; j++) {
      const epoll_event& ev = evs[static_cast<std::size_t>(j)];
      int id = static_cast<int>(ev.data.u32);
      Conn& c = conns[static_cast<std::size_t>(id)];
      if ((ev.events & EPOLLOUT) && c.wpos < bytes) flush(ep, c, id);
      if (!(ev.events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
      ssize_t r = ::read(c.fd, c.got.data() + c.rpos, bytes - c.rpos);
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        fail("connection %d: read: %s", id, std::strerror(errno));
      }
      if (r == 0) {
        fail(
            "connection %d: server closed the connection (EOF) after %zu of %zu bytes of "
            "message %llu",
            id, c.rpos, bytes, static_cast<unsigned long long>(c.seq));
      }
      c.rpos += static_cast<std::size_t>(r);
      if (c.rpos > c.wpos) {
        fail("connection %d: received %zu bytes of message %llu but sent only %zu", id, c.rpos,
             static_cast<unsigned long long>(c.seq), c.wpos);
      }
      if (c.rpos < bytes) continue;
      if (std::memcmp(c.got.data(), c.msg.data(), bytes) != 0) {
        std::size_t at = 0;
        while (c.got[at] == c.msg[at]) at++;
        fail("connection %d: echo mismatch in message %llu at byte %zu: sent 0x%02x, got 0x%02x",
             id, static_cast<unsigned long long>(c.seq), at, c.msg[at], c.got[at]);
      }
      c.completed++;
      total++;
      send_next(ep, c, id);
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();

  if (total == 0) fail("no round trip completed in %ld ms on %d connections", duration_ms, nconn);
  int idle = 0;
  for (const Conn& c : conns) idle += c.completed == 0;
  if (idle > 0) {
    std::fprintf(stderr,
                 "urgent-echo-client: warning: %d of %d connections completed no round trip "
                 "in %ld ms\n",
                 idle, nconn, duration_ms);
  }
  for (Conn& c : conns) ::close(c.fd);
  ::close(ep);
  std::printf("%.1f\n", static_cast<double>(total) / secs);
  return 0;
}
