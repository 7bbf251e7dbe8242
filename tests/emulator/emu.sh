# Shell harness for the Pexip emulator. POSIX sh (dash, bash); needs curl,
# and jq for emu_stat. Source it:
#
#   . tests/emulator/emu.sh
#   emu_start --seed 7 || exit 1        # exports EMU_PORT EMU_PID EMU_URL EMU_DIR
#   emu_ctl POST /_emu/faults '{"rate_503": 0.3}'
#   n=$(emu_stat requests)              # or a jq path: emu_stat '.by_status["200"]'
#   emu_stop                            # SIGTERM, wait (SIGKILL after 5 s)
#
# The binary is $PEX_EMULATOR, else $PEX_BUILD_ROOT/tests/emulator/pexip-emulator.
# emu_ctl prints the response body on stdout, sets EMU_STATUS to the HTTP
# status (000 on a transport error) and returns 0 for 2xx, 1 otherwise.
# emu_api is emu_ctl with Basic admin:admin, for /api/admin/... paths.
# The emulator's stderr is kept in $EMU_DIR/stderr until emu_stop.

emu_start() {
	_emu_bin=${PEX_EMULATOR:-${PEX_BUILD_ROOT:-.}/tests/emulator/pexip-emulator}
	if [ ! -x "$_emu_bin" ]; then
		echo "emu_start: no emulator at $_emu_bin (set PEX_EMULATOR)" >&2
		return 1
	fi
	EMU_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pexemu.XXXXXX") || return 1
	"$_emu_bin" --port-file "$EMU_DIR/port" "$@" >"$EMU_DIR/stdout" 2>"$EMU_DIR/stderr" &
	EMU_PID=$!
	_emu_i=0
	while [ ! -s "$EMU_DIR/port" ]; do
		if ! kill -0 "$EMU_PID" 2>/dev/null; then
			echo "emu_start: the emulator exited:" >&2
			cat "$EMU_DIR/stderr" >&2
			wait "$EMU_PID" 2>/dev/null
			rm -rf "$EMU_DIR"
			unset EMU_PID EMU_DIR
			return 1
		fi
		_emu_i=$((_emu_i + 1))
		if [ "$_emu_i" -gt 200 ]; then
			echo "emu_start: no port after 10 s" >&2
			kill -KILL "$EMU_PID" 2>/dev/null
			wait "$EMU_PID" 2>/dev/null
			rm -rf "$EMU_DIR"
			unset EMU_PID EMU_DIR
			return 1
		fi
		sleep 0.05
	done
	EMU_PORT=$(cat "$EMU_DIR/port")
	_emu_scheme=http
	for _emu_a in "$@"; do
		[ "$_emu_a" = "--tls-cert" ] && _emu_scheme=https
	done
	EMU_URL="$_emu_scheme://127.0.0.1:$EMU_PORT"
	export EMU_PORT EMU_PID EMU_URL EMU_DIR
	return 0
}

emu_stop() {
	[ -n "${EMU_PID:-}" ] || return 0
	kill -TERM "$EMU_PID" 2>/dev/null
	_emu_i=0
	while kill -0 "$EMU_PID" 2>/dev/null; do
		_emu_i=$((_emu_i + 1))
		if [ "$_emu_i" -gt 100 ]; then
			kill -KILL "$EMU_PID" 2>/dev/null
			break
		fi
		sleep 0.05
	done
	wait "$EMU_PID" 2>/dev/null
	EMU_EXIT=$?
	[ -n "${EMU_DIR:-}" ] && rm -rf "$EMU_DIR"
	unset EMU_PID EMU_PORT EMU_URL EMU_DIR
	return 0
}

# emu_ctl METHOD PATH [JSON]
_emu_request() {
	_emu_auth=$1
	shift
	_emu_m=$1
	_emu_p=$2
	_emu_out=$(mktemp "${TMPDIR:-/tmp}/pexemu-body.XXXXXX") || return 1
	if [ $# -ge 3 ]; then
		EMU_STATUS=$(curl -sk $_emu_auth -o "$_emu_out" -w '%{http_code}' -X "$_emu_m" \
			-H 'Content-Type: application/json' --data-binary "$3" "$EMU_URL$_emu_p")
	elif [ "$_emu_m" = POST ]; then
		EMU_STATUS=$(curl -sk $_emu_auth -o "$_emu_out" -w '%{http_code}' -X POST -d '' "$EMU_URL$_emu_p")
	else
		EMU_STATUS=$(curl -sk $_emu_auth -o "$_emu_out" -w '%{http_code}' -X "$_emu_m" "$EMU_URL$_emu_p")
	fi
	cat "$_emu_out"
	rm -f "$_emu_out"
	export EMU_STATUS
	case "$EMU_STATUS" in
	2??) return 0 ;;
	*) return 1 ;;
	esac
}

emu_ctl() {
	_emu_request "" "$@"
}

emu_api() {
	_emu_request "-u admin:admin" "$@"
}

# emu_stat KEY: a top-level counter name, or a jq path starting with '.'
emu_stat() {
	case "$1" in
	.*) _emu_q=$1 ;;
	*) _emu_q=".$1" ;;
	esac
	curl -sk "$EMU_URL/_emu/stats" | jq -r "$_emu_q // 0"
}
