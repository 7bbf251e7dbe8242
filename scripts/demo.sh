#!/usr/bin/env bash
# The demo: the room flow against the Pexip emulator on the SQLite default.
# Starts the emulator on a free loopback port, fills the pool, hands out a
# room tagged from a UUI, ends the conference through an event-sink payload,
# runs the garbage collector, and shows the metrics. Usage: demo.sh BUILDDIR
set -euo pipefail
cd "$(dirname "$0")/.."
b=${1:-build}
export PEX_EMULATOR=$b/tests/emulator/pexip-emulator
pexctl=$b/cli/pexctl
. tests/emulator/emu.sh

work=$(mktemp -d /tmp/pexipsdk-demo.XXXXXX)
trap 'emu_stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
step() { printf '\n\033[1m--- %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "1. start the Pexip Management API emulator"
emu_start
echo "emulator listening on $EMU_URL (pid $EMU_PID)"

export DEMO_PEXIP_PASSWORD=admin
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
  room: {alias_domain: video.example.com}
tag:
  url_template: "https://video.example.com/session?uui={uui}"
  allowed_hosts: [video.example.com]
gc:
  delay_s: 0
YAML
export PEXIPSDK_CONFIG=$work/pexipsdk.yaml
step "2. the configuration (secrets are references, never literals)"
cat "$PEXIPSDK_CONFIG"
run "$pexctl" config check

step "3. fill the pool (rooms are created on Pexip and queued in SQLite)"
run "$pexctl" pool fill
run "$pexctl" pool status

step "4. a caller asks for a room with hex UUI data"
uui=$(printf 'case-4711' | od -An -tx1 | tr -d ' \n')
echo "UUI: $uui  (decodes to 'case-4711')"
run "$pexctl" uui decode "$uui"
echo "\$ $pexctl --json create --uui $uui --wait"
"$pexctl" --json create --uui "$uui" --wait | tee "$work/room.json"
room=$(jq -r .name "$work/room.json")
echo "handed out $room; a replacement was created, so the pool is back at depth:"
run "$pexctl" pool status

step "5. bad input changes nothing"
set +e
"$pexctl" create --uui 'zz'; echo "exit status: $? (2 = bad input)"
set -e

step "6. the conference ends: Pexip's event sink POSTs conference_ended"
cat >"$work/event.json" <<JSON
{"node": "10.0.0.1", "seq": 1, "version": 2, "time": $(date +%s), "event": "conference_ended",
 "data": {"name": "$room", "service_type": "conference", "tag": "", "is_started": true,
          "is_locked": false, "guests_muted": false, "start_time": $(date +%s), "end_time": $(date +%s)}}
JSON
run "$pexctl" event "$work/event.json"

step "7. garbage collection deletes rooms whose delay has passed (delay 0 here; 600 s by default)"
run "$pexctl" --json gc
run "$pexctl" get "$room" || echo "(exit status 3: $room is gone)"

step "8. metrics for Prometheus"
run "$pexctl" metrics

step "9. cleanup: drain the pool and delete its rooms"
run "$pexctl" pool drain --delete
run "$pexctl" list
step "done"
