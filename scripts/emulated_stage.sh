#!/usr/bin/env bash
# CI stage 2: the emulated arm64 board. Installs the host packages if missing, builds or reuses the qemu-pi4
# image (cached under $EDGEPROF_CACHE, default ~/.cache/edgeprof) and llama-cpp-python cross-compiled for it with
# the SmolLM2 GGUF (scripts/setup_generative.sh --board), boots it, runs `pytest -m emulated` (deploys over SSH to
# the VM) and powers it off again. EDGEPROF_JUNIT=FILE writes the JUnit XML there.
# Measured on 2 shared cores: image build ~10-22 min and llama.cpp's cross build ~23 min (first time only), boot
# 40-65 s, tests ~3 min plus 3-5 min for one generation on the board and docs/ci.md's two jobs, each run twice by
# tests/emulated/test_ci_recipe.py (at load average 6-10: the GitHub workflow 610 s, the GitLab job 383 s).
set -uo pipefail
cd "$(dirname "$0")/.."
export EDGEPROF_CACHE="${EDGEPROF_CACHE:-$HOME/.cache/edgeprof}"
PY=.venv/bin/python
emulate() { .venv/bin/edgeprof emulate "$@"; }
phase() { echo "== emulated: $1 ($(( SECONDS - phase_start )) s)"; phase_start=$SECONDS; }
phase_start=$SECONDS

need=""
for pair in qemu-system-aarch64:qemu-system-arm qemu-aarch64-static:qemu-user-static qemu-img:qemu-utils \
            mmdebstrap:mmdebstrap arch-test:arch-test update-binfmts:binfmt-support mke2fs:e2fsprogs \
            ssh-keygen:openssh-client sudo:sudo newuidmap:uidmap aarch64-linux-gnu-g++:g++-aarch64-linux-gnu; do
    command -v "${pair%%:*}" >/dev/null || need="$need ${pair#*:}"
done
[ -e /usr/lib/ipxe/qemu/efi-virtio.rom ] || need="$need ipxe-qemu"
if [ -n "$need" ]; then
    echo "== emulated: installing host packages:$need"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need; } \
        >/tmp/edgeprof-emulated-apt.log 2>&1 || { echo "emulated: apt-get failed (see /tmp/edgeprof-emulated-apt.log)" >&2; exit 1; }
fi
phase "host packages ready"

# a user without root, with subordinate ids (useradd gives them), for the rootless build's test
export EDGEPROF_TEST_BUILD_USER=edgeprof-build
if ! id "$EDGEPROF_TEST_BUILD_USER" >/dev/null 2>&1; then
    useradd --no-create-home --shell /usr/sbin/nologin "$EDGEPROF_TEST_BUILD_USER" || exit 1
fi
grep -q "^$EDGEPROF_TEST_BUILD_USER:" /etc/subuid && grep -q "^$EDGEPROF_TEST_BUILD_USER:" /etc/subgid \
    || usermod --add-subuids 200000-265535 --add-subgids 200000-265535 "$EDGEPROF_TEST_BUILD_USER" || exit 1

emulate build qemu-pi4 || exit 1
phase "image ready"

# the board's llama.cpp and the model; without them the other tests still run and the generation test says why
if board_llama=$(bash scripts/setup_generative.sh --board | tail -n 2); then
    export EDGEPROF_TEST_BOARD_WHEELS="${board_llama%%$'\n'*}" EDGEPROF_TEST_GGUF="${board_llama##*$'\n'}"
fi
phase "llama.cpp for the board ready"

trap 'emulate down qemu-pi4; emulate down qemu-pi4-icount; emulate status' EXIT
emulate up qemu-pi4 --timeout 300 || exit 1
phase "qemu-pi4 booted"

"$PY" -m pytest -p no:cacheprovider -m emulated tests/emulated ${EDGEPROF_JUNIT:+--junitxml="$EDGEPROF_JUNIT"}
status=$?
phase "emulated tests finished (exit $status)"
exit $status
