#!/usr/bin/env bash
# tests/scripts/api_errors.sh: misuses of the public API that must not compile, each with
# urgent's own message (compiled against runtime/include, as an installed copy would be).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/script_lib.sh

# expect_error NAME MESSAGE: the program on stdin must fail to compile, saying MESSAGE.
expect_error() {
  cat > "$tmp/$1.cpp"
  if g++ -std=c++20 -fsyntax-only -Iruntime/include "$tmp/$1.cpp" 2> "$tmp/$1.err"; then
    fail "$1: compiled, but must not"
  fi
  grep -qF "$2" "$tmp/$1.err" || { cat "$tmp/$1.err" >&2; fail "$1: no '$2' in the errors"; }
}

# An element whose move may throw: the runtime moves elements under the channel's lock.
expect_error throwing_move "T's move constructor must be noexcept" <<'CPP'
#include <urgent/urgent.h>
struct Throwing {
  Throwing() = default;
  Throwing(Throwing&&) noexcept(false) {}
};
int main() { urgent::Chan<Throwing> c(1); }
CPP

# A deque's move constructor allocates, so it may throw: wrap it (the message says how).
expect_error deque_element "use a std::unique_ptr<T> instead" <<'CPP'
#include <urgent/urgent.h>
#include <deque>
int main() { urgent::Chan<std::deque<int>> c; }
CPP

expect_error throwing_destructor "T's destructor must be noexcept" <<'CPP'
#include <urgent/urgent.h>
struct Throwing {
  Throwing() = default;
  Throwing(Throwing&&) noexcept {}
  ~Throwing() noexcept(false) {}
};
int main() { urgent::Chan<Throwing> c(1); }
CPP

# The same element, wrapped as the message suggests, compiles.
cat > "$tmp/wrapped.cpp" <<'CPP'
#include <urgent/urgent.h>
#include <deque>
#include <memory>
int main() { urgent::Chan<std::unique_ptr<std::deque<int>>> c(1); }
CPP
g++ -std=c++20 -fsyntax-only -Iruntime/include "$tmp/wrapped.cpp" || fail "wrapped: does not compile"
