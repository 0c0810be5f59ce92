#!/usr/bin/env bash
# scripts/lab.sh BUILD_DIR [urgent-lab options]: `make lab`, the default suite of urgent-lab
# (bench/lab/urgent-lab.cc): results/<timestamp>/results.json, the PNG plots, and the table.
# LAB_FLAGS (make lab LAB_FLAGS=--quick) passes options through.
set -euo pipefail
build=${1:-build}
shift || true
cd "$(dirname "$0")/.."
exec "$build/bin/urgent-lab" "$@"
