#!/usr/bin/env bash
# Every function the library exports has a man page once installed:
# `man -M MANDIR -w NAME` finds it, a .so link names a page that exists and
# documents NAME, and libpexipsdk(3) lists every module page in SEE ALSO.
# The functions are read from lib/libpexipsdk.sym now, and the names that
# are data rather than functions left out (nm on the built library), so a
# newly exported function without a page fails here by name.
# Usage: manpages.sh BUILD_ROOT SOURCE_ROOT LIBRARY.so
set -euo pipefail
build=$1 src=$2 lib=$3
dest=$(mktemp -d /tmp/pex-man.XXXXXX)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --no-rebuild --tags man >/dev/null
mandir=$(find "$dest" -type d -path '*/share/man' | head -n 1)
[ -n "$mandir" ] || { echo "no share/man installed"; exit 1; }
listed=$(sed -n '/global:/,/local:/p' "$src/lib/libpexipsdk.sym" | grep -o 'pex_[a-z0-9_]*' | sort -u)
data=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[DBRV]$/ {sub(/@.*/, "", $3); print $3}' | sort -u)
# (temporary files rather than <(...): bash leaks in process substitutions
# under the valgrind setup)
echo "$listed" >"$dest/listed"; echo "$data" >"$dest/data"
functions=$(comm -23 "$dest/listed" "$dest/data")
fail=0 n=0
for f in $functions; do
	n=$((n + 1))
	page=$(man -M "$mandir" -w 3 "$f" 2>/dev/null) || { echo "no man page: $f"; fail=1; continue; }
	target=$page
	first=$(zcat -f "$page" | head -n 1)
	if [[ $first == .so\ * ]]; then
		target=$mandir/${first#.so }
		[ -f "$target" ] || { echo "$f: $page links to missing ${first#.so }"; fail=1; continue; }
	fi
	zcat -f "$target" | grep -qw -- "$f" || { echo "$f: not documented in $(basename "$target")"; fail=1; }
done
overview=$(find "$mandir" -name 'libpexipsdk.3*' | head -n 1)
see_also=$(zcat -f "$overview" | sed -n '/^\.SH SEE ALSO/,/^\.SH/p')
for p in "$mandir"/man3/*.3*; do
	[[ $(zcat -f "$p" | head -n 1) == .so\ * ]] && continue
	name=$(basename "$p"); name=${name%%.3*}
	[ "$name" = libpexipsdk ] && continue
	grep -q "^\.BR $name (3)" <<<"$see_also" || { echo "libpexipsdk(3) SEE ALSO lacks $name(3)"; fail=1; }
done
# pex_error(3)'s table of codes is PEX_ERROR_TABLE (pexipsdk/errors.h)
codes=$(grep -o 'X(PEX_[A-Z_]*, *-\?[0-9]*, *"[^"]*")' "$src/include/pexipsdk/errors.h" |
	sed -E 's/X\((PEX_[A-Z_]+), *(-?[0-9]+), *"([^"]*)"\)/\1\t\2\t\3/')
table=$(zcat -f "$(find "$mandir" -name 'pex_error.3*' | head -n 1)" | sed -n '/^\.TS/,/^\.TE/p' |
	grep '^PEX_' | sed 's/\\-/-/g')
echo "$codes" >"$dest/codes"; echo "$table" >"$dest/table"
if ! diff "$dest/codes" "$dest/table" >"$dest/codes.diff"; then
	echo "pex_error(3)'s table differs from PEX_ERROR_TABLE (< header, > page):"
	cat "$dest/codes.diff"
	fail=1
fi
echo "$n exported functions checked against $mandir"
# the status is the last command's: bash leaks the EXIT trap's parse when
# `exit` runs it, which the valgrind setup reports
[ "$fail" -eq 0 ]
