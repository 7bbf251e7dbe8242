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
run_helper put "$q" 00ff10fe
node "$js" expect-base64 "$q" 00ff10fe && echo "ok   - SDK reads our binary as base64" ||
	{ echo "FAIL - SDK reads our binary as base64"; fails=$((fails + 1)); }

# (b) SDK -> ours, raw text: JSON, XML specials, a bare room name
for text in '{"name":"raw-room","n":1}' '<a & "b" '"'"'c'"'"'>' 'room-0042' \
	"$(printf 'caf\303\251')"; do
	node "$js" send "$q" "$text"
	check "we read SDK raw text $text" "$(hex "$text")" "$(run_helper get "$q")"
done

# (b) SDK -> ours, base64 text (a producer with a base64 policy, or a
# Functions output binding)
payload='{"name":"b64-room"}'
node "$js" send "$q" "$(printf '%s' "$payload" | base64 | tr -d '\n')"
check "we decode SDK base64 text" "$(hex "$payload")" "$(run_helper get "$q")"
node "$js" send "$q" "$(printf '\000\377\020' | base64)"
check "we decode SDK base64 of binary" 00ff10 "$(run_helper get "$q")"

[ "$fails" -eq 0 ] || { echo "$fails interop check(s) failed"; exit 1; }
echo "interop: all checks passed"
