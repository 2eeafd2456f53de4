#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, user postgres, database test) and MariaDB (127.0.0.1:3306,
# root, database test) are up, and drops the databases earlier test runs left behind.
set -euo pipefail

need() { command -v "$1" >/dev/null 2>&1; }

if ! need psql || ! need pg_ctlcluster; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if ! need mysql || [ ! -x /usr/sbin/mariadbd ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
fi
# Headless Chromium for the browser test of @kavachos/client (driven with playwright-core).
if ! need chromium-headless-shell && ! need chromium; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! mysqladmin -h 127.0.0.1 -P 3306 -uroot ping >/dev/null 2>&1; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi

for _ in $(seq 1 60); do
  if pg_isready -h 127.0.0.1 -p 5432 -q && mysqladmin -h 127.0.0.1 -P 3306 -uroot ping >/dev/null 2>&1; then
    break
  fi
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL did not start" >&2; exit 1; }
mysqladmin -h 127.0.0.1 -P 3306 -uroot ping || { echo "MariaDB did not start" >&2; exit 1; }

psql -h 127.0.0.1 -U postgres -d postgres -qAtc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test"
mysql -h 127.0.0.1 -P 3306 -uroot -e "CREATE DATABASE IF NOT EXISTS test"

# Databases made by earlier runs of the suites (kj_: JS tests, kt_: Rust tests).
for db in $(psql -h 127.0.0.1 -U postgres -d test -qAtc "SELECT datname FROM pg_database WHERE datname LIKE 'kj\_%' OR datname LIKE 'kt\_%'"); do
  psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS \"$db\"" || true
done
for db in $(mysql -h 127.0.0.1 -P 3306 -uroot -N -B -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'kj\_%' OR schema_name LIKE 'kt\_%'"); do
  mysql -h 127.0.0.1 -P 3306 -uroot -e "DROP DATABASE IF EXISTS \`$db\`" || true
done
rm -rf "${TMPDIR:-/tmp}/kavach-js-tests" "${TMPDIR:-/tmp}/kavach-tests"
echo "services: PostgreSQL and MariaDB are up"
