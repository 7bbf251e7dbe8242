#!/bin/sh
# A private Azurite queue service for one test run.
#
# As a launcher:
#   tests/azure/azurite.sh run CMD [ARGS...]
#     installs Azurite if needed (install-azurite.sh), starts azurite-queue on
#     an ephemeral port, exports the variables below, runs CMD, stops Azurite
#     and exits with CMD's status.
#
# Sourced (functions only; nothing runs on source):
#   . tests/azure/azurite.sh
#   pex_azurite_start || exit $?     # sets and exports the variables below
#   ...
#   pex_azurite_stop
#
# Exported while it runs:
#   PEX_AZURITE_PORT     the queue port Azurite picked
#   PEX_AZURITE_CONNSTR  full connection string for devstoreaccount1 on it
#   PEX_QUEUE_URI        "azure:$PEX_AZURITE_CONNSTR" (for the queue suites)
#
# Skips and failures (meson: 77 = skipped):
#   no node/npm, or the npm install failed  -> 77, but 1 when CI=true or
#                                              PEX_TEST_REQUIRE_ALL=1
#   installed but does not start            -> 1 always
#
# Azurite is started with --inMemoryPersistence and no --location: Azurite
# refuses the two together ("The --inMemoryPersistence option is not
# supported when the --location option is set"). It runs inside a fresh
# temporary directory instead, so anything it writes lands there, and that
# directory is removed on stop.

pex_azurite_required() {
	[ "${CI:-}" = "true" ] || [ "${PEX_TEST_REQUIRE_ALL:-0}" = "1" ]
}

# Exit status for "Azurite is not available": skip, or fail in CI.
pex_azurite_unavailable() {
	if pex_azurite_required; then
		echo "azurite: required (CI=${CI:-} PEX_TEST_REQUIRE_ALL=${PEX_TEST_REQUIRE_ALL:-}) but unavailable: $1" >&2
		return 1
	fi
	echo "azurite: skipping: $1" >&2
	return 77
}

pex_azurite_start() {
	_pex_az_here=${PEX_SOURCE_ROOT:+$PEX_SOURCE_ROOT/tests/azure}
	[ -n "$_pex_az_here" ] || _pex_az_here=$(cd "$(dirname "${PEX_AZURITE_SH:-$0}")" && pwd)
	_pex_az_root=${PEX_SOURCE_ROOT:-$(cd "$_pex_az_here/../.." && pwd)}
	PEX_AZURITE_PREFIX=${PEX_AZURITE_PREFIX:-$_pex_az_root/tests/.azurite}
	export PEX_AZURITE_PREFIX

	sh "$_pex_az_here/install-azurite.sh"
	_pex_az_rc=$?
	if [ $_pex_az_rc -eq 77 ]; then
		pex_azurite_unavailable "node/npm not found"
		return $?
	elif [ $_pex_az_rc -ne 0 ]; then
		pex_azurite_unavailable "npm install of Azurite failed"
		return $?
	fi

	_pex_az_bin=$PEX_AZURITE_PREFIX/node_modules/.bin/azurite-queue
	PEX_AZURITE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pex-azurite.XXXXXX") || return 1
	_pex_az_log=$PEX_AZURITE_DIR/azurite.log
	# exec: the PID we keep is node's own, so stopping it stops Azurite
	(cd "$PEX_AZURITE_DIR" && exec "$_pex_az_bin" --inMemoryPersistence \
		--skipApiVersionCheck --disableTelemetry --silent \
		--queueHost 127.0.0.1 --queuePort 0) >"$_pex_az_log" 2>&1 </dev/null &
	PEX_AZURITE_PID=$!

	# Wait (up to 30 s) for "... successfully listens on http://127.0.0.1:PORT".
	_pex_az_i=0
	PEX_AZURITE_PORT=
	while [ $_pex_az_i -lt 300 ]; do
		PEX_AZURITE_PORT=$(sed -n 's|.*successfully listens on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' \
			"$_pex_az_log" 2>/dev/null | head -n 1)
		[ -n "$PEX_AZURITE_PORT" ] && break
		if ! kill -0 "$PEX_AZURITE_PID" 2>/dev/null; then
			break
		fi
		sleep 0.1
		_pex_az_i=$((_pex_az_i + 1))
	done
	if [ -z "$PEX_AZURITE_PORT" ]; then
		echo "azurite: did not start; its output:" >&2
		sed 's/^/  | /' "$_pex_az_log" >&2
		pex_azurite_stop
		return 1
	fi

	PEX_AZURITE_CONNSTR="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;QueueEndpoint=http://127.0.0.1:$PEX_AZURITE_PORT/devstoreaccount1;"
	PEX_QUEUE_URI="azure:$PEX_AZURITE_CONNSTR"
	export PEX_AZURITE_PID PEX_AZURITE_PORT PEX_AZURITE_CONNSTR PEX_QUEUE_URI PEX_AZURITE_DIR
	echo "azurite: pid $PEX_AZURITE_PID listening on 127.0.0.1:$PEX_AZURITE_PORT" >&2
	return 0
}

pex_azurite_stop() {
	if [ -n "${PEX_AZURITE_PID:-}" ] && kill -0 "$PEX_AZURITE_PID" 2>/dev/null; then
		kill -TERM "$PEX_AZURITE_PID" 2>/dev/null
		_pex_az_i=0
		while kill -0 "$PEX_AZURITE_PID" 2>/dev/null && [ $_pex_az_i -lt 50 ]; do
			sleep 0.1
			_pex_az_i=$((_pex_az_i + 1))
		done
		kill -KILL "$PEX_AZURITE_PID" 2>/dev/null
		wait "$PEX_AZURITE_PID" 2>/dev/null
	fi
	PEX_AZURITE_PID=
	if [ -n "${PEX_AZURITE_DIR:-}" ] && [ -d "$PEX_AZURITE_DIR" ]; then
		rm -rf "$PEX_AZURITE_DIR"
	fi
	PEX_AZURITE_DIR=
	return 0
}

# Under meson's valgrind setup (PEX_UNDER_VALGRIND=1), print the valgrind
# command our own binaries should run under: the setup's flags, since it
# cannot wrap them itself (the test program is the launcher).
pex_azurite_valgrind() {
	[ "${PEX_UNDER_VALGRIND:-0}" = "1" ] || return 0
	command -v valgrind >/dev/null 2>&1 || return 0
	_pex_az_supp=${PEX_SOURCE_ROOT:+--suppressions=$PEX_SOURCE_ROOT/tests/valgrind.supp}
	echo "valgrind --leak-check=full --show-leak-kinds=definite,indirect" \
		"--errors-for-leak-kinds=definite,indirect --error-exitcode=3 --track-fds=no" \
		"$_pex_az_supp"
}

# Launcher mode. When sourced, $0 is the sourcing shell or script, whose
# first argument is not "run" unless it asks for this explicitly.
if [ "${1:-}" = "run" ] && [ "$(basename "$0")" = "azurite.sh" ]; then
	shift
	if [ $# -eq 0 ]; then
		echo "usage: $0 run CMD [ARGS...]" >&2
		exit 2
	fi
	PEX_AZURITE_SH=$0
	pex_azurite_start || exit $?
	trap 'pex_azurite_stop' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# our ELF binaries run under valgrind in the valgrind setup; scripts
	# (interop.sh) wrap the binaries they call themselves
	case "$(head -c 4 "$1" 2>/dev/null)" in
	"$(printf '\177ELF')") PEX_AZ_VG=$(pex_azurite_valgrind) ;;
	*) PEX_AZ_VG= ;;
	esac
	PEX_AZ_VALGRIND=$(pex_azurite_valgrind)
	export PEX_AZ_VG PEX_AZ_VALGRIND
	$PEX_AZ_VG "$@"
	rc=$?
	exit $rc
fi
