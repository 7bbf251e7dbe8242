#!/bin/sh
# Self-test of the shell harness (emu.sh): usage: selftest.sh PATH/TO/emu.sh
set -u
. "$1"

fail() {
	echo "FAIL: $*" >&2
	emu_stop
	exit 1
}

emu_start --seed 5 || fail "emu_start"
[ -n "$EMU_PORT" ] && [ -n "$EMU_PID" ] || fail "EMU_PORT/EMU_PID not exported"
case "$EMU_URL" in http://127.0.0.1:*) ;; *) fail "EMU_URL=$EMU_URL" ;; esac

emu_api POST /api/admin/configuration/v1/conference/ '{"name":"sh_room","aliases":[{"alias":"sh@x"}]}' >/dev/null ||
	fail "create: $EMU_STATUS"
[ "$EMU_STATUS" = 201 ] || fail "create status $EMU_STATUS"
out=$(emu_api GET '/api/admin/configuration/v1/conference/?name=sh_room')
[ "$(printf '%s' "$out" | jq -r '.objects[0].aliases[0].alias')" = "sh@x" ] || fail "get: $out"

emu_api GET /api/admin/configuration/v1/conference/999/ >/dev/null && fail "404 expected"
[ "$EMU_STATUS" = 404 ] || fail "status $EMU_STATUS"

emu_ctl GET /api/admin/configuration/v1/conference/ >/dev/null && fail "401 expected"
[ "$EMU_STATUS" = 401 ] || fail "no-auth status $EMU_STATUS"

emu_ctl POST /_emu/faults '{"permanent_status": 503}' >/dev/null || fail "faults"
emu_api GET /api/admin/configuration/v1/conference/ >/dev/null
[ "$EMU_STATUS" = 503 ] || fail "injected status $EMU_STATUS"
emu_ctl POST /_emu/faults '{"permanent_status": 0}' >/dev/null || fail "faults off"

[ "$(emu_stat conferences)" = 1 ] || fail "conferences=$(emu_stat conferences)"
[ "$(emu_stat '.by_status["503"]')" = 1 ] || fail "by_status.503"
[ "$(emu_stat requests)" -ge 5 ] || fail "requests"

emu_ctl POST /_emu/reset >/dev/null || fail "reset"
[ "$(emu_stat conferences)" = 0 ] || fail "reset did not clear"

pid=$EMU_PID
emu_stop
[ "$EMU_EXIT" = 0 ] || fail "exit status $EMU_EXIT"
kill -0 "$pid" 2>/dev/null && fail "still running"
echo "emu.sh self-test: ok"
exit 0
