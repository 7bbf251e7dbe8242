#!/bin/sh
# Interop with the official JS SDK (@azure/storage-queue) on Azurite (design
# §4). Run under azurite.sh: `azurite.sh run sh interop.sh HELPER`.
#   (a) a message our backend writes is read by the SDK as base64 text that
#       decodes to our bytes (what an Azure Functions queue trigger sees);
#   (b) messages the SDK writes as raw text and as base64 text are read by
#       our backend as the raw text's bytes and the decoded bytes.
set -eu
helper=$1
# under meson's valgrind setup azurite.sh tells us how to wrap our binary
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
# base64 of bytes that are not UTF-8 is read as the text it is (spec §5)
node "$js" send "$q" "$(printf '\000\377\020' | base64)"
check "we read SDK base64 of binary as text" "$(hex AP8Q)" "$(run_helper get "$q")"

[ "$fails" -eq 0 ] || { echo "$fails interop check(s) failed"; exit 1; }
echo "interop: all checks passed"
