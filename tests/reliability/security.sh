#!/usr/bin/env bash
# Security guarantees (SECURITY.md):
#  a. secrets never appear in logs, errors or --json output: a full flow
#     (pexctl incl. failures and -v debug logging, --json, the room server
#     at debug level incl. 401s, the event sink with bad auth, OAuth2 with
#     a key from file:, the azure backend with a literal connection string)
#     runs with distinctive secrets; every stdout/stderr/log file produced
#     is then searched for each secret, for base64(user:password), for the
#     base64 lines of the private key and for anything shaped like a
#     credential (Basic/Bearer values, JWTs);
#  b. a literal secret in a group/world-readable config file draws a
#     warning (pexctl unless -q, the room server at start-up);
#  c. TLS verification is off only with an explicit pexip.tls.verify false
#     (false/no/off, any case); a typo or any other value is a
#     configuration error (exit 5); when off, the client logs a warning.
# Usage: security.sh PEXCTL ROOM_SERVER EMULATOR
set -u
# load tests: under meson's valgrind setup (bash itself would be wrapped) skip
[ "${PEX_UNDER_VALGRIND:-0}" = 1 ] && { echo "skipped under the valgrind setup"; exit 77; }
PEXCTL=$1
SERVER=$2
export PEX_EMULATOR=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../emulator/emu.sh"

work=$(mktemp -d /tmp/pex-security.XXXXXX)
out=$work/out          # every output file the flow produces lands here
mkdir "$out"
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill -9 "$srv_pid" 2>/dev/null
	emu_stop >/dev/null 2>&1
	[ "${PEX_KEEP_WORK:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
fails=0 passes=0 step=0
ok() { passes=$((passes + 1)); }
bad() { fails=$((fails + 1)); echo "FAIL: $*" >&2; }
# run WANT-EXIT NAME -- command...: stdout/stderr into $out/NAME.{out,err}
run() {
	local want=$1 name=$2 got
	shift 3
	step=$((step + 1))
	"$@" >"$out/$name.out" 2>"$out/$name.err"
	got=$?
	if [ "$got" = "$want" ]; then ok; else
		bad "$name: exit $got, want $want"
		sed 's/^/  stdout: /' "$out/$name.out" >&2
		sed 's/^/  stderr: /' "$out/$name.err" >&2
	fi
}
contains() { if grep -qF -- "$2" "$1"; then ok; else bad "$3: '$2' not in $(basename "$1")"; sed 's/^/  | /' "$1" >&2; fi; }
lacks() { if grep -qF -- "$2" "$1"; then bad "$3: '$2' found in $(basename "$1")"; else ok; fi; }

# ---- the secrets ----
PW='Pw-S3cr3t-b7e1c9'                       # Pexip Basic password
WRONG_PW='Pw-Wr0ng-S3cr3t-5a5a'             # a wrong one is a secret too
APIKEY='ak-S3cr3t-91be44d0'                 # room server API key
WRONG_KEY='ak-Wr0ng-S3cr3t-77'              # what a caller tried
EVPW='ev-S3cr3t-4d2e81'                     # event sink password
WRONG_EVPW='ev-Wr0ng-S3cr3t-19'
QUERY_SECRET='q-S3cr3t-in-query-3f'         # a value in a query string
AZKEY=$(printf 'az-S3cr3t-account-key-%s' 0123456789abcdef | base64 | tr -d '\n')
SAS_SIG='sAsS3cr3tSiGnAtUrE0123456789abcdef'
export PEX_SEC_PW=$PW PEX_SEC_WRONG=$WRONG_PW PEX_SEC_KEY=$APIKEY
printf '%s\n' "$EVPW" >"$work/evpw.txt"
chmod 600 "$work/evpw.txt"
openssl ecparam -name prime256v1 -genkey -noout -out "$work/oauth.pem" 2>/dev/null ||
	{ echo "openssl cannot make a P-256 key" >&2; exit 1; }
chmod 600 "$work/oauth.pem"
secrets=("$PW" "$WRONG_PW" "$APIKEY" "$WRONG_KEY" "$EVPW" "$WRONG_EVPW" "$QUERY_SECRET"
	"$AZKEY" "${AZKEY:0:20}" "$SAS_SIG"
	"$(printf 'admin:%s' "$PW" | base64)" "$(printf 'admin:%s' "$WRONG_PW" | base64)"
	"$(printf 'sink:%s' "$EVPW" | base64)" "$(printf 'sink:%s' "$WRONG_EVPW" | base64)")
# the key's base64 body, line by line (a partial dump would still leak)
while read -r line; do secrets+=("$line"); done < <(grep -v -- '-----' "$work/oauth.pem")
secrets+=("$(grep -v -- '-----' "$work/oauth.pem" | tr -d '\n' | head -c 40)")

emu_start --password "$PW" --oauth-client "sec-client=$work/oauth.pem" ||
	{ echo "cannot start the emulator" >&2; exit 1; }

base_cfg() { # FILE [password reference]
	cat >"$1" <<YAML
pexip:
  url: $EMU_URL
  auth: {method: basic, username: admin, password: "${2:-env:PEX_SEC_PW}"}
  retries: {max: 3, base_ms: 5, cap_ms: 50}
queue:
  backend: sqlite
  sqlite: {path: $work/pool.db}
pool: {depth: 3, lease_s: 5, ready_after_s: 0}
tag: {url_template: "https://svc.example.com/s/{uui}"}
gc: {delay_s: 0}
events: {username: sink, password: "file:evpw.txt"}
server: {api_keys: ["env:PEX_SEC_KEY"]}
log: {level: debug}
YAML
	chmod 600 "$1"
}
base_cfg "$work/basic.yaml"
p() { "$PEXCTL" -c "$work/basic.yaml" "$@"; }

# ---- a. pexctl, Basic auth, debug logging, JSON ----
run 0 fill -- p -v pool fill
run 0 create -- p -v --json create --uui 68656c6c6f
room=$(jq -r .name "$out/create.out")
run 0 get -- p -v --json get "$room"
run 0 list -- p -v --json list --prefix vmr_
run 0 status -- p -v --json pool status
run 0 metrics -- p -v --json metrics
run 0 cfgcheck -- p -v --json config check
run 0 cfgcheck-text -- p -v config check
run 3 get-missing -- p -v --json get vmr_does_not_exist
run 2 bad-uui -- p -v --json create --uui zz
printf '{"event": "conference_ended", "version": 2, "data": {"name": "%s"}}' "$room" >"$work/ev.json"
run 0 event -- p -v --json event "$work/ev.json"
run 0 gc -- p -v --json gc
# wrong password: authentication fails (exit 5), in text and JSON
base_cfg "$work/wrong.yaml" env:PEX_SEC_WRONG
run 5 wrong-pw -- "$PEXCTL" -c "$work/wrong.yaml" -v list
run 5 wrong-pw-json -- "$PEXCTL" -c "$work/wrong.yaml" -v --json create --uui 6869
contains "$out/wrong-pw.err" "401" "wrong password explained"

# ---- a. OAuth2 with the private key from file: ----
cat >"$work/oauth.yaml" <<YAML
pexip:
  url: $EMU_URL
  auth: {method: oauth2, client_id: sec-client, private_key: "file:oauth.pem"}
log: {level: debug}
YAML
chmod 600 "$work/oauth.yaml"
run 0 oauth-list -- "$PEXCTL" -c "$work/oauth.yaml" -v --json list --prefix vmr_
run 0 oauth-check -- "$PEXCTL" -c "$work/oauth.yaml" -v --json config check
emu_ctl POST /_emu/revoke_tokens >/dev/null
run 0 oauth-after-revoke -- "$PEXCTL" -c "$work/oauth.yaml" -v --json list --prefix vmr_
[ "$(emu_stat tokens_issued)" -ge 2 ] && ok || bad "OAuth2 tokens were not used"

# ---- a. the azure backend with literal connection strings (unreachable) ----
for kind in key sas; do
	if [ $kind = key ]; then
		cs="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$AZKEY;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
	else
		cs="QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;SharedAccessSignature=sv=2020-08-04&ss=q&srt=sco&sp=rwdlacup&se=2099-01-01T00:00:00Z&sig=$SAS_SIG"
	fi
	cat >"$work/az-$kind.yaml" <<YAML
pexip:
  url: $EMU_URL
  auth: {username: admin, password: "env:PEX_SEC_PW"}
queue:
  backend: azure
  azure: {connection_string: "$cs"}
log: {level: debug}
YAML
	chmod 600 "$work/az-$kind.yaml"
	run 1 "az-$kind-status" -- "$PEXCTL" -c "$work/az-$kind.yaml" -v --json pool status
	run 1 "az-$kind-create" -- "$PEXCTL" -c "$work/az-$kind.yaml" -v create
	# config check reaches the queue too: the unreachable endpoint fails it
	run 1 "az-$kind-dump" -- "$PEXCTL" -c "$work/az-$kind.yaml" --json config check
	contains "$out/az-$kind-status.err" "127.0.0.1:9" "azure error names the endpoint"
done

# ---- a. the room server at debug level: 200s, 401s, the event sink ----
"$SERVER" -c "$work/basic.yaml" --listen 127.0.0.1:0 --gc-interval 1 --metrics-interval 1 \
	>"$out/server.out" 2>"$out/server.err" &
srv_pid=$!
addr=
for _ in $(seq 1 100); do
	addr=$(sed -n 's/^LISTENING //p' "$out/server.out")
	[ -n "$addr" ] && break
	sleep 0.05
done
if [ -z "$addr" ]; then bad "room server did not start: $(tail -3 "$out/server.err")"; else
	c() { # NAME WANT-STATUS curl-args...
		local name=$1 want=$2 got
		shift 2
		got=$(curl -s -o "$out/http-$name.body" -D "$out/http-$name.headers" -w '%{http_code}' "$@")
		if [ "$got" = "$want" ]; then ok; else bad "http $name: $got, want $want: $(cat "$out/http-$name.body")"; fi
	}
	u=http://$addr
	c create 200 -X POST -H "X-API-Key: $APIKEY" "$u/room/create?uuiData=6869&token=$QUERY_SECRET"
	c wrong-key 401 -X POST -H "X-API-Key: $WRONG_KEY" "$u/room/create?uuiData=6869"
	c no-key 401 -X POST "$u/room/create"
	c bearer 401 -X POST -H "Authorization: Bearer $WRONG_KEY.$APIKEY.x" "$u/room/create"
	c basic-on-room 401 -u "admin:$PW" -X POST "$u/room/create"
	c get 200 -H "X-API-Key: $APIKEY" "$u/room/$(jq -r .name "$out/http-create.body")"
	c public 200 "$u/public/room/$(jq -r .name "$out/http-create.body")"
	c health 200 "$u/public/health"
	c metrics 200 "$u/metrics"
	ev="{\"event\": \"conference_ended\", \"version\": 2, \"data\": {\"name\": \"$(jq -r .name "$out/http-create.body")\"}}"
	c sink-bad 401 -u "sink:$WRONG_EVPW" -H 'Content-Type: application/json' -d "$ev" "$u/public/event_sink"
	c sink-none 401 -H 'Content-Type: application/json' -d "$ev" "$u/public/event_sink"
	c sink-ok 200 -u "sink:$EVPW" -H 'Content-Type: application/json' -d "$ev" "$u/public/event_sink"
	# the emulator's event driver, with a wrong and then the right password
	emu_ctl POST /_emu/events "{\"url\": \"$u/public/event_sink\", \"username\": \"sink\", \"password\": \"$WRONG_EVPW\", \"names\": [\"x1\"]}" >"$out/emu-events-bad.json"
	contains "$out/emu-events-bad.json" '401' "event driver refused with a bad password"
	emu_ctl POST /_emu/events "{\"url\": \"$u/public/event_sink\", \"username\": \"sink\", \"password\": \"$EVPW\", \"names\": [\"x2\"]}" >"$out/emu-events-ok.json"
	contains "$out/emu-events-ok.json" '200' "event driver accepted with the right password"
	c timer 200 -X POST -H 'Content-Type: application/json' -d '{}' "$u/gc_timer"
	sleep 1.5    # one GC and one metrics round on the timers
	kill -TERM "$srv_pid"
	wait "$srv_pid"
	[ $? -eq 0 ] && ok || bad "room server did not exit 0 on SIGTERM"
	srv_pid=
	contains "$out/server.err" ' status=401 ' "the 401s are in the access log"
	contains "$out/server.err" '/room/create?uuiData&token' "the access log keeps query keys only"
fi

# ---- a. the verdict: no secret in any output file ----
nfiles=$(find "$out" -type f | wc -l)
for s in "${secrets[@]}"; do
	[ -n "$s" ] || continue
	hits=$(grep -rlF -- "$s" "$out")
	if [ -n "$hits" ]; then bad "secret '${s:0:12}...' found in: $(echo "$hits" | xargs -n1 basename | tr '\n' ' ')"; else ok; fi
done
# anything shaped like a credential: Basic/Bearer values, JWTs, SAS signatures, account keys
for re in 'Basic [A-Za-z0-9+/]{8,}=*' 'Bearer [A-Za-z0-9._~+/-]{8,}' 'eyJ[A-Za-z0-9_-]{10,}\.' \
	'sig=[A-Za-z0-9%]{8,}' 'AccountKey=[A-Za-z0-9+/]{8,}' '[0-9a-f]{64}'; do
	hits=$(grep -rlE -- "$re" "$out")
	if [ -n "$hits" ]; then bad "credential-shaped text /$re/ in: $(echo "$hits" | xargs -n1 basename | tr '\n' ' ')"
		grep -rhoE -- "$re" "$out" | head -3 >&2; else ok; fi
done
echo "secrets: ${#secrets[@]} values searched in $nfiles output files of $step commands and $(ls "$out"/http-*.body | wc -l) HTTP exchanges"

# ---- b. literal secrets in readable files draw a warning ----
base_cfg "$work/lit.yaml" "$PW"         # a literal password
chmod 644 "$work/lit.yaml"
run 0 lit-644 -- "$PEXCTL" -c "$work/lit.yaml" config check
contains "$out/lit-644.err" "pexctl: warn: $work/lit.yaml: pexip.auth.password holds a literal secret and the file is readable by group and others (mode 0644); use env:/file: or chmod 600" "warning for a 0644 file"
run 0 lit-644-json -- "$PEXCTL" -c "$work/lit.yaml" --json config check
contains "$out/lit-644-json.err" "pexctl: warn:" "warning with --json (on stderr)"
jq -e . "$out/lit-644-json.out" >/dev/null && ok || bad "--json output is not one JSON document"
run 0 lit-644-q -- "$PEXCTL" -c "$work/lit.yaml" -q config check
lacks "$out/lit-644-q.err" "warning" "-q silences the warning"
chmod 640 "$work/lit.yaml"
run 0 lit-640 -- "$PEXCTL" -c "$work/lit.yaml" config check
contains "$out/lit-640.err" "readable by group (mode 0640)" "warning for a 0640 file"
chmod 600 "$work/lit.yaml"
run 0 lit-600 -- "$PEXCTL" -c "$work/lit.yaml" config check
lacks "$out/lit-600.err" "warning" "no warning for a 0600 file"
chmod 644 "$work/basic.yaml"                  # references only: no warning
run 0 ref-644 -- "$PEXCTL" -c "$work/basic.yaml" config check
lacks "$out/ref-644.err" "warning" "no warning for references"
chmod 644 "$work/lit.yaml"
"$SERVER" -c "$work/lit.yaml" --listen 127.0.0.1:0 --gc-interval 0 --metrics-interval 0 \
	>"$out/server-lit.out" 2>"$out/server-lit.err" &
srv_pid=$!
for _ in $(seq 1 100); do grep -q LISTENING "$out/server-lit.out" && break; sleep 0.05; done
kill -TERM "$srv_pid"; wait "$srv_pid"; srv_pid=
contains "$out/server-lit.err" "pexip.auth.password holds a literal secret" "room server warns at start-up"
for f in "$out"/lit-* "$out"/server-lit.*; do lacks "$f" "$PW" "literal password printed"; done
emu_stop

# ---- c. TLS verification is off only when the config says so explicitly ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
	-out "$work/cert.pem" -days 2 -subj /CN=localhost \
	-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1 || bad "openssl req"
emu_start --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" || { bad "TLS emulator did not start"; exit 1; }
tls_cfg() { # FILE [tls: line]
	{
		echo "pexip:"
		echo "  url: https://127.0.0.1:$EMU_PORT"
		echo "  auth: {username: admin, password: admin}"
		echo "  retries: {max: 1, base_ms: 5}"
		[ $# -gt 1 ] && echo "  $2"
	} >"$1"
	chmod 600 "$1"
}
t=$work/tls.yaml
tls_cfg "$t";                            run 5 tls-default -- "$PEXCTL" -c "$t" list
contains "$out/tls-default.err" "TLS" "verification on by default"
tls_cfg "$t" 'tls: {verify: true}';      run 5 tls-true -- "$PEXCTL" -c "$t" list
tls_cfg "$t" 'tls: {}';                  run 5 tls-empty -- "$PEXCTL" -c "$t" list
tls_cfg "$t" 'tls:';                     run 5 tls-null-section -- "$PEXCTL" -c "$t" list
for v in 0 1 '""' '~' 'null' 'nope' '"disabled"' 'n' 'f' '[false]' '{x: false}'; do
	tls_cfg "$t" "tls: {verify: $v}"
	run 5 "tls-value-$v" -- "$PEXCTL" -c "$t" list
	contains "$out/tls-value-$v.err" "pexip.tls.verify" "bad value $v named"
done
tls_cfg "$t" 'tls: {verfy: false}';      run 5 tls-typo -- "$PEXCTL" -c "$t" list
contains "$out/tls-typo.err" "unknown key 'pexip.tls.verfy' (did you mean 'pexip.tls.verify'?)" "typo explained"
tls_cfg "$t" 'tls_verify: false';        run 5 tls-typo2 -- "$PEXCTL" -c "$t" list
tls_cfg "$t" 'verify: false';            run 5 tls-wrong-section -- "$PEXCTL" -c "$t" list
# the explicit negatives (YAML 1.1 booleans, any case, quoted or not) turn it off, with a warning
for v in false False FALSE no off '"no"' "'off'"; do
	tls_cfg "$t" "tls: {verify: $v}"
	run 0 "tls-off-$v" -- "$PEXCTL" -c "$t" list
	contains "$out/tls-off-$v.err" "TLS certificate verification is OFF" "warning when off ($v)"
done
# the warning is logged even at the default level, and by the room server
tls_cfg "$t" 'tls: {verify: false}'
"$SERVER" -c "$t" --listen 127.0.0.1:0 --gc-interval 0 --metrics-interval 0 \
	>"$out/server-tls.out" 2>"$out/server-tls.err" &
srv_pid=$!
for _ in $(seq 1 100); do grep -q LISTENING "$out/server-tls.out" && break; sleep 0.05; done
kill -TERM "$srv_pid"; wait "$srv_pid"; srv_pid=
contains "$out/server-tls.err" "TLS certificate verification is OFF" "room server warns when TLS verification is off"
emu_stop

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
