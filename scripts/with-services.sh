#!/usr/bin/env bash
# Runs a command with throw-away test servers on 127.0.0.1 — PostgreSQL 15 (URL in
# TEST_POSTGRES_URL) and moto's S3-compatible server (endpoint in TEST_S3_ENDPOINT) — then
# stops them (by their own PIDs) and removes their files.
# Usage: scripts/with-services.sh cargo test --workspace
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
if [ -z "$PGBIN" ]; then
  echo "with-services: PostgreSQL is not installed (run scripts/setup.sh)" >&2
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
  echo "with-services: the server did not start:" >&2
  cat "$DIR/log" >&2
  exit 1
fi
MOTO_PID=""
stop() {
  as_pg "$PGBIN/pg_ctl -D $DIR/data -m fast -w stop" >/dev/null 2>&1 || true
  if [ -n "$MOTO_PID" ]; then kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap stop EXIT
export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
export REELFORGE_REQUIRE_POSTGRES=1

MOTO=/opt/reelforge-test-venv/bin/moto_server
[ -x "$MOTO" ] || MOTO=$(command -v moto_server || true)
if [ -z "$MOTO" ]; then
  echo "with-services: moto_server is not installed (run scripts/setup.sh)" >&2
  exit 1
fi
S3PORT=$(( PORT + 1 ))
"$MOTO" -H 127.0.0.1 -p "$S3PORT" >"$DIR/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$S3PORT") 2>/dev/null; then break; fi
  sleep 0.1
done
export TEST_S3_ENDPOINT="http://127.0.0.1:$S3PORT"
export REELFORGE_REQUIRE_S3=1
"$@"
