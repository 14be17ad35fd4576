#!/usr/bin/env bash
# CI stage "converters": the `edgeprof convert` tests (pytest -m convert) in their own virtualenv, .venv-convert,
# which holds edgeprof with its `torch` and `tensorflow` extras (torch 2.13, onnxscript, litert-torch,
# tensorflow-cpu, tf2onnx): too big for the default suite's .venv. The venv is reused when it already imports
# every converter. Needs the loopback sshd of scripts/test.sh for its `ssh` test (EDGEPROF_TEST_SSHD_DIR; skipped
# without it). Extra arguments go to pytest. EDGEPROF_JUNIT=FILE writes the JUnit XML there.
#
# torch: PyPI's Linux wheel of torch 2.13.0 is a CUDA build (527 MB, and it pulls several GB of nvidia-* wheels);
# where pip's configured find-links (PIP_FIND_LINKS, pip.conf) hold the CPU wheel (torch-2.13.0+cpu, 192 MB) pip
# takes that one. Set EDGEPROF_TORCH_WHEELS=DIR to point pip at a folder holding the CPU wheel.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=.venv-convert
check="import torch, onnxscript, litert_torch, tensorflow, tf2onnx, onnxruntime, edgeprof, pytest"
start=$SECONDS
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "== converters: $venv ready"
else
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || exit 1
  links=()
  [ -n "${EDGEPROF_TORCH_WHEELS:-}" ] && links=(--find-links "$EDGEPROF_TORCH_WHEELS")
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${links[@]}" "torch==2.13.0" \
    && "$venv/bin/python" -m pip install -q --disable-pip-version-check "${links[@]}" -e ".[test,torch,tensorflow]" \
    && "$venv/bin/python" -c "$check" \
    || { echo "converters: could not install the converters into $venv" >&2; exit 1; }
  echo "== converters: $venv installed in $((SECONDS - start)) s"
fi
junit=()
[ -n "${EDGEPROF_JUNIT:-}" ] && junit=(--junitxml="$EDGEPROF_JUNIT")
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$venv/bin/python" -m pytest -p no:cacheprovider -m convert \
  "${junit[@]}" "$@" tests/convert
status=$?
echo "== converters: took $((SECONDS - start)) s, exit $status"
exit $status
