#!/usr/bin/env bash
# Crash safety of the room server: kill -9 it at random moments while 4
# clients POST /room/create, 50 times, restarting it each time on the same
# SQLite file and emulator. After each kill: no room was ever handed out
# twice (every 200 response of every run is collected). At the end every
# room on Pexip is accounted for: handed out, in the pool, or removed by
# the orphan sweep (handed-out rooms are made live first, as in
# tests/lifecycle/crash_create.sh; then rooms left == handed + pooled).
# Usage: crash_server.sh ROOM_SERVER PEXCTL EMULATOR [ITERATIONS]
# (ITERATIONS defaults to $PEX_CRASH_ITERATIONS, else 50)
set -u
# load tests: under meson's valgrind setup (bash itself would be wrapped) skip
[ "${PEX_UNDER_VALGRIND:-0}" = 1 ] && { echo "skipped under the valgrind setup"; exit 77; }
SERVER=$1
PEXCTL=$2
export PEX_EMULATOR=$3
iterations=${4:-${PEX_CRASH_ITERATIONS:-50}}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../emulator/emu.sh"

work=$(mktemp -d /tmp/pex-crashsrv.XXXXXX)
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill -9 "$srv_pid" 2>/dev/null
	emu_stop >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
KEY=k-crash-test-key

emu_start --seed 9 || fail "cannot start the emulator"
# a create is a few Pexip requests of 5 +/- 5 ms: kills land at every step
emu_ctl POST /_emu/faults '{"latency_ms": 5, "latency_jitter_ms": 5}' >/dev/null

write_cfg() { # orphan_max_age_s
	cat >"$work/cfg.yaml" <<YAML
pexip:
  url: $EMU_URL
  auth: {username: admin, password: admin}
  retries: {max: 5, base_ms: 5, cap_ms: 50}
queue:
  backend: sqlite
  sqlite: {path: $work/pool.db}
pool: {depth: 20, lease_s: 5}
tag: {url_template: "https://svc.example.com/s/{uui}"}
gc: {delay_s: 0, orphan_max_age_s: $1}
server: {api_keys: [$KEY]}
log: {level: warn}
YAML
	chmod 600 "$work/cfg.yaml"
}
write_cfg 86400
p() { "$PEXCTL" -q -c "$work/cfg.yaml" "$@"; }
p pool fill >/dev/null || fail "pool fill"

mkdir "$work/r"
# one client: create until the server stops answering
client() { # run thread
	local k=0 code
	while :; do
		k=$((k + 1))
		code=$(curl -s --max-time 10 -o "$work/r/$1.$2.$k" -w '%{http_code}' -X POST \
			-H "X-API-Key: $KEY" "http://$addr/room/create?uuiData=6372617368") || break
		[ "$code" = 000 ] && break
		echo "$code" >"$work/r/$1.$2.$k.code"
	done
}

: >"$work/handed"
killed=0 answered=0
start_all=$(date +%s)
for i in $(seq 1 "$iterations"); do
	"$SERVER" -c "$work/cfg.yaml" --listen 127.0.0.1:0 --gc-interval 0 --metrics-interval 0 \
		>"$work/srv.out" 2>>"$work/srv.err" &
	srv_pid=$!
	addr=
	for _ in $(seq 1 100); do
		addr=$(sed -n 's/^LISTENING //p' "$work/srv.out")
		[ -n "$addr" ] && break
		kill -0 "$srv_pid" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$addr" ] || fail "run $i: the server did not start: $(tail -5 "$work/srv.err")"
	cpids=
	for t in 1 2 3 4; do
		client "$i" "$t" &
		cpids="$cpids $!"
	done
	# kill at a random moment: 0.1 to 0.7 s into the load
	sleep "0.$(printf '%03d' $((100 + RANDOM % 600)))"
	kill -9 "$srv_pid" 2>/dev/null && killed=$((killed + 1))
	wait "$srv_pid" 2>/dev/null
	srv_pid=
	# the clients stop at the first refused/reset connection
	# (not a bare `wait`: the emulator is a child of this shell too)
	for c in $cpids; do wait "$c"; done

	# a room was handed out only if its caller got a 200 with the whole document
	for f in "$work"/r/"$i".*.code; do
		[ -e "$f" ] || continue
		answered=$((answered + 1))
		[ "$(cat "$f")" = 200 ] || continue
		n=$(jq -r .name "${f%.code}" 2>/dev/null)
		if [ -n "$n" ] && [ "$n" != null ]; then echo "$n" >>"$work/handed"; fi
	done
	dups=$(sort "$work/handed" | uniq -d)
	[ -z "$dups" ] || fail "after kill $i: rooms handed out twice: $dups"
done
handed=$(wc -l <"$work/handed")
echo "runs $iterations, killed $killed, responses $answered, rooms handed out $handed (distinct), $(($(date +%s) - start_all)) s"
[ "$killed" -eq "$iterations" ] || fail "only $killed of $iterations kills landed"
[ "$handed" -gt 100 ] || fail "too few rooms handed out ($handed); the test would prove little"
grep -v '"status":' "$work/srv.err" | grep -iv 'warn' | head -5

# Let every lease held by a killed server run out (pool.lease_s = 5).
sleep 6
# Handed-out rooms are in use: make them live so the orphan sweep spares them.
# (4 at a time: there are thousands)
xargs -P 4 -I{} curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
	-d '{"name": "{}"}' "$EMU_URL/_emu/conference/start" <"$work/handed" ||
	fail "could not make every handed-out room live"
[ "$(emu_stat live)" -eq "$handed" ] || fail "$(emu_stat live) live rooms, expected $handed"
emu_ctl POST /_emu/faults '{"latency_ms": 0, "latency_jitter_ms": 0}' >/dev/null
before=$(p --json list --prefix vmr_ | jq length)
write_cfg 0
p --json gc --orphans >"$work/gc.json" || fail "gc --orphans: $(cat "$work/gc.json")"
echo "rooms before the sweep: $before; sweep: $(jq -c . "$work/gc.json")"

depth=$(p --json pool status | jq .pool_depth)
p --json list --prefix vmr_ | jq -r '.[].name' | sort >"$work/left"
left=$(wc -l <"$work/left")
[ "$left" -eq $((handed + depth)) ] || fail "$left rooms left, expected $handed handed out + $depth pooled"
p --json pool drain --delete >"$work/drain.json" || fail "drain: $(cat "$work/drain.json")"
[ "$(jq .drained "$work/drain.json")" -eq "$depth" ] || fail "drained $(jq .drained "$work/drain.json"), pool had $depth"
p --json list --prefix vmr_ | jq -r '.[].name' | sort >"$work/after"
sort "$work/handed" | diff - "$work/after" >/dev/null ||
	fail "after draining the pool, the rooms left are not exactly the handed-out ones"
echo "orphans removed: $(jq .orphans_deleted "$work/gc.json"); handed out: $handed; pooled: $depth"
echo "1 passed, 0 failed"
