#!/usr/bin/env bash
# Builds the .deb with cargo-deb, installs it with dpkg -i and checks what
# it installed: the binary runs, the system user owns the data directory,
# the config is a conffile, the unit passes `systemd-analyze verify` (where
# that exists), and the installed binary serves with the packaged config
# as the service user. Needs root (dpkg) and curl; .ci/run calls it.
#
# What this run added to the machine is taken away at the end (the
# package, and the user and data directory if they were not there
# before), so it can run again.
set -euo pipefail
cd "$(dirname "$0")/../.."

# cargo-deb (kornelski/cargo-deb, released often); pinned so that a new
# release cannot change the package under CI.
CARGO_DEB_VERSION=3.8.0

if [ "$(id -u)" != 0 ]; then
  echo "packaging/deb/test.sh: needs root (dpkg -i)" >&2
  exit 1
fi

if ! cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
  start=$(date +%s)
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
  echo "deb: cargo-deb $CARGO_DEB_VERSION installed in $(($(date +%s) - start)) s"
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
start=$(date +%s)
# The release build, then the package; --locked like every CI build.
cargo deb --locked
echo "deb: built in $(($(date +%s) - start)) s"
deb=$(ls -t target/debian/herald_"$version"-*.deb | head -1)
echo "deb: $deb ($(du -h "$deb" | cut -f1)); contents:"
dpkg-deb --contents "$deb"

had_user=no
getent passwd herald >/dev/null && had_user=yes
had_data=no
[ -e /var/lib/herald ] && had_data=yes
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  dpkg --purge herald >/dev/null 2>&1 || true
  if [ "$had_data" = no ]; then rm -rf /var/lib/herald; fi
  if [ "$had_user" = no ]; then userdel herald 2>/dev/null || true; fi
  if [ -n "${log:-}" ]; then rm -f "$log"; fi
}
trap cleanup EXIT

dpkg -i "$deb"

fail() {
  echo "deb: FAILED: $*" >&2
  exit 1
}

out=$(herald --version)
[ "$out" = "herald $version" ] || fail "herald --version said: $out"
[ "$(command -v herald)" = /usr/bin/herald ] || fail "herald is not /usr/bin/herald"
getent passwd herald >/dev/null || fail "no herald user"
[ "$(stat -c %U:%G /var/lib/herald)" = herald:herald ] ||
  fail "/var/lib/herald is owned by $(stat -c %U:%G /var/lib/herald)"
dpkg-query -W -f='${Conffiles}\n' herald | grep -q '^ /etc/herald/herald.toml ' ||
  fail "/etc/herald/herald.toml is not a conffile"
unit=/usr/lib/systemd/system/herald.service
[ -f "$unit" ] || fail "no $unit"
echo "deb: installed: $out, user herald, /var/lib/herald, conffile, $unit"

if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify "$unit"
  echo "deb: systemd-analyze verify $unit: ok"
else
  echo "deb: systemd-analyze not found: the unit is not verified here"
fi

# The unit's command line, as its user, on the packaged config (port 0
# instead of 8080, so it cannot collide with anything already listening).
log=$(mktemp)
# setpriv execs herald itself, so $! is herald's pid.
setpriv --reuid=herald --regid=herald --init-groups -- /usr/bin/herald serve --config /etc/herald/herald.toml \
  --listen 127.0.0.1:0 >"$log" 2>&1 &
server_pid=$!
base=
for _ in $(seq 1 100); do
  base=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$log" | head -1)
  [ -n "$base" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$base" ] || { cat "$log" >&2; fail "the installed herald did not start"; }
curl -sS --fail "$base/healthz" >/dev/null || fail "GET $base/healthz"
grep -q 'data directory /var/lib/herald opened' "$log" || { cat "$log" >&2; fail "not on /var/lib/herald"; }
kill -TERM "$server_pid"
wait "$server_pid" || fail "herald did not stop cleanly"
server_pid=
echo "deb: the installed herald served $base/healthz as user herald on /var/lib/herald"
echo "deb: ok"
