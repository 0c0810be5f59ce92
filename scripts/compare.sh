#!/usr/bin/env bash
# compare.sh - run urgent's benchmark tool and its Go twin side by side.
#
# usage: scripts/compare.sh [-r RUNS] [--target WORKLOAD=RATIO ...]
#                           [--floor WORKLOAD=RATIO ...] [--strict] [workload ...]
#
#   -r RUNS            runs per workload and per runtime (default 5)
#   --target W=X       ceiling for the urgent/Go ratio of workload W, for
#                      workloads where lower is better (times); the table
#                      marks it "ok" (ratio <= X) or "MISSED".
#                      Repeatable, e.g. --target spawn=0.25 --target yield=0.5
#   --floor W=X        floor for the urgent/Go ratio of workload W, for
#                      workloads where higher is better (rates, e.g. echo's
#                      req/s); the table marks it "ok" (ratio >= X) or
#                      "MISSED". Repeatable, e.g. --floor echo=1.0
#   --strict           exit 1 if any target or floor is missed (default: exit 0)
#   workload ...       workloads to run (default: spawn yield)
#
# Environment:
#   URGENT_BENCH  urgent binary   (default build/bin/urgent-bench)
#   GO_BENCH      Go twin binary  (default build/bin/urgent-bench-go)
#   COMPARE_N     if set, passed to both binaries as n
#
# Both binaries print exactly one line "<workload> <value> <unit>" per run
# (see bench/urgent-bench.cc and bench/go/main.go). Runs alternate urgent,
# Go, urgent, Go, ... so that machine drift affects both sides alike. The
# table reports the median of each side and the ratio urgent/Go (lower is
# better for urgent for times; higher is better for rates such as req/s).
#
# Only workloads printing "<workload> <value> <unit>" can be compared: not
# `handoff`, whose line is for humans (use handoff50 and handoffmax here).
set -euo pipefail

# Work from the repository root (the parent of this script's directory) so
# the default binary paths resolve.
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() {
	echo "compare.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
	exit 2
}

# ---- arguments -------------------------------------------------------------

runs=5
strict=0
workloads=()
declare -A target=() # workload -> ratio ceiling
declare -A floor=()  # workload -> ratio floor

while (($# > 0)); do
	case "$1" in
	-r)
		(($# >= 2)) || die "-r needs a value"
		runs="$2"
		shift 2
		;;
	-r*)
		runs="${1#-r}"
		shift
		;;
	--target | --target=*)
		if [[ "$1" == --target ]]; then
			(($# >= 2)) || die "--target needs WORKLOAD=RATIO"
			spec="$2"
			shift 2
		else
			spec="${1#--target=}"
			shift
		fi
		[[ "$spec" =~ ^([A-Za-z0-9_-]+)=([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]] ||
			die "bad --target '$spec': want WORKLOAD=RATIO, e.g. spawn=0.25"
		target["${BASH_REMATCH[1]}"]="${BASH_REMATCH[2]}"
		;;
	--floor | --floor=*)
		if [[ "$1" == --floor ]]; then
			(($# >= 2)) || die "--floor needs WORKLOAD=RATIO"
			spec="$2"
			shift 2
		else
			spec="${1#--floor=}"
			shift
		fi
		[[ "$spec" =~ ^([A-Za-z0-9_-]+)=([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]] ||
			die "bad --floor '$spec': want WORKLOAD=RATIO, e.g. echo=1.0"
		floor["${BASH_REMATCH[1]}"]="${BASH_REMATCH[2]}"
		;;
	--strict)
		strict=1
		shift
		;;
	-h | --help)
		usage
		;;
	--)
		shift
		workloads+=("$@")
		break
		;;
	-*)
		echo "compare.sh: unknown option '$1'" >&2
		usage
		;;
	*)
		workloads+=("$1")
		shift
		;;
	esac
done

[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "bad RUNS '$runs': want a positive integer"
((${#workloads[@]} > 0)) || workloads=(spawn yield)
if [[ -n "${COMPARE_N:-}" ]]; then
	[[ "$COMPARE_N" =~ ^[1-9][0-9]*$ ]] ||
		die "bad COMPARE_N '$COMPARE_N': want a positive integer"
fi
for w in "${!target[@]}"; do
	found=0
	for x in "${workloads[@]}"; do [[ "$x" == "$w" ]] && found=1; done
	((found)) || echo "compare.sh: warning: --target $w given but $w is not run" >&2
done
for w in "${!floor[@]}"; do
	found=0
	for x in "${workloads[@]}"; do [[ "$x" == "$w" ]] && found=1; done
	((found)) || echo "compare.sh: warning: --floor $w given but $w is not run" >&2
done

urgent_bin="${URGENT_BENCH:-build/bin/urgent-bench}"
go_bin="${GO_BENCH:-build/bin/urgent-bench-go}"
for bin in "$urgent_bin" "$go_bin"; do
	[[ -x "$bin" ]] || die "benchmark binary '$bin' is missing or not executable; build it with: make"
done

# ---- helpers ---------------------------------------------------------------

# run_one BIN WORKLOAD: run BIN once and set $value and $unit from its
# single "<workload> <value> <unit>" output line.
run_one() {
	local bin="$1" w="$2" out status=0
	local args=("$w")
	[[ -n "${COMPARE_N:-}" ]] && args+=("$COMPARE_N")
	out="$("$bin" "${args[@]}")" || status=$?
	((status == 0)) || die "'$bin ${args[*]}' failed (exit status $status)"
	# Exactly one line, three fields, the right workload, a numeric value.
	local re='^([^ ]+) ([0-9]+(\.[0-9]+)?) ([^ ]+)$'
	if [[ "$out" == *$'\n'* || ! "$out" =~ $re || "${BASH_REMATCH[1]}" != "$w" ]]; then
		die "'$bin ${args[*]}' printed a malformed result (want '$w <value> <unit>'; rebuild with: make):"$'\n'"$out"
	fi
	value="${BASH_REMATCH[2]}"
	unit="${BASH_REMATCH[4]}"
}

# median: read numbers, one per line, on stdin and print their median: the
# middle value as given for an odd count, the mean of the two middle values
# (2 decimals) for an even count.
median() {
	sort -g | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) exit 1
			if (NR % 2) print v[(NR + 1) / 2]
			else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# ---- header ----------------------------------------------------------------

go_version="$(go version 2>/dev/null || echo 'go: not found')"
echo "# $(date '+%Y-%m-%d %H:%M:%S %z')  nproc=$(nproc)  kernel=$(uname -sr)  ${go_version}"
echo "# urgent=$urgent_bin  go=$go_bin  runs=$runs${COMPARE_N:+  n=$COMPARE_N}"

# ---- measure ---------------------------------------------------------------

rows=()
missed=0
for w in "${workloads[@]}"; do
	u_vals=()
	g_vals=()
	for ((i = 1; i <= runs; i++)); do
		# Alternate urgent and Go so drift hits both sides equally.
		run_one "$urgent_bin" "$w"
		u_vals+=("$value")
		u_unit="$unit"
		run_one "$go_bin" "$w"
		g_vals+=("$value")
		g_unit="$unit"
		[[ "$u_unit" == "$g_unit" ]] ||
			die "$w: unit mismatch: urgent reports '$u_unit', Go reports '$g_unit'"
		printf '  %s run %d/%d: urgent %s  go %s %s\n' \
			"$w" "$i" "$runs" "${u_vals[-1]}" "${g_vals[-1]}" "$u_unit" >&2
	done
	u_med="$(printf '%s\n' "${u_vals[@]}" | median)"
	g_med="$(printf '%s\n' "${g_vals[@]}" | median)"
	ratio="$(awk -v u="$u_med" -v g="$g_med" \
		'BEGIN { if (g + 0 == 0) print "inf"; else printf "%.3f\n", u / g }')"

	# Target check: the ratio must not exceed the ceiling.
	verdict="-"
	if [[ -n "${target[$w]:-}" ]]; then
		if [[ "$ratio" != inf ]] &&
			awk -v r="$ratio" -v t="${target[$w]}" 'BEGIN { exit !(r <= t) }'; then
			verdict="ok (<= ${target[$w]})"
		else
			verdict="MISSED (> ${target[$w]})"
			missed=1
		fi
	fi
	# Floor check (higher is better): the ratio must reach the floor.
	if [[ -n "${floor[$w]:-}" ]]; then
		if [[ "$ratio" == inf ]] ||
			awk -v r="$ratio" -v f="${floor[$w]}" 'BEGIN { exit !(r >= f) }'; then
			fverdict="ok (>= ${floor[$w]})"
		else
			fverdict="MISSED (< ${floor[$w]})"
			missed=1
		fi
		if [[ "$verdict" == - ]]; then verdict="$fverdict"; else verdict="$verdict, $fverdict"; fi
	fi
	rows+=("$w|$u_unit|$u_med|$g_med|$ratio|$runs|$verdict")
done

# ---- table -----------------------------------------------------------------

table_row() {
	printf '%-10s %-14s %14s %14s %10s %5s  %s\n' "$@"
}
table_row workload unit "urgent(med)" "go(med)" urgent/go runs target
for row in "${rows[@]}"; do
	IFS='|' read -r w unit u g r n v <<<"$row"
	table_row "$w" "$unit" "$u" "$g" "$r" "$n" "$v"
done

if ((missed)); then
	echo "# some targets were MISSED" >&2
	((strict)) && exit 1
fi
exit 0
