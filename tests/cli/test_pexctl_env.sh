#!/usr/bin/env bash
# The environment as configuration (pexipsdk.yaml(5) ENVIRONMENT, pexctl(1),
# pexip-room-server(8)): PEXIPSDK_<SECTION>_<KEY> for every key, flag >
# environment > file > default, no file needed when the environment sets
# every required key, bad and unknown variables named, `pexctl config show`
# with each value's source and secrets redacted; the room server started
# from the environment alone.
# Usage: test_pexctl_env.sh PEXCTL EMULATOR [ROOM_SERVER]
# Set PEXCTL_VALGRIND=1 to run every pexctl call under valgrind.
set -u
PEXCTL_BIN=$1
export PEX_EMULATOR=$2
SERVER_BIN=${3:-}
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

emu_start || { echo "cannot start the emulator" >&2; exit 1; }
export PEX_TEST_PW=admin
unset PEXIPSDK_CONFIG
for v in $(env | sed -n 's/^\(PEXIPSDK_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done

# a directory without ./pexipsdk.yaml: the default search finds no file
# (unless /etc/pexipsdk/config.yaml exists: then those checks are skipped)
mkdir -m 700 "$work/empty"
no_system_file=1
[ -e /etc/pexipsdk/config.yaml ] && no_system_file=0
# run in the empty directory with the variables given
in_empty() { (cd "$work/empty" && env "$@"); }
pexctl_env() { # VAR=VALUE... -- pexctl args
	local vars=()
	while [ "$1" != "--" ]; do vars+=("$1"); shift; done
	shift
	if [ "${PEXCTL_VALGRIND:-0}" = 1 ]; then
		in_empty "${vars[@]}" valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
			--error-exitcode=99 "$PEXCTL_BIN" "$@"
	else
		in_empty "${vars[@]}" "$PEXCTL_BIN" "$@"
	fi
}
ENV_OK=(PEXIPSDK_PEXIP_URL="$EMU_URL" PEXIPSDK_PEXIP_AUTH_USERNAME=admin
	PEXIPSDK_PEXIP_AUTH_PASSWORD=env:PEX_TEST_PW PEXIPSDK_PEXIP_RETRIES_BASE_MS=5
	PEXIPSDK_QUEUE_SQLITE_PATH=env.db)

# --- no file: the environment alone
if [ "$no_system_file" = 1 ]; then
	expect 0 "config check from the environment alone" -- pexctl_env "${ENV_OK[@]}" -- config check
	contains "$work/out" "config   ok: <environment>" "origin is the environment"
	contains "$work/out" "pexip    ok: $EMU_URL" "reached Pexip with the environment's credentials"
	expect 0 "list from the environment alone" -- pexctl_env "${ENV_OK[@]}" -- --json list
	one_doc "$work/out" "list from the environment alone"

	# a required key missing: the key and its variable named
	expect 5 "no file, no pexip.url" -- pexctl_env PEXIPSDK_POOL_DEPTH=3 -- config check
	contains "$work/err" "pexip.url" "missing key named"
	contains "$work/err" "\$PEXIPSDK_PEXIP_URL" "missing key's variable named"
	expect 5 "no file, no pexip.url, json" -- pexctl_env PEXIPSDK_POOL_DEPTH=3 -- --json config check
	json_error "$work/out" PEX_ECONFIG 5 "no file, no pexip.url, json"

	# config show without a file: defaults and environment
	expect 0 "config show without a file" -- pexctl_env PEXIPSDK_POOL_DEPTH=3 -- config show
	contains "$work/out" "pool.depth = 3  # env:PEXIPSDK_POOL_DEPTH" "show: env source"
	contains "$work/out" "pexip.url = null  # default" "show: unset required key"
	# relative paths from the environment: the working directory
	expect 0 "config show -v, relative path" -- pexctl_env "${ENV_OK[@]}" -- -v config show
	contains "$work/err" "queue.sqlite.path: $work/empty/env.db" "relative path from the working directory"
	contains "$work/out" "queue.sqlite.path = \"$work/empty/env.db\"  # env:PEXIPSDK_QUEUE_SQLITE_PATH" \
		"show: absolute path"
fi

# --- precedence: flag > environment > file > default
# pexip_yaml: lines 1-4, the password at line 3
{ pexip_yaml; printf 'pool:\n  depth: 10\nlog:\n  level: warn\n'; } >"$work/base.yaml"
chmod 600 "$work/base.yaml"
expect 0 "show: file" -- pexctl_env -- -c "$work/base.yaml" config show
contains "$work/out" "pool.depth = 10  # file:$work/base.yaml:6" "show: file source with its line"
contains "$work/out" "log.level = \"warn\"  # file:$work/base.yaml:8" "show: file log.level"
contains "$work/out" "pool.lease_s = 60  # default" "show: default"
contains "$work/out" "pexip.auth.password = \"<redacted>\" (env: reference)  # file:$work/base.yaml:3" \
	"show: file secret redacted, with its kind"
expect 0 "show: environment over file" -- pexctl_env PEXIPSDK_POOL_DEPTH=40 PEXIPSDK_LOG_LEVEL=info -- \
	-c "$work/base.yaml" config show
contains "$work/out" "pool.depth = 40  # env:PEXIPSDK_POOL_DEPTH" "show: environment wins over the file"
contains "$work/out" "log.level = \"info\"  # env:PEXIPSDK_LOG_LEVEL" "show: env log.level"
expect 0 "show: flag over environment" -- pexctl_env PEXIPSDK_LOG_LEVEL=info -- -v -c "$work/base.yaml" config show
contains "$work/out" "log.level = \"debug\"  # flag:--verbose" "show: the flag wins over the environment"
expect 0 "show --json" -- pexctl_env PEXIPSDK_POOL_DEPTH=40 -- --json -c "$work/base.yaml" config show
one_doc "$work/out" "show --json"
jq_is "$work/out" '.origin' "$work/base.yaml" "show --json: origin"
jq_is "$work/out" '.keys[] | select(.key == "pool.depth") | .value' 40 "show --json: value"
jq_is "$work/out" '.keys[] | select(.key == "pool.depth") | .source' env:PEXIPSDK_POOL_DEPTH "show --json: source"
jq_is "$work/out" '.keys[] | select(.key == "pool.room.service_type") | .variable' \
	PEXIPSDK_POOL_ROOM_SERVICE_TYPE "show --json: variable of a nested key"
jq_is "$work/out" '.keys[] | select(.key == "pexip.auth.password") | [.value, .reference, .secret] | join(",")' \
	"<redacted>,env,true" "show --json: secret"
jq_is "$work/out" '[.keys[].key] | length' "$(grep -c ' # ' <(pexctl_env -- -c "$work/base.yaml" config show))" \
	"show --json and text: every key"
# a file without pexip.url: the environment supplies it
printf 'pool:\n  depth: 10\n' >"$work/nourl.yaml"
chmod 600 "$work/nourl.yaml"
expect 5 "file without pexip.url" -- pexctl_env -- -c "$work/nourl.yaml" config check
contains "$work/err" "missing required key 'pexip.url'" "file without pexip.url: key"
contains "$work/err" "\$PEXIPSDK_PEXIP_URL" "file without pexip.url: variable"
expect 0 "file without pexip.url, url from the environment" -- pexctl_env "${ENV_OK[@]}" -- \
	-c "$work/nourl.yaml" config check

# --- bad values and typos: named, nothing done
expect 5 "bad value" -- pexctl_env "${ENV_OK[@]}" PEXIPSDK_POOL_DEPTH=many -- -c "$work/base.yaml" list
contains "$work/err" "\$PEXIPSDK_POOL_DEPTH: pool.depth: expected an integer from 0 to 100000, got \"many\"" \
	"bad value: the variable named"
lacks "$work/err" "base.yaml" "bad value: not blamed on the file"
expect 5 "bad value, json" -- pexctl_env PEXIPSDK_POOL_DEPTH=many -- --json -c "$work/base.yaml" config show
json_error "$work/out" PEX_ECONFIG 5 "bad value, json"
expect 0 "typo: a warning with a did-you-mean" -- pexctl_env PEXIPSDK_POOL_DEPHT=3 -- -c "$work/base.yaml" config show
contains "$work/err" "warn: \$PEXIPSDK_POOL_DEPHT is not a configuration variable, ignored (did you mean PEXIPSDK_POOL_DEPTH?)" \
	"typo warned about"
contains "$work/out" "pool.depth = 10  # file:" "typo: ignored"
expect 0 "variables read elsewhere are not typos" -- pexctl_env PEXIPSDK_PG=host=x -- -c "$work/base.yaml" config show
lacks "$work/err" "PEXIPSDK_PG" "PEXIPSDK_PG not warned about"

# --- secrets from the environment: never shown
expect 0 "literal secret in the environment" -- pexctl_env "${ENV_OK[@]}" PEXIPSDK_EVENTS_PASSWORD=s3cret-hook-pw \
	PEXIPSDK_SERVER_API_KEYS="k3y-one,k3y-two" -- -v -c "$work/nourl.yaml" config show
contains "$work/out" "events.password = \"<redacted>\" (literal)  # env:PEXIPSDK_EVENTS_PASSWORD" "literal redacted"
contains "$work/out" "server.api_keys = [\"<redacted>\",\"<redacted>\"] (literal)" "list of secrets redacted"
lacks "$work/out" "s3cret" "secret not on stdout"
lacks "$work/err" "s3cret" "secret not on stderr"
lacks "$work/out" "k3y-" "api keys not on stdout"
expect 0 "literal secret in the environment, json" -- pexctl_env PEXIPSDK_EVENTS_PASSWORD=s3cret-hook-pw -- \
	--json -c "$work/base.yaml" config show
lacks "$work/out" "s3cret" "secret not in json"
expect 0 "secrets resolved by config check" -- pexctl_env "${ENV_OK[@]}" PEXIPSDK_EVENTS_PASSWORD=s3cret-hook-pw -- \
	-v -c "$work/nourl.yaml" config check
lacks "$work/out" "s3cret" "check: secret not on stdout"
lacks "$work/err" "s3cret" "check: secret not on stderr"
expect 5 "unresolvable reference from the environment" -- pexctl_env "${ENV_OK[@]}" \
	PEXIPSDK_EVENTS_PASSWORD=env:PEXTEST_UNSET_VAR -- -c "$work/nourl.yaml" config check
contains "$work/out" "\$PEXIPSDK_EVENTS_PASSWORD: events.password: environment variable PEXTEST_UNSET_VAR is not set" \
	"unresolvable reference names the variable"

expect 2 "config without a subcommand" -- pexctl_env -- config frobnicate
contains "$work/err" "'check' or 'show'" "config usage"

# --- the room server from the environment alone
if [ -n "$SERVER_BIN" ] && [ "$no_system_file" = 1 ]; then
	SRV_ENV=("${ENV_OK[@]}" PEXIPSDK_POOL_DEPTH=0 PEXIPSDK_SERVER_API_KEYS=srv-k3y)
	(cd "$work/empty" && exec env "${SRV_ENV[@]}" "$SERVER_BIN" --listen 127.0.0.1:0 --gc-interval 0 \
		--metrics-interval 0 >"$work/srv.out" 2>"$work/srv.err") &
	srv_pid=$!
	# shellcheck disable=SC2016  # expanded when the trap runs
	cleanup_extra='kill -TERM $srv_pid 2>/dev/null; wait $srv_pid 2>/dev/null'
	# until it listens, or is gone
	while ! grep -q LISTENING "$work/srv.out" 2>/dev/null && kill -0 "$srv_pid" 2>/dev/null; do sleep 0.05; done
	port=$(sed -n 's/^LISTENING 127.0.0.1:\([0-9]*\)$/\1/p' "$work/srv.out")
	if [ -n "$port" ]; then ok; else bad "room server did not start from the environment"; sed 's/^/  | /' "$work/srv.err" >&2; fi
	if [ -n "$port" ] && curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null; then ok; else bad "room server /healthz"; fi
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: srv-k3y" \
		"http://127.0.0.1:$port/room/vmr_envtest" 2>/dev/null)
	code_bad=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: wrong" \
		"http://127.0.0.1:$port/room/vmr_envtest" 2>/dev/null)
	if [ "$code_bad" = 401 ] && [ "$code" != 401 ]; then ok; else
		bad "room server api key from the environment: $code with it, $code_bad without"; fi
	lacks "$work/srv.err" "srv-k3y" "server api key not logged"
	kill -TERM "$srv_pid"
	wait "$srv_pid"
	cleanup_extra=:
	# a bad variable: refused before listening, the variable named
	(cd "$work/empty" && exec env "${SRV_ENV[@]}" PEXIPSDK_SERVER_LISTEN=nowhere "$SERVER_BIN" \
		--gc-interval 0 --metrics-interval 0 >"$work/srv.out" 2>"$work/srv.err")
	rc=$?
	if [ "$rc" != 0 ]; then ok; else bad "room server started with a bad variable"; fi
	contains "$work/srv.err" "\$PEXIPSDK_SERVER_LISTEN: server.listen" "room server names the bad variable"
	lacks "$work/srv.out" "LISTENING" "room server did not listen"
fi

emu_stop
finish
