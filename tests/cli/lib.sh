# Shared by the pexctl test scripts (sourced, not run): the pexctl
# wrapper (PEXCTL_VALGRIND=1 runs every call under valgrind), the emulator
# helpers, the check helpers and a work directory removed on exit.
# The sourcing script sets PEXCTL_BIN and PEX_EMULATOR first; it may set
# cleanup_extra to a command run on exit before the emulator stops.
# shellcheck shell=bash
# shellcheck source=../emulator/emu.sh
. "$(dirname "${BASH_SOURCE[0]}")/../emulator/emu.sh"

work=$(mktemp -d /tmp/pexctl-test.XXXXXX)
fails=0 passes=0
cleanup_extra=:
cleanup() { $cleanup_extra; emu_stop >/dev/null 2>&1; rm -rf "$work"; }
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
# exactly one JSON document on stdout (pexctl(1), JSON OUTPUT)
one_doc() { local n; n=$(jq -s length "$1" 2>/dev/null); if [ "$n" = 1 ]; then ok; else bad "$2: $n JSON documents on stdout, want 1"; sed 's/^/  | /' "$1" >&2; fi; }
# a --json failure: one document {"error": {"code", "message", "exit"}} with the exit status
json_error() { # file code exit what
	one_doc "$1" "$4"
	jq_is "$1" '.error.code' "$2" "$4 (error.code)"
	jq_is "$1" '.error.exit' "$3" "$4 (error.exit)"
	jq_is "$1" '.error.message | length > 0' true "$4 (error.message)"
}
# Run CMD on a pseudo-terminal (stdout and stderr both go to it); the output in FILE.
on_tty() { local f=$1; shift; script -qec "$*" /dev/null >"$f" 2>&1; }
no_bar() { # file what: no progress bar (no carriage return, no bar)
	if grep -q $'\r' "$1" || grep -qF '[#' "$1"; then bad "$2: progress bar written to a pipe"; else ok; fi
}

mkroom() { # name [tag]
	local body
	body=$(jq -cn --arg n "$1" --arg t "${2:-}" '{name:$n, service_type:"conference", pin:"1234", guest_pin:"4321", allow_guests:true, tag:$t, aliases:[{alias:("meet." + $n + "@example.com")}]}')
	curl -fsS -u admin:admin -H 'Content-Type: application/json' -d "$body" "$EMU_URL/api/admin/configuration/v1/conference/" >/dev/null || bad "could not create $1 on the emulator"
}


# the pexip: section of the basic-auth configurations (the password from
# $PEX_TEST_PW, set by write_ok_cfg), on stdout
pexip_yaml() {
	cat <<YAML
pexip:
  url: $EMU_URL
  auth: {method: basic, username: admin, password: "env:PEX_TEST_PW"}
  retries: {max: 8, base_ms: 5, cap_ms: 100}
YAML
}

# the basic-auth configuration most checks use, in $work/ok.yaml; $cfg is "-c" it
write_ok_cfg() {
	export PEX_TEST_PW=admin
	{ pexip_yaml; echo "tag: {allowed_hosts: [svc.example.com]}"; } >"$work/ok.yaml"
	# shellcheck disable=SC2034  # used by the sourcing scripts
	cfg="-c $work/ok.yaml"
}

# jq program $2 on the JSON lines of file $1 (an array of them; not JSON: no output)
jsonl() { jq -R -s "split(\"\\n\") | map(select(length > 0) | fromjson) | $2" "$1" 2>/dev/null; }
check_jsonl() { local v; v=$(jsonl "$1" "$2"); if [ "$v" = true ]; then ok; else bad "$3: $v"; sed 's/^/  | /' "$1" >&2; fi; }
# log.format json on stderr file $1: each line one object with ts (UTC),
# level, component pexctl and msg; one type per key; no JSON in a string
json_log_lines() { # file what
	check_jsonl "$1" 'length > 2 and all(.[]; type == "object")' "$2: one object a line"
	check_jsonl "$1" 'all(.[]; (.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$")) and (.level | type) == "string" and .component == "pexctl" and (.msg | type) == "string")' "$2: ts, level, component, msg"
	check_jsonl "$1" '[.[] | to_entries[] | {key, t: (.value | type)}] | group_by(.key) | all(.[]; (map(.t) | unique | length) == 1)' "$2: one type a key"
	check_jsonl "$1" 'all(.[]; [.[] | strings | select(startswith("{") or startswith("["))] | length == 0)' "$2: no JSON inside a string"
}

# the last line of a script: the tally, and its exit status
finish() {
	echo "$passes passed, $fails failed"
	[ "$fails" -eq 0 ]
}
