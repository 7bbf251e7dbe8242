#!/usr/bin/env bash
# Every public struct a caller allocates and the library reads or fills
# starts with `unsigned int version;`, has a PEX_<NAME>_VERSION, and is
# initialised by an exported pex_<name>_init(), so that a member added
# later does not break programs built against an older header
# (docs/DECISIONS.md #63). Structs the library allocates or that are not
# versioned on purpose are listed below with the reason.
# Usage: versioned.sh SOURCE_ROOT
set -euo pipefail
src=$1
declare -A exempt=(
	[pex_buf]="filled and grown by the library; pex_buf_dispose"
	[pex_field_error]="part of pex_error, owned by the library"
	[pex_error]="thread-local, owned by the library (pex_error_last)"
	[pex_pool_room]="allocated by the library (pex_pool_room_free)"
	[pex_message]="allocated by the library (pex_message_free)"
	[pex_log_field]="handed by the library to pex_log_record_cb, read only (logs, DECISIONS #62)"
)
listed=$(sed -n '/global:/,/local:/p' "$src/lib/libpexipsdk.sym" | grep -o 'pex_[a-z0-9_]*' | sort -u)
fail=0 n=0
for h in "$src"/include/pexipsdk/*.h "$src"/include/pexipsdk/sys/*.h; do
	for name in $(grep -oE '^(typedef )?struct pex_[a-z0-9_]+ \{' "$h" | grep -oE 'pex_[a-z0-9_]+'); do
		n=$((n + 1))
		[ -n "${exempt[$name]:-}" ] && continue
		first=$(awk -v s="struct $name {" 'index($0, s) { getline; print; exit }' "$h")
		[[ $first =~ ^[[:space:]]*unsigned\ int\ version\; ]] ||
			{ echo "$name ($(basename "$h")): first member is not 'unsigned int version;'"; fail=1; }
		upper=$(echo "${name#pex_}" | tr a-z A-Z)
		grep -q "#define PEX_${upper}_VERSION " "$h" || { echo "$name: no PEX_${upper}_VERSION"; fail=1; }
		grep -qx "${name}_init" <<<"$listed" || { echo "$name: ${name}_init is not exported"; fail=1; }
	done
done
echo "$n public structs checked"
exit $fail
