#!/bin/sh
# Comments and documents cite only what is in the repository: a file under
# docs/, a man page, SECURITY.md, CHANGELOG.md. This fails when a source,
# build or documentation file names a design or spec document that is not
# in the repository ("design.md", "design §7", "spec §5",
# "spec/azure-storage-queue.md", "style.md") or an absolute path of a
# developer's machine (/work/..., /home/...), so such a citation cannot
# creep back; and when a cited docs/NAME.md, or a cited section of
# docs/ARCHITECTURE.md, does not exist. RFC sections
# ("RFC 7433 §4.1") are fine.
#
# Usage: citations.sh SOURCE_ROOT    (exit 0: clean, 1: citations found)
set -u
root=${1:?usage: citations.sh SOURCE_ROOT}
cd "$root" || exit 1

# The places where comments and documents live; CHANGELOG.md is history and
# keeps what it said at the time.
dirs="lib cli examples include bench tests scripts man docs meson.build meson_options.txt README.md SECURITY.md"

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	list() { git ls-files -- $dirs; }
else
	list() { find $dirs -type f 2>/dev/null; }
fi

# design.md, "design §N", "spec §N", "spec/NAME.md", style.md, "style §N",
# and absolute paths of a machine (not /tmp, /etc, /dev: those are paths a
# test or a man page really uses).
pattern='design\.md|design[[:space:]]+§|spec[[:space:]]*§|spec/[A-Za-z0-9_-]+\.md|style\.md|style[[:space:]]+§|(^|[[:space:]"'"'"'(:=`])/(work|home|Users|root|mnt)/'

found=$(list | grep -v -e '^tests/unit/citations\.sh$' -e '^tests/\.azurite' |
	while IFS= read -r f; do
		[ -f "$f" ] || continue
		grep -nHIiE -- "$pattern" "$f"
	done)

# A cited docs/NAME.md must exist.
missing=$(list | grep -v -e '^tests/unit/citations\.sh$' -e '^tests/\.azurite' |
	while IFS= read -r f; do
		[ -f "$f" ] || continue
		grep -ohIE 'docs/[A-Za-z0-9_-]+\.md' "$f"
	done | sort -u |
	while IFS= read -r d; do
		[ -f "$d" ] || echo "$d"
	done)
if [ -n "$missing" ]; then
	echo "cited but not in the repository: $missing" >&2
	exit 1
fi

# A cited section of docs/ARCHITECTURE.md ("docs/ARCHITECTURE.md, One
# deletion") must be one of its headings.
if [ -f docs/ARCHITECTURE.md ]; then
	sections=$(list | grep -v -e '^tests/unit/citations\.sh$' -e '^tests/\.azurite' |
		while IFS= read -r f; do
			[ -f "$f" ] || continue
			grep -ohIE 'ARCHITECTURE\.md`?,? \(?[A-Z][a-z-]+( [a-z-]+)?' "$f"
		done | sed -E 's/^ARCHITECTURE\.md`?,? \(?//' | sort -u |
		while IFS= read -r sec; do
			grep -qE "^## [0-9]+\. $sec" docs/ARCHITECTURE.md || echo "$sec"
		done)
	if [ -n "$sections" ]; then
		echo "cited sections that docs/ARCHITECTURE.md does not have: $sections" >&2
		exit 1
	fi
fi

if [ -n "$found" ]; then
	echo "citations of documents outside the repository (cite docs/ARCHITECTURE.md," >&2
	echo "docs/DECISIONS.md #N or a man page instead, or state the fact itself):" >&2
	printf '%s\n' "$found" >&2
	exit 1
fi
echo "ok: no citation of a document outside the repository"
exit 0
