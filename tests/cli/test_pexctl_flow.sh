#!/usr/bin/env bash
# pexctl end to end against the Pexip emulator: the room flow of pexctl(1)
# (uui decode, pool fill|status|drain, create, event, gc, metrics, delete),
# progress bars on a terminal only, --json documents on failure.
# Usage: test_pexctl_flow.sh PEXCTL EMULATOR
# Set PEXCTL_VALGRIND=1 to run every pexctl call under valgrind.
set -u
PEXCTL_BIN=$1
export PEX_EMULATOR=$2
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

emu_start || { echo "cannot start the emulator" >&2; exit 1; }
write_ok_cfg
# a room of the conference tests' kind, for the delete failures below
mkroom vmr_01 tag01

# --- the room flow: pool fill|status|drain, create, event, gc, uui, metrics
{ pexip_yaml; cat <<YAML; } >"$work/pool.yaml"
queue:
  backend: sqlite
  sqlite: {path: $work/pool.db}
pool: {depth: 3, name_prefix: pool_, ready_after_s: 0}
tag: {url_template: "https://svc.example.com/s/{uui}", allowed_hosts: [svc.example.com]}
gc: {delay_s: 0}
YAML
pc="-c $work/pool.yaml"
expect 0 "uui decode" -- pexctl $pc uui decode 6869
contains "$work/out" "https://svc.example.com/s/hi" "uui decode output"
expect 2 "uui decode odd" -- pexctl $pc uui decode 686
contains "$work/err" "odd number of hex digits (3): the digit at offset 2 has no pair" "odd-length UUI explained"
# 26 + 3 x 74 = 248 characters fit: the 75th space (octet 74) does not
expect 2 "uui decode, tag too long" -- pexctl --json $pc uui decode "$(printf '20%.0s' $(seq 1 100))"
json_error "$work/out" PEX_EINVAL 2 "uui decode, tag too long"
contains "$work/out" "tag: the URL is 326 characters; Pexip allows at most 250 (octet 74, input offset 148, is the first that does not fit)" "tag too long: the offset"
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
contains "$work/err" "tag URL host 'evil.example.com' is not in tag.allowed_hosts (offset 8)" "--tag-url offset in the URL"
expect 2 "create --tag-url with a bad character" -- pexctl --json $pc create --tag-url "https://svc.example.com/a<b"
jq_is "$work/out" '.error.message' "tag URL character '<' at offset 25 is not allowed (RFC 3986)" "--tag-url character offset"
expect 0 "pool back at depth" -- pexctl --json $pc pool status
jq_is "$work/out" '.pool_depth' 3 "replenished"
printf '{"node":"1.2.3.4","seq":1,"version":2,"time":1.5,"event":"conference_ended","data":{"name":"%s"}}' "$room" >"$work/ev.json"
expect 0 "event" -- pexctl --json $pc event "$work/ev.json"
jq_is "$work/out" '.scheduled' 1 "event scheduled"
expect 0 "unusable event item: answered" -- pexctl --json $pc event - <<<'{"event": "conference_ended", "data": {}}'
jq_is "$work/out" '[.events, .skipped, .scheduled] | tostring' '[1,1,0]' "unusable event item skipped"
contains "$work/err" "data.name is missing" "unusable event item explained"
expect 0 "top-level array of events" -- pexctl --json $pc event - <<<'[{"event": "participant_updated"}, 5, {"event": "conference_ended", "data": {"name": "meet.alice", "service_type": "conference"}}]'
jq_is "$work/out" '[.events, .ignored, .skipped, .foreign, .scheduled] | tostring' '[3,1,1,1,0]' "top-level array"
expect 2 "event that is not JSON" -- pexctl $pc event - <<<'{"event": "conference_ended", "data": {"name": "vmr_\ud800"}}'
contains "$work/err" "lone high surrogate" "not JSON explained"
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
# a deployment whose ?name= matches loosely: pool_room1 ended while
# pool_room10 and POOL_ROOM1x are live; gc compares names exactly and deletes
# pool_room1 only
mode=$(emu_ctl GET /_emu/mode)
emu_ctl POST /_emu/mode '{"loose_name": true}' >/dev/null || bad "loose name mode"
for r in pool_room1 pool_room10 POOL_ROOM1x; do mkroom $r; done
for r in pool_room10 POOL_ROOM1x; do emu_ctl POST /_emu/conference/start "{\"name\": \"$r\"}" >/dev/null || bad "start $r"; done
expect 0 "schedule pool_room1" -- pexctl $pc event - <<<'{"event": "conference_ended", "data": {"name": "pool_room1"}}'
expect 0 "gc, loose name filter" -- pexctl --json $pc gc
jq_is "$work/out" '[.deleted, .postponed_live, .failed] | join(",")' "1,0,0" "gc deletes pool_room1 only"
expect 3 "pool_room1 gone after gc" -- pexctl $pc get pool_room1
expect 0 "pool_room10 kept" -- pexctl $pc get pool_room10
expect 0 "POOL_ROOM1x kept" -- pexctl $pc get POOL_ROOM1x
for r in pool_room10 POOL_ROOM1x; do emu_ctl POST /_emu/conference/stop "{\"name\": \"$r\"}" >/dev/null || bad "stop $r"; done
emu_ctl POST /_emu/mode "$mode" >/dev/null || bad "restore the mode"
# Pexip's limit is 250 characters, not bytes: a 250-character name that is
# not ASCII (500 bytes) is a name; one more character or invalid UTF-8 is not
n250=$(printf '\303\251%.0s' $(seq 1 250))
emu_api POST /api/admin/configuration/v1/conference/ "$(jq -cn --arg n "$n250" '{name: $n}')" >/dev/null || bad "create the 250-character room"
expect 0 "get a 250-character non-ASCII name" -- pexctl --json $cfg get "$n250"
jq_is "$work/out" '.name | length' 250 "250 characters"
expect 2 "delete, 251 characters" -- pexctl $cfg delete "$n250" "${n250}x"
contains "$work/err" "delete: argument 2: room name is 251 characters long (at most 250)" "251 characters explained"
expect 2 "delete, invalid UTF-8" -- pexctl $cfg delete "$(printf 'vmr_\377')"
contains "$work/err" "room name is not valid UTF-8 (byte 0xff at offset 4)" "invalid UTF-8 explained"
expect 0 "nothing deleted by refused input" -- pexctl $cfg get "$n250"
expect 0 "delete a 250-character non-ASCII name" -- pexctl --json $cfg delete "$n250"
expect 3 "250-character room gone" -- pexctl $cfg get "$n250"
# a Pexip that does not allow filtering on tag or (status API) name: list
# --tag and the live count of pool status filter on our side
emu_ctl POST /_emu/mode '{"refuse_filters": ["tag", "status/name__startswith"]}' >/dev/null || bad "refuse filters mode"
mkroom rt_1 tagA; mkroom rt_2 tagB; mkroom rt_3 tagA
emu_ctl POST /_emu/conference/start '{"name": "pool_live1"}' >/dev/null || bad "start pool_live1"
emu_ctl POST /_emu/conference/start '{"name": "other_live"}' >/dev/null || bad "start other_live"
expect 0 "list --tag, filter refused" -- pexctl --json $cfg list --tag tagA
jq_is "$work/out" '[.[].name] | sort | join(",")' "rt_1,rt_3" "list --tag filtered here"
expect 0 "pool status, live filter refused" -- pexctl --json $pc pool status
jq_is "$work/out" '.live_conferences' 1 "live conferences counted here"
emu_ctl POST /_emu/conference/stop '{"name": "pool_live1"}' >/dev/null
emu_ctl POST /_emu/conference/stop '{"name": "other_live"}' >/dev/null
emu_ctl POST /_emu/mode "$mode" >/dev/null || bad "restore the mode"
# secrets of keys a command does not use are never resolved: the shipped GC
# timer ran without the server's EnvironmentFile and exited 5 every time
{ cat "$work/pool.yaml"; cat <<YAML; } >"$work/unused-secrets.yaml"
events: {username: pexip, password: "env:PEXTEST_UNSET_EVENTS_PW"}
server: {api_keys: ["env:PEXTEST_UNSET_API_KEY"]}
YAML
unset PEXTEST_UNSET_EVENTS_PW PEXTEST_UNSET_API_KEY
expect 0 "gc without the server's secrets" -- pexctl -c "$work/unused-secrets.yaml" gc
expect 0 "pool status without the server's secrets" -- pexctl -c "$work/unused-secrets.yaml" pool status
printf '{"node":"1.2.3.4","seq":9,"version":2,"time":1.5,"event":"conference_started","data":{"name":"x"}}' >"$work/ev-started.json"
expect 0 "event without the server's secrets" -- pexctl -c "$work/unused-secrets.yaml" event "$work/ev-started.json"
expect 5 "config check resolves every secret" -- pexctl -c "$work/unused-secrets.yaml" config check
contains "$work/err" "events.password: environment variable PEXTEST_UNSET_EVENTS_PW is not set" "config check names the unset variable"
expect 0 "metrics" -- pexctl $pc metrics
contains "$work/out" "pexipsdk_pool_depth 3" "prometheus metrics"
expect 0 "metrics json" -- pexctl $pc metrics --format json
jq_is "$work/out" '.pool_depth' 3 "json metrics"
# log.format json reaches the pool's lines too (and -v's own lines)
{ cat "$work/pool.yaml"; echo "log: {format: json}"; } >"$work/pool-jsonlog.yaml"
expect 0 "metrics, json log lines" -- pexctl -c "$work/pool-jsonlog.yaml" -v metrics
json_log_lines "$work/err" "pool json log"
check_jsonl "$work/err" 'any(.[]; .msg == "pexip request" and .method == "GET" and .status == 200)' "pool json log: a Pexip request line"
# a progress bar appears on a terminal only
script -qec "$PEXCTL_BIN $pc pool drain" /dev/null >"$work/tty" 2>&1
contains "$work/tty" "drained 3" "drain on a tty"
contains "$work/tty" "[####" "progress bar on a tty"
expect 0 "pool status after drain" -- pexctl --json $pc pool status
jq_is "$work/out" '.pool_depth' 0 "drained"

# a progress bar on a terminal only: fill, gc, delete --prefix (drain above)
no_bar "$work/err" "pool status"
on_tty "$work/tty" "$PEXCTL_BIN $pc pool fill --depth 4"
contains "$work/tty" "created 4 rooms" "fill on a tty"
contains "$work/tty" "] 4/4" "fill progress on a tty"
contains "$work/tty" "[##############################]" "fill progress bar on a tty"
# the bar ends its line: the report starts a line of its own
if grep -a "created 4 rooms" "$work/tty" | grep -qF "] 4/4"; then bad "fill: the bar's line not ended"; else ok; fi
expect 0 "pool status after fill on a tty" -- pexctl --json $pc pool status
jq_is "$work/out" '.pool_depth' 4 "filled on a tty"
printf '{"event":"eventsink_bulk","data":[{"event":"conference_ended","data":{"name":"pool_tty_a"}},{"event":"conference_ended","data":{"name":"pool_tty_b"}}]}' >"$work/ev2.json"
expect 0 "schedule two" -- pexctl $pc event "$work/ev2.json"
on_tty "$work/tty" "$PEXCTL_BIN $pc gc"
contains "$work/tty" "already gone 2" "gc on a tty"
contains "$work/tty" "[##############################] 2/2" "gc progress bar on a tty"
expect 0 "schedule two again" -- pexctl $pc event "$work/ev2.json"
expect 0 "gc piped" -- pexctl $pc gc
contains "$work/out" "already gone 2" "gc piped"
no_bar "$work/err" "gc"
no_bar "$work/out" "gc (stdout)"
for i in 1 2 3; do mkroom "ttydel_$i"; mkroom "pipedel_$i"; done
on_tty "$work/tty" "$PEXCTL_BIN $cfg delete --prefix ttydel_ --yes"
contains "$work/tty" "ttydel_3: deleted" "delete --prefix on a tty"
contains "$work/tty" "deleting [##############################] 3/3" "delete progress bar on a tty"
expect 0 "delete --prefix piped" -- pexctl $cfg delete --prefix pipedel_ --yes
contains "$work/out" "pipedel_3: deleted" "delete --prefix piped"
no_bar "$work/err" "delete --prefix"
expect 0 "pool drain piped" -- pexctl $pc pool drain
no_bar "$work/err" "pool drain"
expect 0 "pool fill piped" -- pexctl $pc pool fill
no_bar "$work/err" "pool fill"

# the default create (no --wait) replaces the room in the background
before=$(pexctl --json $cfg list --prefix pool_ | jq length)
expect 0 "create, background replacement" -- pexctl --json $pc create --uui 6869
jq_is "$work/out" '.tag' "https://svc.example.com/s/hi" "create without --wait"
one_doc "$work/out" "create --json"
# wait_status FIELD VALUE: poll pool status (a background process's work)
# until .FIELD is VALUE; the last value seen is in $seen_value
wait_status() {
	for _ in $(seq 1 300); do
		seen_value=$(pexctl --json $pc pool status 2>/dev/null | jq -r ".$1")
		[ "$seen_value" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
wait_status pool_depth 3 && ok || bad "the pool did not get back to depth 3 after create (depth $seen_value)"
after=$(pexctl --json $cfg list --prefix pool_ | jq length)
[ "$after" = $((before + 1)) ] && ok || bad "pool rooms on Pexip: $after, want $before + 1 (the replacement)"
expect 0 "create --no-replenish" -- pexctl --json $pc create --no-replenish
sleep 0.5
expect 0 "pool status after --no-replenish" -- pexctl --json $pc pool status
jq_is "$work/out" '.pool_depth' 2 "--no-replenish leaves the pool one short"

# relative paths in the configuration are relative to its directory, whatever
# the current directory (cron runs in $HOME, the server in its own); a
# command that only reads the queue never creates it
mkdir -p "$work/etc" "$work/home" "$work/srv"
{ pexip_yaml; echo "pool: {depth: 2, name_prefix: rel_, ready_after_s: 0}"; } >"$work/etc/rel.yaml"
inhome() { (cd "$work/home" && pexctl "$@"); }
insrv() { (cd "$work/srv" && pexctl "$@"); }
expect 3 "pool status before any fill" -- inhome -c ../etc/rel.yaml pool status
contains "$work/err" "the queue database $work/etc/pexipsdk.db does not exist" "missing queue: the absolute path"
expect 3 "metrics before any fill" -- inhome -c ../etc/rel.yaml metrics
expect 3 "gc before any fill" -- inhome -c ../etc/rel.yaml gc
[ ! -e "$work/etc/pexipsdk.db" ] && [ ! -e "$work/home/pexipsdk.db" ] && ok || bad "a read-only command created a queue file"
expect 0 "pool fill from the server's directory" -- insrv -c "$work/etc/rel.yaml" pool fill
[ -e "$work/etc/pexipsdk.db" ] && [ ! -e "$work/srv/pexipsdk.db" ] && ok || bad "pool fill did not create the queue beside the configuration"
expect 0 "pool status from cron's \$HOME" -- inhome -v --json -c ../etc/rel.yaml pool status
jq_is "$work/out" '.pool_depth' 2 "one queue, whatever the current directory"
contains "$work/err" "queue.sqlite.path: $work/etc/pexipsdk.db" "-v prints the resolved queue path"
expect 0 "drain the relative pool" -- insrv -c "$work/etc/rel.yaml" pool drain --delete

# config check checks every component, one line each, and exits with the
# first failure's status
expect 0 "config check, all ok" -- inhome -c ../etc/rel.yaml config check
contains "$work/out" "config   ok: ../etc/rel.yaml" "config check: the config line"
contains "$work/out" "secrets  ok" "config check: the secrets line"
contains "$work/out" "pexip    ok: $EMU_URL (reached, authenticated with basic)" "config check: the pexip line"
contains "$work/out" "queue    ok: sqlite $work/etc/pexipsdk.db (room-creation-queue 0, room-deletion-queue" "config check: the queue line, its resolved path and counts"
expect 0 "config check, json" -- inhome --json -c ../etc/rel.yaml config check
jq_is "$work/out" '[.components[] | select(.ok)] | length' 4 "config check json: four components ok"
# the files it names, resolved against the configuration's directory and readable
{ pexip_yaml | sed 's/^  retries:/  tls: {ca_file: ca.pem}\n  retries:/'; echo "server: {jwt: {jwks_file: jwks.json}}"; } >"$work/etc/files.yaml"
: >"$work/etc/jwks.json"
expect 5 "config check, a CA file that is missing" -- pexctl -c "$work/etc/files.yaml" config check
contains "$work/out" "files    error: $work/etc/files.yaml: pexip.tls.ca_file: cannot read $work/etc/ca.pem: No such file or directory" "config check: the missing file, resolved"
: >"$work/etc/ca.pem"
expect 0 "config check, files readable" -- pexctl -c "$work/etc/files.yaml" config check
contains "$work/out" "files    ok: pexip.tls.ca_file $work/etc/ca.pem, server.jwt.jwks_file $work/etc/jwks.json" "config check: the files, resolved"
{ pexip_yaml; echo "queue: {sqlite: {path: no-such-dir/pool.db}}"; } >"$work/etc/nodir.yaml"
expect 1 "config check, a queue that cannot be created" -- pexctl -c "$work/etc/nodir.yaml" config check
contains "$work/out" "queue    error: sqlite queue $work/etc/no-such-dir/pool.db: cannot be created in $work/etc/no-such-dir: No such file or directory" "config check: the queue error names the absolute path and errno"
contains "$work/out" "pexip    ok" "config check goes on after a failure"
[ ! -e "$work/etc/no-such-dir" ] && ok || bad "config check created something"
mkdir -p "$work/etc/isdir.db"
{ pexip_yaml; echo "queue: {sqlite: {path: isdir.db}}"; } >"$work/etc/isdir.yaml"
expect 1 "config check, a queue path that is a directory" -- pexctl -c "$work/etc/isdir.yaml" config check
contains "$work/out" "queue    error: sqlite queue $work/etc/isdir.db: " "config check: sqlite error with the absolute path"
{ pexip_yaml; cat <<YAML; } >"$work/etc/az.yaml"
queue:
  backend: azure
  azure: {connection_string: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;", timeout_ms: 2000}
events: {password: "env:PEXTEST_UNSET_EVENTS_PW"}
YAML
expect 5 "config check, unreachable azure and an unset secret" -- pexctl --json -c "$work/etc/az.yaml" config check
jq_is "$work/out" '.ok' false "config check json: not ok"
jq_is "$work/out" '[.components[] | select(.ok | not) | .name] | join(",")' "secrets,queue" "config check json: the failing components"
jq_is "$work/out" '.error.exit' 5 "config check: the first failure's exit status"
jq_is "$work/out" '[.components[] | select(.name == "queue") | .error | contains("127.0.0.1:9")] | first' true "config check: the azure error names the endpoint"
lacks "$work/out" "Eby8vdM02x" "config check: no account key in the output"

# uui decode needs only tag.*: without any configuration file it runs on the
# defaults (no template, no allowed hosts), which still checks the UUI
mkdir -p "$work/noconf"
noconf() { (cd "$work/noconf" && unset PEXIPSDK_CONFIG && pexctl "$@"); }
if [ -e /etc/pexipsdk/config.yaml ]; then
	echo "note: /etc/pexipsdk/config.yaml exists; skipping the no-configuration checks" >&2
else
	expect 2 "uui decode, no configuration" -- noconf uui decode 6869
	contains "$work/err" "UUI: the decoded text (input offset 0) is not an absolute URL and tag.url_template is not set" "defaults: no template"
	expect 2 "uui decode, no configuration, odd" -- noconf uui decode 686
	contains "$work/err" "the digit at offset 2 has no pair" "defaults: the UUI is checked"
	expect 2 "uui decode, no configuration, json" -- noconf --json uui decode 6g
	json_error "$work/out" PEX_EINVAL 2 "uui decode without configuration"
	jq_is "$work/out" '.error.message' "UUI: not a hex digit at offset 1 ('g')" "defaults: message"
	expect 5 "other commands still need a configuration" -- noconf pool status
fi
expect 5 "uui decode, -c names a missing file" -- pexctl -c "$work/nope.yaml" uui decode 6869
expect 5 "uui decode, PEXIPSDK_CONFIG names a missing file" -- env PEXIPSDK_CONFIG="$work/nope.yaml" "$PEXCTL_BIN" uui decode 6869
printf 'tag: {url_template: "https://svc.example.com/s/{uui}"}\n' >"$work/tagonly.yaml"
expect 5 "a configuration file still needs pexip.url" -- pexctl -c "$work/tagonly.yaml" uui decode 6869
contains "$work/err" "missing required key 'pexip.url'" "tag-only file explained"

# metrics with known values: 3 ready rooms, 2 rooms due for deletion, 3 live
# pool-prefixed conferences, 4 pool-prefixed rooms on Pexip; the counters are
# this process's (0 in a fresh pexctl)
{ pexip_yaml; cat <<YAML; } >"$work/mt.yaml"
queue:
  backend: sqlite
  sqlite: {path: $work/mt.db}
pool: {depth: 4, name_prefix: mt_, ready_after_s: 0}
gc: {delay_s: 600}
YAML
mc="-c $work/mt.yaml"
expect 0 "metrics: fill" -- pexctl --json $mc pool fill
jq_is "$work/out" '.created' 4 "metrics: filled"
expect 0 "metrics: hand one out" -- pexctl $mc create --no-replenish
printf '{"event":"eventsink_bulk","data":[{"event":"conference_ended","data":{"name":"mt_gone_a"}},{"event":"participant_updated"},{"event":"conference_ended","data":{"name":"mt_gone_b"}}]}' >"$work/ev3.json"
expect 0 "metrics: two rooms ended" -- pexctl --json $mc event "$work/ev3.json"
jq_is "$work/out" '.scheduled' 2 "metrics: scheduled"
for n in mt_live_1 mt_live_2 mt_live_3 other_live vmr_01; do
	emu_ctl POST /_emu/conference/start "{\"name\": \"$n\"}" >/dev/null || bad "start $n"
done
want_metrics='pool_depth 3
pool_maturing 0
deletion_backlog 2
live_conferences 3
pexip_pool_rooms 4
pops_total 0
pop_failures_total 0
replenished_total 0
replenish_failures_total 0
deleted_total 0
delete_failures_total 0
events_total 0
events_unknown_total 0
events_foreign_total 0'
expect 0 "metrics (prometheus)" -- pexctl $mc metrics
# 14, and the self-sizing pool's 4 (target depth, time until empty, demand, shrunk)
[ "$(grep -c '^pexipsdk_' "$work/out")" = 18 ] && ok || bad "metrics: want 18 samples"
grep -q "^pexipsdk_pool_target_depth [0-9]" "$work/out" && ok || bad "metrics: target depth"
while read -r k v; do
	if grep -qx "pexipsdk_$k $v" "$work/out"; then ok; else bad "prometheus: pexipsdk_$k is not $v: $(grep "^pexipsdk_$k " "$work/out")"; fi
	case $k in *_total) t=counter ;; *) t=gauge ;; esac
	grep -qx "# TYPE pexipsdk_$k $t" "$work/out" && ok || bad "prometheus: no TYPE line for pexipsdk_$k"
done <<<"$want_metrics"
# --gauges (the cron recipe's textfile): the gauges with their HELP and TYPE lines, no counters
expect 0 "metrics --gauges" -- pexctl $mc metrics --gauges
[ "$(grep -c '^pexipsdk_' "$work/out")" = 8 ] && ok || bad "metrics --gauges: want 8 samples"
grep -qx "pexipsdk_live_conferences 3" "$work/out" && ok || bad "metrics --gauges: a gauge"
grep -qx "# TYPE pexipsdk_deletion_backlog gauge" "$work/out" && ok || bad "metrics --gauges: TYPE lines"
lacks "$work/out" "_total" "metrics --gauges: no counter"
expect 2 "metrics --gauges --json" -- pexctl --json $mc metrics --gauges
expect 0 "metrics --format prometheus" -- pexctl $mc metrics --format prometheus
grep -qx "pexipsdk_live_conferences 3" "$work/out" && ok || bad "metrics --format prometheus"
for how in "--format json" "--json"; do
	if [ "$how" = --json ]; then expect 0 "metrics --json" -- pexctl --json $mc metrics
	else expect 0 "metrics --format json" -- pexctl $mc metrics --format json; fi
	one_doc "$work/out" "metrics $how"
	jq_is "$work/out" 'keys | length' 18 "metrics $how: 18 keys"
	while read -r k v; do
		jq_is "$work/out" ".${k%_total}" "$v" "metrics $how: ${k%_total}"
	done <<<"$want_metrics"
done
expect 0 "pool status with known values" -- pexctl --json $mc pool status
jq_is "$work/out" '[.pool_depth, .deletion_backlog, .live_conferences, .pexip_pool_rooms] | map(tostring) | join(" ")' "3 2 3 4" "pool status values"
jq_is "$work/out" 'keys | length' 11 "pool status keys"
# the self-sizing figures: no hand-outs anywhere in the last minute here, so
# no demand, the floor (pool.depth 4), and no time until empty
jq_is "$work/out" '[.demand_rate, .target_depth, .empty_in_s] | map(tostring) | join(" ")' "0 4 null" "pool status: sizing"
jq_is "$work/out" '[.pool_ready, .pool_maturing] | map(tostring) | join(" ")' "3 0" "pool status: ready and maturing"
expect 0 "pool status text" -- pexctl $mc pool status
contains "$work/out" "live conferences:  3" "pool status text"
# --json and --format prometheus contradict each other
expect 2 "metrics --json --format prometheus" -- pexctl --json $mc metrics --format prometheus
json_error "$work/out" PEX_EINVAL 2 "metrics --json --format prometheus"
contains "$work/err" "contradict" "metrics --json --format prometheus explained"
for n in mt_live_1 mt_live_2 mt_live_3 other_live vmr_01; do
	emu_ctl POST /_emu/conference/stop "{\"name\": \"$n\"}" >/dev/null || bad "stop $n"
done

# --json failures: one document; commands that did part of their work print
# their report with an "error" member of the standard shape
expect 2 "event: missing file" -- pexctl $pc event "$work/missing.json"
contains "$work/err" "event: cannot read $work/missing.json: No such file or directory" "event missing file explained"
expect 2 "event: missing file, json" -- pexctl --json $pc event "$work/missing.json"
json_error "$work/out" PEX_EINVAL 2 "event: missing file"
expect 1 "event: a directory, json" -- pexctl --json $pc event "$work"
json_error "$work/out" PEX_EIO 1 "event: read error"
expect 2 "event: not JSON, json" -- pexctl --json $pc event - <<<'{"event": "conference_ended", "time": NaN}'
json_error "$work/out" PEX_EPARSE 2 "event: not JSON"
printf '{"event":"conference_ended","data":{"name":"pool_fail_a"}}' >"$work/ev4.json"
expect 0 "schedule one to fail" -- pexctl $pc event "$work/ev4.json"
emu_ctl POST /_emu/faults '{"permanent_status": 500}' >/dev/null
expect 1 "gc fails, json" -- pexctl --json $pc gc
one_doc "$work/out" "gc failure"
jq_is "$work/out" '.failed' 1 "gc failure report"
jq_is "$work/out" '.deleted' 0 "gc failure report (deleted)"
jq_is "$work/out" '.error.code' PEX_EHTTP "gc failure error.code"
jq_is "$work/out" '.error.exit' 1 "gc failure error.exit"
jq_is "$work/out" '.error.message | startswith("gc: ")' true "gc failure error.message"
printf '{"event":"conference_ended","data":{"name":"pool_fail_b"}}' >"$work/ev5.json"
emu_ctl POST /_emu/faults '{"permanent_status": 0}' >/dev/null
expect 0 "schedule another to fail" -- pexctl $pc event "$work/ev5.json"
emu_ctl POST /_emu/faults '{"permanent_status": 500}' >/dev/null
expect 1 "gc fails, text" -- pexctl $pc gc
contains "$work/err" "injected failure 500" "gc failure on stderr"
expect 1 "pool fill fails, json" -- pexctl --json $pc pool fill --depth 9
one_doc "$work/out" "pool fill failure"
jq_is "$work/out" '.created' 0 "pool fill failure report"
jq_is "$work/out" '.error.exit' 1 "pool fill failure error.exit"
jq_is "$work/out" '.error.message | startswith("pool fill: ")' true "pool fill failure error.message"
# the workers' cause, not "remote server returned an error"
jq_is "$work/out" '.error.message | contains("injected failure 500")' true "pool fill failure: the worker's cause"
jq_is "$work/out" '.error.http_status' 500 "pool fill failure: the worker's HTTP status"
contains "$work/err" "injected failure 500" "pool fill failure on stderr"
expect 1 "pool drain --delete fails, json" -- pexctl --json $pc pool drain --delete
one_doc "$work/out" "pool drain failure"
jq_is "$work/out" '.rooms_deleted' true "pool drain failure report"
jq_is "$work/out" '.drained' 0 "pool drain failure report (drained)"
jq_is "$work/out" '.error.code' PEX_EHTTP "pool drain failure error.code"
jq_is "$work/out" '.error.message | contains("injected failure 500")' true "pool drain failure: the cause"
expect 1 "pool status fails, json" -- pexctl --json $pc pool status
json_error "$work/out" PEX_EHTTP 1 "pool status failure"
expect 1 "delete fails, json" -- pexctl --json $cfg delete vmr_01
one_doc "$work/out" "delete failure"
jq_is "$work/out" '.failed[0].name' vmr_01 "delete failure report"
jq_is "$work/out" '.error.exit' 1 "delete failure error.exit"
jq_is "$work/out" '.error.message | startswith("delete: vmr_01: ")' true "delete failure error.message"
expect 1 "delete fails, text" -- pexctl $cfg delete vmr_01
expect 1 "create fails, json" -- pexctl --json $pc create --uui 6869
json_error "$work/out" PEX_EHTTP 1 "create failure"
emu_ctl POST /_emu/faults '{"permanent_status": 0}' >/dev/null
expect 0 "the failed create gave its room back" -- pexctl --json $pc pool status
jq_is "$work/out" '.pool_depth' 2 "pool depth after the failures"
jq_is "$work/out" '.replenish_failures' 0 "no replenish failure yet"

# the replacement that create leaves behind reports its failures: on stderr
# with --wait, to syslog when detached, and counted where pool status reads
# (an alias domain so long that the alias is over Pexip's 250 characters:
# the configuration is valid and the pop works, the replacement fails)
dom=$(printf 'd%.0s' $(seq 1 240))
sed "s/^pool: {depth: 3, name_prefix: pool_, ready_after_s: 0}/pool: {depth: 3, name_prefix: pool_, ready_after_s: 0, room: {alias_domain: $dom}}/" "$work/pool.yaml" >"$work/badrepl.yaml"
grep -q "alias_domain: ddd" "$work/badrepl.yaml" && ok || bad "badrepl.yaml was not written"
expect 0 "create --wait, the replacement fails" -- pexctl -c "$work/badrepl.yaml" --json create --uui 6869 --wait
contains "$work/err" "replacing the room failed: " "replenish failure on stderr (--wait)"
contains "$work/err" "250" "replenish failure: the cause"
expect 0 "pool status counts it" -- pexctl --json $pc pool status
jq_is "$work/out" '.replenish_failures' 1 "replenish failures: 1"
jq_is "$work/out" '.last_replenish_failure | contains("250")' true "the last failure's cause"
expect 0 "create, the detached replacement fails" -- pexctl -c "$work/badrepl.yaml" --json create --uui 6869
wait_status replenish_failures 2 && ok ||
	bad "the detached replacement's failure was not counted (replenish_failures $seen_value)"
expect 0 "pool status text shows it" -- pexctl $pc pool status
contains "$work/out" "replenish failures: 2 (latest: " "pool status text: the failures"
expect 0 "refill" -- pexctl $pc pool fill
expect 0 "create --wait, the replacement works" -- pexctl --json $pc create --uui 6869 --wait
expect 0 "a successful replacement clears the failures" -- pexctl --json $pc pool status
jq_is "$work/out" '.replenish_failures' 0 "replenish failures cleared"
jq_is "$work/out" '.last_replenish_failure' null "no last failure"


# readiness (issue 12.2): Pexip replicates a new room after $rd_s s (the
# emulator's model) and pool.ready_after_s is $rd_s: pexctl create never
# hands out a room a caller cannot join yet; while none is ready it exits 4
# saying when the next will be, and pool fill says when its rooms will be
# ready. The three calls after the fill must run within $rd_s s: a wide
# margin (each call takes milliseconds, about a second under valgrind); the
# rest waits for states.
rd_s=5
[ "${PEXCTL_VALGRIND:-0}" = 1 ] && rd_s=30
emu_ctl POST /_emu/replication "{\"delay_s\": $rd_s}" >/dev/null || bad "set the replication delay"
{ pexip_yaml; cat <<YAML; } >"$work/rd.yaml"
queue:
  backend: sqlite
  sqlite: {path: $work/rd.db}
pool: {depth: 2, name_prefix: rd_, ready_after_s: $rd_s}
YAML
rc="-c $work/rd.yaml"
expect 0 "readiness: fill" -- pexctl $rc pool fill
contains "$work/out" "ready to hand out in $((rd_s + 1)) s" "fill says when its rooms will be ready"
expect 0 "readiness: status" -- pexctl --json $rc pool status
jq_is "$work/out" '[.pool_depth, .pool_ready, .pool_maturing] | map(tostring) | join(" ")' "2 0 2" "status tells maturing rooms"
expect 4 "readiness: nothing ready yet" -- pexctl $rc create --no-replenish
contains "$work/err" "no room is ready yet; the next will be ready in " "create explains the wait"
handed=0
for _ in $(seq 1 1200); do      # polls every 0.05 s until both rooms were handed out
	if pexctl --json $rc create --no-replenish >"$work/out" 2>"$work/err"; then
		name=$(jq -r .name "$work/out")
		[ "$(emu_ctl POST /_emu/conference/joinable "{\"name\": \"$name\"}" | jq -r .joinable)" = true ] && ok ||
			bad "readiness: $name was handed out before a caller could join it"
		handed=$((handed + 1))
		[ "$handed" = 2 ] && break
	else
		[ $? = 4 ] || bad "readiness: create failed: $(cat "$work/err")"
		sleep 0.05
	fi
done
[ "$handed" = 2 ] && ok || bad "readiness: $handed of 2 rooms handed out"
emu_ctl POST /_emu/replication '{"delay_s": 0}' >/dev/null || bad "reset the replication delay"

finish
