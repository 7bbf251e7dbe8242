#!/usr/bin/env bash
# The demo: the whole room flow on the SQLite default, through the example
# room server. Starts the Pexip emulator and the room server on free loopback
# ports, fills the pool, creates a room from a UUI over HTTP, ends the
# conference through the event sink (the emulator plays Pexip's event sink),
# runs the garbage collector from the command line beside the server (as
# cron would), and shows metrics. Usage: demo.sh BUILDDIR
set -euo pipefail
cd "$(dirname "$0")/.."
b=${1:-build}
export PEX_EMULATOR=$b/tests/emulator/pexip-emulator
pexctl=$b/cli/pexctl
server=$b/examples/pexip-room-server
. tests/emulator/emu.sh

work=$(mktemp -d /tmp/pexipsdk-demo.XXXXXX)
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	emu_stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m--- %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; }
run() { show "$*"; "$@"; }

step "1. start the Pexip Management API emulator (stands in for Pexip Infinity)"
emu_start
echo "emulator on $EMU_URL (pid $EMU_PID)"

# Secrets come from the environment, never from the file.
export DEMO_PEXIP_PASSWORD=admin DEMO_API_KEY=demo-key-$RANDOM$RANDOM DEMO_SINK_PASSWORD=sink-$RANDOM
cat >"$work/pexipsdk.yaml" <<YAML
pexip:
  url: $EMU_URL
  auth: {method: basic, username: admin, password: "env:DEMO_PEXIP_PASSWORD"}
queue:
  backend: sqlite
  sqlite: {path: $work/pexipsdk.db}
pool:
  depth: 5
  name_prefix: vmr_
  ready_after_s: 3    # 60 s by default (Pexip's replication delay); short for the demo
  room: {alias_domain: video.example.com}
tag:
  url_template: "https://video.example.com/session?uui={uui}"
  allowed_hosts: [video.example.com]
gc: {delay_s: 0}
events: {username: pexip, password: "env:DEMO_SINK_PASSWORD"}
server:
  api_keys: ["env:DEMO_API_KEY"]
YAML
export PEXIPSDK_CONFIG=$work/pexipsdk.yaml
step "2. the configuration (secrets are env: references)"
cat "$PEXIPSDK_CONFIG"
run "$pexctl" config check

step "3. fill the pool: rooms are created on Pexip and queued in SQLite"
run "$pexctl" pool fill
run "$pexctl" pool status
echo "(a new room is handed out only pool.ready_after_s after its creation, plus up to a second:"
echo " Pexip needs about a minute to replicate it to the Conferencing Nodes; the demo uses 3 s)"
sleep 5

step "4. start the room server"
"$server" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.log" &
srv_pid=$!
for _ in $(seq 1 100); do grep -q LISTENING "$work/server.out" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/^LISTENING //p' "$work/server.out")
[ -n "$addr" ] || { echo "the room server did not start:"; cat "$work/server.log"; exit 1; }
url="http://$addr"
echo "room server on $url (pid $srv_pid)"
run curl -s "$url/public/health"; echo

step "5. a caller asks for a room with hex UUI data"
uui=$(printf 'case-4711' | od -An -tx1 | tr -d ' \n')
echo "UUI $uui decodes to 'case-4711'"
show "curl -s -X POST -H 'X-API-Key: ***' '$url/room/create?uuiData=$uui'"
curl -s -X POST -H "X-API-Key: $DEMO_API_KEY" "$url/room/create?uuiData=$uui" | tee "$work/room.json" | jq .
room=$(jq -r .name "$work/room.json")
echo "handed out $room; the server replaces it in the background"

step "6. bad input gets a clear error and changes nothing"
show "curl -s -X POST -H 'X-API-Key: ***' '$url/room/create?uuiData=12zz'"
curl -s -X POST -H "X-API-Key: $DEMO_API_KEY" "$url/room/create?uuiData=12zz" | jq -c .
show "curl -s -X POST '$url/room/create?uuiData=$uui'   # no key"
curl -s -X POST "$url/room/create?uuiData=$uui" | jq -c .

step "7. the conference ends: Pexip's event sink POSTs conference_ended to the server"
emu_ctl POST /_emu/events "{\"url\": \"$url/public/event_sink\", \"username\": \"pexip\", \"password\": \"$DEMO_SINK_PASSWORD\", \"names\": [\"$room\"], \"bulk\": true}" | jq -c .
run "$pexctl" pool status
echo "(pexctl counts the queue; the server holds one more room ready, taken off the queue"
echo " ahead of the next request, so its health counts the whole pool:)"
show "curl -s $url/public/health"
curl -s "$url/public/health" | jq -c .

step "8. garbage collection (cron beside the server, same SQLite file; delay 0 here, 600 s by default)"
run "$pexctl" --json gc
show "curl -s -H 'X-API-Key: ***' $url/room/$room"
curl -s -H "X-API-Key: $DEMO_API_KEY" "$url/room/$room" | jq -c .

step "9. metrics for Prometheus"
curl -s "$url/metrics" | grep -v '^#'

step "10. stop the server cleanly (SIGTERM) and clean up the pool"
kill -TERM "$srv_pid"; wait "$srv_pid" && echo "room server exited 0"; srv_pid=
echo "access log (JSON lines, no secrets):"; grep '"path"' "$work/server.log" | head -3
run "$pexctl" pool drain --delete
run "$pexctl" list
step "done"
