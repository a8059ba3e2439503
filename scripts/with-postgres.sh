#!/usr/bin/env bash
# Runs a command with a throw-away PostgreSQL 15 server on 127.0.0.1 and its URL in
# TEST_POSTGRES_URL, then stops the server (by its own pg_ctl) and removes its files.
# Usage: scripts/with-postgres.sh cargo test --workspace
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
if [ -z "$PGBIN" ]; then
  echo "with-postgres: PostgreSQL is not installed (run scripts/setup.sh)" >&2
  exit 1
fi
DIR=$(mktemp -d /tmp/reelforge-pg.XXXXXX)
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$DIR"
as_pg "$PGBIN/initdb -D $DIR/data -U postgres --auth=trust -E UTF8 --no-sync" >/dev/null
started=""
for _ in 1 2 3 4 5; do
  PORT=$(( (RANDOM % 20000) + 30000 ))
  if as_pg "$PGBIN/pg_ctl -D $DIR/data -l $DIR/log -w -t 30 start -o '-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c max_connections=200'" >/dev/null; then
    started=1
    break
  fi
done
if [ -z "$started" ]; then
  echo "with-postgres: the server did not start:" >&2
  cat "$DIR/log" >&2
  exit 1
fi
stop() {
  as_pg "$PGBIN/pg_ctl -D $DIR/data -m fast -w stop" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap stop EXIT
export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
export REELFORGE_REQUIRE_POSTGRES=1
"$@"
