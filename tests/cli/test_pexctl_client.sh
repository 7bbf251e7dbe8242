#!/usr/bin/env bash
# pexctl's use of the Pexip client, end to end against the emulator:
# pagination that really pages, OAuth2 token reuse, refresh and revocation,
# and the in-flight cap. Counters are read at the emulator.
# Usage: test_pexctl_client.sh PEXCTL EMULATOR
# Set PEXCTL_VALGRIND=1 to run every pexctl call under valgrind.
set -u
PEXCTL_BIN=$1
export PEX_EMULATOR=$2
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
bgpid=
kill_bg() { [ -n "$bgpid" ] && kill "$bgpid" 2>/dev/null; }
cleanup_extra=kill_bg
# stat_cmp KEY OP N DESCRIPTION: an emulator counter compared with N (-eq, -le or -ge)
stat_cmp() {
	local v r=1; v=$(emu_stat "$1")
	case "$v" in ''|*[!0-9]*) v=none ;; esac
	if [ "$v" != none ]; then
		case "$2" in
		-eq) [ "$v" -eq "$3" ] && r=0 ;;
		-le) [ "$v" -le "$3" ] && r=0 ;;
		-ge) [ "$v" -ge "$3" ] && r=0 ;;
		esac
	fi
	if [ "$r" = 0 ]; then ok; else bad "$4: emulator $1 = '$v', want $2 $3"; fi
}
populate() { # count prefix
	emu_ctl POST /_emu/populate "{\"count\": $1, \"prefix\": \"$2\"}" >/dev/null ||
		bad "could not populate $1 rooms '$2' on the emulator"
}
reset_stats() { emu_ctl POST /_emu/reset_stats '{}' >/dev/null || bad "reset_stats"; }
# wait_stat KEY N: until an emulator counter reaches N (at most 60 s)
wait_stat() {
	local i=0
	while [ "$(emu_stat "$1")" -lt "$2" ]; do
		i=$((i + 1))
		[ "$i" -gt 1200 ] && return 1
		sleep 0.05
	done
}

basic_yaml() { # file [extra pexip lines]
	cat >"$1" <<YAML
pexip:
  url: $EMU_URL
  auth: {method: basic, username: admin, password: admin}
  retries: {max: 3, base_ms: 5, cap_ms: 100}
${2:-}
YAML
}
pool_yaml() { # file pexip-auth-line max_concurrency db
	cat >"$1" <<YAML
pexip:
  url: $EMU_URL
  auth: $2
  max_concurrency: $3
  retries: {max: 3, base_ms: 5, cap_ms: 100}
queue:
  backend: sqlite
  sqlite: {path: $4}
pool: {depth: 5, name_prefix: pool_, ready_after_s: 0}
YAML
}

# --- pagination: pexctl asks 500 a page; the emulator serves at most 10
emu_start --max-limit 10 || { echo "cannot start the emulator" >&2; exit 1; }
basic_yaml "$work/basic.yaml"
populate 46 pg_
populate 3 other_
seq -f 'pg_%06g' 0 45 >"$work/want"
reset_stats
expect 0 "list --prefix over pages" -- pexctl --json -c "$work/basic.yaml" list --prefix pg_
jq_is "$work/out" 'length' 46 "every room listed"
jq -r '.[].name' "$work/out" | sort >"$work/got"
if cmp -s "$work/want" "$work/got"; then ok; else bad "listed names differ"; diff "$work/want" "$work/got" | head >&2; fi
jq_is "$work/out" '[.[].name] | unique | length' 46 "no duplicates"
stat_cmp '.by_method.GET' -ge 5 "46 rooms came in pages of at most 10"
reset_stats
expect 0 "list (text) over pages" -- pexctl -c "$work/basic.yaml" list
{ cat "$work/want"; seq -f 'other_%06g' 0 2; } | sort >"$work/want_all"
awk 'NR > 1 { print $2 }' "$work/out" | sort >"$work/got_all"
if cmp -s "$work/want_all" "$work/got_all"; then ok; else
	bad "list text: names differ"; diff "$work/want_all" "$work/got_all" | head >&2; fi
stat_cmp '.by_method.GET' -ge 5 "49 rooms came in pages of at most 10"
emu_stop

# --- OAuth2 through pexctl
if ! openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/oauth.pem" 2>/dev/null ||
	! openssl pkey -in "$work/oauth.pem" -pubout -out "$work/oauth.pub" 2>/dev/null; then
	bad "openssl genpkey"
fi
oauth_auth="{method: oauth2, client_id: cli1, private_key: \"file:$work/oauth.pem\"}"

# many requests, one token
emu_start --oauth-client "cli1=$work/oauth.pub" --disable-basic || bad "OAuth emulator did not start"
pool_yaml "$work/oauth.yaml" "$oauth_auth" 3 "$work/oauth.db"
populate 20 del_
reset_stats
expect 0 "delete --prefix with OAuth2" -- pexctl --json -c "$work/oauth.yaml" delete --prefix del_ --yes
jq_is "$work/out" '.deleted | length' 20 "all deleted"
stat_cmp conferences -eq 0 "nothing left"
stat_cmp requests -ge 21 "one list and 20 deletes"
stat_cmp token_requests -eq 1 "one token request for the whole command"
stat_cmp tokens_issued -eq 1 "one token for the whole command"
stat_cmp auth_failures -eq 0 "no 401"
lacks "$work/out" "PRIVATE KEY" "key on stdout"
lacks "$work/err" "PRIVATE KEY" "key on stderr"

# revoked mid-run while several requests are in flight: exactly one refresh
# (single flight: every request refused with the old token waits for the
# same new one), and the command succeeds
emu_ctl POST /_emu/faults '{"latency_ms": 100}' >/dev/null
reset_stats
pexctl --json -c "$work/oauth.yaml" pool fill --depth 40 >"$work/fill.out" 2>"$work/fill.err" &
bgpid=$!
wait_stat conferences 10 || bad "pool fill made fewer than 10 rooms in 60 s"
if kill -0 "$bgpid" 2>/dev/null; then ok; else bad "pool fill ended before the revocation"; fi
emu_ctl POST /_emu/revoke_tokens >/dev/null || bad "revoke_tokens"
wait "$bgpid"
rc=$?
bgpid=
if [ "$rc" = 0 ]; then ok; else bad "pool fill across a revocation: exit $rc"; sed 's/^/  | /' "$work/fill.err" >&2; fi
jq_is "$work/fill.out" '.created' 40 "pool fill across a revocation created every room"
stat_cmp tokens_issued -eq 2 "one token, then one refresh for the revocation"
stat_cmp auth_failures -ge 1 "the revocation was noticed (401)"

# revoked twice during a one-request-at-a-time command: one refresh per
# revocation. Ten deletes (each >= 50 ms) separate the two, so no single
# call sees both (a call refreshes at most once, then fails).
populate 40 rev_
emu_ctl POST /_emu/faults '{"latency_ms": 50}' >/dev/null
reset_stats
pexctl --json -c "$work/oauth.yaml" delete --prefix rev_ --yes >"$work/del.out" 2>"$work/del.err" &
bgpid=$!
for left in 30 20; do
	i=0
	while [ "$(emu_stat conferences)" -gt $((40 + left)) ] && [ "$i" -lt 1200 ]; do
		i=$((i + 1))
		sleep 0.05
	done
	if kill -0 "$bgpid" 2>/dev/null; then ok; else bad "delete ended before the revocation at $left left"; fi
	emu_ctl POST /_emu/revoke_tokens >/dev/null || bad "revoke_tokens"
done
wait "$bgpid"
rc=$?
bgpid=
if [ "$rc" = 0 ]; then ok; else bad "delete across revocations: exit $rc"; sed 's/^/  | /' "$work/del.err" >&2; fi
jq_is "$work/del.out" '.deleted | length' 40 "delete across revocations deleted every room"
stat_cmp tokens_issued -eq 3 "one token, then one refresh per revocation"
stat_cmp auth_failures -eq 2 "each revocation refused exactly one request"
emu_stop

# a token that expires during a long command is refreshed before it runs out
emu_start --oauth-client "cli1=$work/oauth.pub" --disable-basic --token-ttl 4 || bad "OAuth emulator did not start"
pool_yaml "$work/ttl.yaml" "$oauth_auth" 1 "$work/ttl.db"
# 30 creates one at a time, each >= 200 ms: at least 6 s, past the 3 s refresh point
emu_ctl POST /_emu/faults '{"latency_ms": 200}' >/dev/null
expect 0 "pool fill outliving its token" -- pexctl --json -c "$work/ttl.yaml" pool fill --depth 30
jq_is "$work/out" '.created' 30 "pool fill with a short-lived token"
stat_cmp tokens_issued -ge 2 "the token was refreshed"
stat_cmp auth_failures -eq 0 "refreshed before it expired (no 401)"
emu_stop

# --- the in-flight cap: max_concurrency 3, slow server, 30 creates
emu_start || bad "emulator did not start"
pool_yaml "$work/cap.yaml" "{method: basic, username: admin, password: admin}" 3 "$work/cap.db"
emu_ctl POST /_emu/faults '{"latency_ms": 100}' >/dev/null
reset_stats
expect 0 "pool fill under a cap of 3" -- pexctl --json -c "$work/cap.yaml" pool fill --depth 30
jq_is "$work/out" '.created' 30 "pool fill under the cap"
stat_cmp max_in_flight -le 3 "never more than max_concurrency in flight"
stat_cmp max_in_flight -ge 2 "requests did run concurrently"
stat_cmp connections_opened -le 3 "connections reused, one per slot"
emu_stop

finish
