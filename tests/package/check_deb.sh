#!/usr/bin/env bash
# .deb check (issue 8): CPack builds the Debian packages from a built tree; the runtime package
# must hold the CLI, the unit, the man page and /etc/netfence/config.toml as a conffile, and the
# binary it ships must run and accept the packaged config.
#
#   tests/package/check_deb.sh BUILD_DIR WORK_DIR
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,6p' "$0" >&2; exit 2; }
build=$(cd "$1" && pwd)
work=$2
fail() { echo "check_deb: $*" >&2; exit 1; }
command -v cpack >/dev/null || fail "cpack not found"
command -v dpkg-deb >/dev/null || fail "dpkg-deb not found"

rm -rf "$work"
mkdir -p "$work"
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work" >"$work/cpack.log" 2>&1) ||
  { tail -n 30 "$work/cpack.log" >&2; fail "cpack failed"; }
deb=$(ls "$work"/netfence_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || fail "no netfence_*.deb produced"
ls "$work"/netfence-dev_*.deb >/dev/null 2>&1 || fail "no netfence-dev_*.deb produced"

listing=$(dpkg-deb -c "$deb")
for path in ./usr/bin/netfence ./etc/netfence/config.toml \
            ./usr/lib/systemd/system/netfence.service ./usr/share/man/man1/netfence.1; do
  grep -q " $path\$" <<<"$listing" || fail "$path missing from $(basename "$deb")"
done
mkdir -p "$work/control"
dpkg-deb -e "$deb" "$work/control"
grep -qx "/etc/netfence/config.toml" "$work/control/conffiles" || fail "config.toml is not a conffile"
grep -q "^Depends: .*libssl3" "$work/control/control" || fail "Depends lacks libssl3"

# The packaged binary runs and accepts the packaged config.
dpkg-deb -x "$deb" "$work/root"
"$work/root/usr/bin/netfence" --version | grep -q "^netfence " || fail "--version"
HOME=$work NETFENCE_HOME=$work "$work/root/usr/bin/netfence" check-config \
  --config "$work/root/etc/netfence/config.toml" >/dev/null 2>"$work/check.log" ||
  { cat "$work/check.log" >&2; fail "the packaged config does not validate"; }
grep -q "^ExecStart=/usr/bin/netfence run --config /etc/netfence/config.toml" \
  "$work/root/usr/lib/systemd/system/netfence.service" || fail "unit ExecStart"
echo "check_deb: ok ($(basename "$deb"))"
