#!/usr/bin/env bash
# Set up everything the tests need and run the whole suite:
#   stage 1 (default): unit, agent, real-SSH (loopback OpenSSH server) and CLI tests;
#   stage 2 (emulated): boot the QEMU arm64 board and deploy to it over SSH.
# Extra arguments go to the stage-1 pytest. EDGEPROF_SKIP_EMULATED=1 skips stage 2 (CI never sets it).
set -uo pipefail
cd "$(dirname "$0")/.."

EDGEPROF_WITH_SSHD=1 bash scripts/setup.sh || exit 1

run_dir="$PWD/.test-run"
mkdir -p "$run_dir"
bash scripts/sshd_loopback.sh start "$run_dir/sshd" || { echo "test: could not start the loopback sshd" >&2; exit 1; }
trap 'bash scripts/sshd_loopback.sh stop "$run_dir/sshd"' EXIT
export EDGEPROF_TEST_SSHD_DIR="$run_dir/sshd"

echo "== stage 1: default suite"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
stage1=$?

stage2=0
if [ "${EDGEPROF_SKIP_EMULATED:-0}" != 1 ]; then
  echo "== stage 2: emulated device (QEMU arm64)"
  bash scripts/emulated_stage.sh
  stage2=$?
fi

echo "== stage 1: exit $stage1, stage 2: exit $stage2"
[ "$stage1" = 0 ] && [ "$stage2" = 0 ]
