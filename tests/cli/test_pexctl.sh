#!/usr/bin/env bash
# pexctl end to end against the Pexip emulator: output shapes, exit codes,
# retries under faults, TLS, secrets kept out of output.
# Usage: test_pexctl.sh PEXCTL EMULATOR
# Set PEXCTL_VALGRIND=1 to run every pexctl call under valgrind.
set -u
PEXCTL_BIN=$1
export PEX_EMULATOR=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../emulator/emu.sh
. "$here/../emulator/emu.sh"

work=$(mktemp -d /tmp/pexctl-test.XXXXXX)
fails=0 passes=0
cleanup() { emu_stop >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT

pexctl() {
	if [ "${PEXCTL_VALGRIND:-0}" = 1 ]; then
		valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
			--error-exitcode=99 "$PEXCTL_BIN" "$@"
	else
		"$PEXCTL_BIN" "$@"
	fi
}

ok() { passes=$((passes + 1)); }
bad() { fails=$((fails + 1)); echo "FAIL: $*" >&2; }
# expect CODE DESCRIPTION -- command...
expect() {
	local want=$1 what=$2; shift 3
	"$@" >"$work/out" 2>"$work/err"
	local got=$?
	if [ "$got" = "$want" ]; then ok; else
		bad "$what: exit $got, want $want"; sed 's/^/  stdout: /' "$work/out" >&2; sed 's/^/  stderr: /' "$work/err" >&2
	fi
}
contains() { if grep -qF -- "$2" "$1"; then ok; else bad "$3: '$2' not in $(basename "$1")"; sed 's/^/  | /' "$1" >&2; fi; }
lacks() { if grep -qF -- "$2" "$1"; then bad "$3: '$2' found in $(basename "$1")"; else ok; fi; }
jq_is() { local v; v=$(jq -r "$2" "$1" 2>/dev/null); if [ "$v" = "$3" ]; then ok; else bad "$4: jq '$2' = '$v', want '$3'"; fi; }

mkroom() { # name [tag]
	local body
	body=$(jq -cn --arg n "$1" --arg t "${2:-}" '{name:$n, service_type:"conference", pin:"1234", guest_pin:"4321", allow_guests:true, tag:$t, aliases:[{alias:("meet." + $n + "@example.com")}]}')
	curl -fsS -u admin:admin -H 'Content-Type: application/json' -d "$body" "$EMU_URL/api/admin/configuration/v1/conference/" >/dev/null || bad "could not create $1 on the emulator"
}

emu_start || { echo "cannot start the emulator" >&2; exit 1; }
export PEX_TEST_PW=admin
cat >"$work/ok.yaml" <<YAML
pexip:
  url: $EMU_URL
  auth: {method: basic, username: admin, password: "env:PEX_TEST_PW"}
  retries: {max: 8, base_ms: 5, cap_ms: 100}
YAML
cfg="-c $work/ok.yaml"

# --- version, usage
expect 0 "version" -- pexctl version
contains "$work/out" "libpexipsdk" "version text"
expect 0 "version --json" -- pexctl --json version
jq_is "$work/out" '.library | length > 0' true "version json"
expect 2 "no command" -- pexctl
expect 2 "unknown command" -- pexctl $cfg frobnicate
contains "$work/err" "unknown command 'frobnicate'" "unknown command message"
expect 2 "unknown option" -- pexctl --bogus version
expect 2 "get without a name" -- pexctl $cfg get
expect 2 "update without a change" -- pexctl $cfg update x
expect 2 "delete --prefix without --yes" -- pexctl $cfg delete --prefix vmr_
expect 2 "unknown command, json" -- pexctl --json $cfg frobnicate
jq_is "$work/out" '.error.exit' 2 "usage error json document"

# --- config
expect 0 "config check" -- pexctl $cfg config check
contains "$work/out" "ok" "config check output"
printf 'pexip:\n  url: %s\n  tiemout_ms: 5\n' "$EMU_URL" >"$work/typo.yaml"
expect 5 "config with unknown key" -- pexctl -c "$work/typo.yaml" config check
contains "$work/err" "tiemout_ms" "unknown key named"
contains "$work/err" ":3" "unknown key line"
expect 5 "missing config file" -- pexctl -c "$work/nope.yaml" list

# --- list / get / update / delete
for i in $(seq -w 1 45); do mkroom "vmr_$i" "tag$i"; done
mkroom "test_keep"
expect 0 "list" -- pexctl $cfg list
contains "$work/out" "vmr_45" "list text"
expect 0 "list --json" -- pexctl --json $cfg list
jq_is "$work/out" 'length' 46 "list json count (pagination)"
expect 0 "list --prefix --json" -- pexctl --json $cfg list --prefix vmr_
jq_is "$work/out" 'length' 45 "list by prefix"
jq_is "$work/out" '[.[].name] | unique | length' 45 "list has no duplicates"
expect 0 "list --tag" -- pexctl --json $cfg list --tag tag07
jq_is "$work/out" '.[0].name' vmr_07 "list by tag"
expect 0 "get --json" -- pexctl --json $cfg get vmr_01
jq_is "$work/out" '.name' vmr_01 "get name"
jq_is "$work/out" '.alias' "meet.vmr_01@example.com" "get alias"
jq_is "$work/out" '.guest_pin' 4321 "get guest_pin"
jq_is "$work/out" '.tag' tag01 "get tag"
jq_is "$work/out" '.id > 0' true "get id"
expect 3 "get missing" -- pexctl $cfg get no_such_room
contains "$work/err" "no_such_room" "not-found message names the room"
expect 3 "get missing, json" -- pexctl --json $cfg get no_such_room
jq_is "$work/out" '.error.code' PEX_ENOTFOUND "not-found json"
expect 0 "update --tag" -- pexctl --json $cfg update vmr_02 --tag "https://svc.example.com/a?b=c"
jq_is "$work/out" '.tag' "https://svc.example.com/a?b=c" "updated tag returned"
expect 0 "get after update" -- pexctl --json $cfg get vmr_02
jq_is "$work/out" '.tag' "https://svc.example.com/a?b=c" "updated tag stored"
expect 3 "update missing" -- pexctl $cfg update no_such_room --tag x
expect 0 "delete two, one gone" -- pexctl --json $cfg delete vmr_03 no_such_room
jq_is "$work/out" '.deleted[0]' vmr_03 "delete json deleted"
jq_is "$work/out" '.already_gone[0]' no_such_room "delete json already_gone"
expect 0 "delete again" -- pexctl $cfg delete vmr_03
contains "$work/out" "already gone" "delete again text"
expect 0 "delete --prefix" -- pexctl --json $cfg delete --prefix vmr_4 --yes
jq_is "$work/out" '.deleted | length' 6 "delete by prefix count"
expect 0 "list after deletes" -- pexctl --json $cfg list
jq_is "$work/out" 'length' 39 "rooms left"

# --- the room flow: pool fill|status|drain, create, event, gc, uui, metrics
cat >"$work/pool.yaml" <<YAML
pexip:
  url: $EMU_URL
  auth: {method: basic, username: admin, password: "env:PEX_TEST_PW"}
  retries: {max: 8, base_ms: 5, cap_ms: 100}
queue:
  backend: sqlite
  sqlite: {path: $work/pool.db}
pool: {depth: 3, name_prefix: pool_}
tag: {url_template: "https://svc.example.com/s/{uui}", allowed_hosts: [svc.example.com]}
gc: {delay_s: 0}
YAML
pc="-c $work/pool.yaml"
expect 0 "uui decode" -- pexctl $pc uui decode 6869
contains "$work/out" "https://svc.example.com/s/hi" "uui decode output"
expect 2 "uui decode odd" -- pexctl $pc uui decode 686
contains "$work/err" "odd" "odd-length UUI explained"
expect 4 "create from an empty pool" -- pexctl $pc create --uui 6869
contains "$work/err" "empty" "pool empty explained"
expect 0 "pool fill" -- pexctl --json $pc pool fill
jq_is "$work/out" '.created' 3 "pool fill created"
if grep -q $'\r' "$work/err"; then bad "progress bar written to a pipe"; else ok; fi
expect 0 "pool fill again (already full)" -- pexctl --json $pc pool fill
jq_is "$work/out" '.created' 0 "pool fill is idempotent"
expect 0 "pool status" -- pexctl --json $pc pool status
jq_is "$work/out" '.pool_depth' 3 "pool depth"
expect 2 "create with a bad UUI" -- pexctl $pc create --uui 6g
contains "$work/err" "offset 1" "bad UUI offset"
expect 0 "pool untouched by bad input" -- pexctl --json $pc pool status
jq_is "$work/out" '.pool_depth' 3 "pool depth after bad input"
expect 0 "create" -- pexctl --json $pc create --uui 6869 --wait
jq_is "$work/out" '.tag' "https://svc.example.com/s/hi" "create tag"
jq_is "$work/out" '.guest_pin | length' 6 "create guest pin"
jq_is "$work/out" '.id > 0' true "create id"
room=$(jq -r .name "$work/out")
expect 0 "create --tag-url" -- pexctl --json $pc create --tag-url "https://svc.example.com/x/1" --wait
jq_is "$work/out" '.tag' "https://svc.example.com/x/1" "create --tag-url"
expect 2 "create --tag-url to a foreign host" -- pexctl $pc create --tag-url "https://evil.example.com/x"
expect 0 "pool back at depth" -- pexctl --json $pc pool status
jq_is "$work/out" '.pool_depth' 3 "replenished"
printf '{"node":"1.2.3.4","seq":1,"version":2,"time":1.5,"event":"conference_ended","data":{"name":"%s"}}' "$room" >"$work/ev.json"
expect 0 "event" -- pexctl --json $pc event "$work/ev.json"
jq_is "$work/out" '.scheduled' 1 "event scheduled"
expect 2 "malformed event" -- pexctl $pc event - <<<'{"event": "conference_ended", "data": {}}'
contains "$work/err" "data.name" "malformed event explained"
expect 0 "gc --dry-run" -- pexctl --json $pc gc --dry-run
jq_is "$work/out" '.deleted' 1 "dry run would delete"
expect 0 "room still there after dry run" -- pexctl $pc get "$room"
expect 0 "gc" -- pexctl --json $pc gc
jq_is "$work/out" '.deleted' 1 "gc deleted"
jq_is "$work/out" '[.postponed_live, .skipped_protected, .already_gone, .failed] | add' 0 "gc other counts"
expect 3 "room gone after gc" -- pexctl $pc get "$room"
expect 0 "gc again is a no-op" -- pexctl --json $pc gc
jq_is "$work/out" '.deleted' 0 "gc rerun"
expect 2 "gc bad --max" -- pexctl $pc gc --max lots
expect 0 "metrics" -- pexctl $pc metrics
contains "$work/out" "pexipsdk_pool_depth 3" "prometheus metrics"
expect 0 "metrics json" -- pexctl $pc metrics --format json
jq_is "$work/out" '.pool_depth' 3 "json metrics"
# a progress bar appears on a terminal only
script -qec "$PEXCTL_BIN $pc pool drain" /dev/null >"$work/tty" 2>&1
contains "$work/tty" "drained 3" "drain on a tty"
contains "$work/tty" "[####" "progress bar on a tty"
expect 0 "pool status after drain" -- pexctl --json $pc pool status
jq_is "$work/out" '.pool_depth' 0 "drained"

# --- faults: 30% 503 on every request; every command still succeeds
emu_ctl POST /_emu/faults '{"rate_503": 0.3}' >/dev/null
for i in 1 2 3 4 5; do
	expect 0 "get under 30% 503 ($i)" -- pexctl $cfg get vmr_1$i
	expect 0 "update under 30% 503 ($i)" -- pexctl $cfg update vmr_1$i --tag "t$i"
	expect 0 "list under 30% 503 ($i)" -- pexctl --json $cfg list --prefix vmr_1
	expect 0 "delete under 30% 503 ($i)" -- pexctl $cfg delete vmr_2$i
done
[ "$(emu_stat faults_injected)" -gt 0 ] && ok || bad "no faults were injected"
emu_ctl POST /_emu/faults '{"rate_503": 0}' >/dev/null

# --- a permanent 500: exit 1 with the server's message
emu_ctl POST /_emu/faults '{"permanent_status": 500}' >/dev/null
expect 1 "permanent 500" -- pexctl $cfg get vmr_01
contains "$work/err" "injected failure 500" "server message shown"
emu_ctl POST /_emu/faults '{"permanent_status": 0}' >/dev/null

# --- wrong password: exit 5, the password never printed
export PEX_TEST_WRONG='Sup3r-S3cret-Pa55'
sed 's/env:PEX_TEST_PW/env:PEX_TEST_WRONG/' "$work/ok.yaml" >"$work/wrong.yaml"
expect 5 "wrong password" -- pexctl -c "$work/wrong.yaml" -v list
lacks "$work/err" "$PEX_TEST_WRONG" "password on stderr"
lacks "$work/out" "$PEX_TEST_WRONG" "password on stdout"
expect 5 "wrong password, json" -- pexctl --json -c "$work/wrong.yaml" -v config check
lacks "$work/out" "$PEX_TEST_WRONG" "password in json"
lacks "$work/err" "$PEX_TEST_WRONG" "password in json stderr"
lacks "$work/err" "$(printf 'admin:%s' "$PEX_TEST_WRONG" | base64)" "basic header in logs"
emu_stop

# --- TLS: a self-signed emulator is refused unless ca_file names its certificate
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
	-out "$work/cert.pem" -days 2 -subj /CN=localhost \
	-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1 || bad "openssl req"
emu_start --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" || bad "TLS emulator did not start"
cat >"$work/tls.yaml" <<YAML
pexip:
  url: https://127.0.0.1:$EMU_PORT
  auth: {username: admin, password: admin}
  retries: {max: 1, base_ms: 5}
YAML
expect 5 "self-signed refused" -- pexctl -c "$work/tls.yaml" config check
contains "$work/err" "TLS" "TLS failure explained"
printf '  tls: {ca_file: %s}\n' "$work/cert.pem" >>"$work/tls.yaml"
expect 0 "self-signed trusted with ca_file" -- pexctl -c "$work/tls.yaml" config check
emu_stop

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
