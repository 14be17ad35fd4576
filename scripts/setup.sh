#!/usr/bin/env bash
# Set up edgeprof from a clean clone on Debian: system packages when missing, a virtualenv in .venv,
# and edgeprof with its test dependencies. Idempotent. Set EDGEPROF_WITH_SSHD=1 to also install OpenSSH.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ "${EDGEPROF_WITH_SSHD:-0}" = 1 ]; then
  [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v ssh-keygen >/dev/null || need+=(openssh-client)
fi
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  echo "setup: installing ${need[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}"
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "setup: edgeprof needs Python >= 3.10" >&2; exit 2; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
echo "setup: ready ($(.venv/bin/python --version), edgeprof in .venv)"
