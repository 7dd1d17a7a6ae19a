#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1 for the tests and benchmarks of the
# PostgreSQL-backed studies (several `spectune worker` processes on one database).
#
# Installs Debian's postgresql package when no server binaries are found (root: apt-get), creates
# a cluster in $SPECTUNE_PG_DIR (default /tmp/spectune-pg) listening on 127.0.0.1 only, port
# $SPECTUNE_PG_PORT (default 54329), trust authentication (loopback, test data only), fsync off
# (a crash loses the database: it is throwaway), and the database "spectune_test".
# Stdout is one line for the shell; everything else goes to stderr:
#     eval "$(scripts/postgres.sh)"     # exports SPECTUNE_TEST_POSTGRES_URL
#     scripts/postgres.sh stop          # stops the server (the folder stays; delete it to reset)
# Running it again while the server runs only prints the line.
set -euo pipefail
dir="${SPECTUNE_PG_DIR:-/tmp/spectune-pg}"
port="${SPECTUNE_PG_PORT:-54329}"
db=spectune_test
say() { echo "postgres.sh: $*" >&2; }

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] && command -v pg_ctl >/dev/null 2>&1; then
  bindir=$(dirname "$(command -v pg_ctl)")
fi
if [ -z "$bindir" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "no PostgreSQL server found; install it (Debian: apt-get install postgresql) or run as root"
    exit 1
  fi
  say "installing postgresql (apt-get) ..."
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

# initdb and the server refuse to run as root: as root, run them as the "postgres" user.
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  as_owner() { runuser -u postgres -- "$@"; }
  user=postgres
else
  as_owner() { "$@"; }
  user=$(id -un)
fi

if [ "${1:-}" = "stop" ]; then
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast stop >&2 || true
  exit 0
fi

if ! as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bindir/initdb" -D "$dir/data" -U "$user" --auth=trust -E UTF8 >/dev/null
  fi
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >&2
fi
if ! as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U "$user" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
  as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$user" "$db"
fi
python - <<'EOF' >&2 || say "psycopg is missing: pip install 'psycopg[binary]>=3.1' (or .[postgres])"
import psycopg
EOF
echo "export SPECTUNE_TEST_POSTGRES_URL=postgresql+psycopg://$user@127.0.0.1:$port/$db"
