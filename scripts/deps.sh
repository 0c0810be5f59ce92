#!/usr/bin/env bash
# scripts/deps.sh: install the Debian packages urgent needs that are missing.
# Idempotent and silent when everything is present; `make`, `make test` and `make lab`
# call it. Needs root (or sudo) only when something must be installed.
set -euo pipefail

packages=(
  g++ make pkg-config                # the build
  libgtest-dev libbenchmark-dev      # tests and micro-benchmarks
  libspdlog-dev libfmt-dev           # runtime diagnostics (URGENT_LOG)
  libbpf-dev bpftool clang libelf-dev zlib1g-dev  # eBPF observers
  systemtap-sdt-dev bpftrace         # USDT probes (sys/sdt.h) and the tool that reads them
  golang-go                          # the Go twins of the benchmarks and demos
  python3 protobuf-compiler          # tests: JSON parser, protoc --decode_raw (trace output)
  gnuplot-nox                        # urgent-lab's plots (PNG)
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps.sh: installing missing packages: ${missing[*]}" >&2
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "deps.sh: need root to install: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
