#!/bin/sh
# Interop with the official JS SDK (@azure/storage-queue) on Azurite (design
# §4). Run under azurite.sh: `azurite.sh run sh interop.sh HELPER [POOL]`.
#   (a) a message our backend writes is read by the SDK as base64 text that
#       decodes to our bytes (what an Azure Functions queue trigger sees);
#   (b) messages the SDK writes as raw text and as base64 text are read by
#       our backend as the raw text's bytes and the decoded bytes;
#   (c) a pool message -- written by the real pool (POOL = interop-pool:
#       pex_pool_replenish() against the Pexip emulator) and by the codec +
#       queue put the pool uses -- is, read by the SDK and base64-decoded
#       ONCE, the room JSON; and the pool's decoding reads what SDK producers
#       write: raw JSON, base64 JSON, raw and base64 bare names, and the
#       double base64 an earlier version wrote.
set -eu
helper=$1
pool=${2:-}
# under meson's valgrind setup azurite.sh tells us how to wrap our binaries
run_helper() { $PEX_AZ_VALGRIND "$helper" "$@"; }
here=$(cd "$(dirname "$0")" && pwd)
js="$here/interop.js"
q="interop-$$"
fails=0

hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

check() {
	# $1 what, $2 expected hex, $3 got hex
	if [ "$2" = "$3" ]; then
		echo "ok   - $1"
	else
		echo "FAIL - $1: expected $2, got $3"
		fails=$((fails + 1))
	fi
}

# (a) ours -> SDK: JSON with non-ASCII, and bytes that are not UTF-8
room=$(printf '{"name":"room-1","alias":"caf\303\251 <&>"}')
run_helper put "$q" "$(hex "$room")"
node "$js" expect-base64 "$q" "$(hex "$room")" && echo "ok   - SDK reads our JSON as base64" ||
	{ echo "FAIL - SDK reads our JSON as base64"; fails=$((fails + 1)); }
# bytes that are not UTF-8 are refused (they could not be read back: see
# the last check)
if run_helper put "$q" 00ff10fe 2>"$q.err"; then
	echo "FAIL - our backend put bytes that are not UTF-8"; fails=$((fails + 1))
elif grep -q 'PEX_EINVAL.*not valid UTF-8 (byte 0xff at offset 1' "$q.err"; then
	echo "ok   - our backend refuses bytes that are not UTF-8"
else
	echo "FAIL - refusal of non-UTF-8 bytes unclear: $(cat "$q.err")"; fails=$((fails + 1))
fi
rm -f "$q.err"

# (b) SDK -> ours, raw text: JSON, XML specials, a bare room name
# ('room1234' is canonical base64, but of bytes that are not UTF-8)
for text in '{"name":"raw-room","n":1}' '<a & "b" '"'"'c'"'"'>' 'room-0042' 'room1234' \
	"$(printf 'caf\303\251')"; do
	node "$js" send "$q" "$text"
	check "we read SDK raw text $text" "$(hex "$text")" "$(run_helper get "$q")"
done

# (b) SDK -> ours, base64 text (a producer with a base64 policy, or a
# Functions output binding)
payload='{"name":"b64-room"}'
node "$js" send "$q" "$(printf '%s' "$payload" | base64 | tr -d '\n')"
check "we decode SDK base64 text" "$(hex "$payload")" "$(run_helper get "$q")"
# base64 of bytes that are not UTF-8 is read as the text it is (docs/DECISIONS.md #9)
node "$js" send "$q" "$(printf '\000\377\020' | base64)"
check "we read SDK base64 of binary as text" "$(hex AP8Q)" "$(run_helper get "$q")"

# (c) pool messages, ours -> SDK: decoded once they are the room JSON
b64() { printf '%s' "$1" | base64 | tr -d '\n'; }
sdk_pool() { # WHAT ARGS...
	what=$1
	shift
	if node "$js" expect-pool-json "$q" "$@"; then
		echo "ok   - $what"
	else
		echo "FAIL - $what"
		fails=$((fails + 1))
	fi
}
if [ -n "$pool" ]; then
	if line=$($PEX_AZ_VALGRIND "$pool" fill "$q"); then
		# shellcheck disable=SC2086
		sdk_pool "SDK reads the real pool's message as base64 of the room JSON" $line
	else
		echo "FAIL - the pool could not queue a room"
		fails=$((fails + 1))
	fi
else
	echo "note - no Pexip emulator in this build: the real pool path is not run"
fi
alias_text=$(printf 'm\303\270te.1 <&> "x"@example.com')
run_helper poolput "$q" vmr_interop1 4711 "$alias_text" 0042 1700000000
sdk_pool "SDK reads our pool codec's message as base64 of the room JSON" \
	vmr_interop1 4711 "$alias_text" 0042 1700000000
run_helper poolput "$q" "$(printf 'r\303\270om_2')" 0 - - 0
sdk_pool "SDK reads a record with unknowns (nulls, 0)" "$(printf 'r\303\270om_2')" 0 - - 0

# (c) pool messages, SDK -> ours: what producers write reads as the room
pool_check() { # WHAT TEXT-TO-SEND EXPECTED-LINE
	node "$js" send "$q" "$2"
	rc=0
	got=$(run_helper poolget "$q" 2>"$q.err") || rc=$?
	if [ "$rc" -eq 0 ] && [ "$got" = "$3" ]; then
		echo "ok   - pool reads $1"
	else
		echo "FAIL - pool reads $1: expected [$3], got [$got] (exit $rc) $(cat "$q.err")"
		fails=$((fails + 1))
	fi
	rm -f "$q.err"
}
json='{"name":"vmr_sdk1","id":42,"alias":"a@b.c","guest_pin":"1234","created":1700000001}'
want='name=vmr_sdk1 id=42 alias=a@b.c guest_pin=1234 created=1700000001'
pool_check "raw JSON (SDK default)" "$json" "$want"
pool_check "base64 JSON (Functions output binding, base64 policy)" "$(b64 "$json")" "$want"
pool_check "double base64 JSON (an earlier version's Azure message)" "$(b64 "$(b64 "$json")")" "$want"
pool_check "a raw bare name" room1234 'name=room1234 id=0 alias=- guest_pin=- created=0'
pool_check "a raw bare name with '_'" vmr_legacy_7 'name=vmr_legacy_7 id=0 alias=- guest_pin=- created=0'
pool_check "a base64 bare name" "$(b64 room1234)" 'name=room1234 id=0 alias=- guest_pin=- created=0'
pool_check "a raw non-ASCII name" "$(printf 'm\303\270te_9')" \
	"$(printf 'name=m\303\270te_9 id=0 alias=- guest_pin=- created=0')"

[ "$fails" -eq 0 ] || { echo "$fails interop check(s) failed"; exit 1; }
echo "interop: all checks passed"
