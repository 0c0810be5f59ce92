#!/usr/bin/env bash
# tests/scripts/install.sh: `make install PREFIX=...` installs headers, library and urgent.pc,
# and the README's quick-start program builds against it with pkg-config and runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The same build as the tests (SAN, from make test), in a make of its own.
san=${SAN:-}
env -u MAKEFLAGS -u MFLAGS make --no-print-directory install PREFIX="$tmp/prefix" SAN="$san" >/dev/null
for f in include/urgent/urgent.h include/urgent/go.h include/urgent/trace.h lib/liburgent.a \
  lib/pkgconfig/urgent.pc bin/urgent-trace bin/urgent-scope; do
  [[ -f "$tmp/prefix/$f" ]] || { echo "install.sh: missing $f" >&2; exit 1; }
done

# The first ```cpp block of README.md is the quick-start program.
awk '/^```cpp$/ { on = 1; next } /^```$/ && on { exit } on' README.md > "$tmp/hello.cpp"
[[ -s "$tmp/hello.cpp" ]] || { echo "install.sh: no quick-start in README.md" >&2; exit 1; }
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
g++ -std=c++20 ${san:+-fsanitize=$san} "$tmp/hello.cpp" -o "$tmp/hello" $(pkg-config --cflags --libs urgent)
# With one P the goroutines run in Go's order: the last created first. That is the order
# without preemption, hence a 10 s slice: under ThreadSanitizer each of the first go()s
# took ~4 ms (a TSan fiber each), and main was preempted within its 10 ms slice.
out=$(GOMAXPROCS=1 URGENT_TIMESLICE=10s "$tmp/hello")
grep -q "^hello from goroutine 12 (i=10)$" <<<"$(head -1 <<<"$out")" ||
  { echo "install.sh: unexpected output:"; echo "$out"; exit 1; } >&2
grep -q "^11 goroutines ran on 1 P(s)$" <<<"$out" ||
  { echo "install.sh: unexpected output:"; echo "$out"; exit 1; } >&2
