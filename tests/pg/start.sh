#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster: `bash tests/pg/start.sh
# CMD ARGS…` initialises a cluster in a fresh directory under target/, starts
# it on 127.0.0.1 (a free port) with trust authentication for loopback only,
# creates the database `herald`, runs CMD with HERALD_TEST_PG set to its URL
# (the conformance suite and tests/it/postgres.rs read it), and stops and
# removes the cluster on exit, whatever CMD did. HERALD_TEST_PG_TLS is the
# same database over TLS (a test CA made here, a role allowed only over TLS).
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
# TLS: a throwaway CA and a server certificate for 127.0.0.1 (openssl, which
# .ci/run installs), so the tests can connect with sslmode=require and
# sslrootcert. The key must belong to the server's user, mode 0600.
tls="$base/tls"
"${as[@]}" mkdir -p "$tls"
"${as[@]}" openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Herald test CA" \
  -keyout "$tls/ca.key" -out "$tls/ca.pem" >"$base/openssl.log" 2>&1 \
  || { cat "$base/openssl.log" >&2; exit 1; }
"${as[@]}" openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$tls/server.key" -out "$tls/server.csr" >>"$base/openssl.log" 2>&1 \
  || { cat "$base/openssl.log" >&2; exit 1; }
"${as[@]}" sh -c "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >'$tls/ext.cnf'"
"${as[@]}" openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
  -CAcreateserial -days 2 -extfile "$tls/ext.cnf" -out "$tls/server.pem" >>"$base/openssl.log" 2>&1 \
  || { cat "$base/openssl.log" >&2; exit 1; }
"${as[@]}" chmod 600 "$tls/server.key"

# Loopback only, trust only there; fsync off: a throwaway cluster for tests
# (Herald's durability does not rest on this one's disk). The role
# herald_tls may only connect over TLS, so a test using it knows its
# connection is encrypted.
cat >"$data/pg_hba.conf" <<HBA
hostssl all herald_tls 127.0.0.1/32 trust
hostnossl all herald_tls 127.0.0.1/32 reject
host all all 127.0.0.1/32 trust
local all all trust
HBA
"${as[@]}" "$bindir/pg_ctl" -D "$data" -l "$base/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$base -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c ssl=on -c ssl_cert_file=$tls/server.pem -c ssl_key_file=$tls/server.key" \
  start >/dev/null || { cat "$base/server.log" >&2; exit 1; }
"${as[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres herald
"${as[@]}" "$bindir/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d herald \
  -c "CREATE ROLE herald_tls LOGIN; GRANT CREATE ON DATABASE herald TO herald_tls" >/dev/null

export HERALD_TEST_PG="postgres://postgres@127.0.0.1:$port/herald"
# The same database through TLS only (the role above), verified against the
# test CA.
export HERALD_TEST_PG_TLS="postgres://herald_tls@127.0.0.1:$port/herald?sslmode=require&sslrootcert=$tls/ca.pem"
export HERALD_TEST_PG_TLS_PLAIN="postgres://herald_tls@127.0.0.1:$port/herald"
echo "tests/pg/start.sh: PostgreSQL ($("$bindir/postgres" --version)) at $HERALD_TEST_PG" >&2
"$@"
