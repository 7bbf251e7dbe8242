#!/usr/bin/env bash
# The Azure queue backend through a storage outage (Azurite).
#
# 1. Brown-out (SIGSTOP/SIGCONT; the data survives): 10 messages are put,
#    then Azurite freezes. Pops time out with a clear error naming the
#    endpoint; none deletes anything (the client never acknowledges what it
#    could not read). After SIGCONT and the lease time, a drain returns
#    exactly the 10 messages: no message was lost or duplicated.
# 2. Outage (kill -9 by PID, restart on the same port): a client alternates
#    puts and pops all along. While Azurite is down every operation fails
#    with PEX_ENET and a message naming the endpoint (never the key); after
#    the restart the same client, without reconnecting, works again; every
#    operation either succeeded or reported an error, and every put
#    acknowledged after the restart is popped or drained exactly once.
#
# Limitation: Azurite runs with --inMemoryPersistence (azurite.sh), so a
# kill loses everything it held, including the queue itself (re-created
# here after the restart, as a real storage account would still have it).
# "Nothing lost" across a real restart is therefore shown by the brown-out
# phase, where the server keeps its data; the kill phase shows that
# failures are reported, clear, free of secrets, and that the client
# resumes by itself on the same endpoint.
# Usage: queue_outage.sh QUEUE_CLIENT
set -u
# load tests: under meson's valgrind setup (bash itself would be wrapped) skip
[ "${PEX_UNDER_VALGRIND:-0}" = 1 ] && { echo "skipped under the valgrind setup"; exit 77; }
QC=$1
. "${PEX_SOURCE_ROOT:?}/tests/azure/azurite.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }

pex_azurite_start || exit $?
work=$(mktemp -d /tmp/pex-qoutage.XXXXXX)
cpid=
trap '[ -n "$cpid" ] && kill "$cpid" 2>/dev/null; kill -CONT "$PEX_AZURITE_PID" 2>/dev/null; pex_azurite_stop; rm -rf "$work"' EXIT
CONN=$PEX_AZURITE_CONNSTR
KEY=$(printf '%s' "$CONN" | sed -n 's/.*AccountKey=\([^;]*\);.*/\1/p')
[ -n "$KEY" ] || fail "no AccountKey in the connection string"
ENDPOINT="127.0.0.1:$PEX_AZURITE_PORT"
qc() { "$QC" "$CONN" "$@"; }

# Every "err" line is clear: it names the endpoint (transport failures) or
# carries the service's own error code (e.g. QueueNotFound just after an
# in-memory Azurite restarted, before the queue is re-created), and no secret.
check_errors() { # FILE EXPECTED-CODE-REGEX
	local bad
	bad=$(grep ' err ' "$1" | grep -Ev " err ($2) ")
	[ -z "$bad" ] || fail "unexpected error codes in $1: $(echo "$bad" | head -3)"
	bad=$(grep ' err ' "$1" | grep -v "$ENDPOINT" | grep -Ev 'HTTP [0-9]{3} [A-Za-z]+:')
	[ -z "$bad" ] || fail "errors not naming the endpoint $ENDPOINT: $(echo "$bad" | head -3)"
}
check_no_secret() { # FILE...
	! grep -qF -e "$KEY" -e "${KEY:0:16}" -e "AccountKey" -e "sig=" "$@" ||
		fail "a secret (account key/signature) appears in $*"
}

# ---- 1. brown-out: the server keeps its data ----
qc keep put 10 keep >"$work/put.log" || fail "put: $(cat "$work/put.log")"
# (the client freezes Azurite itself, once its queue is open)
QC_STOP_PID=$PEX_AZURITE_PID qc keep pop 3 5 >"$work/frozen.log"
kill -CONT "$PEX_AZURITE_PID"
cat "$work/frozen.log"
[ "$(grep -c ' pop err ' "$work/frozen.log")" -eq 3 ] || fail "pops against a frozen Azurite did not all fail"
check_errors "$work/frozen.log" 'PEX_ETIMEOUT|PEX_ENET'
# a receive that reached the frozen server is served when it resumes: the
# message is hidden for its lease (5 s) and then visible again
sleep 7
qc keep drain >"$work/drain1.log" || fail "drain after the brown-out: $(tail -2 "$work/drain1.log")"
got=$(sed -n 's/.* pop ok //p' "$work/drain1.log" | sort | tr '\n' ' ')
want=$(for i in $(seq 0 9); do echo "keep-$i"; done | sort | tr '\n' ' ')
[ "$got" = "$want" ] || fail "after the brown-out the queue held [$got], expected [$want]"
echo "brown-out: 3 pops failed cleanly; all 10 messages were still there afterwards"

# ---- 2. outage: kill -9, restart on the same port ----
qc work put 1 warmup >/dev/null || fail "cannot create queue 'work'"
qc work run 14 >"$work/run.log" 2>"$work/run.err" &
cpid=$!
sleep 3
kill -9 "$PEX_AZURITE_PID"
wait "$PEX_AZURITE_PID" 2>/dev/null
echo "killed Azurite (pid $PEX_AZURITE_PID)"
sleep 4
# restart: same port, same flags as azurite.sh (in-memory persistence)
bin=$PEX_AZURITE_PREFIX/node_modules/.bin/azurite-queue
(cd "$PEX_AZURITE_DIR" && exec "$bin" --inMemoryPersistence --skipApiVersionCheck \
	--disableTelemetry --silent --queueHost 127.0.0.1 --queuePort "$PEX_AZURITE_PORT") \
	>"$PEX_AZURITE_DIR/azurite2.log" 2>&1 </dev/null &
PEX_AZURITE_PID=$!
for _ in $(seq 1 100); do
	grep -q "successfully listens" "$PEX_AZURITE_DIR/azurite2.log" 2>/dev/null && break
	kill -0 "$PEX_AZURITE_PID" 2>/dev/null || break
	sleep 0.1
done
grep -q "successfully listens on http://$ENDPOINT" "$PEX_AZURITE_DIR/azurite2.log" ||
	fail "Azurite did not restart on the same port: $(cat "$PEX_AZURITE_DIR/azurite2.log")"
echo "restarted Azurite on $ENDPOINT (pid $PEX_AZURITE_PID)"
# the in-memory restart lost the queue: re-create it (opening creates it)
qc work count >/dev/null || fail "cannot re-create queue 'work'"
wait "$cpid"
cpid=

total=$(wc -l <"$work/run.log")
errs=$(grep -c ' err ' "$work/run.log")
oks=$(grep -c ' ok' "$work/run.log")
empties=$(grep -c ' empty$' "$work/run.log")
echo "outage run: $total operations: $oks ok, $errs errors, $empties empty"
# no silent outcome: every line is ok, empty or an error with a code and text
[ $((oks + errs + empties)) -eq "$total" ] || fail "operations without a clear outcome in run.log"
! grep -E ' err PEX_[A-Z]+ *$' "$work/run.log" || fail "an error without a message"
[ -s "$work/run.err" ] && fail "queue-client wrote to stderr: $(head -3 "$work/run.err")"
[ "$errs" -ge 10 ] || fail "only $errs errors: the outage was not seen"
# errors while Azurite was down: connection refused is PEX_ENET; around
# the kill and the restart a request can also time out or find the
# (not yet re-created) queue missing
check_errors "$work/run.log" 'PEX_ENET|PEX_ETIMEOUT|PEX_ENOTFOUND|PEX_EBACKEND|PEX_ELEASELOST'
[ "$(grep -c ' err PEX_ENET ' "$work/run.log")" -ge 5 ] || fail "fewer than 5 PEX_ENET errors during the outage"
grep ' err PEX_ENET ' "$work/run.log" | head -2
check_no_secret "$work"/*.log
# the client resumed: the last 2 seconds are all successes
last=$(tail -n 1 "$work/run.log" | cut -d' ' -f1)
resumed=$(awk -v t=$((last - 2000)) '$1 >= t' "$work/run.log")
[ -n "$resumed" ] || fail "no operation in the last 2 s"
! echo "$resumed" | grep -q ' err ' || fail "errors after the restart: $(echo "$resumed" | grep ' err ' | head -3)"
# after the restart: each acknowledged put is popped or left in the queue, exactly once
first_ok_after=$(awk '/ err PEX_ENET /{t=$1} END{print t}' "$work/run.log")
awk -v t="$first_ok_after" '$1 > t && $2 == "put" && $3 == "ok" {print $4}' "$work/run.log" | sort >"$work/puts"
awk -v t="$first_ok_after" '$1 > t && $2 == "pop" && $3 == "ok" {print $4}' "$work/run.log" >"$work/pops"
qc work drain >"$work/drain2.log" || fail "final drain: $(tail -2 "$work/drain2.log")"
sed -n 's/.* pop ok //p' "$work/drain2.log" >>"$work/pops"
dup=$(sort "$work/pops" | uniq -d)
[ -z "$dup" ] || fail "messages received twice: $dup"
missing=$(sort "$work/pops" | comm -23 "$work/puts" -)
[ -z "$missing" ] || fail "acknowledged puts never received: $missing"
echo "after the restart: $(wc -l <"$work/puts") acknowledged puts, all received exactly once"
check_no_secret "$work"/*.log
echo "1 passed, 0 failed"
