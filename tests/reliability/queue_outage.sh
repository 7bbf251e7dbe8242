#!/usr/bin/env bash
# The Azure queue backend through a storage outage.
#
# Azure Storage does not lose data in an outage: what fails is the path to
# it. So the outage is modelled as the endpoint becoming unreachable while
# the server (Azurite) keeps running with everything it holds: the client
# talks to Azurite through a TCP proxy (tcp-proxy, on loopback, ephemeral
# port), and the proxy is
#   1. frozen (SIGSTOP): connections are accepted by the kernel but nothing
#      answers, so requests time out (PEX_ETIMEOUT);
#   2. thawed (SIGCONT): requests go through again -- including the ones
#      the client had given up on, so a put reported as failed may have been
#      stored after all (an "extra", allowed: it was never acknowledged);
#   3. killed: connection refused (PEX_ENET);
#   4. started again on the same port: the same client, without reopening
#      anything, works again.
# 10 messages are put before the outage; a client puts (and peeks) all
# along. Every error names the endpoint and never a secret; every
# operation either succeeded or said why not; the client resumes by itself;
# and a final drain receives every acknowledged put -- before and during the
# outage -- exactly once, and nothing that was never put.
# Usage: queue_outage.sh QUEUE_CLIENT TCP_PROXY
set -u
# load tests: under meson's valgrind setup (bash itself would be wrapped) skip
[ "${PEX_UNDER_VALGRIND:-0}" = 1 ] && { echo "skipped under the valgrind setup"; exit 77; }
QC=$1
PROXY=$2
. "${PEX_SOURCE_ROOT:?}/tests/azure/azurite.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }

pex_azurite_start || exit $?
work=$(mktemp -d /tmp/pex-qoutage.XXXXXX)
cpid= ppid_=
cleanup() {
	[ -n "$cpid" ] && kill "$cpid" 2>/dev/null
	if [ -n "$ppid_" ]; then
		kill -CONT "$ppid_" 2>/dev/null
		kill "$ppid_" 2>/dev/null
		wait "$ppid_" 2>/dev/null
	fi
	pex_azurite_stop
	rm -rf "$work"
}
trap cleanup EXIT

# start_proxy PORT LOG: the proxy in front of Azurite; sets ppid_ and PPORT
start_proxy() {
	local i
	"$PROXY" --port "$1" "127.0.0.1:$PEX_AZURITE_PORT" >"$2" 2>&1 </dev/null &
	ppid_=$!
	for i in $(seq 1 100); do
		PPORT=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$2")
		[ -n "$PPORT" ] && return 0
		kill -0 "$ppid_" 2>/dev/null || break
		sleep 0.05
	done
	wait "$ppid_" 2>/dev/null
	ppid_=
	return 1
}

start_proxy 0 "$work/proxy1.log" || fail "the proxy did not start: $(cat "$work/proxy1.log")"
ENDPOINT="127.0.0.1:$PPORT"
CONN=$(printf '%s' "$PEX_AZURITE_CONNSTR" |
	sed "s|QueueEndpoint=http://127\.0\.0\.1:$PEX_AZURITE_PORT/|QueueEndpoint=http://$ENDPOINT/|")
case $CONN in *"$ENDPOINT"*) ;; *) fail "could not point the connection string at the proxy" ;; esac
KEY=$(printf '%s' "$CONN" | sed -n 's/.*AccountKey=\([^;]*\);.*/\1/p')
[ -n "$KEY" ] || fail "no AccountKey in the connection string"
qc() { "$QC" "$CONN" "$@"; }
echo "Azurite on 127.0.0.1:$PEX_AZURITE_PORT, the client goes through the proxy on $ENDPOINT"

check_no_secret() { # FILE...
	! grep -qF -e "$KEY" -e "${KEY:0:16}" -e "AccountKey" -e "sig=" "$@" ||
		fail "a secret (account key/signature) appears in $*"
}

# ---- before the outage ----
qc work put 10 pre >"$work/pre.log" || fail "put before the outage: $(cat "$work/pre.log")"

# ---- the outage, under a client that keeps putting and peeking ----
# (the client's requests time out after 1.5 s, one retry for all but puts:
# 6 s frozen is room for at least a put and a peek to time out)
qc work putpeek 15 dur >"$work/run.log" 2>"$work/run.err" &
cpid=$!
sleep 2
kill -STOP "$ppid_"
echo "froze the proxy (pid $ppid_)"
sleep 6
kill -CONT "$ppid_"
echo "thawed the proxy"
sleep 1.5
kill "$ppid_"
wait "$ppid_" 2>/dev/null
ppid_=
echo "stopped the proxy: $ENDPOINT refuses connections"
sleep 2.5
ok=
for _ in 1 2 3 4 5; do
	start_proxy "$PPORT" "$work/proxy2.log" && { ok=1; break; }
	sleep 0.2
done
[ -n "$ok" ] || fail "the proxy did not restart on port $PPORT: $(cat "$work/proxy2.log")"
[ "$PPORT" = "${ENDPOINT##*:}" ] || fail "the proxy came back on port $PPORT, not ${ENDPOINT##*:}"
echo "restarted the proxy on $ENDPOINT (pid $ppid_)"
wait "$cpid"
cpid=

# ---- what the client saw ----
total=$(wc -l <"$work/run.log")
errs=$(grep -c ' err ' "$work/run.log")
oks=$(grep -c ' ok' "$work/run.log")
empties=$(grep -c ' empty$' "$work/run.log")
echo "outage run: $total operations: $oks ok, $errs errors" \
	"($(grep -c ' err PEX_ETIMEOUT ' "$work/run.log") timed out," \
	"$(grep -c ' err PEX_ENET ' "$work/run.log") refused), $empties empty"
[ $((oks + errs + empties)) -eq "$total" ] || fail "operations without a clear outcome in run.log"
! grep -E ' err PEX_[A-Z]+ *$' "$work/run.log" || fail "an error without a message"
[ -s "$work/run.err" ] && fail "queue-client wrote to stderr: $(head -3 "$work/run.err")"
# frozen: timeouts; down: connection refused; nothing else
bad=$(grep ' err ' "$work/run.log" | grep -Ev ' err (PEX_ETIMEOUT|PEX_ENET) ')
[ -z "$bad" ] || fail "unexpected error codes: $(echo "$bad" | head -3)"
[ "$(grep -c ' err PEX_ETIMEOUT ' "$work/run.log")" -ge 2 ] || fail "fewer than 2 timeouts while the proxy was frozen"
[ "$(grep -c ' err PEX_ENET ' "$work/run.log")" -ge 2 ] || fail "fewer than 2 refused connections while the proxy was down"
# every error names the endpoint (the proxy's) and the operation
bad=$(grep ' err ' "$work/run.log" | grep -v "cannot reach http://$ENDPOINT")
[ -z "$bad" ] || fail "errors not naming the endpoint $ENDPOINT: $(echo "$bad" | head -3)"
bad=$(grep ' err ' "$work/run.log" | grep -Ev "Azure Storage (put message|peek messages) on queue 'work'")
[ -z "$bad" ] || fail "errors not naming the operation and queue: $(echo "$bad" | head -3)"
grep ' err PEX_ETIMEOUT ' "$work/run.log" | head -1
grep ' err PEX_ENET ' "$work/run.log" | head -1
check_no_secret "$work"/*.log
# the client resumed by itself: the last 2 seconds are all successes
last=$(tail -n 1 "$work/run.log" | cut -d' ' -f1)
resumed=$(awk -v t=$((last - 2000)) '$1 >= t' "$work/run.log")
[ -n "$resumed" ] || fail "no operation in the last 2 s"
! echo "$resumed" | grep -q ' err ' || fail "errors after the restart: $(echo "$resumed" | grep ' err ' | head -3)"
# puts were acknowledged before, between and after the failures
first_err=$(awk '/ err /{print $1; exit}' "$work/run.log")
last_err=$(awk '/ err /{t=$1} END{print t}' "$work/run.log")
during=$(awk -v a="$first_err" -v b="$last_err" '$1 > a && $1 < b && $2 == "put" && $3 == "ok"' "$work/run.log" | wc -l)
echo "puts acknowledged between the first and the last error: $during"
[ "$during" -ge 1 ] || fail "no put was acknowledged during the outage (between freeze and restart)"

# ---- nothing lost: every acknowledged put is received exactly once ----
qc work drain-all 15 >"$work/drain.log" || fail "final drain: $(tail -3 "$work/drain.log")"
check_no_secret "$work"/*.log
awk '$2 == "put" && $3 == "ok" {print $4}' "$work/pre.log" "$work/run.log" | sort >"$work/acked"
# what was tried: pre-0..9 and dur-0..N, N the last put (acknowledged: the
# run ends with successes)
maxn=$(sed -n 's/.* put ok dur-//p' "$work/run.log" | sort -n | tail -1)
{ seq 0 9 | sed 's/^/pre-/'; seq 0 "${maxn:-0}" | sed 's/^/dur-/'; } | sort >"$work/tried"
sed -n 's/.* pop ok //p' "$work/drain.log" | sort >"$work/got"
n_acked=$(wc -l <"$work/acked")
[ "$(grep -c '^pre-' "$work/acked")" -eq 10 ] || fail "the 10 puts before the outage were not all acknowledged"
dup=$(uniq -d "$work/got")
[ -z "$dup" ] || fail "messages received twice: $dup"
missing=$(comm -23 "$work/acked" "$work/got")
[ -z "$missing" ] || fail "acknowledged puts never received: $missing"
stranger=$(comm -23 "$work/got" "$work/tried")
[ -z "$stranger" ] || fail "received messages that were never put: $stranger"
extras=$(comm -13 "$work/acked" "$work/got" | wc -l)
echo "nothing lost: $n_acked acknowledged puts (10 before the outage), all received exactly once;" \
	"$extras put(s) reported as failed were stored after all"
echo "1 passed, 0 failed"
