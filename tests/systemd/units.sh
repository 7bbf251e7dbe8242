#!/usr/bin/env bash
# The systemd units as meson installs them (DESTDIR): systemd-analyze
# verify accepts them, `systemd-analyze security --offline=yes` rates both
# services at an exposure of 2.0 or lower, and the sysusers.d and
# tmpfiles.d entries create the user and the directories in a scratch root.
# None of it needs a running systemd. Usage: units.sh BUILD_ROOT
set -euo pipefail
build=$1
for tool in systemd-analyze systemd-sysusers systemd-tmpfiles; do
	command -v "$tool" >/dev/null || { echo "no $tool: skipped"; exit 77; }
done
dest=$(mktemp -d /tmp/pex-units.XXXXXX)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --no-rebuild >/dev/null
unitdir=$(dirname "$(find "$dest" -name pexctl-gc.timer | head -n 1)")
[ -d "$unitdir" ] || { echo "pexctl-gc.timer not installed"; exit 1; }
units=(pexctl-gc.service pexctl-gc.timer)
[ -f "$unitdir/room-server.service" ] && units+=(room-server.service)

# verify checks that ExecStart names an executable: a copy whose ExecStart
# points into DESTDIR, and MANPATH there, so Documentation=man: is checked too
verify=$dest/verify
mkdir "$verify"
for u in "${units[@]}"; do
	sed -E "s#^(ExecStart=)/#\\1$dest/#" "$unitdir/$u" >"$verify/$u"
	grep -q "^ExecStart=$dest/\|^\[Timer\]" "$verify/$u" || { echo "$u: no ExecStart to point at DESTDIR"; exit 1; }
done
man=$(dirname "$(dirname "$(find "$dest" -name pexctl.1 | head -n 1)")")
(cd "$verify" && MANPATH=$man systemd-analyze verify "${units[@]/#/./}") || { echo "systemd-analyze verify failed"; exit 1; }
echo "systemd-analyze verify: ${units[*]} ok"

for u in "${units[@]}"; do
	case $u in *.service) ;; *) continue ;; esac
	out=$(cd "$unitdir" && systemd-analyze security --offline=yes "./$u" 2>&1) || true
	level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	[ -n "$level" ] || { printf '%s\n' "$out"; echo "$u: no overall exposure level"; exit 1; }
	awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || {
		printf '%s\n' "$out"; echo "$u: exposure $level is above 2.0"; exit 1; }
	echo "systemd-analyze security: $u exposure $level"
done

# the user, the state directory and the configuration directory
root=$dest/root
mkdir -p "$root/etc"
systemd-sysusers --root="$root" "$(find "$dest" -path '*sysusers.d/pexipsdk.conf')" >/dev/null
grep -q '^pexipsdk:' "$root/etc/passwd" || { echo "sysusers.d: no pexipsdk user"; exit 1; }
systemd-tmpfiles --root="$root" --create "$(find "$dest" -path '*tmpfiles.d/pexipsdk.conf')"
uid=$(awk -F: '$1 == "pexipsdk" { print $3 }' "$root/etc/passwd")
[ "$(stat -c '%u %a' "$root/var/lib/pexipsdk")" = "$uid 750" ] || { echo "tmpfiles.d: state directory"; exit 1; }
confdir=$(sed -n 's#^Environment=PEXIPSDK_CONFIG=\(.*\)/config.yaml$#\1#p' "$unitdir/pexctl-gc.service")
[ "$(stat -c '%u %a' "$root$confdir")" = "0 750" ] || { echo "tmpfiles.d: $confdir"; exit 1; }
echo "sysusers.d and tmpfiles.d: ok"
