#!/usr/bin/env bash
# A private PostgreSQL server on 127.0.0.1 for the tests: initdb into DIR, a free port, trust auth for loopback
# only, no change to the system's clusters. As root it runs as the `postgres` user (postgres refuses root), and
# since that user may not enter DIR (root's home is mode 700), the server's files (data, logs, socket) then live in
# a postgres-owned mode-0700 folder /var/tmp/edgeprof-pg-<hash of DIR>; DIR keeps the env file either way.
#   scripts/pg_loopback.sh start DIR   start (or reuse) it; writes DIR/env for the tests
#   scripts/pg_loopback.sh stop DIR    stop it by its PID
#   scripts/pg_loopback.sh env DIR     print its settings as export lines: eval "$(... env DIR)"
set -euo pipefail
usage="usage: pg_loopback.sh start|stop|env DIR"
action=${1:?$usage}
dir=${2:?$usage}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
srv="$dir"
if [ "$(id -u)" = 0 ]; then
  srv="/var/tmp/edgeprof-pg-$(printf '%s' "$dir" | sha256sum | cut -c1-16)"
fi
data="$srv/data"

# Running = postmaster.pid names a live postgres serving our data directory (not a recycled PID).
running() {
  [ -f "$data/postmaster.pid" ] || return 1
  local pid; pid=$(head -1 "$data/postmaster.pid")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-D $data"
}

case "$action" in
stop)
  if running; then
    pid=$(head -1 "$data/postmaster.pid")
    kill -INT "$pid"  # fast shutdown: roll back open transactions, close connections
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  exit 0 ;;
env)
  running && [ -f "$dir/env" ] || { echo "pg_loopback: not running in $dir (run: start $dir)" >&2; exit 1; }
  sed 's/^/export /' "$dir/env"
  exit 0 ;;
start) ;;
*) echo "$usage" >&2; exit 2 ;;
esac

if running && [ -f "$dir/env" ]; then
  echo "pg_loopback: already running (pid $(head -1 "$data/postmaster.pid"))"
  exit 0
fi

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q postgresql
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

# postgres will not run as root: its own folder (never a link, nobody else's) and every server step as it.
as_owner=()
if [ "$(id -u)" = 0 ]; then
  if [ -L "$srv" ] || { [ -e "$srv" ] && [ "$(stat -c %U "$srv")" != postgres ]; }; then
    echo "pg_loopback: $srv exists and is not a folder of the postgres user's: remove it" >&2; exit 1
  fi
  install -d -o postgres -m 700 "$srv"
  as_owner=(runuser -u postgres --)
fi
if [ ! -f "$data/PG_VERSION" ]; then
  "${as_owner[@]}" rm -rf "$data"
  "${as_owner[@]}" "$bin/initdb" -D "$data" -U edgeprof -A trust -E UTF8 --no-locale --no-sync --no-instructions \
    > "$srv/initdb.log" 2>&1 || { cat "$srv/initdb.log" >&2; exit 1; }
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Loopback TCP only, no Unix socket outside DIR; durability off (test data), quiet logs.
"${as_owner[@]}" "$bin/pg_ctl" -D "$data" -l "$srv/postgres.log" -w -t 30 -s \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $srv -c fsync=off -c synchronous_commit=off \
-c full_page_writes=off -c max_connections=200" start \
  || { echo "pg_loopback: postgres did not start; see $srv/postgres.log" >&2; cat "$srv/postgres.log" >&2; exit 1; }
running || { echo "pg_loopback: postgres is not running; see $srv/postgres.log" >&2; exit 1; }

cat > "$dir/env" <<ENV
EDGEPROF_TEST_PG_URL=postgresql://edgeprof@127.0.0.1:$port/postgres
ENV
echo "pg_loopback: listening on 127.0.0.1:$port (pid $(head -1 "$data/postmaster.pid"))"
