// runtime/net.cc: urgent::net, TCP on the poller (Go's net package: dial, listen, TCPConn).
//
// Like Go: sockets are non-blocking and close-on-exec, TCP_NODELAY is on for every
// connection, listeners use SO_REUSEADDR and the kernel's somaxconn as backlog, ":port"
// listens on every address (IPv6 dual-stack when available), and a failed dial tries the
// next resolved address. Name resolution is getaddrinfo through urgent::sys (a blocking
// system call, so it does not hold up other goroutines).
#include "urgent/net.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <system_error>

#include "fd.h"
#include "lock.h"
#include "proc.h"
#include "timer.h"
#include "urgent/sys.h"

namespace urgent::net {
namespace {

constexpr const char* kClosedConn = "use of closed network connection";

struct HostPort {
  std::string host;
  std::string port;
};

[[noreturn]] void bad_address(const std::string& op, std::string_view addr, const char* why) {
  detail::throw_error(EINVAL, op + " tcp " + std::string(addr) + ": " + why);
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// Go's net.SplitHostPort: "host:port", "[v6]:port", ":port".
HostPort split(const std::string& op, std::string_view addr) {
  std::size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos) bad_address(op, addr, "missing port in address");
  std::string_view host = addr.substr(0, colon);
  std::string_view port = addr.substr(colon + 1);
  if (!host.empty() && host.front() == '[') {
    if (host.back() != ']') bad_address(op, addr, "missing ']' in address");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    bad_address(op, addr, "too many colons in address");
  }
  if (port.empty()) bad_address(op, addr, "missing port in address");
  // A numeric port must fit 16 bits (getaddrinfo would silently truncate 65536 to 0); a
  // name ("http") is a service, looked up in /etc/services.
  if (all_digits(port) && (port.size() > 5 || std::stoi(std::string(port)) > 65535)) {
    bad_address(op, addr, "invalid port");
  }
  return {std::string(host), std::string(port)};
}

// Something that looks like a literal IPv4 address but is not one ("256.1.1.1") is an
// error, not a host name to look up.
bool looks_numeric(const std::string& host) {
  return !host.empty() && host.find_first_not_of("0123456789.") == std::string::npos;
}

struct AddrInfo {
  addrinfo* list = nullptr;
  ~AddrInfo() {
    if (list != nullptr) freeaddrinfo(list);
  }
};

// Whether host is a literal IPv6 address, with an optional zone ("fe80::1%eth0").
bool is_ipv6_literal(const std::string& host) {
  in6_addr a;
  return inet_pton(AF_INET6, host.substr(0, host.find('%')).c_str(), &a) == 1;
}

void resolve(const std::string& op, std::string_view addr, const HostPort& hp, bool passive,
             AddrInfo* out) {
  if (looks_numeric(hp.host)) {
    in_addr a;
    if (inet_pton(AF_INET, hp.host.c_str(), &a) != 1) bad_address(op, addr, "invalid IP address");
  }
  // In brackets, only an IPv6 address: "[::zz]:80" is an error, not a name to look up.
  bool bracketed = !addr.empty() && addr.front() == '[';
  if (bracketed && !is_ipv6_literal(hp.host)) bad_address(op, addr, "invalid IP address");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = (passive ? AI_PASSIVE : 0) | (all_digits(hp.port) ? AI_NUMERICSERV : 0) |
                   (bracketed ? AI_NUMERICHOST : 0);
  int r = sys::getaddrinfo(hp.host.empty() ? nullptr : hp.host.c_str(), hp.port.c_str(), &hints,
                           &out->list);
  if (r != 0) {
    int err = r == EAI_SYSTEM ? errno : (r == EAI_NONAME ? ENOENT : EINVAL);
    std::string what = r == EAI_NONAME ? "no such host" : gai_strerror(r);
    detail::throw_error(err,
                        op + " tcp " + std::string(addr) + ": lookup " + hp.host + ": " + what);
  }
}

std::string format(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    port = ntohs(a->sin_port);
    return std::string(ip) + ":" + std::to_string(port);
  }
  auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
  port = ntohs(a->sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
    // An IPv4 peer of a dual-stack socket: Go prints it as IPv4, "127.0.0.1:port".
    inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(port);
  }
  inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
  return "[" + std::string(ip) + "]:" + std::to_string(port);
}

// getsockname / getpeername of a socket held open (throws after close()).
sockaddr_storage sockaddr_of(const File& f, bool peer) {
  const char* op = peer ? "getpeername" : "getsockname";
  if (!f) detail::throw_error(EBADF, std::string(op) + ": invalid file (no fd)");
  return f.poll_fd()->with_sysfd(op, [&](int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                 : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    if (r != 0) detail::throw_op_error(errno, op);
    return ss;
  });
}

int new_socket(int family) {
  return ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
}

void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int somaxconn() {
  // Read once per process, as Go does.
  static const int n = [] {
    std::ifstream f("/proc/sys/net/core/somaxconn");
    int v = 0;
    if (f >> v && v > 0) return v;
    return SOMAXCONN;
  }();
  return n;
}

// Binds and listens a socket of ai's family; -1 with errno on failure.
int listen_on(const sockaddr* addr, socklen_t len, int family, bool dualstack) {
  int fd = new_socket(family);
  if (fd < 0) return -1;
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (dualstack) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (bind(fd, addr, len) != 0 || ::listen(fd, somaxconn()) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

}  // namespace

void Conn::shutdown(Shutdown how) {
  int h = how == Shutdown::kRead ? SHUT_RD : how == Shutdown::kWrite ? SHUT_WR : SHUT_RDWR;
  if (!*this) detail::throw_error(EBADF, "shutdown: invalid file (no fd)");
  poll_fd()->with_sysfd("shutdown", [h](int fd) {
    if (::shutdown(fd, h) != 0) detail::throw_op_error(errno, "shutdown");
  });
}

std::string Conn::local_address() const {
  return format(sockaddr_of(*this, false));
}

std::string Conn::remote_address() const {
  return format(sockaddr_of(*this, true));
}

Conn Listener::accept() {
  if (!fd_) detail::throw_error(EBADF, "accept: invalid listener");
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int fd = fd_.poll_fd()->accept(reinterpret_cast<sockaddr*>(&ss), &len);
  set_nodelay(fd);
  return Conn(std::make_shared<detail::PollFD>(fd, kClosedConn));
}

void Listener::close() {
  fd_.close();
}

std::string Listener::address() const {
  return format(sockaddr_of(fd_, false));
}

int Listener::port() const {
  sockaddr_storage ss = sockaddr_of(fd_, false);
  return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

Listener listen(std::string_view address) {
  rt::require_run("urgent::net::listen");
  const std::string op = "listen";
  HostPort hp = split(op, address);
  int fd = -1;
  int err = 0;
  if (hp.host.empty()) {
    // Every address: IPv6 dual-stack if the system has IPv6, else IPv4.
    char* end = nullptr;
    long port = std::strtol(hp.port.c_str(), &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) bad_address(op, address, "invalid port");
    sockaddr_in6 a6{};
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_any;
    a6.sin6_port = htons(static_cast<std::uint16_t>(port));
    fd = listen_on(reinterpret_cast<sockaddr*>(&a6), sizeof a6, AF_INET6, true);
    if (fd < 0 && errno == EAFNOSUPPORT) {
      sockaddr_in a4{};
      a4.sin_family = AF_INET;
      a4.sin_addr.s_addr = htonl(INADDR_ANY);
      a4.sin_port = a6.sin6_port;
      fd = listen_on(reinterpret_cast<sockaddr*>(&a4), sizeof a4, AF_INET, false);
    }
    err = errno;
  } else {
    AddrInfo ai;
    resolve(op, address, hp, true, &ai);
    for (addrinfo* a = ai.list; a != nullptr && fd < 0; a = a->ai_next) {
      fd = listen_on(a->ai_addr, a->ai_addrlen, a->ai_family, false);
      if (fd < 0) err = errno;
    }
  }
  if (fd < 0) detail::throw_op_error(err, op + " tcp " + std::string(address));
  Listener l;
  l.fd_ = File(std::make_shared<detail::PollFD>(fd, kClosedConn));
  return l;
}

Conn dial(std::string_view address, std::chrono::nanoseconds timeout) {
  rt::require_run("urgent::net::dial");
  const std::string op = "dial";
  HostPort hp = split(op, address);
  AddrInfo ai;
  resolve(op, address, hp, false, &ai);
  auto deadline = timeout.count() > 0 ? rt::deadline_after(timeout) : File::Clock::time_point{};
  int err = EADDRNOTAVAIL;
  std::string where;
  for (addrinfo* a = ai.list; a != nullptr; a = a->ai_next) {
    sockaddr_storage ss{};
    std::memcpy(&ss, a->ai_addr, a->ai_addrlen);
    where = op + " tcp " + format(ss) + ": connect";
    int fd = new_socket(a->ai_family);
    if (fd < 0) {
      err = errno;
      continue;
    }
    // Connect first, register with the poller after (Go's netFD.connect): a socket that is
    // not connecting yet reads as writable and hung up, an event nobody must mistake for
    // the end of the connect.
    int r = ::connect(fd, a->ai_addr, a->ai_addrlen);
    err = r == 0 ? 0 : errno;
    if (r != 0 && err != EINPROGRESS && err != EINTR) {
      ::close(fd);
      continue;
    }
    Conn c(std::make_shared<detail::PollFD>(fd, kClosedConn));
    if (deadline != File::Clock::time_point{}) c.set_write_deadline(deadline);
    // Wait until SO_ERROR says how it went and the socket has a peer: a wakeup may be stale
    // (a reused poll descriptor) or early, so it is a hint, not a verdict.
    while (err != 0) {
      try {
        c.poll_fd()->wait_write("dial");
      } catch (const std::system_error& e) {
        if (e.code().value() != ETIMEDOUT) throw;
        detail::throw_op_error(ETIMEDOUT, op + " tcp " + std::string(address));
      }
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == EINPROGRESS || err == EALREADY || err == EINTR) continue;
      if (err != 0 && err != EISCONN) break;
      sockaddr_storage peer{};
      socklen_t plen = sizeof peer;
      err = getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0 ? 0 : EINPROGRESS;
    }
    if (err == 0) {
      if (deadline != File::Clock::time_point{}) c.set_write_deadline({});
      set_nodelay(fd);
      return c;
    }
  }
  detail::throw_op_error(err, where.empty() ? op + " tcp " + std::string(address) : where);
}

}  // namespace urgent::net
