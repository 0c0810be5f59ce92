// urgent/net.h: TCP over the network poller (Go's net package, TCP part).
//
// Addresses are Go's: "host:port", "[ipv6]:port", ":port" (every local address); host is a
// name or a literal IPv4/IPv6 address; port 0 picks a free port. Errors are
// std::system_error as in urgent/file.h, with the operation and addresses in the message
// ("dial tcp 127.0.0.1:1: connect: connection refused", ECONNREFUSED). A peer that closes is read()
// returning 0; a reset peer is ECONNRESET; writing to a closed peer is EPIPE (never SIGPIPE).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "urgent/file.h"

namespace urgent::net {

// A TCP connection (Go's *net.TCPConn): read, write, close and deadlines from File.
class Conn : public File {
 public:
  Conn() = default;
  enum class Shutdown { kRead, kWrite, kBoth };
  void shutdown(Shutdown how);        // shutdown(2): kWrite sends FIN
  std::string local_address() const;  // "127.0.0.1:43512", "[::1]:43512"
  std::string remote_address() const;

 private:
  friend class Listener;
  friend Conn dial(std::string_view, std::chrono::nanoseconds);
  using File::File;
};

// A listening TCP socket (Go's *net.TCPListener).
class Listener {
 public:
  Listener() = default;
  // Parks until a connection arrives. Throws after close() ("use of closed network
  // connection", EBADF) or on other errors.
  Conn accept();
  void close();
  std::string address() const;  // the bound address, e.g. "127.0.0.1:40231"
  int port() const;
  int fd() const { return fd_.fd(); }

 private:
  friend Listener listen(std::string_view);
  File fd_;
};

// Listens on a TCP address (SO_REUSEADDR; backlog from /proc/sys/net/core/somaxconn).
Listener listen(std::string_view address);

// Connects to a TCP address, trying each resolved address in turn; timeout 0 means none
// (the kernel's own connect timeout applies).
Conn dial(std::string_view address, std::chrono::nanoseconds timeout = {});

}  // namespace urgent::net
