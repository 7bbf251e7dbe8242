#!/bin/sh
# Short CI fuzz run (tests/fuzz/README.md). If clang is available: configure
# (or re-use) the clang build dir build-fuzz with ASan+UBSan, build every
# libFuzzer target, and run each for FUZZ_SECONDS (default 20) seconds from
# its seed corpus. Exits non-zero on any crash, leak, timeout or broken
# invariant; the reproducer is kept in $FUZZ_ARTIFACTS (default
# build-fuzz/fuzz-artifacts/<target>/). Without clang it says so and exits 0.
#
# Environment: BUILD_FUZZ (build dir, default <repo>/build-fuzz),
# FUZZ_SECONDS, FUZZ_RUNS (run each target for this many executions
# instead of FUZZ_SECONDS, e.g. FUZZ_RUNS=1000000 for the long runs of
# tests/fuzz/README.md), FUZZ_TARGETS (space-separated, default: all built
# ones), FUZZ_ARTIFACTS, FUZZ_JOBS (targets run at once, default 2: the
# targets are single-threaded), FUZZ_BUILD_ONLY=1 (set up and build, run
# nothing: scripts/bootstrap builds ahead while other tests run).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_FUZZ:-$root/build-fuzz}
secs=${FUZZ_SECONDS:-20}
runs=${FUZZ_RUNS:-}
case "$runs" in
'') limit="-max_total_time=$secs" what="${secs}s" ;;
*[!0-9]*) echo "ci-fuzz: FUZZ_RUNS must be a number of executions" >&2; exit 2 ;;
*) limit="-runs=$runs" what="$runs executions" ;;
esac
all="uui events pexip config azure_xml room_server"

if ! command -v clang >/dev/null 2>&1; then
	echo "ci-fuzz: clang not found; skipping the fuzz run"
	exit 0
fi

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$root" -Db_sanitize=address,undefined -Db_lundef=false
else
	if ! grep -q "C compiler for the host machine: clang" "$build/meson-logs/meson-log.txt"; then
		echo "ci-fuzz: $build exists but is not a clang build dir; remove it or set BUILD_FUZZ" >&2
		exit 1
	fi
	meson configure "$build" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi

targets=
for t in ${FUZZ_TARGETS:-$all}; do
	n=$(echo "$t" | tr _ -)
	# azure_xml needs expat, room_server libmicrohttpd + OpenSSL 3
	if grep -q "^build tests/fuzz/fuzz-$n:" "$build/build.ninja"; then
		targets="$targets $t"
	else
		echo "ci-fuzz: fuzz-$n is not configured in $build; skipped"
	fi
done
[ -n "$targets" ] || { echo "ci-fuzz: no fuzz target to run" >&2; exit 1; }

ninja -C "$build" $(for t in $targets; do printf ' tests/fuzz/fuzz-%s' "$(echo "$t" | tr _ -)"; done)

[ "${FUZZ_BUILD_ONLY:-}" = 1 ] && exit 0

jobs=${FUZZ_JOBS:-2}
case "$jobs" in
''|*[!0-9]*|0) echo "ci-fuzz: FUZZ_JOBS must be a positive number" >&2; exit 2 ;;
esac
artifacts=${FUZZ_ARTIFACTS:-$build/fuzz-artifacts}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# Run target $1 to $work/$1.log; its exit status goes to $work/$1.rc.
run_one() {
	t=$1 n=$(echo "$1" | tr _ -)
	mkdir -p "$work/$t" "$artifacts/$t"
	# new inputs go to the scratch dir; the committed seeds are read only
	rc=0
	"$build/tests/fuzz/fuzz-$n" "$limit" -max_len=4096 \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$artifacts/$t/" "$work/$t" "$here/corpus/$t" \
		</dev/null >"$work/$t.log" 2>&1 || rc=$?
	echo "$rc" >"$work/$t.rc"
}

# $jobs targets at a time; the reports follow in target order
set -- $targets
while [ $# -gt 0 ]; do
	i=0
	while [ $# -gt 0 ] && [ $i -lt "$jobs" ]; do
		echo "ci-fuzz: fuzz-$(echo "$1" | tr _ -) for $what"
		run_one "$1" &
		i=$((i + 1))
		shift
	done
	wait
done

failed=
for t in $targets; do
	n=$(echo "$t" | tr _ -)
	if [ "$(cat "$work/$t.rc" 2>/dev/null)" != 0 ]; then
		tail -n 60 "$work/$t.log" >&2
		echo "ci-fuzz: fuzz-$n FAILED; reproducer in $artifacts/$t/" >&2
		failed="$failed $n"
	else
		echo "ci-fuzz: fuzz-$n:"
		grep -E "^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)" \
			"$work/$t.log" || true
		grep -E "^#[0-9]+.*(DONE|cov:)" "$work/$t.log" | tail -n 1 || true
	fi
done
if [ -n "$failed" ]; then
	echo "ci-fuzz: failed:$failed" >&2
	exit 1
fi
echo "ci-fuzz: all fuzz targets ran clean"
