#!/usr/bin/env bash
# A private labgrid coordinator and exporter on 127.0.0.1 for the tests: two places, loop-01 and loop-02
# (tags board=loop and slot=1|2), each with a NetworkService pointing at the loopback sshd.
#   scripts/labgrid_loopback.sh start DIR SSHD_DIR   start it (the sshd of scripts/sshd_loopback.sh must run)
#   scripts/labgrid_loopback.sh stop DIR             stop the exporter and the coordinator by their PIDs
#   scripts/labgrid_loopback.sh env DIR              print LG_COORDINATOR as an export line: eval "$(... env DIR)"
set -euo pipefail
usage="usage: labgrid_loopback.sh start DIR SSHD_DIR | stop DIR | env DIR"
action=${1:?$usage}
dir=${2:?$usage}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin"

alive() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

stop_one() {
  if alive "$1"; then
    local pid; pid=$(cat "$dir/$1.pid")
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/$1.pid"
}

case "$action" in
stop) stop_one exporter; stop_one coordinator; exit 0 ;;
env)
  alive coordinator && [ -f "$dir/env" ] || { echo "labgrid_loopback: not running in $dir" >&2; exit 1; }
  sed 's/^/export /' "$dir/env"
  exit 0 ;;
start) ;;
*) echo "$usage" >&2; exit 2 ;;
esac

sshd_dir=${3:?$usage}
if alive coordinator && alive exporter && [ -f "$dir/env" ]; then
  echo "labgrid_loopback: already running (coordinator pid $(cat "$dir/coordinator.pid"))"
  exit 0
fi
stop_one exporter; stop_one coordinator
eval "$(bash "$(dirname "$0")/sshd_loopback.sh" env "$sshd_dir")"  # EDGEPROF_TEST_SSH_PORT, EDGEPROF_TEST_SSH_USER
rm -f "$dir/env" "$dir"/*.yaml "$dir"/*.log

# The coordinator keeps places.yaml and resources.yaml in its working directory; port 0: the kernel picks one.
(cd "$dir" && exec "$bin/labgrid-coordinator" -l 127.0.0.1:0 > coordinator.log 2>&1) &
echo $! > "$dir/coordinator.pid"
address=""
for _ in $(seq 100); do
  address=$(sed -n 's/^listening on \(.*\)$/\1/p' "$dir/coordinator.log" | head -1)
  [ -n "$address" ] && break
  alive coordinator || break
  sleep 0.1
done
[ -n "$address" ] || { echo "labgrid_loopback: the coordinator did not start:" >&2; cat "$dir/coordinator.log" >&2; exit 1; }
export LG_COORDINATOR=$address

cat > "$dir/exporter.yaml" <<YAML
loop-01:
  NetworkService:
    address: 127.0.0.1
    username: $EDGEPROF_TEST_SSH_USER
    port: $EDGEPROF_TEST_SSH_PORT
loop-02:
  NetworkService:
    address: 127.0.0.1
    username: $EDGEPROF_TEST_SSH_USER
    port: $EDGEPROF_TEST_SSH_PORT
YAML
"$bin/labgrid-exporter" -n loopback --hostname 127.0.0.1 "$dir/exporter.yaml" > "$dir/exporter.log" 2>&1 &
echo $! > "$dir/exporter.pid"

client() { LG_USERNAME=edgeprof-setup "$bin/labgrid-client" "$@" > /dev/null; }
for slot in 1 2; do
  place="loop-0$slot"
  client -p "$place" create
  client -p "$place" add-match "loopback/$place/NetworkService"
  client -p "$place" set-tags board=loop "slot=$slot"
done
# Ready once the exporter's resources reached the coordinator.
for _ in $(seq 100); do
  "$bin/labgrid-client" resources 2>/dev/null | grep -q "loopback/loop-02/NetworkService" && break
  alive exporter || { echo "labgrid_loopback: the exporter exited:" >&2; cat "$dir/exporter.log" >&2; exit 1; }
  sleep 0.1
done
"$bin/labgrid-client" resources 2>/dev/null | grep -q "loopback/loop-02/NetworkService" \
  || { echo "labgrid_loopback: the exporter's resources never arrived:" >&2; cat "$dir/exporter.log" >&2; exit 1; }
echo "LG_COORDINATOR=$address" > "$dir/env"
echo "labgrid_loopback: coordinator $address, places loop-01 loop-02"
