#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster: `bash tests/pg/start.sh
# CMD ARGS…` initialises a cluster in a fresh directory under target/, starts
# it on 127.0.0.1 (a free port) with trust authentication for loopback only,
# creates the database `herald`, runs CMD with HERALD_TEST_PG set to its URL
# (the conformance suite and tests/it/postgres.rs read it), and stops and
# removes the cluster on exit, whatever CMD did.
#
# PostgreSQL's binaries are found on PATH or in /usr/lib/postgresql/<v>/bin
# (Debian's package `postgresql`, which .ci/run installs). Without them this
# fails, loudly: the PostgreSQL tests are part of the suite, never skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."

bindir=""
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
  # Through symlinks: createdb and postgres sit beside the real initdb.
  bindir="$(dirname "$(readlink -f "$(command -v initdb)")")"
else
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir="$d"; break; fi
  done
fi
if [ -z "$bindir" ]; then
  echo "tests/pg/start.sh: no PostgreSQL server binaries (initdb, pg_ctl) found." >&2
  echo "Install Debian's package: apt-get install --no-install-recommends postgresql" >&2
  echo "(.ci/run installs it). The PostgreSQL tests are part of the suite." >&2
  exit 1
fi

mkdir -p target
base="$(mktemp -d "$PWD/target/pg.XXXXXX")"
data="$base/data"
# initdb refuses to run as root: the cluster then belongs to the `postgres`
# OS user (Debian's package creates it).
as=()
if [ "$(id -u)" = 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "tests/pg/start.sh: running as root, but there is no 'postgres' user to own the cluster" >&2
    exit 1
  fi
  chown postgres "$base"
  chmod 755 "$base"
  as=(runuser -u postgres --)
  # A checkout the postgres user cannot reach (under /root, say): the
  # cluster goes to a temporary directory instead.
  if ! "${as[@]}" test -w "$base"; then
    rmdir "$base"
    base="$(mktemp -d /tmp/herald-pg.XXXXXX)"
    data="$base/data"
    chown postgres "$base"
    chmod 755 "$base"
  fi
fi

# A free loopback port: ask the kernel for one.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || shuf -i 20000-60000 -n 1)"

stop() {
  "${as[@]}" "$bindir/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$base"
}
trap stop EXIT

"${as[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust --no-sync \
  --encoding=UTF8 --locale=C >"$base/initdb.log" 2>&1 \
  || { cat "$base/initdb.log" >&2; exit 1; }
# Loopback only, trust only there; fsync off: a throwaway cluster for tests
# (Herald's durability does not rest on this one's disk).
cat >"$data/pg_hba.conf" <<HBA
host all all 127.0.0.1/32 trust
local all all trust
HBA
"${as[@]}" "$bindir/pg_ctl" -D "$data" -l "$base/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$base -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start >/dev/null || { cat "$base/server.log" >&2; exit 1; }
"${as[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres herald

export HERALD_TEST_PG="postgres://postgres@127.0.0.1:$port/herald"
echo "tests/pg/start.sh: PostgreSQL ($("$bindir/postgres" --version)) at $HERALD_TEST_PG" >&2
"$@"
