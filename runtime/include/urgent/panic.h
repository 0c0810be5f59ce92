// urgent/panic.h: the exception urgent throws where Go panics.
#pragma once

#include <stdexcept>

namespace urgent {

// Thrown with Go's message where Go would panic ("send on closed channel", "sync: negative
// WaitGroup counter", ...). Like a Go panic it can be caught; uncaught, it ends the process
// with `panic: <message>`, the goroutine's stack and exit status 2.
class Panic : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace urgent
