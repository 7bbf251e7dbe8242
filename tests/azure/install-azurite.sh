#!/bin/sh
# Install the Azure Storage emulator (Azurite) and the official JS SDK used by
# the interop test into a local npm prefix. Idempotent and safe to run from
# several processes at once (flock). Nothing is installed globally.
#
#   tests/azure/install-azurite.sh            # install if missing
#   PEX_AZURITE_PREFIX=/some/dir ...          # another prefix
#
# Exit status: 0 installed (or already there), 1 install failed,
# 77 npm is not available (the caller decides whether that is a skip).
set -eu

AZURITE_VERSION=3.35.0              # engines: node >= 10 (3.36+ want node >= 21)
STORAGE_QUEUE_SDK_VERSION=12.27.0   # @azure/storage-queue; engines: node >= 20

here=$(cd "$(dirname "$0")" && pwd)
root=${PEX_SOURCE_ROOT:-$(cd "$here/../.." && pwd)}
PREFIX=${PEX_AZURITE_PREFIX:-$root/tests/.azurite}

installed_version() {
	# $1 = package directory under node_modules
	f="$PREFIX/node_modules/$1/package.json"
	[ -f "$f" ] || return 0
	"$NODE" -e 'process.stdout.write(require(process.argv[1]).version)' "$f" 2>/dev/null || true
}

is_installed() {
	[ -x "$PREFIX/node_modules/.bin/azurite-queue" ] &&
	[ "$(installed_version azurite)" = "$AZURITE_VERSION" ] &&
	[ "$(installed_version @azure/storage-queue)" = "$STORAGE_QUEUE_SDK_VERSION" ]
}

NODE=${PEX_NODE:-node}     # overridable, e.g. to test the skip path
NPM=${PEX_NPM:-npm}

if ! command -v "$NODE" >/dev/null 2>&1; then
	echo "install-azurite: node not found" >&2
	exit 77
fi
is_installed && exit 0
if ! command -v "$NPM" >/dev/null 2>&1; then
	echo "install-azurite: npm not found" >&2
	exit 77
fi

mkdir -p "$PREFIX"
install() {
	is_installed && return 0
	echo "install-azurite: npm install azurite@$AZURITE_VERSION" \
		"@azure/storage-queue@$STORAGE_QUEUE_SDK_VERSION into $PREFIX" >&2
	"$NPM" install --no-audit --no-fund --loglevel=error --prefix "$PREFIX" \
		"azurite@$AZURITE_VERSION" \
		"@azure/storage-queue@$STORAGE_QUEUE_SDK_VERSION" >&2
}

if command -v flock >/dev/null 2>&1; then
	# One installer at a time; the others wait and then find it installed.
	exec 9>"$PREFIX/.install.lock"
	flock 9
fi
if ! install || ! is_installed; then
	echo "install-azurite: installation into $PREFIX failed" >&2
	exit 1
fi
exit 0
