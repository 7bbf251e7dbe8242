#!/usr/bin/env bash
# pexctl end to end against the Pexip emulator: usage, configuration, the
# conference commands (list, get, update, delete), exit codes, retries under
# faults, TLS, secrets kept out of output. The room flow (pool, create,
# event, gc, uui, metrics) is in test_pexctl_flow.sh.
# Usage: test_pexctl.sh PEXCTL EMULATOR
# Set PEXCTL_VALGRIND=1 to run every pexctl call under valgrind.
set -u
PEXCTL_BIN=$1
export PEX_EMULATOR=$2
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

emu_start || { echo "cannot start the emulator" >&2; exit 1; }
write_ok_cfg

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
json_error "$work/out" PEX_EINVAL 2 "unknown command, json"
expect 2 "no command, json" -- pexctl --json
json_error "$work/out" PEX_EINVAL 2 "no command, json"
expect 2 "unknown option, json" -- pexctl --json --bogus version
json_error "$work/out" PEX_EINVAL 2 "unknown option, json"
expect 0 "help" -- pexctl help
contains "$work/out" "uui decode HEX" "help text"
expect 0 "help --json" -- pexctl --json help
one_doc "$work/out" "help --json"
jq_is "$work/out" '[.commands[].name] | index("metrics") != null' true "help json lists commands"
jq_is "$work/out" '.commands | length' 13 "help json: every command"
expect 0 "help gc --json" -- pexctl --json help gc
jq_is "$work/out" '.usage' "gc [--dry-run] [--min-age S] [--orphans] [--max N]" "help json of one command"
expect 2 "help for an unknown command" -- pexctl --json help frobnicate
json_error "$work/out" PEX_EINVAL 2 "help for an unknown command"
expect 0 "--help --json (json after)" -- pexctl --help --json
one_doc "$work/out" "--help --json"
expect 0 "--version --json (json after)" -- pexctl --version --json
jq_is "$work/out" '.pexctl | length > 0' true "--version --json"
expect 0 "--version" -- pexctl --version
contains "$work/out" "libpexipsdk" "--version text"

# --- config
expect 0 "config check" -- pexctl $cfg config check
contains "$work/out" "ok" "config check output"
printf 'pexip:\n  url: %s\n  tiemout_ms: 5\n' "$EMU_URL" >"$work/typo.yaml"
expect 5 "config with unknown key" -- pexctl -c "$work/typo.yaml" config check
contains "$work/err" "tiemout_ms" "unknown key named"
contains "$work/err" ":3" "unknown key line"
expect 5 "missing config file" -- pexctl -c "$work/nope.yaml" list

# --- who may have written the configuration (pexipsdk.yaml(5) FILES):
# owned by us or root, not writable by group or others, nor its directory
# (a sticky one excepted); for ./pexipsdk.yaml, -c and $PEXIPSDK_CONFIG alike
in_dir() { local d=$1; shift; (cd "$d" && unset PEXIPSDK_CONFIG && "$@"); }
printf 'operator-secret\n' >"$work/op-secret"
chmod 600 "$work/op-secret"
planted() { # a config that would send our secret to its own pexip.url
	printf 'pexip:\n  url: %s\n  auth: {username: admin, password: "file:%s"}\n' \
		"$EMU_URL" "$work/op-secret"
}
mkdir -m 1777 "$work/tmpdir"      # like /tmp: world-writable and sticky
mkdir -m 0777 "$work/shared"      # world-writable, not sticky
if chown nobody "$work/tmpdir" 2>/dev/null && chown root "$work/tmpdir"; then
	planted >"$work/tmpdir/pexipsdk.yaml"
	chown nobody "$work/tmpdir/pexipsdk.yaml"
	expect 5 "a planted ./pexipsdk.yaml (another user's) is refused" -- in_dir "$work/tmpdir" pexctl config check
	contains "$work/err" "refusing configuration pexipsdk.yaml: the file is owned by uid $(id -u nobody), not by you" "planted file: why"
	lacks "$work/out" "ok" "planted file: not used"
	expect 5 "another user's file by \$PEXIPSDK_CONFIG" -- env PEXIPSDK_CONFIG="$work/tmpdir/pexipsdk.yaml" "$PEXCTL_BIN" config check
	contains "$work/err" "is owned by uid" "env: why"
	expect 5 "another user's file by -c, json" -- pexctl --json -c "$work/tmpdir/pexipsdk.yaml" config check
	json_error "$work/out" PEX_ECONFIG 5 "another user's file by -c, json"
	lacks "$work/out" "operator-secret" "refusal shows no secret"
	rm -f "$work/tmpdir/pexipsdk.yaml"
else
	echo "SKIP: not root, cannot chown nobody" >&2
fi
# our own file in a sticky world-writable directory is fine
{ pexip_yaml; } >"$work/tmpdir/pexipsdk.yaml"
expect 0 "own file in a sticky directory" -- in_dir "$work/tmpdir" pexctl config check
# our own file in a world-writable directory that is not sticky: anyone can replace it
{ pexip_yaml; } >"$work/shared/pexipsdk.yaml"
expect 5 "./pexipsdk.yaml in a world-writable directory" -- in_dir "$work/shared" pexctl config check
contains "$work/err" "refusing configuration pexipsdk.yaml: its directory . is writable by group and others (mode 0777)" "world-writable directory: why"
expect 5 "-c into a world-writable directory" -- pexctl -c "$work/shared/pexipsdk.yaml" config check
contains "$work/err" "its directory $work/shared is writable by group and others" "-c world-writable directory: why"
chmod 755 "$work/shared"
expect 0 "directory fixed" -- in_dir "$work/shared" pexctl config check
# group-writable (and world-writable) files, however they are named
{ pexip_yaml; } >"$work/gw.yaml"
chmod 664 "$work/gw.yaml"
expect 5 "group-writable file" -- pexctl -c "$work/gw.yaml" config check
contains "$work/err" "refusing configuration $work/gw.yaml: the file is writable by group (mode 0664); chmod go-w it" "group-writable: why"
chmod 646 "$work/gw.yaml"
expect 5 "world-writable file" -- env PEXIPSDK_CONFIG="$work/gw.yaml" "$PEXCTL_BIN" config check
contains "$work/err" "writable by others (mode 0646)" "world-writable: why"
chmod 644 "$work/gw.yaml"
expect 0 "file fixed" -- pexctl -c "$work/gw.yaml" config check

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
expect 3 "update missing" -- pexctl $cfg update no_such_room --tag "https://svc.example.com/x"
# --tag follows the rules of --tag-url, checked before anything is sent
expect 2 "update --tag not a URL" -- pexctl $cfg update vmr_02 --tag x
contains "$work/err" "tag URL is not an absolute https URL" "update --tag not a URL explained"
contains "$work/err" "offset 1" "update --tag offset"
expect 2 "update --tag http" -- pexctl --json $cfg update vmr_02 --tag "http://svc.example.com/a"
json_error "$work/out" PEX_EINVAL 2 "update --tag http"
jq_is "$work/out" '.error.message' "update: --tag: tag URL scheme 'http' is not allowed, only https (offset 0)" "update --tag http message"
expect 2 "update --tag foreign host" -- pexctl $cfg update vmr_02 --tag "https://evil.example.com/a"
contains "$work/err" "tag URL host 'evil.example.com' is not in tag.allowed_hosts (offset 8)" "foreign host explained"
expect 2 "update --tag too long" -- pexctl $cfg update vmr_02 --tag "https://svc.example.com/$(printf 'x%.0s' $(seq 1 230))"
contains "$work/err" "offset 250 is the first that does not fit" "long tag offset"
expect 2 "update --tag with a space" -- pexctl $cfg update no_such_room --tag "https://svc.example.com/a b"
contains "$work/err" "character ' ' at offset 25" "bad tag refused before the lookup"
expect 0 "get after refused updates" -- pexctl --json $cfg get vmr_02
jq_is "$work/out" '.tag' "https://svc.example.com/a?b=c" "refused updates changed nothing"
expect 0 "update --tag '' clears the tag" -- pexctl --json $cfg update vmr_02 --tag ""
jq_is "$work/out" '.tag' "" "tag cleared"
expect 0 "update --description only" -- pexctl --json $cfg update vmr_02 --description "just text"
jq_is "$work/out" '.description' "just text" "description updated"
expect 0 "delete two, one gone" -- pexctl --json $cfg delete vmr_03 no_such_room
jq_is "$work/out" '.deleted[0]' vmr_03 "delete json deleted"
jq_is "$work/out" '.already_gone[0]' no_such_room "delete json already_gone"
expect 0 "delete again" -- pexctl $cfg delete vmr_03
contains "$work/out" "already gone" "delete again text"
expect 0 "delete --prefix" -- pexctl --json $cfg delete --prefix vmr_4 --yes
jq_is "$work/out" '.deleted | length' 6 "delete by prefix count"
expect 0 "list after deletes" -- pexctl --json $cfg list
jq_is "$work/out" 'length' 39 "rooms left"

# --- faults: 30% 503 on every request; every command still succeeds
emu_ctl POST /_emu/faults '{"rate_503": 0.3}' >/dev/null
for i in 1 2 3 4 5; do
	expect 0 "get under 30% 503 ($i)" -- pexctl $cfg get vmr_1$i
	expect 0 "update under 30% 503 ($i)" -- pexctl $cfg update vmr_1$i --tag "https://svc.example.com/t$i"
	expect 0 "list under 30% 503 ($i)" -- pexctl --json $cfg list --prefix vmr_1
	expect 0 "delete under 30% 503 ($i)" -- pexctl $cfg delete vmr_2$i
done
[ "$(emu_stat faults_injected)" -gt 0 ] && ok || bad "no faults were injected"
emu_ctl POST /_emu/faults '{"rate_503": 0}' >/dev/null

# --- log.format json: each stderr line is one JSON object with ts (UTC),
# level, component and msg, a key keeps its type on every line, and the
# Pexip request lines carry their fields (a retried one its error)
{ pexip_yaml; echo "log: {format: json}"; } >"$work/jsonlog.yaml"
emu_ctl POST /_emu/faults '{"fail_next": 1, "fail_next_status": 503}' >/dev/null
expect 0 "get with json log lines" -- pexctl -c "$work/jsonlog.yaml" -v get vmr_01
json_log_lines "$work/err" "json log"
check_jsonl "$work/err" 'any(.[]; .msg == "pexip request" and .method == "GET" and (.path | startswith("/api/")) and .status == 200 and (.duration_ms | type) == "number" and .attempt == 2)' "json log: a Pexip request line"
check_jsonl "$work/err" 'any(.[]; .level == "info" and (.error | type) == "string" and .attempt == 1)' "json log: the retry line"
# text: a timestamp first, the fields appended as key=value
expect 0 "get with text log lines" -- pexctl $cfg -v get vmr_01
if grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z pexctl: debug: pexip request method=GET path="/api/[^"]+" attempt=1 duration_ms=[0-9]+ status=200$' "$work/err"; then ok; else bad "text log line"; sed 's/^/  | /' "$work/err" >&2; fi

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

finish
