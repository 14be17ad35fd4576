#!/usr/bin/env bash
# A private OpenSSH server on 127.0.0.1 for the tests: its own config, generated host and client keys,
# no change to the system's sshd.
#   scripts/sshd_loopback.sh start DIR   start (or reuse) it; writes DIR/env for the tests
#   scripts/sshd_loopback.sh stop DIR    stop it by its PID
#   scripts/sshd_loopback.sh env DIR     print its settings as export lines: eval "$(... env DIR)"
set -euo pipefail
usage="usage: sshd_loopback.sh start|stop|env DIR"
action=${1:?$usage}
dir=${2:?$usage}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# Running = the PID file names a live sshd started with our config (not a recycled PID).
running() {
  [ -f "$dir/sshd.pid" ] || return 1
  local pid; pid=$(cat "$dir/sshd.pid")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-f $dir/sshd_config"
}

case "$action" in
stop)
  if running; then
    pid=$(cat "$dir/sshd.pid")
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/sshd.pid"
  exit 0 ;;
env)
  running && [ -f "$dir/env" ] || { echo "sshd_loopback: not running in $dir (run: start $dir)" >&2; exit 1; }
  sed 's/^/export /' "$dir/env"
  exit 0 ;;
start) ;;
*) echo "$usage" >&2; exit 2 ;;
esac

if running && [ -f "$dir/env" ]; then
  echo "sshd_loopback: already running (pid $(cat "$dir/sshd.pid"))"
  exit 0
fi

if [ ! -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q openssh-server openssh-client
fi
[ -d /run/sshd ] || mkdir -p /run/sshd

[ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -f "$dir/host_ed25519"
[ -f "$dir/client_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -f "$dir/client_ed25519"
cp "$dir/client_ed25519.pub" "$dir/authorized_keys"
chmod 600 "$dir/authorized_keys"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$dir/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
AllowTcpForwarding no
X11Forwarding no
MaxStartups 50:30:100
MaxSessions 50
LogLevel ERROR
Subsystem sftp internal-sftp
CONF

/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
for _ in $(seq 50); do
  if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2).recv(4)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
running || { echo "sshd_loopback: sshd did not start; see $dir/sshd.log" >&2; cat "$dir/sshd.log" >&2; exit 1; }

cat > "$dir/env" <<ENV
EDGEPROF_TEST_SSH_PORT=$port
EDGEPROF_TEST_SSH_KEY=$dir/client_ed25519
EDGEPROF_TEST_SSH_HOSTKEY_PUB=$dir/host_ed25519.pub
EDGEPROF_TEST_SSH_USER=$(id -un)
ENV
echo "sshd_loopback: listening on 127.0.0.1:$port (pid $(cat "$dir/sshd.pid"))"
