#!/usr/bin/env bash
# Plays the Azure Functions host in front of room-server, from the files of
# examples/azure-functions as they are:
#  - local.settings.json: FUNCTIONS_WORKER_RUNTIME must be Custom; its Values
#    become the server's environment, as the host (func start) exports them;
#  - host.json: the custom handler's defaultExecutablePath and arguments,
#    started in the app folder with FUNCTIONS_CUSTOMHANDLER_PORT in its
#    environment; enableProxyingHttpRequest must be on, routePrefix "";
#  - */function.json: each HTTP trigger's route template and methods decide
#    which requests reach the server (others: 404 from the "host", the server
#    never sees them); each timer trigger is invoked as the host does, POST
#    /{functionName} with {"Data": {"timer": ...}, "Metadata": ...}.
# A request that matches is proxied as enableProxyingHttpRequest does:
# method, path and query, headers and body unchanged, plus the host's
# X-Azure-Functions-HostVersion and X-Azure-Functions-InvocationId; the
# server's answer goes back as it is. Pexip is the emulator; the queue is
# SQLite. Usage: functions_host.sh ROOM_SERVER EMULATOR APP_DIR
set -u
[ "${PEX_UNDER_VALGRIND:-0}" = 1 ] && { echo "skipped under the valgrind setup"; exit 77; }
SERVER=$(realpath "$1")
export PEX_EMULATOR=$(realpath "$2")
APP_SRC=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../emulator/emu.sh"

work=$(mktemp -d /tmp/pex-functions.XXXXXX)
app=$work/app
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	emu_stop >/dev/null 2>&1
	[ "${PEX_KEEP_WORK:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { fails=$((fails + 1)); echo "FAIL: $*" >&2; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }
API_KEY=fn-test-key-3c1d

# ---- the app folder, as deployed: the example's files and our config ----
mkdir -p "$app"
cp "$APP_SRC/host.json" "$APP_SRC/local.settings.json" "$app/"
for f in "$APP_SRC"/*/function.json; do
	d=$(basename "$(dirname "$f")")
	mkdir -p "$app/$d"
	cp "$f" "$app/$d/"
done
exe=$(jq -r '.customHandler.description.defaultExecutablePath' "$app/host.json")
ln -s "$SERVER" "$app/$exe"

check "local.settings.json: FUNCTIONS_WORKER_RUNTIME is Custom" \
	'[ "$(jq -r .Values.FUNCTIONS_WORKER_RUNTIME "$app/local.settings.json")" = Custom ]'
check "host.json: enableProxyingHttpRequest" \
	'[ "$(jq -r .customHandler.enableProxyingHttpRequest "$app/host.json")" = true ]'
check "host.json: the legacy enableForwardingHttpRequest is gone" \
	'[ "$(jq -r ".customHandler.enableForwardingHttpRequest // \"absent\"" "$app/host.json")" = absent ]'
check "host.json: routePrefix is empty" '[ "$(jq -r .extensions.http.routePrefix "$app/host.json")" = "" ]'

emu_start || exit 1
cat >"$app/pexipsdk.yaml" <<EOF
pexip:
  url: $EMU_URL
  auth: {method: basic, username: admin, password: env:FN_PEXIP_PASSWORD}
queue:
  backend: sqlite
  sqlite: {path: $work/queue.db}
pool: {queue: fn-pool, depth: 2, ready_after_s: 0}
tag: {url_template: "https://svc.example.com/s?uui={uui}", allowed_hosts: [svc.example.com]}
gc: {queue: fn-del, delay_s: 0}
server:
  listen: "127.0.0.1:8080"
  api_keys: [env:FN_API_KEY]
log: {level: info, format: json}
EOF
chmod 600 "$app/pexipsdk.yaml"

# ---- start the handler as the host does ----
# The host picks a free port and passes it in FUNCTIONS_CUSTOMHANDLER_PORT.
# A shell cannot hold a port open for the server, so the harness passes 0
# (any free port) and reads the one bound from the server's LISTENING line.
# Values of local.settings.json go into the environment first.
env_args=()
while IFS= read -r kv; do env_args+=("$kv"); done < <(jq -r '.Values | to_entries[] | "\(.key)=\(.value)"' \
	"$app/local.settings.json")
mapfile -t args < <(jq -r '.customHandler.description.arguments[]' "$app/host.json")
(cd "$app" && exec env "${env_args[@]}" FUNCTIONS_CUSTOMHANDLER_PORT=0 FN_PEXIP_PASSWORD=admin \
	FN_API_KEY=$API_KEY "./$exe" "${args[@]}" >"$work/stdout" 2>"$work/server.log") &
srv_pid=$!
port=
for _ in $(seq 1 600); do
	port=$(sed -n 's/^LISTENING 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/stdout")
	[ -n "$port" ] && break
	kill -0 "$srv_pid" 2>/dev/null || break
	sleep 0.05   # polling for a state (the LISTENING line), bounded
done
[ -n "$port" ] || { bad "room-server did not start:"; cat "$work/server.log" >&2; exit 1; }

# ---- the host's routing, from the function.json files ----
# route_match METHOD PATH: the function that takes the request, or nothing
route_match() {
	local method=${1,,} path=${2#/} f route methods re
	for f in "$app"/*/function.json; do
		route=$(jq -r '.bindings[] | select(.type == "httpTrigger") | .route // empty' "$f")
		[ -n "$route" ] || continue
		methods=$(jq -r '.bindings[] | select(.type == "httpTrigger") | .methods[]' "$f")
		re="^$(printf '%s' "$route" | sed -E 's/\{[^}]+\}/[^\/]+/g')\$"
		[[ $path =~ $re ]] || continue
		grep -qx "$method" <<<"$methods" || continue
		basename "$(dirname "$f")"
		return 0
	done
	return 1
}

# host METHOD PATH_AND_QUERY [BODY] [HEADER...]: the request as a caller
# sends it to the Function App; sets STATUS and OUT (the answer's body).
invocations=0
host() {
	local method=$1 target=$2 body=${3:-} path fn
	shift 3 2>/dev/null || shift $#
	path=${target%%\?*}
	if ! fn=$(route_match "$method" "$path"); then
		STATUS=404     # no function: the host answers, the handler never sees it
		OUT='{"host": "no function for this route and method"}'
		return
	fi
	invocations=$((invocations + 1))
	local hdrs=(-H "X-Azure-Functions-HostVersion: 4.0.0-harness"
		-H "X-Azure-Functions-InvocationId: $(cat /proc/sys/kernel/random/uuid)")
	for h in "$@"; do hdrs+=(-H "$h"); done
	if [ -n "$body" ]; then
		hdrs+=(--data-binary "$body")
	fi
	STATUS=$(curl -s -o "$work/body" -w '%{http_code}' -X "$method" "${hdrs[@]}" \
		"http://127.0.0.1:$port$target")
	OUT=$(cat "$work/body")
}

# timer NAME: invoke a timer function as the host does; sets STATUS and OUT
timer() {
	local name=$1 payload
	jq -e '.bindings[] | select(.type == "timerTrigger")' "$app/$name/function.json" >/dev/null ||
		{ bad "$name is not a timer function"; return; }
	payload=$(jq -cn --arg n "$name" --arg now "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" \
		'{Data: {timer: {Schedule: {AdjustForDST: true}, ScheduleStatus: {Last: $now, Next: $now,
		  LastUpdated: $now}, IsPastDue: false}},
		  Metadata: {sys: {MethodName: $n, UtcNow: $now, RandGuid: "00000000-0000-0000-0000-000000000000"}}}')
	STATUS=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -H "Content-Type: application/json" \
		-H "X-Azure-Functions-InvocationId: $(cat /proc/sys/kernel/random/uuid)" \
		--data-binary "$payload" "http://127.0.0.1:$port/$name")
	OUT=$(cat "$work/body")
}

# the pool is filled (a state: two rooms at Pexip), bounded
for _ in $(seq 1 600); do
	[ "$(emu_stat conferences)" -ge 2 ] 2>/dev/null && break
	sleep 0.05
done
check "the server read its config from the app folder (host.json -c pexipsdk.yaml)" \
	'grep -q "listening on 127.0.0.1:$port" "$work/server.log"'
check "host.json turns the in-process timers off" 'grep -Eq "gc every 0s.*metrics every 0s" "$work/server.log"'

# ---- HTTP triggers, through the host ----
host GET /public/health
out=$OUT
check "health through the host: 200 ($STATUS $out)" '[ "$STATUS" = 200 ]'

host POST "/room/create?uuiData=6869" "" "X-API-Key: $API_KEY"
out=$OUT
name=$(jq -r .name <<<"$out" 2>/dev/null)
check "room/create: 200 ($STATUS $out)" '[ "$STATUS" = 200 ] && [ -n "$name" ] && [ "$name" != null ]'
check "room/create: the query reached the server (uuiData 6869 -> tag uui=hi)" \
	'[ "$(jq -r .tag <<<"$out")" = "https://svc.example.com/s?uui=hi" ]'
check "room/create: Pexip has the tag" \
	'emu_api GET "/api/admin/configuration/v1/conference/?name=$name" | jq -e ".objects[0].tag == \"https://svc.example.com/s?uui=hi\"" >/dev/null'

host POST /room/create "" "X-API-Key: wrong"
out=$OUT
check "room/create with a wrong key: the server's 401 goes back as it is ($STATUS)" \
	'[ "$STATUS" = 401 ] && [ "$(jq -r .error.code <<<"$out")" = unauthorized ]'

host GET "/room/$name" "" "X-API-Key: $API_KEY"
out=$OUT
check "room/{name} GET: 200 with the room ($STATUS)" '[ "$STATUS" = 200 ] && [ "$(jq -r .name <<<"$out")" = "$name" ]'
host PATCH "/room/$name" '{"description":"via the host"}' "X-API-Key: $API_KEY" "Content-Type: application/json"
out=$OUT
check "room/{name} PATCH: the body reached the server ($STATUS $out)" \
	'[ "$STATUS" = 200 ] && [ "$(jq -r .description <<<"$out")" = "via the host" ]'

host POST "/room/bulk/create?count=2" '{"uuiData": ["6869", "7468657265"]}' "X-API-Key: $API_KEY" \
	"Content-Type: application/json"
out=$OUT
check "room/bulk/create: 200, two rooms ($STATUS $out)" \
	'[ "$STATUS" = 200 ] && [ "$(jq -r .handed_out <<<"$out")" = 2 ]'

host DELETE "/room/$name" "" "X-API-Key: $API_KEY"
out=$OUT
check "room/{name} DELETE: 200 deleted ($STATUS $out)" '[ "$STATUS" = 200 ] && [ "$(jq -r .deleted <<<"$out")" = true ]'

before=$invocations
host PUT "/room/$name" '{}' "X-API-Key: $API_KEY"
out=$OUT
check "PUT room/{name}: no function takes PUT, 404 from the host" '[ "$STATUS" = 404 ] && [ "$invocations" = "$before" ]'
host GET /nope
out=$OUT
check "an unknown route: 404 from the host" '[ "$STATUS" = 404 ] && [ "$invocations" = "$before" ]'
host GET /metrics "" "X-API-Key: $API_KEY"
out=$OUT
check "metrics through the host: 200 ($STATUS)" '[ "$STATUS" = 200 ]'

# ---- timer triggers ----
for t in gc_timer metrics_timer; do
	timer $t
out=$OUT
	check "$t: 200 ($STATUS $out)" '[ "$STATUS" = 200 ]'
	check "$t: {Outputs: {}, Logs: [strings], ReturnValue: null} ($out)" \
		'jq -e "(.Outputs | type == \"object\") and (.Logs | type == \"array\" and length >= 1 and all(type == \"string\")) and (has(\"ReturnValue\") and .ReturnValue == null)" <<<"$out" >/dev/null'
done
timer gc_timer
out=$OUT
check "gc_timer: the sweep ran (orphans counted, host.json has --gc-orphans) ($out)" \
	'jq -e ".Logs | any(test(\"orphans_found=\"))" <<<"$out" >/dev/null'

# ---- stop as the host does (SIGTERM) ----
kill "$srv_pid"
wait "$srv_pid"
rc=$?
srv_pid=
check "room-server stops cleanly on SIGTERM (exit $rc)" '[ "$rc" = 0 ]'

echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
