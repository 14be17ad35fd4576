#!/usr/bin/env bash
# Set up edgeprof from a clean clone on Debian: system packages when missing, a virtualenv in .venv,
# and edgeprof with its test dependencies. Idempotent. Set EDGEPROF_WITH_SSHD=1 to also install OpenSSH.
# Set EDGEPROF_WITH_BROWSER=1 to also install Debian's chromium (the headless check of the HTML report).
# Set EDGEPROF_WITH_POSTGRES=1 to also install PostgreSQL (the server scripts/pg_loopback.sh starts for the tests).
# Set EDGEPROF_WITH_OPENVINO=1 to also make .venv-openvino: a second Python with onnxruntime-openvino (its module
# is also called onnxruntime, so it cannot share .venv), used as the device Python of the "Intel edge box" tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ "${EDGEPROF_WITH_SSHD:-0}" = 1 ]; then
  [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v ssh-keygen >/dev/null || need+=(openssh-client)
fi
if [ "${EDGEPROF_WITH_BROWSER:-0}" = 1 ]; then  # the headless check of the HTML report
  command -v chromium >/dev/null || need+=(chromium)
fi
if [ "${EDGEPROF_WITH_POSTGRES:-0}" = 1 ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
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

if [ "${EDGEPROF_WITH_OPENVINO:-0}" = 1 ]; then
  ov_version=1.24.1
  ov_venv=.venv-openvino
  ov_check="import onnxruntime as o, numpy, psutil; assert o.__version__ == '$ov_version', o.__version__; \
assert 'OpenVINOExecutionProvider' in o.get_available_providers()"
  if [ -x "$ov_venv/bin/python" ] && "$ov_venv/bin/python" -c "$ov_check" 2>/dev/null; then
    echo "setup: ready ($ov_venv has onnxruntime-openvino $ov_version)"
  elif [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
    echo "setup: no onnxruntime-openvino wheel for $(uname -s) $(uname -m): the OpenVINO tests will be skipped"
  else
    [ -x "$ov_venv/bin/python" ] || python3 -m venv "$ov_venv"
    if "$ov_venv/bin/python" -m pip install -q --disable-pip-version-check numpy psutil "onnxruntime-openvino==$ov_version" \
        && "$ov_venv/bin/python" -c "$ov_check"; then
      echo "setup: ready ($ov_venv has onnxruntime-openvino $ov_version)"
    else
      echo "setup: no onnxruntime-openvino $ov_version for $(python3 --version) here: the OpenVINO tests will be skipped"
    fi
  fi
fi
