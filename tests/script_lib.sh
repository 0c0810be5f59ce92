# tests/script_lib.sh: the common start of tests/scripts/*.sh (sourced from the repository root).
# Sets `build` (BUILD or build/, absolute) and `tmp` (a directory removed on exit), and
# defines fail MESSAGE (prints it under the script's name, exits 1), skip REASON (exit 77,
# counted as skipped), tsan (true in a ThreadSanitizer build: no asynchronous preemption
# there, see runtime/HACKING.md) and json_get.
build=$(realpath "${BUILD:-build}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "${0##*/}: $*" >&2; exit 1; }
skip() { echo "${0##*/}: skipped: $*"; exit 77; }
tsan() { [[ ${SAN:-} == *thread* ]]; }
json_get() {  # json_get FILE EXPR: a Python expression over the parsed JSON `j`
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
