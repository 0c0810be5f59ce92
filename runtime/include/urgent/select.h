// urgent/select.h: Go's select statement.
//
//   int chosen = urgent::select(
//       urgent::case_recv(in, [&](std::optional<int> v) { ... }),  // empty v: `in` is closed
//       urgent::case_send(out, 42, [&] { ... }),
//       urgent::case_default([&] { ... }));                       // optional
//
// Blocks until one case can proceed and runs its function; with several ready, the choice
// is uniformly random (Go's pollorder). Channels are locked in address order (lockorder).
// A case on a nil channel never fires; a send case on a closed channel throws
// Panic("send on closed channel") if chosen. With a default case, select never blocks. An
// empty select blocks forever. Returns the index of the chosen case (argument order).
#pragma once

#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "urgent/chan.h"

namespace urgent {
namespace detail {

struct Scase {
  Hchan* c;
  void* elem;
};

// Go's selectgo. cases: nsends send cases, then nrecvs receive cases. Returns the index in
// cases of the one that proceeded, or -1 (only if !block) when none could.
int selectgo(Scase* cases, int nsends, int nrecvs, bool block, bool* recv_ok);

template <class T, class F>
struct RecvCase {
  static constexpr int kind = 1;
  Hchan* c;
  F fn;
  Slot<T> slot;
  Scase scase() { return {c, slot.bytes}; }
  void complete(bool ok) {
    if constexpr (std::is_invocable_v<F&, std::optional<T>>) {
      fn(ok ? slot.take() : std::optional<T>());
    } else {
      if (ok) slot.take();
      fn();
    }
  }
};

template <class T, class F>
struct SendCase {
  static constexpr int kind = 0;
  Hchan* c;
  T value;
  F fn;
  Scase scase() { return {c, &value}; }
  void complete(bool) { fn(); }
};

template <class F>
struct DefaultCase {
  static constexpr int kind = 2;
  F fn;
  void complete(bool) { fn(); }
};

}  // namespace detail

// A receive case: fn(std::optional<T>) gets the value, or an empty optional if the channel
// is closed (Go's v, ok := <-c); fn() also works when the value does not matter.
template <class T, class F>
detail::RecvCase<T, std::decay_t<F>> case_recv(const Chan<T>& ch, F&& fn) {
  return {ch.raw(), std::forward<F>(fn), {}};
}

// A send case: sends value (moved in) if chosen, then runs fn().
template <class T, class V, class F>
detail::SendCase<T, std::decay_t<F>> case_send(const Chan<T>& ch, V&& value, F&& fn) {
  return {ch.raw(), T(std::forward<V>(value)), std::forward<F>(fn)};
}

// The default case: runs when no other case is ready.
template <class F>
detail::DefaultCase<std::decay_t<F>> case_default(F&& fn) {
  return {std::forward<F>(fn)};
}

template <class... Cases>
int select(Cases&&... cases) {
  constexpr int n = sizeof...(Cases);
  constexpr int ndefault = (0 + ... + (std::decay_t<Cases>::kind == 2 ? 1 : 0));
  static_assert(ndefault <= 1, "select: at most one default case");
  detail::Scase sc[n + 1];
  int user[n + 1];
  int nsends = 0, nrecvs = 0, dflt = -1;
  auto tup = std::forward_as_tuple(cases...);
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    // Go's layout: all sends first, then all receives.
    auto add = [&](auto& c, int idx, int want) {
      using C = std::decay_t<decltype(c)>;
      if constexpr (C::kind == 2) {
        dflt = idx;
      } else if (C::kind == want) {
        sc[nsends + nrecvs] = c.scase();
        user[nsends + nrecvs] = idx;
        (want == 0 ? nsends : nrecvs)++;
      }
    };
    (void)add;  // unused by an empty select
    (add(std::get<I>(tup), static_cast<int>(I), 0), ...);
    (add(std::get<I>(tup), static_cast<int>(I), 1), ...);
  }
  (std::index_sequence_for<Cases...>{});
  bool recv_ok = false;
  int got = detail::selectgo(sc, nsends, nrecvs, dflt < 0, &recv_ok);
  int chosen = got < 0 ? dflt : user[got];
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((static_cast<int>(I) == chosen ? (std::get<I>(tup).complete(recv_ok), 0) : 0), ...);
  }
  (std::index_sequence_for<Cases...>{});
  return chosen;
}

}  // namespace urgent
