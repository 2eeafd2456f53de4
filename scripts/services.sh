#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, user postgres, database test) and MariaDB (127.0.0.1:3306,
# root, database test) are up, and drops the databases earlier test runs left behind.
#
# With arguments it only acts on one server and never drops anything (the database-fault test uses
# these while its instance keeps running):
#   services.sh stop postgres      fast shutdown: the server terminates every connection (57P01)
#   services.sh kill mariadb       SIGKILL to mariadbd: its connections just break
#   services.sh start postgres|mariadb     start it if it is down and wait until it answers
#   services.sh restart postgres|mariadb   stop (PostgreSQL) or kill (MariaDB), then start
set -euo pipefail

need() { command -v "$1" >/dev/null 2>&1; }

pg_cluster() { ls /etc/postgresql | head -n1; }
pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }
my_up() { mysqladmin -h 127.0.0.1 -P 3306 -uroot ping >/dev/null 2>&1; }
pg_start() {
  pg_up || pg_ctlcluster --skip-systemctl-redirect "$(pg_cluster)" main start || true
}
my_start() {
  if ! my_up; then
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  fi
}
wait_for() { # name, check
  for _ in $(seq 1 60); do "$2" && return 0; sleep 0.25; done
  for _ in $(seq 1 45); do "$2" && return 0; sleep 1; done
  echo "$1 did not start" >&2
  return 1
}

if [ $# -gt 0 ]; then
  action="$1" server="${2:-}"
  case "$action:$server" in
    stop:postgres)
      pg_ctlcluster --skip-systemctl-redirect --mode fast "$(pg_cluster)" main stop ;;
    kill:mariadb | kill:mysql)
      pid="$(pgrep -x mariadbd || true)"
      if [ -n "$pid" ]; then
        kill -KILL $pid
        while kill -0 $pid 2>/dev/null; do sleep 0.05; done
      fi ;;
    start:postgres) pg_start; wait_for PostgreSQL pg_up ;;
    start:mariadb | start:mysql) my_start; wait_for MariaDB my_up ;;
    restart:postgres) "$0" stop postgres; "$0" start postgres ;;
    restart:mariadb | restart:mysql) "$0" kill mariadb; "$0" start mariadb ;;
    *) echo "usage: $0 [stop postgres | kill mariadb | start|restart postgres|mariadb]" >&2; exit 2 ;;
  esac
  exit 0
fi

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

pg_start
my_start
for _ in $(seq 1 60); do
  if pg_up && my_up; then
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
