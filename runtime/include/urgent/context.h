// urgent/context.h: Go's context package: cancellation and deadlines that propagate from a
// context to all the contexts derived from it, observable in select through done().
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "urgent/chan.h"
#include "urgent/time.h"

namespace urgent {

// What done() carries: nothing. The channel is only ever closed.
struct Signal {};

enum class ContextError {
  kNone,              // not done
  kCanceled,          // "context canceled"
  kDeadlineExceeded,  // "context deadline exceeded"
};

const char* to_string(ContextError e);

namespace detail {
struct CtxNode;
}

// A copyable handle, like a Go context.Context value.
class Context {
 public:
  // The root: never canceled, no deadline; its done() is a nil channel (never ready).
  static Context background();
  // Closed when the context is canceled or its deadline passes (a case for select).
  Chan<Signal> done() const;
  ContextError err() const;
  std::optional<Clock::time_point> deadline() const;

 private:
  friend struct ContextAccess;
  explicit Context(std::shared_ptr<detail::CtxNode> n) : node_(std::move(n)) {}
  std::shared_ptr<detail::CtxNode> node_;  // null: background
};

// Cancels its context (and every context derived from it) with kCanceled. Idempotent; call
// it when the work is done, as in Go, so that the context's resources are released.
class CancelFunc {
 public:
  void operator()() const;

 private:
  friend struct ContextAccess;
  explicit CancelFunc(std::shared_ptr<detail::CtxNode> n) : node_(std::move(n)) {}
  std::shared_ptr<detail::CtxNode> node_;
};

std::pair<Context, CancelFunc> with_cancel(const Context& parent);
// Also canceled, with kDeadlineExceeded, at d (or at the parent's deadline if earlier).
std::pair<Context, CancelFunc> with_deadline(const Context& parent, Clock::time_point d);
std::pair<Context, CancelFunc> with_timeout(const Context& parent, std::chrono::nanoseconds d);

}  // namespace urgent
