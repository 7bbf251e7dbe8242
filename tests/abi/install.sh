#!/usr/bin/env bash
# `meson install` delivers the library, headers, pkg-config file, pexctl and
# the man pages, and a program builds against the installed copy with
# pkg-config alone, linked to the shared library and, when the build has
# the static one (-Ddefault_library=both, the default), statically with
# pkg-config --static. Usage:
# install.sh BUILD_ROOT SOURCE_ROOT [CC [SANITIZE [DEFAULT_LIBRARY]]]
# (the build's compiler, default cc; its b_sanitize, default none; its
# default_library, default both)
set -euo pipefail
build=$1 src=$2 compiler=${3:-cc} sanitize=${4:-none} kind=${5:-both}
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
# the room server, when built, is installed under its own name with its page
if [ -n "$(find "$dest" -path '*/bin/pexip-room-server' | head -n 1)" ]; then
	[ -n "$(find "$dest" -path '*/share/man/man8/pexip-room-server.8' | head -n 1)" ] ||
		{ echo "not installed: share/man/man8/pexip-room-server.8"; exit 1; }
fi
[ -z "$(find "$dest" -path '*/bin/room-server' | head -n 1)" ] ||
	{ echo "installed under its old name: bin/room-server"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest
cflags=$(pkg-config --cflags libpexipsdk)
case " $cflags " in *"/include/pexipsdk "*) echo "pkg-config leaks a subdirectory include path: $cflags"; exit 1;; esac
libdir=$(dirname "$(dirname "$pc")")
# a sanitizer build of the library needs the same compiler's sanitizer
# runtime in the program too (clang links it into executables only)
san=
[ "$sanitize" = none ] || san="-fsanitize=$sanitize"
cat >"$dest/prog.c" <<'C'
#include <stdio.h>
#include <pexipsdk/pexipsdk.h>
int main(void)
{
	pex_config *cfg = NULL;
	pex_queue *q = NULL;
	if (pex_global_init() != 0)
		return 1;
	/* reach the config parser (yaml), a queue backend and the error table */
	int rc = pex_config_new_defaults(&cfg);
	if (rc == 0)
		rc = pex_queue_open(&q, "memory:", "pool");
	if (rc == 0)
		rc = pex_queue_put(q, "x", 1, 0);
	printf("%s %s %s\n", pex_version(), pex_features(), pex_strerror(PEX_ENOTFOUND));
	pex_queue_free(q);
	pex_config_free(cfg);
	pex_global_shutdown();
	return rc == 0 && PEX_VERSION_CHECK(0, 1, 0) ? 0 : 1;
}
C
linked=0
if [ "$kind" != static ]; then
	"$compiler" -std=c99 -Wall -Werror $san -o "$dest/prog" "$dest/prog.c" $cflags $(pkg-config --libs libpexipsdk)
	LD_LIBRARY_PATH=$libdir "$dest/prog"
	readelf -d "$libdir/libpexipsdk.so" | grep -q 'SONAME.*libpexipsdk.so.0' || { echo "wrong SONAME"; exit 1; }
	linked=$((linked + 1))
fi
if [ "$kind" != shared ]; then
	[ -f "$libdir/libpexipsdk.a" ] || { echo "not installed: libpexipsdk.a"; exit 1; }
	# Requires.private and Libs.private name every library the archive
	# needs: the build's backends (the features the shared program printed)
	# and the rest of lib_deps
	need="libcurl json-c libcrypto libssl yaml-0.1"
	feat=$(LD_LIBRARY_PATH=$libdir "$dest/prog" 2>/dev/null || true)
	case $feat in *+sqlite*) need+=" sqlite3";; esac
	case $feat in *+azure*) need+=" expat";; esac
	case $feat in *+postgres*) need+=" libpq";; esac
	reqs=$(pkg-config --print-requires-private libpexipsdk | awk '{print $1}')
	for m in $need; do
		grep -qx "$m" <<<"$reqs" || { echo "Requires.private lacks $m: $reqs"; exit 1; }
	done
	privlibs=$(sed -n 's/^Libs.private: //p' "$pc")
	for l in -lm -pthread; do
		case " $privlibs " in *" $l "*) ;; *) echo "Libs.private lacks $l: $privlibs"; exit 1;; esac
	done
	static=$(pkg-config --static --libs libpexipsdk)
	for l in -lcurl -ljson-c -lcrypto -lssl -lyaml -lm -pthread; do
		case " $static " in *" $l "*) ;; *) echo "pkg-config --static --libs lacks $l: $static"; exit 1;; esac
	done
	# Link the archive (-l: takes it even beside the .so) with what
	# Requires.private and Libs.private name. Their own static closure
	# (libcurl's nghttp2, ssh2, ldap...) is the distribution's business
	# and not installed here, so those link shared.
	libs="-L$libdir -l:libpexipsdk.a $(pkg-config --libs $reqs) $privlibs"
	"$compiler" -std=c99 -Wall -Werror $san -o "$dest/prog-static" "$dest/prog.c" $cflags $libs
	if readelf -d "$dest/prog-static" | grep -q 'NEEDED.*libpexipsdk'; then
		echo "the static program still needs libpexipsdk.so"; exit 1
	fi
	env -u LD_LIBRARY_PATH "$dest/prog-static"
	linked=$((linked + 1))
fi
[ "$linked" -gt 0 ] || { echo "no library kind to link ($kind)"; exit 1; }
echo "installed and usable ($linked ways)"
