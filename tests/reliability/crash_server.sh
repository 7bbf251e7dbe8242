#!/usr/bin/env bash
# Crash safety of the room server: kill -9 it at random moments while 4
# clients POST /room/create, 50 times, restarting it each time on the same
# SQLite file and emulator. After EACH kill, the accounting (account()):
#   - no room was ever handed out twice (every 200 of every run is kept);
#   - every pool-prefixed room on Pexip is exactly one of: handed out, on
#     the pool queue (visible, or leased by the dead server: read from the
#     SQLite file, since the queue API cannot see another process's
#     leases), or an orphan candidate (on no queue, not live, not
#     protected: what the orphan sweep takes once it is old enough);
#   - no handed-out room is still on the pool queue (it would be handed
#     out again), every handed-out room is on Pexip with the tag its UUI
#     asked for, every pool message names a room Pexip has (nothing
#     deletes rooms during the kills), the deletion queue is empty and no
#     room is live.
# At the end the real orphan sweep runs (handed-out rooms made live first,
# as in tests/lifecycle/crash_create.sh): it must delete exactly the orphan
# candidates of the last accounting, leaving handed out + pooled.
# Usage: crash_server.sh ROOM_SERVER PEXCTL EMULATOR [ITERATIONS]
# (ITERATIONS defaults to $PEX_CRASH_ITERATIONS, else 50). Needs curl, jq
# and the sqlite3 command-line tool.
set -u
# load tests: under meson's valgrind setup (bash itself would be wrapped) skip
[ "${PEX_UNDER_VALGRIND:-0}" = 1 ] && { echo "skipped under the valgrind setup"; exit 77; }
SERVER=$1
PEXCTL=$2
export PEX_EMULATOR=$3
iterations=${4:-${PEX_CRASH_ITERATIONS:-50}}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../emulator/emu.sh"

for tool in curl jq sqlite3; do
	command -v "$tool" >/dev/null ||
		{ echo "FAIL: $tool is needed (Debian: apt-get install $tool)" >&2; exit 1; }
done

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
pool: {depth: 20, lease_s: 5, ready_after_s: 0}
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
UUI=6372617368                          # "crash"
want_tag=$(p uui decode "$UUI") || fail "pexctl uui decode"

# The queues of the SQLite file, visible or leased: one line per message,
# "P<TAB>name<TAB>leased" for the pool, "D<TAB>name<TAB>leased" for the
# deletion queue (the pool writes the room's JSON; base64 of it, from
# files written before, is read too; a bare name is taken as is). The
# server is dead, so the file is quiet.
queue_lines() {
	sqlite3 -batch -separator ' ' "$work/pool.db" "SELECT queue, visible_at > $(($(date +%s%N) / 1000000)),
		CAST(data AS TEXT) FROM pex_queue_message WHERE queue IN ('room-creation-queue', 'room-deletion-queue')" |
		jq -Rr 'split(" ") | [(if .[0] == "room-creation-queue" then "P" else "D" end),
			((.[2] | try (fromjson | .name) catch (try (@base64d | fromjson | .name) catch null)) // .[2]),
			.[1]] | join("\t")'
}

# The accounting after a kill (see the top), in one pass: fails with what
# broke, else leaves the orphan candidates in $work/orphans and a summary
# line in $acct. Rooms on Pexip come as "X<TAB>name<TAB>tag".
account() { # WHEN
	local live out
	live=$(emu_stat live)
	[ "$live" -eq 0 ] || fail "$1: $live live rooms (nothing made any live)"
	p --json list --prefix vmr_ >"$work/list.json" || fail "$1: pexctl list: $(cat "$work/list.json")"
	{ queue_lines; jq -r '.[] | ["X", .name, (.tag // "")] | join("\t")' "$work/list.json"; } >"$work/state"
	out=$(awk -F '\t' -v want="$want_tag" -v orphans="$work/orphans" '
		FILENAME == ARGV[1] { if ($0 in H) err = err " twice:" $0; H[$0] = 1; nh++; next }
		$1 == "P" { if ($2 in P) err = err " pooled-twice:" $2; P[$2] = 1; np++; nl += $3; next }
		$1 == "D" { err = err " on-the-deletion-queue:" $2; next }
		$1 == "X" { X[$2] = 1; T[$2] = $3; nx++; next }
		END {
			for (n in H) {
				if (n in P) err = err " handed-out-and-pooled:" n
				if (!(n in X)) err = err " handed-out-not-on-Pexip:" n
				else if (T[n] != want) err = err " handed-out-with-tag[" T[n] "]:" n
			}
			for (n in P) if (!(n in X)) err = err " pooled-not-on-Pexip:" n
			printf "" >orphans
			for (n in X) if (!(n in H) && !(n in P)) { print n >orphans; no++ }
			if (err != "") { print "ERR" err; exit }
			if (nx != nh + np + no) { print "ERR " nx " rooms != " nh " + " np " + " no; exit }
			printf "%d rooms = %d handed out + %d pooled (%d leased) + %d orphan candidates\n", nx, nh, np, nl, no
		}' "$work/handed" "$work/state")
	case $out in ERR*) fail "$1: ${out#ERR }" ;; esac
	acct=$out
}

mkdir "$work/r"
# one client: create until the server stops answering
client() { # run thread
	local k=0 code
	while :; do
		k=$((k + 1))
		code=$(curl -s --max-time 10 -o "$work/r/$1.$2.$k" -w '%{http_code}' -X POST \
			-H "X-API-Key: $KEY" "http://$addr/room/create?uuiData=$UUI") || break
		[ "$code" = 000 ] && break
		echo "$code" >"$work/r/$1.$2.$k.code"
	done
}

: >"$work/handed"
killed=0 answered=0 max_orphans=0 acct=
start_all=$(date +%s)
for i in $(seq 1 "$iterations"); do
	"$SERVER" -c "$work/cfg.yaml" --listen 127.0.0.1:0 --gc-interval 0 --metrics-interval 0 \
		>"$work/srv.out" 2>>"$work/srv.err" &
	srv_pid=$!
	addr=
	for _ in $(seq 1 200); do     # up to 10 s: other tests may run beside this one
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
	# kill at a random moment: 0.1 to 0.7 s into the load, counted from
	# the first answer, so that a slow start (ASan, a busy machine) does
	# not use up the window (CI once handed out 99 rooms in 15 runs)
	for _ in $(seq 1 200); do     # up to 10 s
		compgen -G "$work/r/$i.*.code" >/dev/null && break
		sleep 0.05
	done
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
	account "after kill $i"          # no double hand-out, every room accounted for
	n=$(wc -l <"$work/orphans")
	[ "$n" -gt "$max_orphans" ] && max_orphans=$n
done
handed=$(wc -l <"$work/handed")
echo "runs $iterations, killed $killed, responses $answered, rooms handed out $handed (distinct), $(($(date +%s) - start_all)) s"
echo "accounting after every kill passed; after the last: $acct"
[ "$killed" -eq "$iterations" ] || fail "only $killed of $iterations kills landed"
[ "$handed" -gt 100 ] || fail "too few rooms handed out ($handed); the test would prove little"
grep -v '"status":' "$work/srv.err" | grep -iv 'warn' | head -5

# Let every lease held by a killed server run out (pool.lease_s = 5), and
# account once more: the orphan candidates now are what the sweep must take.
sleep 6
account "after the leases ran out"
case $acct in *"(0 leased)"*) ;; *) fail "leases still held after 6 s: $acct" ;; esac
echo "before the sweep: $acct"
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
[ "$(jq .orphans_deleted "$work/gc.json")" -eq "$(wc -l <"$work/orphans")" ] ||
	fail "the sweep deleted $(jq .orphans_deleted "$work/gc.json") orphans; the accounting had $(wc -l <"$work/orphans")"

depth=$(p --json pool status | jq .pool_depth)
p --json list --prefix vmr_ | jq -r '.[].name' | sort >"$work/left"
left=$(wc -l <"$work/left")
[ "$left" -eq $((handed + depth)) ] || fail "$left rooms left, expected $handed handed out + $depth pooled"
p --json pool drain --delete >"$work/drain.json" || fail "drain: $(cat "$work/drain.json")"
[ "$(jq .drained "$work/drain.json")" -eq "$depth" ] || fail "drained $(jq .drained "$work/drain.json"), pool had $depth"
p --json list --prefix vmr_ | jq -r '.[].name' | sort >"$work/after"
sort "$work/handed" | diff - "$work/after" >/dev/null ||
	fail "after draining the pool, the rooms left are not exactly the handed-out ones"
echo "orphans removed: $(jq .orphans_deleted "$work/gc.json") (most orphan candidates after one kill: $max_orphans); handed out: $handed; pooled: $depth"
echo "1 passed, 0 failed"
