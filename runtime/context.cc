// runtime/context.cc: Go's context package (context.go): a tree of cancelable nodes.
//
// Invariants:
// - A node's err goes from kNone to its final value once, under its lock, and its done
//   channel is closed exactly then; its children are canceled right after, outside the lock
//   (locks are only ever held one node at a time).
// - A deadline is a runtime timer whose argument is a heap-held shared_ptr to the node: an
//   armed deadline keeps its node alive (as Go's timer does). Exactly one of two paths
//   frees that holder: cancel() when deltimer finds the timer still pending, or the timer's
//   callback once it fires. The callback ends its run itself (timer_done), while it still
//   holds the node, before it may drop the last reference.
#include "urgent/context.h"

#include <utility>
#include <vector>

#include "lock.h"
#include "timer.h"

namespace urgent {
namespace detail {

struct CtxNode : std::enable_shared_from_this<CtxNode> {
  rt::SpinMutex mu;
  ContextError err = ContextError::kNone;
  Chan<Signal> done;  // unbuffered, only ever closed
  std::optional<Clock::time_point> deadline;
  std::weak_ptr<CtxNode> parent;
  std::vector<std::shared_ptr<CtxNode>> children;
  rt::Timer timer;     // the deadline, when armed
  bool armed = false;  // [mu] timer was added
};

}  // namespace detail

struct ContextAccess {
  static Context make(std::shared_ptr<detail::CtxNode> n) { return Context(std::move(n)); }
  static CancelFunc cancel(std::shared_ptr<detail::CtxNode> n) { return CancelFunc(std::move(n)); }
  static const std::shared_ptr<detail::CtxNode>& node(const Context& c) { return c.node_; }
  static const std::shared_ptr<detail::CtxNode>& node(const CancelFunc& f) { return f.node_; }
};

namespace {

using detail::CtxNode;

void cancel(const std::shared_ptr<CtxNode>& n, ContextError why, bool remove_from_parent) {
  std::vector<std::shared_ptr<CtxNode>> children;
  bool armed;
  {
    rt::SpinGuard lock(n->mu);
    if (n->err != ContextError::kNone) return;
    n->err = why;
    children.swap(n->children);
    armed = std::exchange(n->armed, false);
  }
  // Disarm the deadline. Not from the deadline's own callback (why == kDeadlineExceeded on
  // this node): deltimer would wait for the very callback that is running.
  if (armed && why != ContextError::kDeadlineExceeded && rt::deltimer(&n->timer)) {
    delete static_cast<std::shared_ptr<CtxNode>*>(n->timer.arg);
  }
  n->done.close();
  for (auto& c : children) cancel(c, why, false);
  if (remove_from_parent) {
    if (auto p = n->parent.lock()) {
      rt::SpinGuard lock(p->mu);
      for (auto it = p->children.begin(); it != p->children.end(); ++it) {
        if (it->get() == n.get()) {
          p->children.erase(it);
          break;
        }
      }
    }
  }
}

bool onDeadline(void* arg, std::int64_t) {
  auto* holder = static_cast<std::shared_ptr<CtxNode>*>(arg);
  std::shared_ptr<CtxNode> n = std::move(*holder);
  delete holder;
  cancel(n, ContextError::kDeadlineExceeded, true);
  rt::timer_done(&n->timer);
  return true;  // n may be freed when we return: the runtime must not touch the timer
}

std::shared_ptr<CtxNode> child(const Context& parent) {
  auto n = std::make_shared<CtxNode>();
  const auto& p = ContextAccess::node(parent);
  if (p == nullptr) return n;  // background: nothing to propagate
  n->parent = p;
  n->deadline = p->deadline;
  ContextError perr;
  {
    rt::SpinGuard lock(p->mu);
    perr = p->err;
    if (perr == ContextError::kNone) p->children.push_back(n);
  }
  if (perr != ContextError::kNone) cancel(n, perr, false);
  return n;
}

}  // namespace

const char* to_string(ContextError e) {
  switch (e) {
    case ContextError::kNone: return "";
    case ContextError::kCanceled: return "context canceled";
    case ContextError::kDeadlineExceeded: return "context deadline exceeded";
  }
  return "";
}

Context Context::background() {
  return Context(nullptr);
}

Chan<Signal> Context::done() const {
  return node_ ? node_->done : Chan<Signal>(nullptr);
}

ContextError Context::err() const {
  if (!node_) return ContextError::kNone;
  rt::SpinGuard lock(node_->mu);
  return node_->err;
}

std::optional<Clock::time_point> Context::deadline() const {
  return node_ ? node_->deadline : std::nullopt;
}

void CancelFunc::operator()() const {
  if (node_) cancel(node_, ContextError::kCanceled, true);
}

std::pair<Context, CancelFunc> with_cancel(const Context& parent) {
  auto n = child(parent);
  return {ContextAccess::make(n), ContextAccess::cancel(n)};
}

std::pair<Context, CancelFunc> with_deadline(const Context& parent, Clock::time_point d) {
  auto pd = parent.deadline();
  if (pd && *pd <= d) return with_cancel(parent);  // the parent's deadline comes first
  auto n = child(parent);
  n->deadline = d;
  if (d <= Clock::now()) {
    cancel(n, ContextError::kDeadlineExceeded, true);
  } else {
    n->timer.f = onDeadline;
    n->timer.arg = new std::shared_ptr<CtxNode>(n);
    n->timer.when =
        std::chrono::duration_cast<std::chrono::nanoseconds>(d.time_since_epoch()).count();
    bool arm;
    {
      rt::SpinGuard lock(n->mu);
      arm = n->err == ContextError::kNone;  // a child born canceled needs no deadline
      n->armed = arm;
    }
    if (arm) {
      rt::addtimer(&n->timer);
    } else {
      delete static_cast<std::shared_ptr<CtxNode>*>(n->timer.arg);
    }
  }
  return {ContextAccess::make(n), ContextAccess::cancel(n)};
}

std::pair<Context, CancelFunc> with_timeout(const Context& parent, std::chrono::nanoseconds d) {
  return with_deadline(parent, rt::deadline_after(d));  // saturated: never past max()
}

}  // namespace urgent
