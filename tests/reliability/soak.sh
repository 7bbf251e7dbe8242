#!/usr/bin/env bash
# Soak test (by hand; not part of CI or `meson test`):
#   tests/reliability/soak.sh [MINUTES]        (default 30)
# Runs the room server over SQLite against the Pexip emulator (2 ms +/- 2 ms
# latency, 2% injected 503s) with mixed load for MINUTES:
#   - 2 clients POST /room/create; each room handed out is then, at random,
#     ended through the event sink (conference_ended, Basic auth), deleted
#     with DELETE /room/{name}, or kept;
#   - `pexctl gc` every 10 s deletes the ended rooms;
#   - room-server RSS is sampled every 30 s.
# At the end it checks the invariants (no room handed out twice; every
# ended or deleted room is gone; every kept room exists; after an orphan
# sweep the rooms left are exactly the kept + pooled ones; the server is
# healthy and exits 0 on SIGTERM; its RSS grows by at most 1 MiB or 5% after
# the first third of the run) and prints a summary. Exit 0 iff no
# invariant was violated.
# Binaries: $PEX_BUILD_ROOT (default: ./build) /cli/pexctl,
# /examples/pexip-room-server, /tests/emulator/pexip-emulator.
set -u
minutes=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${PEX_BUILD_ROOT:-$root/build}
PEXCTL=$build/cli/pexctl
SERVER=$build/examples/pexip-room-server
export PEX_EMULATOR=$build/tests/emulator/pexip-emulator
for b in "$PEXCTL" "$SERVER" "$PEX_EMULATOR"; do
	[ -x "$b" ] || { echo "soak: $b not built (set PEX_BUILD_ROOT)" >&2; exit 2; }
done
. "$root/tests/emulator/emu.sh"

work=$(mktemp -d /tmp/pex-soak.XXXXXX)
srv_pid= loads=
cleanup() {
	for p in $loads; do kill "$p" 2>/dev/null; done
	[ -n "$srv_pid" ] && kill -9 "$srv_pid" 2>/dev/null
	emu_stop >/dev/null 2>&1
	[ "${PEX_KEEP_WORK:-0}" = 1 ] && echo "soak: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
violations=0
violation() { violations=$((violations + 1)); echo "INVARIANT VIOLATED: $*" >&2; }

KEY=k-soak
EVPW=ev-soak
emu_start --seed 21 || { echo "soak: cannot start the emulator" >&2; exit 1; }
emu_ctl POST /_emu/faults '{"latency_ms": 2, "latency_jitter_ms": 2, "rate_503": 0.02}' >/dev/null
write_cfg() { # orphan_max_age_s
	cat >"$work/cfg.yaml" <<YAML
pexip:
  url: $EMU_URL
  auth: {username: admin, password: admin}
  retries: {max: 6, base_ms: 5, cap_ms: 100}
queue:
  backend: sqlite
  sqlite: {path: $work/pool.db}
pool: {depth: 20, lease_s: 10, ready_after_s: 0}
tag: {url_template: "https://svc.example.com/s/{uui}"}
gc: {delay_s: 0, orphan_max_age_s: $1}
events: {username: sink, password: $EVPW}
server: {api_keys: [$KEY]}
log: {level: warn}
YAML
	chmod 600 "$work/cfg.yaml"
}
write_cfg 86400
p() { "$PEXCTL" -q -c "$work/cfg.yaml" "$@"; }

"$SERVER" -c "$work/cfg.yaml" --listen 127.0.0.1:0 --gc-interval 0 --metrics-interval 60 \
	>"$work/srv.out" 2>"$work/srv.err" &
srv_pid=$!
addr=
for _ in $(seq 1 200); do
	addr=$(sed -n 's/^LISTENING //p' "$work/srv.out")
	[ -n "$addr" ] && break
	sleep 0.05
done
[ -n "$addr" ] || { echo "soak: the server did not start: $(tail -3 "$work/srv.err")" >&2; exit 1; }
u=http://$addr
end=$(($(date +%s) + minutes * 60))
echo "soak: $minutes min against $u (emulator $EMU_URL), work dir $work"

creator() { # N
	local name code r
	while [ "$(date +%s)" -lt "$end" ]; do
		code=$(curl -s -o "$work/c$1.body" -w '%{http_code}' -X POST -H "X-API-Key: $KEY" \
			"$u/room/create?uuiData=736f616b")
		if [ "$code" != 200 ]; then echo "$code" >>"$work/create_fail.$1"; continue; fi
		name=$(jq -r .name "$work/c$1.body")
		echo "$name" >>"$work/handed.$1"
		r=$((RANDOM % 3))
		if [ $r -eq 0 ]; then
			code=$(curl -s -o /dev/null -w '%{http_code}' -u "sink:$EVPW" -H 'Content-Type: application/json' \
				-d "{\"event\": \"conference_ended\", \"version\": 2, \"data\": {\"name\": \"$name\"}}" \
				"$u/public/event_sink")
			if [ "$code" = 200 ]; then echo "$name" >>"$work/ended.$1"; else echo "$name $code" >>"$work/event_fail.$1"; fi
		elif [ $r -eq 1 ]; then
			code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "X-API-Key: $KEY" "$u/room/$name")
			if [ "$code" = 200 ]; then echo "$name" >>"$work/deleted.$1"; else echo "$name $code" >>"$work/delete_fail.$1"; fi
		else
			echo "$name" >>"$work/kept.$1"
		fi
	done
}
gcloop() {
	while [ "$(date +%s)" -lt "$end" ]; do
		sleep 10
		if p --json gc >>"$work/gc.jsonl" 2>>"$work/gc.err"; then echo ok >>"$work/gc.runs"; else echo fail >>"$work/gc.runs"; fi
	done
}
rss() { awk '/^VmRSS/ {print $2}' "/proc/$srv_pid/status" 2>/dev/null; }
sampler() {
	while [ "$(date +%s)" -lt "$end" ]; do
		echo "$(date +%s) $(rss)" >>"$work/rss"
		sleep 30
	done
}
creator 1 & loads="$loads $!"
creator 2 & loads="$loads $!"
gcloop & loads="$loads $!"
sampler & loads="$loads $!"
for pid in $loads; do wait "$pid"; done
loads=
echo "$(date +%s) $(rss)" >>"$work/rss"

# ---- invariants ----
cat "$work"/handed.* 2>/dev/null | sort >"$work/handed"
cat "$work"/ended.* 2>/dev/null | sort >"$work/ended"
cat "$work"/deleted.* 2>/dev/null | sort >"$work/deleted"
cat "$work"/kept.* 2>/dev/null | sort >"$work/kept"
n_handed=$(wc -l <"$work/handed")
dups=$(uniq -d "$work/handed")
[ -z "$dups" ] || violation "rooms handed out twice: $(echo "$dups" | head -5 | tr '\n' ' ')"
emu_ctl POST /_emu/faults '{"rate_503": 0, "latency_ms": 0, "latency_jitter_ms": 0}' >/dev/null
p --json gc >>"$work/gc.jsonl" 2>>"$work/gc.err" || violation "the final gc failed: $(tail -1 "$work/gc.err")"
health=$(curl -s -o /dev/null -w '%{http_code}' "$u/public/health")
[ "$health" = 200 ] || violation "health is $health at the end"
p --json list --prefix vmr_ | jq -r '.[].name' | sort >"$work/left_before"
gone_bad=$(cat "$work/ended" "$work/deleted" | sort | comm -12 - "$work/left_before" | head -5)
[ -z "$gone_bad" ] || violation "ended/deleted rooms still on Pexip: $gone_bad"
kept_bad=$(comm -23 "$work/kept" "$work/left_before" | head -5)
[ -z "$kept_bad" ] || violation "kept rooms missing from Pexip: $kept_bad"
kill -TERM "$srv_pid"
wait "$srv_pid"
srv_rc=$?
srv_pid=
[ "$srv_rc" -eq 0 ] || violation "room-server exited $srv_rc on SIGTERM"
# orphans: the kept rooms are in use (live); sweep everything older than 0 s
xargs -P 4 -I{} curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
	-d '{"name": "{}"}' "$EMU_URL/_emu/conference/start" <"$work/kept" ||
	violation "could not make the kept rooms live"
sleep 11   # pool.lease_s 10: leases of interrupted pops run out
write_cfg 0
p --json gc --orphans >"$work/orphans.json" 2>>"$work/gc.err" || violation "orphan sweep failed"
depth=$(p --json pool status | jq .pool_depth)
left=$(p --json list --prefix vmr_ | jq length)
n_kept=$(wc -l <"$work/kept")
[ "$left" -eq $((n_kept + depth)) ] || violation "$left rooms left, expected $n_kept kept + $depth pooled"

# ---- summary ----
count() { cat "$@" 2>/dev/null | wc -l; }
read -r rss_first rss_last rss_max n_samples < <(awk '$2 != "" {if (!f) f = $2; l = $2; if ($2 > m) m = $2; n++} END {print f, l, m, n}' "$work/rss")
echo "---- soak summary ($minutes min) ----"
echo "operations: creates ok $n_handed, create failures $(count "$work"/create_fail.*)$(cat "$work"/create_fail.* 2>/dev/null | sort | uniq -c | awk '{printf " [%s x HTTP %s]", $1, $2}'), events ok $(count "$work/ended"), event failures $(count "$work"/event_fail.*), deletes ok $(count "$work/deleted"), delete failures $(count "$work"/delete_fail.*), gc runs $(awk '$1 == "ok"' "$work/gc.runs" 2>/dev/null | wc -l) ok / $(awk '$1 == "fail"' "$work/gc.runs" 2>/dev/null | wc -l) failed"
echo "gc deleted in total: $(jq -s 'map(.deleted) | add' "$work/gc.jsonl"); orphan sweep: $(jq -c '{orphans_found, orphans_deleted}' "$work/orphans.json")"
echo "pexip: $(emu_stat requests) requests, $(emu_stat faults_injected) faults injected; rooms left $left = kept $n_kept + pooled $depth"
# memory is flat when, after a warm-up of the first third of the run (caches,
# malloc arenas, SQLite's page cache fill), RSS grows by at most 1 MiB or 5%
read -r rss_warm < <(awk -v k="$(( (n_samples + 2) / 3 ))" '$2 != "" && ++n == k {print $2}' "$work/rss")
rss_allow=$(( rss_warm / 20 > 1024 ? rss_warm / 20 : 1024 ))
if [ $((rss_last - rss_warm)) -le "$rss_allow" ]; then flat=flat; else flat="NOT flat"; fi
echo "room-server RSS (kB): first $rss_first, after warm-up $rss_warm, last $rss_last, max $rss_max ($n_samples samples): $flat"
[ "$flat" = flat ] || violation "room-server RSS grew from $rss_warm to $rss_last kB after the warm-up (allowed $rss_allow)"
echo "invariant violations: $violations"
[ "$violations" -eq 0 ]
