#!/usr/bin/env bash
# Make sure the local PostgreSQL server runs and the test database exists (the suite's production database).
set -euo pipefail
HOST=127.0.0.1
PORT=5432
DB=test

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing PostgreSQL from Debian packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL is not installed; install it (Debian: apt-get install postgresql)" >&2
    exit 1
  fi
fi

if ! pg_isready -q -h "$HOST" -p "$PORT"; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h "$HOST" -p "$PORT" && break; sleep 1; done
fi
pg_isready -h "$HOST" -p "$PORT" >/dev/null

as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else eval "$*"; fi; }
if ! psql -h "$HOST" -p "$PORT" -U postgres -d "$DB" -tAc 'select 1' >/dev/null 2>&1; then
  as_postgres "createdb -h $HOST -p $PORT $DB" || psql -h "$HOST" -p "$PORT" -U postgres -c "create database $DB"
fi
echo "PostgreSQL ready on $HOST:$PORT, database $DB"
