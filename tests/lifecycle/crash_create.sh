#!/usr/bin/env bash
# Crash safety of the hand-out: kill -9 `pexctl create` at random moments,
# 100 times, then check that no room was ever handed out twice and that the
# orphan sweep removes every leaked room, leaving exactly the rooms handed
# out plus the rooms still in the pool.
# Usage: crash_create.sh PEXCTL EMULATOR [ITERATIONS]
# (ITERATIONS defaults to $PEX_CRASH_CREATE_ITERATIONS, else 100)
set -u
PEXCTL=$1
export PEX_EMULATOR=$2
iterations=${3:-${PEX_CRASH_CREATE_ITERATIONS:-100}}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../emulator/emu.sh"

work=$(mktemp -d /tmp/pex-crash.XXXXXX)
trap 'emu_stop >/dev/null 2>&1; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

emu_start --seed 5 || fail "cannot start the emulator"
emu_ctl POST /_emu/faults '{"latency_ms": 15, "latency_jitter_ms": 15}' >/dev/null

write_cfg() { # orphan_max_age_s
	cat >"$work/cfg.yaml" <<YAML
pexip:
  url: $EMU_URL
  auth: {username: admin, password: admin}
  retries: {max: 5, base_ms: 5, cap_ms: 50}
queue:
  backend: sqlite
  sqlite: {path: $work/pool.db}
pool: {depth: 20, lease_s: 5, ready_after_s: 0}
tag: {url_template: "https://svc.example.com/s/{uui}"}
gc: {delay_s: 0, orphan_max_age_s: $1}
YAML
}
write_cfg 86400
p() { "$PEXCTL" -q -c "$work/cfg.yaml" "$@"; }

p pool fill >/dev/null || fail "pool fill"

# How long a whole create takes in this build (a plain build ~50-70 ms
# here, 15 +/- 15 ms per Pexip request; under the sanitizers, start-up and
# the leak check at exit take longer): the slowest of three, uninterrupted.
# Their rooms count as handed out (out.0a..c).
window=80
for k in a b c; do
	t0=$(date +%s%N)
	"$PEXCTL" -q -c "$work/cfg.yaml" --json create --uui 6f6b --wait >"$work/out.0$k" 2>/dev/null ||
		fail "an uninterrupted create failed: $(cat "$work/out.0$k")"
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$ms" -gt "$window" ] && window=$ms
done
# Kill within 1.3 times that, so that most kills land mid-create and some
# creates complete.
window=$((window * 13 / 10))
echo "kill window: 0-$window ms"

# Kill creates at random moments: before the lease, between lease and tag,
# between tag and acknowledgement, during the replacement create.
killed=0 completed=0
for i in $(seq 1 "$iterations"); do
	uui=$(printf 'crash-%04d' "$i" | od -An -tx1 | tr -d ' \n')
	# the binary itself in the background (not a shell function: $! must be pexctl)
	"$PEXCTL" -q -c "$work/cfg.yaml" --json create --uui "$uui" --wait >"$work/out.$i" 2>/dev/null &
	pid=$!
	d=$((RANDOM % window))
	sleep "$((d / 1000)).$(printf '%03d' $((d % 1000)))"
	if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
	wait "$pid" 2>/dev/null
	# keep the pool from running dry so most attempts reach Pexip
	if [ $((i % 10)) -eq 0 ]; then p pool fill >/dev/null 2>&1; fi
done

# A room was handed out only if its caller received the whole JSON document.
: >"$work/handed"
for i in 0a 0b 0c $(seq 1 "$iterations"); do
	# (jq 1.6 exits 0 on empty input: test the value, not the status)
	n=$(jq -r .name "$work/out.$i" 2>/dev/null)
	if [ -n "$n" ] && [ "$n" != null ]; then
		echo "$n" >>"$work/handed"
		case $i in 0?) ;; *) completed=$((completed + 1)) ;; esac
	fi
done
echo "iterations $iterations, killed $killed, completed $completed (besides the 3 uninterrupted)"
[ "$killed" -gt 10 ] || fail "too few kills landed ($killed); the test would prove little"
[ "$completed" -gt 0 ] || fail "no create completed"
dups=$(sort "$work/handed" | uniq -d)
[ -z "$dups" ] || fail "rooms handed out twice: $dups"

# Let every lease held by a killed process run out (pool.lease_s = 5).
sleep 6

# Handed-out rooms are in use: make them live so the orphan sweep must
# spare them (it only removes rooms that are in no queue and not live).
while read -r n; do
	emu_ctl POST /_emu/conference/start "{\"name\": \"$n\"}" >/dev/null || fail "start $n"
done <"$work/handed"

emu_ctl POST /_emu/faults '{"latency_ms": 0}' >/dev/null
before=$("$PEXCTL" -q -c "$work/cfg.yaml" --json list --prefix vmr_ | jq length)
write_cfg 0
p --json gc --orphans >"$work/gc.json" || fail "gc --orphans: $(cat "$work/gc.json")"
echo "rooms before the sweep: $before; sweep: $(jq -c . "$work/gc.json")"

# Every room left is either handed out (live) or in the pool; nothing else.
depth=$(p --json pool status | jq .pool_depth)
p --json list --prefix vmr_ | jq -r '.[].name' | sort >"$work/left"
handed=$(wc -l <"$work/handed")
left=$(wc -l <"$work/left")
[ "$left" -eq $((handed + depth)) ] || fail "$left rooms left, expected $handed handed out + $depth pooled"
# Draining the pool with --delete removes exactly the pooled rooms: every
# handed-out room survives it, so none of them was still in the pool.
p --json pool drain --delete >"$work/drain.json" || fail "drain: $(cat "$work/drain.json")"
[ "$(jq .drained "$work/drain.json")" -eq "$depth" ] || fail "drained $(jq .drained "$work/drain.json"), pool had $depth"
p --json list --prefix vmr_ | jq -r '.[].name' | sort >"$work/after"
sort "$work/handed" | diff - "$work/after" >/dev/null || fail "after draining the pool, the rooms left are not exactly the handed-out ones"
orph=$(jq .orphans_deleted "$work/gc.json")
echo "orphans removed: $orph; handed out: $handed; pooled: $depth"
echo "1 passed, 0 failed"
