#!/usr/bin/env bash
# The demo: start the Pexip emulator on a free loopback port, point pexctl at
# it, and show rooms being listed, updated and deleted. Usage: demo.sh BUILDDIR
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

step "starting the Pexip Management API emulator"
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
YAML
export PEXIPSDK_CONFIG=$work/pexipsdk.yaml
step "configuration ($PEXIPSDK_CONFIG; the password is a reference, never a literal)"
cat "$PEXIPSDK_CONFIG"

step "checking the configuration and the connection"
run "$pexctl" config check

step "provisioning three rooms on the emulator"
for n in vmr_demo1 vmr_demo2 test_keep; do
	curl -fsS -u admin:admin -H 'Content-Type: application/json' \
		-d "{\"name\":\"$n\",\"service_type\":\"conference\",\"allow_guests\":true,\"guest_pin\":\"246810\",\"aliases\":[{\"alias\":\"meet.$n@example.com\"}]}" \
		"$EMU_URL/api/admin/configuration/v1/conference/"
	echo "created $n"
done

step "listing rooms"
run "$pexctl" list
step "tagging one room with a service URL"
run "$pexctl" update vmr_demo1 --tag "https://video.example.com/session/42"
step "the same room as JSON (what scripts read)"
run "$pexctl" --json get vmr_demo1
step "deleting rooms by prefix, then one that is already gone"
run "$pexctl" delete --prefix vmr_demo --yes
run "$pexctl" delete vmr_demo1
step "what is left"
run "$pexctl" list
step "a missing room exits 3"
set +e
"$pexctl" get vmr_demo1; echo "exit status: $?"
set -e
step "done"
