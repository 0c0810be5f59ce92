# scripts/bench-lib.sh: shared by the measuring scripts (sourced, not run).
# parse_rounds "$@": sets `rounds` (default 5) from a leading `-r N` and `args` to the rest.
parse_rounds() {
  rounds=5
  if [[ ${1:-} == -r ]]; then
    [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "${0##*/}: -r wants a positive number" >&2; exit 2; }
    rounds=$2
    shift 2
  fi
  args=("$@")
}
# median: the median of the numbers on stdin, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# ratio A B: A / B.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { print a / b }'; }
