#!/usr/bin/env bash
# `meson install` delivers the library, headers, pkg-config file, pexctl and
# the man pages, and a program builds against the installed copy with
# pkg-config alone. Usage: install.sh BUILD_ROOT SOURCE_ROOT [CC [SANITIZE]]
# (the build's compiler, default cc, and its b_sanitize, default none)
set -euo pipefail
build=$1 src=$2 compiler=${3:-cc} sanitize=${4:-none}
dest=$(mktemp -d /tmp/pex-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --no-rebuild >/dev/null
pc=$(find "$dest" -name libpexipsdk.pc | head -n 1)
[ -n "$pc" ] || { echo "no libpexipsdk.pc installed"; exit 1; }
for f in bin/pexctl include/pexipsdk/pexipsdk.h include/pexipsdk/version.h \
	include/pexipsdk/sys/queue_backend.h share/man/man1/pexctl.1 share/man/man3/libpexipsdk.3 \
	share/man/man5/pexipsdk.yaml.5; do
	[ -n "$(find "$dest" -path "*/$f" | head -n 1)" ] || { echo "not installed: $f"; exit 1; }
done
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest
flags=$(pkg-config --cflags --libs libpexipsdk)
libdir=$(dirname "$(dirname "$pc")")
# a sanitizer build of the library needs the same compiler's sanitizer
# runtime in the program too (clang links it into executables only)
san=
[ "$sanitize" = none ] || san="-fsanitize=$sanitize"
"$compiler" -std=c99 -Wall -Werror $san -o "$dest/prog" -x c - $flags <<'C'
#include <stdio.h>
#include <pexipsdk/pexipsdk.h>
int main(void)
{
	printf("%s %s\n", pex_version(), pex_strerror(PEX_ENOTFOUND));
	return PEX_VERSION_CHECK(0, 1, 0) ? 0 : 1;
}
C
LD_LIBRARY_PATH=$libdir "$dest/prog"
readelf -d "$libdir/libpexipsdk.so" | grep -q 'SONAME.*libpexipsdk.so.0' || { echo "wrong SONAME"; exit 1; }
echo "installed and usable"
