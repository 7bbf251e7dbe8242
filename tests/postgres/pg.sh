#!/bin/sh
# A private PostgreSQL server for one test run, on a Unix socket only.
#
# As a launcher (what tests/postgres/meson.build registers, through the
# pg-launcher shim):
#   tests/postgres/pg.sh run CMD [ARGS...]
#     initdb's a fresh cluster in a temporary directory, starts the server
#     listening on a Unix socket in that directory (no TCP), waits until it
#     accepts connections (pg_isready), exports the variables below, runs CMD,
#     stops the server by its PID and removes the directory; exits with CMD's
#     status.
#
# Sub-commands for a test that stops and starts the server mid-run (they use
# the exported variables):
#   sh "$PEX_PG_SH" stop      fast shutdown of the server (by PID), waits for it
#   sh "$PEX_PG_SH" start     starts it again on the same directory, waits until
#                             it accepts connections
#
# Exported while it runs:
#   PEX_PG_SH         this script
#   PEX_PG_DIR        the temporary directory (socket, data, log, pid file)
#   PEX_PG_CONNINFO   libpq connection string for the server
#   PEX_QUEUE_URI     "postgres:$PEX_PG_CONNINFO" (for the queue suites)
#
# The server refuses to run as root: as root, it runs as the "postgres"
# system user (runuser), and the directory is handed to that user.
# Binaries: $PEX_PG_BINDIR, else the newest /usr/lib/postgresql/*/bin.
# Durability is off (fsync, synchronous_commit) unless PEX_PG_FSYNC=on (the
# benchmarks set it, to compare with SQLite's synchronous=FULL).
#
# Skips and failures (meson: 77 = skipped):
#   PostgreSQL not installed  -> 77, but 1 when CI=true or PEX_TEST_REQUIRE_ALL=1
#   installed but does not start -> 1 always

# pex_azurite_required and pex_azurite_valgrind: the CI and valgrind rules
# every launcher shares (sourcing runs nothing)
_pex_pg_here=${PEX_SOURCE_ROOT:+$PEX_SOURCE_ROOT/tests/postgres}
[ -n "$_pex_pg_here" ] || _pex_pg_here=$(cd "$(dirname "$0")" && pwd)
. "$_pex_pg_here/../azure/azurite.sh"

pex_pg_unavailable() {
	if pex_azurite_required; then
		echo "postgres: required (CI=${CI:-} PEX_TEST_REQUIRE_ALL=${PEX_TEST_REQUIRE_ALL:-}) but unavailable: $1" >&2
		return 1
	fi
	echo "postgres: skipping: $1" >&2
	return 77
}

pex_pg_bindir() {
	if [ -n "${PEX_PG_BINDIR:-}" ]; then
		echo "$PEX_PG_BINDIR"
		return
	fi
	ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# The prefix that runs a server binary as the user owning the cluster.
pex_pg_as_cmd() {
	if [ "$(id -u)" = 0 ]; then
		echo "runuser -u postgres --"
	fi
}

pex_pg_as() {
	$(pex_pg_as_cmd) "$@"
}

# Start the server on $PEX_PG_DIR (initdb'd) and wait until it accepts
# connections, or until it exits.
pex_pg_server_start() {
	# sh -c: record the PID of the server itself (runuser stays its parent);
	# setsid: a test that restarts the server runs this from a process group
	# that Check kills when the test ends
	setsid $(pex_pg_as_cmd) sh -c 'echo $$ >"$1/server.pid"; exec "$2/postgres" -D "$1/data" \
		-c listen_addresses= -c unix_socket_directories="$1" -c fsync="$3" \
		-c synchronous_commit="$3" -c full_page_writes="$3" -c max_connections=60 \
		-c shared_buffers=16MB' pg-server "$PEX_PG_DIR" "$PEX_PG_BIN" "${PEX_PG_FSYNC:-off}" \
		>>"$PEX_PG_DIR/server.log" 2>&1 </dev/null &
	while :; do
		if [ -s "$PEX_PG_DIR/server.pid" ] &&
		   "$PEX_PG_BIN/pg_isready" -q -h "$PEX_PG_DIR" -d postgres -U postgres; then
			return 0
		fi
		# the runuser/sh job is gone: the server exited
		if ! kill -0 $! 2>/dev/null; then
			echo "postgres: the server did not start; its log:" >&2
			sed 's/^/  | /' "$PEX_PG_DIR/server.log" >&2
			return 1
		fi
		sleep 0.05
	done
}

# Fast shutdown by PID; wait until the process is gone.
pex_pg_server_stop() {
	_pex_pg_pid=$(cat "$PEX_PG_DIR/server.pid" 2>/dev/null)
	[ -n "$_pex_pg_pid" ] || return 0
	kill -INT "$_pex_pg_pid" 2>/dev/null
	while kill -0 "$_pex_pg_pid" 2>/dev/null; do
		sleep 0.05
	done
	rm -f "$PEX_PG_DIR/server.pid"
}

pex_pg_start() {
	PEX_PG_BIN=$(pex_pg_bindir)
	if [ -z "$PEX_PG_BIN" ] || [ ! -x "$PEX_PG_BIN/initdb" ]; then
		pex_pg_unavailable "no PostgreSQL server binaries (apt-get install postgresql)"
		return $?
	fi
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		pex_pg_unavailable "running as root and there is no 'postgres' user"
		return $?
	fi
	PEX_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pex-pg.XXXXXX") || return 1
	export PEX_PG_BIN PEX_PG_DIR
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$PEX_PG_DIR" || return 1
	fi
	if ! pex_pg_as "$PEX_PG_BIN/initdb" -D "$PEX_PG_DIR/data" -U postgres -A trust \
		--no-sync -E UTF8 --locale=C >"$PEX_PG_DIR/initdb.log" 2>&1; then
		echo "postgres: initdb failed:" >&2
		sed 's/^/  | /' "$PEX_PG_DIR/initdb.log" >&2
		return 1
	fi
	pex_pg_server_start || return 1
	PEX_PG_CONNINFO="host=$PEX_PG_DIR dbname=postgres user=postgres"
	PEX_QUEUE_URI="postgres:$PEX_PG_CONNINFO"
	export PEX_PG_CONNINFO PEX_QUEUE_URI
	echo "postgres: pid $(cat "$PEX_PG_DIR/server.pid") on $PEX_PG_DIR" >&2
}

pex_pg_stop() {
	if [ -n "${PEX_PG_DIR:-}" ] && [ -d "$PEX_PG_DIR" ]; then
		pex_pg_server_stop
		wait    # reap the runuser job (a server started here)
		rm -rf "$PEX_PG_DIR"
	fi
	PEX_PG_DIR=
}

case "${1:-}" in
run)
	shift
	if [ $# -eq 0 ]; then
		echo "usage: $0 run CMD [ARGS...]" >&2
		exit 2
	fi
	PEX_PG_SH=$0
	export PEX_PG_SH
	trap 'pex_pg_stop' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	pex_pg_start || exit $?
	case "$(head -c 4 "$1" 2>/dev/null)" in
	"$(printf '\177ELF')") PEX_PG_VG=$(pex_azurite_valgrind) ;;
	*) PEX_PG_VG= ;;
	esac
	PEX_AZ_VALGRIND=$(pex_azurite_valgrind)
	export PEX_AZ_VALGRIND
	$PEX_PG_VG "$@"
	exit $?
	;;
stop)
	pex_pg_server_stop
	;;
start)
	PEX_PG_BIN=${PEX_PG_BIN:-$(pex_pg_bindir)}
	pex_pg_server_start
	;;
esac
