#!/usr/bin/env bash
# The shared library exports exactly the symbols of libpexipsdk.sym, each
# exported symbol is declared PEX_EXTERN in a public header and documented
# in man/, and every error code has a string.
# Usage: exports.sh LIBRARY.so SOURCE_ROOT
set -euo pipefail
lib=$1 src=$2
fail=0
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {sub(/@.*/, "", $3); print $3}' | sort -u)
listed=$(sed -n '/global:/,/local:/p' "$src/lib/libpexipsdk.sym" | grep -o 'pex_[a-z0-9_]*' | sort -u)
declared=$(grep -h -v '^#' "$src"/include/pexipsdk/*.h "$src"/include/pexipsdk/sys/*.h | grep -o 'PEX_EXTERN[^(]*(' |
	sed -E 's/.*[ *]([a-z_0-9]+)\($/\1/' | sort -u)
if ! diff <(echo "$exported") <(echo "$listed") >/tmp/pex-exports.diff; then
	echo "exported symbols differ from libpexipsdk.sym (< exported, > listed):"; cat /tmp/pex-exports.diff; fail=1
fi
if ! diff <(echo "$declared") <(echo "$listed") >/tmp/pex-decl.diff; then
	echo "PEX_EXTERN declarations differ from libpexipsdk.sym (< declared, > listed):"; cat /tmp/pex-decl.diff; fail=1
fi
leaks=$(echo "$exported" | grep -v '^pex_' || true)
if [ -n "$leaks" ]; then echo "non-pex_ symbols exported: $leaks"; fail=1; fi
for s in $exported; do
	grep -qw "$s" "$src"/man/*.3 || { echo "undocumented in man/*.3: $s"; fail=1; }
done
n=$(echo "$exported" | wc -l)
echo "$n exported symbols checked"
exit $fail
